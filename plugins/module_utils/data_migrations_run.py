# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The data_migrations run: read, decide, reset when needed and safe, describe; for the module and its action."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ceds.generate.plugins.module_utils import migration_plan, migration_report
from ansible_collections.ceds.generate.plugins.module_utils.connection import DatabaseError, connect, pyodbc, translate
from ansible_collections.ceds.generate.plugins.module_utils.connection_options import connection_argument_spec
from ansible_collections.ceds.generate.plugins.module_utils.connection_string import (
    ConnectionOptionsError,
    scrub,
    secrets_of,
)
from ansible_collections.ceds.generate.plugins.module_utils.migration_options import check_options, evidence_argument_spec
from ansible_collections.ceds.generate.plugins.module_utils.migration_tables import (
    RESET_BY,
    MigrationTable,
    RunFailed,
    decide,
    observe,
)

MODULE_NAME = RESET_BY


def argument_spec():
    """The options of ceds.generate.data_migrations, for the module and its action plugin alike."""
    spec = connection_argument_spec()
    spec.update(evidence_argument_spec())
    spec.update(
        state=dict(type="str", default="status", choices=["status", "reset"]),
        audit=dict(type="bool", default=True),
        audit_note=dict(type="str"),
        unlock_reports=dict(type="bool", default=False),
    )
    return spec


def run(table, params, check_mode):
    """Check the migrations and, for state=reset, reset failed steps; return the module result.

    Every age is taken against the database's clock, read with Hangfire's state.
    """
    snapshot, evidence = observe(table, params)
    plan = decide(snapshot, evidence, params)
    applied = False
    if plan.resets and not check_mode:
        conflict = table.apply(plan, params, reports_to_unlock(plan, evidence, params))
        if conflict is not None:
            # Generate acted between our read and our write: look again, once.
            snapshot, evidence = observe(table, params)
            plan = decide(snapshot, evidence, params)
            if plan.resets:
                conflict = table.apply(plan, params, reports_to_unlock(plan, evidence, params))
                if conflict is not None:
                    raise RunFailed("migration steps changed twice while being reset (%s): Generate is running "
                                    "migrations; nothing was written, run again later" % conflict)
        applied = conflict is None and bool(plan.resets)
    if not applied:
        table.rollback()
    return migration_report.dump(plan, applied, check_mode, snapshot, evidence, evidence.now, params,
                                 reports_to_unlock(plan, evidence, params))


def reports_to_unlock(plan, evidence, params):
    """With unlock_reports, the locked reports when the plan resets the report step (Generate's error path)."""
    report = migration_plan.report_view(plan)
    if not params.get("unlock_reports") or report is None or report not in plan.resets:
        return []
    return list(evidence.locked_reports or [])


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
    finally:
        # Whatever ends the run, even an error nobody foresaw: roll back, close, leave no session behind.
        table.close()
    if failure is not None:
        return {"failed": True, "msg": failure, "executed_queries": table.executed_queries}, secrets
    result["executed_queries"] = table.executed_queries
    result["warnings"] = [scrub(warning, secrets) for warning in result["warnings"]]
    return result, secrets
