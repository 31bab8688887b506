# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading and resetting App.DataMigrations over an open connection, and the run that ties it together.

Reading the rows, deciding what to do (migration_plan), doing it and
describing it are separate steps; this file holds the reading, the doing and
the order in which they happen.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.ceds.generate.plugins.module_utils import migration_plan, statements
from ansible_collections.ceds.generate.plugins.module_utils.database import (
    ConnectionOptionsError,
    DatabaseError,
    MissingTable,
    connect,
    connection_argument_spec,
    pyodbc,
    resolve_connection,
    scrub,
    secrets_of,
    translate,
)

MODULE_NAME = "ceds.generate.data_migrations"
FETCH_SIZE = 500
MAX_STEPS = 1000
MAX_STUCK_AFTER = 30 * 24 * 3600
MAX_HISTORY_LINES = 100
MAX_AUDIT_NOTE = 500


class RunFailed(Exception):
    """The run stops here; the text is the one-line message for the user."""


def argument_spec():
    """The options of ceds.generate.data_migrations, for the module and its action plugin alike."""
    spec = connection_argument_spec()
    spec.update(
        state=dict(type="str", default="status", choices=["status", "reset"]),
        stuck_after=dict(type="int", default=30000),
        history_lines=dict(type="int", default=5),
        audit=dict(type="bool", default=True),
        audit_note=dict(type="str"),
    )
    return spec


def check_options(params, environ=None):
    """Validate the module's options and resolve the connection; return the effective options.

    ``environ`` is the environment the fallbacks read (the process's by default).
    Raises ConnectionOptionsError with a one-line message naming the option and the fix.
    """
    if not statements.is_valid_schema(params.get("schema")):
        raise ConnectionOptionsError(
            "schema %r is not a plain identifier: use letters, digits and underscores only "
            "(Generate's schema is App)" % (params.get("schema"),))
    stuck_after = params.get("stuck_after")
    if stuck_after is not None and not 0 <= stuck_after <= MAX_STUCK_AFTER:
        raise ConnectionOptionsError(
            "stuck_after must be between 0 (no stuck detection) and %d seconds, got %d: "
            "Generate's own limit is 30000" % (MAX_STUCK_AFTER, stuck_after))
    lines = params.get("history_lines")
    if lines is not None and not 0 <= lines <= MAX_HISTORY_LINES:
        raise ConnectionOptionsError(
            "history_lines must be between 0 and %d, got %d" % (MAX_HISTORY_LINES, lines))
    note = params.get("audit_note")
    if note is not None and len(note) > MAX_AUDIT_NOTE:
        raise ConnectionOptionsError(
            "audit_note must be text of at most %d characters, got %d: shorten it" % (MAX_AUDIT_NOTE, len(note)))
    if note is not None and "\x00" in note:
        raise ConnectionOptionsError("audit_note holds a NUL character, which no database stores: remove it")
    return resolve_connection(params, environ)


