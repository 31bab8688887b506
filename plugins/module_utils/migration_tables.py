# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generate's tables read and written over one open connection: the steps, the state around them, the reset.

Reading the rows and doing the reset live here; decoding the rows
(migration_rows), deciding (migration_plan) and describing (migration_report)
do not touch the database.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.ceds.generate.plugins.module_utils import migration_plan, migration_rows, statements
from ansible_collections.ceds.generate.plugins.module_utils.connection import (
    AccessDenied,
    MissingTable,
    TableRefused,
    is_access_denied,
    may_be_missing_table,
    pyodbc,
    sqlstate_of,
    translate,
)

# The name the audit lines give as the one who reset a step.
RESET_BY = "ceds.generate.data_migrations"
FETCH_SIZE = 500


MAX_STEPS = 1000


MAX_STATE_ROWS = 5000
RunFailed = migration_rows.RunFailed
number = migration_rows.number


class MigrationTable:
    """The Generate tables of one database, reached through one connection."""

    def __init__(self, connection, options):
        self.connection = connection
        self.options = options
        self.schema = options["schema"]
        self.executed_queries = []
        self._has_configuration = True
        self._clock = None

    @property
    def clock(self):
        """The expression of the database's UTC now, for the DBMS the driver names (asked once)."""
        if self._clock is None:
            try:
                name = self.connection.getinfo(pyodbc.SQL_DBMS_NAME)
            except (AttributeError, pyodbc.Error):
                name = None
            self._clock = statements.database_clock(name)
        return self._clock

    def _execute(self, sql, params, action, tables=()):
        """Send one statement; on an error, roll back and raise it translated.

        tables: the (schema, table) pairs the statement names. When the driver's
        error is not one that ODBC names (a missing table is 42S02), probing them
        says whether one of them is missing, whatever words the driver used.
        """
        self.executed_queries.append(sql)
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql, *params)
        except pyodbc.Error as exc:
            cursor.close()
            self.rollback()
            error = translate(exc, action, self.options)
            missing = []
            if not isinstance(error, TableRefused) and may_be_missing_table(error.sqlstate):
                missing = self.missing_tables(tables)
            if missing:
                error = MissingTable("%s" % error, "%s" % error, missing)
            raise error
        return cursor

    def missing_tables(self, tables):
        """The names of ``tables`` ((schema, table) pairs) that cannot be found: each is probed with a SELECT
        of no row, and one that fails other than by a refused permission is missing.

        Drivers name a missing table in words of their own, and some catalogs
        (SQLite's) ignore the schema, so the database itself is asked.
        """
        missing = []
        for schema, name in tables:
            sql = statements.probe_table(schema, name)
            self.executed_queries.append(sql)
            cursor = self.connection.cursor()
            try:
                cursor.execute(sql)
            except pyodbc.Error as exc:
                self.rollback()
                if not may_be_missing_table(sqlstate_of(exc)):
                    # The connection itself failed: whether the tables exist is unknown.
                    return []
                if not is_access_denied(exc):
                    missing.append(name)
            finally:
                cursor.close()
        return missing

    def _tables(self, names, hangfire=False):
        """(schema, table) pairs of Generate's tables ``names`` and, with ``hangfire``, of Hangfire's."""
        pairs = [(self.schema, name) for name in names]
        if hangfire:
            pairs.extend((self.options["hangfire_schema"], name) for name in statements.HANGFIRE_TABLES)
        return pairs

    def _fetch_rows(self, cursor, limit, what=None):
        names = [column[0].lower() for column in cursor.description]
        rows = []
        while len(rows) <= limit:
            batch = cursor.fetchmany(FETCH_SIZE)
            if not batch:
                break
            rows.extend(dict(zip(names, row)) for row in batch)
        cursor.close()
        if len(rows) > limit and what:
            raise RunFailed("%s returned more than %d rows, where Generate has a handful: check hangfire_schema, "
                            "or set hangfire: ignore" % (what, limit))
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
                    cursor = self._execute(statements.read_steps(self.schema), (), "reading migration steps",
                                           self._tables(statements.STEP_TABLES + (statements.CONFIGURATIONS_TABLE,)))
                except MissingTable as exc:
                    # Installs without GenerateConfigurations still have steps to report.
                    if not exc.names(statements.CONFIGURATIONS_TABLE):
                        raise
                    self._has_configuration = False
            if not self._has_configuration:
                cursor = self._execute(statements.read_steps_without_configuration(self.schema), (),
                                       "reading migration steps", self._tables(statements.STEP_TABLES))
        except MissingTable as exc:
            table = exc.first_named(list(statements.STEP_TABLES))
            raise RunFailed("%s.%s not found in database %s: is this a Generate database? "
                            "Check database and schema" % (self.schema, table, self.options["database"]))
        return migration_rows.snapshot(self._fetch_rows(cursor, MAX_STEPS + 100), self.schema)

    def _refused_part(self, exc, parts):
        """Which optional part of the state read a refusal names, or None.

        When probing found the missing tables, they alone decide: the message around the driver's words
        is ours, and its words ("reading Hangfire's state") would name Hangfire's State table.
        """
        tables = {
            "hangfire": statements.HANGFIRE_TABLES,
            "history": (statements.HISTORY_TABLE,),
            "locked_reports": (statements.REPORTS_TABLE,),
        }
        if exc.tables:
            def named(name):
                return name.lower() in exc.tables
        else:
            named = exc.names
        for part, names in tables.items():
            if parts.get(part) and any(named(name) for name in names):
                return part
        hangfire_schema = self.options["hangfire_schema"]
        if (parts.get("hangfire") and not exc.tables and hangfire_schema.lower() != self.schema.lower()
                and exc.names(hangfire_schema)):
            return "hangfire"
        return None

    def _drop_part(self, part, exc, observation):
        """Go on without a part whose table is absent or refused, or fail where the part is required."""
        hangfire_schema = self.options["hangfire_schema"]
        tables = ", ".join("%s.%s" % (hangfire_schema, name) for name in statements.HANGFIRE_TABLES)
        denied = isinstance(exc, AccessDenied)
        if part == "hangfire":
            if self.options["hangfire"] == "required":
                raise RunFailed("Hangfire's tables cannot be read (%s) and hangfire is required: %s, or set "
                                "hangfire_schema to the schema that holds them (or hangfire: auto)" % (
                                    exc.driver_text, "grant SELECT on %s to this login" % tables if denied
                                    else "check that %s exist in database %s" % (tables, self.options["database"])))
            observation.hangfire_unavailable = ("SELECT on %s is not granted to this login" % tables if denied
                                                else "%s not found" % tables)
            if denied:
                observation.warnings.append(
                    "Hangfire's tables cannot be read (%s): decided by the age of LastTriggerDate instead; grant "
                    "SELECT on %s to this login (docs/least-privilege.md)" % (exc.driver_text, tables))
        elif part == "locked_reports" and denied:
            observation.warnings.append("%s.%s cannot be read (%s): locked reports are not reported; grant SELECT on "
                                        "it to this login" % (self.schema, statements.REPORTS_TABLE, exc.driver_text))
        elif part == "history" and denied:
            raise exc

    def read_state(self, hangfire=True, window=(), lines=0, locked_reports=False, steps=False):
        """One SELECT for what the decision needs beyond the steps: Hangfire's servers and jobs, the history
        lines of ``window`` (type id, since), the locked reports, and with ``steps`` every step's status and
        trigger date (the guard's read).

        A part whose table is absent or refused is dropped and the read sent again, so an install
        without Hangfire's tables, or a login without their grant, still gets its status.
        """
        observation = migration_rows.Observation()
        use_hangfire = hangfire and self.options["hangfire"] != "ignore"
        if hangfire and not use_hangfire:
            observation.hangfire_unavailable = "hangfire is set to ignore"
        parts = {"hangfire": use_hangfire, "history": bool(window) and lines > 0, "locked_reports": locked_reports}
        while True:
            params = []
            if parts["history"]:
                for type_id, since in window:
                    params.append(type_id)
                    if since is not None:
                        # One second of slack: history dates are datetime (3 ms steps)
                        # while trigger dates are datetime2, and the "Started" line is
                        # written in the same instant.
                        params.append(since - datetime.timedelta(seconds=1))
                params.append(lines)
            sql = statements.read_state(
                self.schema, self.options["hangfire_schema"] if parts["hangfire"] else None,
                [since is not None for _type_id, since in window] if parts["history"] else None,
                parts["locked_reports"], steps, self.clock)
            try:
                names = [name for part, name in (("history", statements.HISTORY_TABLE),
                                                 ("locked_reports", statements.REPORTS_TABLE)) if parts[part]]
                tables = self._tables(names + ([statements.STEPS_TABLE] if steps else []), parts["hangfire"])
                cursor = self._execute(sql, params, "reading Hangfire's state and the migration history", tables)
            except TableRefused as exc:
                part = self._refused_part(exc, parts)
                if part is None:
                    raise
                parts[part] = False
                self._drop_part(part, exc, observation)
                continue
            migration_rows.collect(self._fetch_rows(cursor, MAX_STATE_ROWS, "Hangfire's unfinished migration jobs"),
                                   parts, observation)
            break
        return observation

    def apply(self, plan, params):
        """Reset the plan's steps, check in the same transaction that nothing else moved, audit, commit.

        Returns None once the transaction is committed, or, with everything rolled
        back, why the reset must be planned again.
        """
        success_id = plan.status_ids[migration_plan.SUCCESS_STATUS]
        update = statements.reset_step(self.schema)
        for view in plan.resets:
            cursor = self._execute(update, (success_id, view.step.id, view.step.status_id), "resetting migration steps")
            changed = cursor.rowcount
            cursor.close()
            # -1 (SET NOCOUNT ON) says nothing either way: the guard below reads the outcome.
            if changed >= 0 and changed != 1:
                self.rollback()
                return "%s changed since it was read" % view.step.label
        # The UPDATEs hold the reset rows' locks until the commit; this read sees every other change
        # committed since the plan's read, and the reset rows as written.
        current = self.read_state(hangfire=plan.hangfire is not None, steps=True)
        now = current.now
        conflict = migration_plan.guard(plan, current.steps, current.hangfire, now, plan.server_timeout)
        if conflict is not None:
            self.rollback()
            return conflict
        if plan.unlock:
            self._execute(statements.unlock_reports(self.schema), (), "unlocking the locked reports").close()
        if params["audit"]:
            self._write_audit(plan, params.get("audit_note"), now)
        self._commit("committing the reset")
        return None

    def _commit(self, action):
        """Commit the transaction; on an error, roll back and raise it translated."""
        try:
            self.connection.commit()
        except pyodbc.Error as exc:
            self.rollback()
            raise translate(exc, action, self.options)

    def read_reports(self, codes):
        """code -> (active, locked, legacy) of the report codes ``codes`` that GenerateReports holds."""
        cursor = self._execute(statements.read_reports(self.schema, len(codes)), list(codes), "reading the reports",
                               self._tables([statements.REPORTS_TABLE]))
        rows = self._fetch_rows(cursor, MAX_STEPS)
        self.rollback()
        return dict((row["reportcode"], (bool(number(row["isactive"])), bool(number(row["islocked"])),
                                         bool(number(row["uselegacyreportmigration"])))) for row in rows)

    def lock_reports(self, codes, type_id, message):
        """Lock the report codes ``codes`` for a report run, with one audit line (type ``type_id``), in one
        transaction; return None once committed, or, with nothing written, why not."""
        cursor = self._execute(statements.lock_reports(self.schema, len(codes)), list(codes), "locking the reports",
                               self._tables([statements.REPORTS_TABLE]))
        changed = cursor.rowcount
        cursor.close()
        # -1 (SET NOCOUNT ON) says nothing either way: the read below does.
        current = self.read_state(hangfire=False, locked_reports=True)
        unlocked = [code for code in codes if code not in (current.locked_reports or [])]
        if unlocked or changed not in (-1, len(codes)):
            self.rollback()
            return "reports changed while being locked (%s): run again" % ", ".join(unlocked or codes)
        self._execute(statements.write_audit(self.schema, 1), [type_id, current.now, message],
                      "writing the audit history", self._tables([statements.HISTORY_TABLE])).close()
        self._commit("committing the report selection")
        return None

    def _write_audit(self, plan, audit_note, now):
        lines = [(view.step.type_id, "%s migration status reset from %s to %s by %s" % (
            view.step.label.upper(), view.status_code, migration_plan.SUCCESS_STATUS, RESET_BY)) for view in plan.resets]
        if plan.unlock:
            report = migration_plan.report_view(plan)
            message = "REPORT selection unlocked (%s) by %s" % (", ".join(plan.unlock), RESET_BY)
            lines.append((report.step.type_id, message))
        rows = []
        for type_id, message in lines:
            if audit_note:
                message += ": %s" % audit_note
            rows.extend([type_id, now, message])
        try:
            self._execute(statements.write_audit(self.schema, len(lines)), rows, "writing the audit history",
                          self._tables([statements.HISTORY_TABLE]))
        except MissingTable:
            raise RunFailed("%s.%s not found in database %s, so the reset cannot be audited: nothing was "
                            "written; restore the table or set audit to false"
                            % (self.schema, statements.HISTORY_TABLE, self.options["database"]))
