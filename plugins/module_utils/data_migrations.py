# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The data_migrations run: read, plan, reset when needed and safe, dump; for the module and its action plugin."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ceds.generate.plugins.module_utils import migration_plan, migration_report
from ansible_collections.ceds.generate.plugins.module_utils.connection import DatabaseError, connect, pyodbc, translate
from ansible_collections.ceds.generate.plugins.module_utils.connection_options import argument_rules as connection_argument_rules
from ansible_collections.ceds.generate.plugins.module_utils.connection_options import connection_argument_spec
from ansible_collections.ceds.generate.plugins.module_utils.connection_string import OptionsError, scrub, secrets_of
from ansible_collections.ceds.generate.plugins.module_utils.migration_options import check_options, reading_argument_spec
from ansible_collections.ceds.generate.plugins.module_utils.migration_tables import RESET_BY, MigrationTable, RunFailed

MODULE_NAME = RESET_BY


def argument_spec():
    """The options of ceds.generate.data_migrations, for the module and its action plugin alike."""
    spec = connection_argument_spec()
    spec.update(reading_argument_spec())
    spec.update(
        state=dict(type="str", default="status", choices=["status", "reset"]),
        audit=dict(type="bool", default=True),
        audit_note=dict(type="str"),
        unlock_reports=dict(type="bool", default=False),
    )
    return spec


def argument_rules():
    """The module's mutually_exclusive, required_together, ... rules, as keyword arguments."""
    return connection_argument_rules()


class MigrationCheck:
    """One check of a Generate database, with its own state: ``read()``, ``plan()``, ``apply()``, ``dump()``.

    table: a MigrationTable on an open connection.  params: the checked options.
    Every age is taken against the database's clock, read with Hangfire's state.
    """

    def __init__(self, table, params, check_mode):
        self.table = table
        self.params = params
        self.check_mode = check_mode
        self.snapshot = None
        self.observation = None
        self.current = None
        self.applied = False

    def read(self):
        """Read the steps, then Hangfire's state, the history lines worth reporting and the locked reports."""
        self.snapshot = self.table.read()
        window = migration_plan.history_window(self.snapshot.steps, self.snapshot.status_ids)
        self.observation = self.table.read_state(window=window, lines=self.params["history_lines"],
                                                 locked_reports=True)
        return self

    def plan(self, reset=None):
        """Decide on what was read: with ``reset`` (state=reset by default), which failed steps to reset."""
        if reset is None:
            reset = self.params.get("state") == "reset"
        self.current = migration_plan.decide(self.snapshot, self.observation, self.params, reset)
        return self.current

    def apply(self):
        """Reset the planned steps unless in check mode; when Generate acted between the read and the write,
        read and plan again, once."""
        if self.current.resets and not self.check_mode:
            conflict = self.table.apply(self.current, self.params)
            if conflict is not None:
                self.read().plan()
                if self.current.resets:
                    conflict = self.table.apply(self.current, self.params)
                    if conflict is not None:
                        raise RunFailed("migration steps changed twice while being reset (%s): Generate is running "
                                        "migrations; nothing was written, run again later" % conflict)
            self.applied = conflict is None and bool(self.current.resets)
        if not self.applied:
            self.table.rollback()
        return self.applied

    def dump(self):
        """The module's result: changed, msg, reset_steps, unlocked_reports, before, deferred, warnings, diff and
        the generate_migrations facts, as the database is after the run."""
        plan = self.current
        now = self.observation.now
        reported = migration_plan.after_reset(plan, now) if self.applied else plan
        locked = [] if self.applied and plan.unlock else self.observation.locked_reports
        warnings = list(self.observation.warnings) + list(plan.warnings)
        if plan.deferred:
            warnings.append(plan.deferral_warning())
        last_errors = migration_report.failed_history(plan, self.observation.history, self.params["history_lines"])
        return {
            "changed": bool(plan.resets),
            "msg": migration_report.message(plan, applied=self.applied, check_mode=self.check_mode),
            "reset_steps": migration_report.reset_steps(plan),
            "unlocked_reports": list(plan.unlock),
            "before": {"state": plan.state, "failed_steps": plan.failed_steps, "stuck_steps": plan.stuck_steps},
            "deferred": plan.deferred,
            "warnings": warnings,
            "diff": {"before": migration_report.status_by_type(plan),
                     "after": migration_report.status_by_type(plan, after=True)},
            "ansible_facts": {
                "generate_migrations": migration_report.facts(
                    reported, last_errors, self.snapshot.database_version, self.snapshot.metadata_status, now,
                    locked, self.observation.hangfire_unavailable),
            },
        }


def execute(params, check_mode, environ=None):
    """Do the whole job from validated options; return (result, secrets).

    The result is the module's result, with ``failed`` and a one-line ``msg``
    when the run failed; secrets are the texts (password, connection string)
    that the caller must also keep out of anything it prints.
    """
    try:
        options = check_options(params, environ)
    except OptionsError as exc:
        return {"failed": True, "msg": "%s" % exc, "executed_queries": []}, set()
    secrets = set(secrets_of(options))
    table = MigrationTable(None, options)
    failure = None
    try:
        table.connection = connect(options)
        check = MigrationCheck(table, options, check_mode)
        check.read().plan()
        check.apply()
        result = check.dump()
    except (DatabaseError, RunFailed) as exc:
        failure = scrub(exc, secrets)
    except pyodbc.Error as exc:
        failure = "%s" % translate(exc, "reading the migration steps", options)
    finally:
        # Whatever ends the run, even an error nobody foresaw: roll back, close, leave no session behind.
        table.close()
    if failure is not None:
        return {"failed": True, "msg": failure, "executed_queries": table.executed_queries}, secrets
    result["executed_queries"] = table.executed_queries
    result["warnings"] = [scrub(warning, secrets) for warning in result["warnings"]]
    return result, secrets