def utc_now():
    """The current time as a naive UTC datetime, as Generate stores it."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class Snapshot:
    """What one read of the tables returned."""

    def __init__(self, steps, status_ids, database_version, metadata_status):
        self.steps = steps
        self.status_ids = status_ids
        self.database_version = database_version
        self.metadata_status = metadata_status


class MigrationTable:
    """The Generate tables of one database, reached through one connection."""

    def __init__(self, connection, options):
        self.connection = connection
        self.options = options
        self.schema = options["schema"]
        self.executed_queries = []
        self._has_configuration = True

    def _execute(self, sql, params, action):
        self.executed_queries.append(sql)
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql, *params)
        except pyodbc.Error as exc:
            cursor.close()
            self.rollback()
            raise translate(exc, action, self.options)
        return cursor

    def _fetch_rows(self, cursor, limit):
        names = [column[0].lower() for column in cursor.description]
        rows = []
        while len(rows) <= limit:
            batch = cursor.fetchmany(FETCH_SIZE)
            if not batch:
                break
            rows.extend(dict(zip(names, row)) for row in batch)
        cursor.close()
        if len(rows) > limit:
            raise RunFailed("%s.DataMigrations and its statuses returned more than %d rows, where Generate has "
                            "a handful: check database and schema" % (self.schema, limit))
        return rows

    def close(self):
        """Roll back anything open and close the connection, so no session lingers."""
        if self.connection is None:
            return
        self.rollback()
        try:
            self.connection.close()
        except pyodbc.Error:
            pass
        self.connection = None

    def rollback(self):
        """End the current transaction without writing."""
        try:
            self.connection.rollback()
        except pyodbc.Error:
            pass

    def read(self):
        """Read every step with its status and type, and Generate's version, in one round trip."""
        try:
            if self._has_configuration:
                try:
                    cursor = self._execute(statements.read_steps(self.schema), (), "reading migration steps")
                except MissingTable as exc:
                    # Installs without GenerateConfigurations still have steps to report.
                    if not exc.names(statements.CONFIGURATIONS_TABLE):
                        raise
                    self._has_configuration = False
            if not self._has_configuration:
                cursor = self._execute(statements.read_steps_without_configuration(self.schema), (),
                                       "reading migration steps")
        except MissingTable as exc:
            table = exc.first_named([statements.STEPS_TABLE, statements.STATUSES_TABLE, statements.TYPES_TABLE])
            raise RunFailed("%s.%s not found in database %s: is this a Generate database? "
                            "Check database and schema" % (self.schema, table, self.options["database"]))
        rows = self._fetch_rows(cursor, MAX_STEPS + 100)
        return self._snapshot(rows)

    def _snapshot(self, rows):
        status_rows = []
        steps = []
        version = metadata = None
        for row in rows:
            version = version or row.get("databaseversion")
            metadata = metadata or row.get("metadatastatus")
            if row.get("statusrowid") is not None:
                status_rows.append((row["statusrowid"], row.get("statusrowcode")))
            if row.get("datamigrationid") is None:
                continue
            steps.append(migration_plan.Step(
                step_id=row["datamigrationid"],
                type_id=row.get("datamigrationtypeid"),
                status_id=row.get("datamigrationstatusid"),
                type_code=row.get("typecode"),
                type_name=row.get("typename"),
                status_name=row.get("statusrowname"),
                last_trigger_date=row.get("lasttriggerdate"),
                last_duration_seconds=row.get("lastdurationinseconds"),
                user_name=row.get("username"),
            ))
        steps.sort(key=lambda step: step.id)
        try:
            status_ids = migration_plan.resolve_status_ids(status_rows)
        except migration_plan.PlanError as exc:
            raise RunFailed("%s.%s" % (self.schema, exc))
        if not steps:
            # Generate creates one row per migration type at install: none means a wrong
            # database or schema, or a damaged install, never that all is well.
            raise RunFailed("%s.DataMigrations has no rows: Generate creates one per migration type at install; "
                            "check database and schema, or restore the rows" % self.schema)
        return Snapshot(steps, status_ids, version, metadata)

    def recent_history(self, plan, lines):
        """The newest history lines of each failed step since its last trigger."""
        window = migration_plan.history_window(plan)
        if not window or lines < 1:
            return []
        params = []
        for type_id, since in window:
            params.append(type_id)
            if since is not None:
                # One second of slack: history dates are datetime (3 ms steps)
                # while trigger dates are datetime2, and the "Started" line is
                # written in the same instant.
                params.append(since - datetime.timedelta(seconds=1))
        params.append(lines)
        sql = statements.read_recent_history(self.schema, len(window), [since is not None for _t, since in window])
        try:
            cursor = self._execute(sql, params, "reading migration history")
        except MissingTable:
            # History is a help, not a requirement: an install without the table still gets its status.
            return []
        rows = cursor.fetchmany(lines * len(window))
        cursor.close()
        labels = dict((view.step.type_id, view.step.label) for view in plan.views)
        return migration_plan.select_history(
            [(row[0], row[1], row[2]) for row in rows], window, lines, labels)

    def apply(self, plan, audit, audit_note, now):
        """Reset the plan's steps with compare-and-set updates and write the audit lines.

        Returns False, with everything rolled back, when a step changed since it
        was read; True once the transaction is committed.
        """
        success_id = plan.status_ids[migration_plan.TARGET]
        update = statements.reset_step(self.schema)
        for view in plan.resets:
            cursor = self._execute(update, (success_id, view.step.id, view.step.status_id), "resetting migration steps")
            changed = cursor.rowcount
            cursor.close()
            if changed != 1:
                self.rollback()
                return False
        if audit:
            params = []
            for view in plan.resets:
                message = "%s migration status reset from %s to %s by %s" % (
                    view.step.label.upper(), view.status_code, migration_plan.TARGET, MODULE_NAME)
                if audit_note:
                    message += ": %s" % audit_note
                params.extend([view.step.type_id, now, message])
            try:
                self._execute(statements.write_audit(self.schema, len(plan.resets)), params,
                              "writing the audit history")
            except MissingTable:
                raise RunFailed("%s.%s not found in database %s, so the reset cannot be audited: nothing was "
                                "written; restore the table or set audit to false"
                                % (self.schema, statements.HISTORY_TABLE, self.options["database"]))
        try:
            self.connection.commit()
        except pyodbc.Error as exc:
            self.rollback()
            raise translate(exc, "committing the reset", self.options)
        return True


def run(table, params, check_mode, clock=utc_now):
    """Check the migrations and, for state=reset, reset failed steps; return the module result."""
    reset = params["state"] == "reset"
    stuck_after = params["stuck_after"]
    now = clock()
    snapshot = table.read()
    plan = migration_plan.plan(snapshot.steps, snapshot.status_ids, now, stuck_after, reset)
    # History is read in the same transaction as the steps, before any write,
    # so a reset costs no round trip beyond its updates, the audit and the commit.
    last_errors = table.recent_history(plan, params["history_lines"])
    applied = False
    if plan.resets and not check_mode:
        applied = table.apply(plan, params["audit"], params.get("audit_note"), now)
        if not applied:
            # A step changed between our read and our write: look again once.
            snapshot = table.read()
            now = clock()
            plan = migration_plan.plan(snapshot.steps, snapshot.status_ids, now, stuck_after, reset)
            if plan.resets:
                applied = table.apply(plan, params["audit"], params.get("audit_note"), now)
                if not applied:
                    raise RunFailed("migration steps changed twice while being reset: Generate is running "
                                    "migrations; nothing was written, run again later")
    if not applied:
        table.rollback()
    reported = migration_plan.after_reset(plan, now, stuck_after) if applied else plan
    result = {
        "changed": bool(plan.resets),
        "msg": plan.message(applied=applied, check_mode=check_mode),
        "reset_steps": plan.reset_steps(),
        "before": {"state": plan.state, "failed_steps": plan.failed_steps, "stuck_steps": plan.stuck_steps},
        "deferred": plan.deferred,
        "warnings": list(plan.warnings),
        "ansible_facts": {
            "generate_migrations": migration_plan.facts(
                reported, last_errors, snapshot.database_version, snapshot.metadata_status, now),
        },
    }
    if plan.deferred:
        result["warnings"].append(plan.deferral_warning())
    result["diff"] = {"before": plan.status_by_type(), "after": plan.status_by_type(after=True)}
    return result


def execute(params, check_mode, environ=None):
    """Do the whole job from validated options; return (result, secrets).

    The result is the module's result, with ``failed`` and a one-line ``msg``
    when the run failed; secrets are the texts (password, connection string)
    that the caller must also keep out of anything it prints.
    """
    try:
        options = check_options(params, environ)
    except ConnectionOptionsError as exc:
        return {"failed": True, "msg": "%s" % exc, "executed_queries": []}, set()
    secrets = set(secrets_of(options))
    table = MigrationTable(None, options)
    failure = None
    try:
        table.connection = connect(options)
        result = run(table, options, check_mode)
    except (DatabaseError, RunFailed) as exc:
        failure = scrub(exc, secrets)
    except pyodbc.Error as exc:
        failure = "%s" % translate(exc, "reading the migration steps", options)
    table.close()
    if failure is not None:
        return {"failed": True, "msg": failure, "executed_queries": table.executed_queries}, secrets
    result["executed_queries"] = table.executed_queries
    result["warnings"] = [scrub(warning, secrets) for warning in result["warnings"]]
    return result, secrets
