# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rows of a run's summary, built once from what each environment's tasks registered."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os


# What the summary keeps of each re-run of ceds.generate.migration_run.
RERUN_KEYS = ("type_code", "outcome", "duration_seconds", "elapsed_seconds", "last_history_line", "reason")


def _registered(variables, name):
    """A registered result, or {} when the task did not run (skipped, or never reached)."""
    result = variables.get(name)
    if not result or result.get("skipped"):
        return {}
    return result


def summary_row(variables, check_mode=False, reset=False):
    """One environment's row, from its host variables; None when none of its checks ran."""
    failure = variables.get("environment_failure")
    probed = _registered(variables, "app_probes")
    migration = _registered(variables, "migration")
    rerun = _registered(variables, "rerun")
    if failure is None and not migration and not probed:
        return None
    before = migration.get("before") or {}
    facts = (migration.get("ansible_facts") or {}).get("generate_migrations") or {}
    # After a re-run, the state the database holds at its end.
    rerun_facts = (rerun.get("ansible_facts") or {}).get("generate_migrations") or {}
    web, background = probed.get("web"), probed.get("background")
    return {
        "environment": variables.get("inventory_hostname"),
        "outcome": "failed" if failure is not None else "ok",
        "before": before.get("state"),
        "failed_steps_before": list(before.get("failed_steps") or []),
        "stuck_steps_before": list(before.get("stuck_steps") or []),
        "steps_reset": list(migration.get("reset_steps") or []),
        # In check mode nothing changed, so there is no state after to report.
        "after": (rerun_facts or facts).get("state") if reset and not check_mode else None,
        # An app that was not configured, or not reached before an earlier failure, is neither ok nor failed.
        "web_ok": None if web is None else bool(web.get("ok")) and not (failure or "").startswith("Web app"),
        "background_ok": None if background is None else bool(background.get("ok")),
        "database_version": facts.get("database_version"),
        "migration_errors": list(facts.get("last_errors") or []),
        "evidence": evidence_of(facts),
        "reports_blocked_reason": (rerun_facts or facts).get("reports_blocked_reason"),
        "reruns": [dict((key, run.get(key)) for key in RERUN_KEYS) for run in rerun.get("runs") or []],
        "error": " ".join(("%s" % failure).split()) if failure is not None else None,
    }


def evidence_of(facts):
    """What decided for the environment: the rule, and with Hangfire its live servers and its jobs by status."""
    if not facts:
        return None
    hangfire = facts.get("hangfire") or {}
    jobs = hangfire.get("jobs") or []
    return {
        "decided_by": facts.get("evidence"),
        "live_servers": len([server for server in hangfire.get("servers") or [] if server.get("alive")]),
        "running_jobs": [job.get("id") for job in jobs if job.get("status") == "running"],
        "queued_jobs": [job.get("id") for job in jobs if job.get("status") == "queued"],
        "orphaned_jobs": list(facts.get("orphaned_jobs") or []),
        "hung_steps": list(facts.get("hung_steps") or []),
    }


def summary_rows(host_variables, check_mode=False, reset=False):
    """The rows of every environment that ran, in the order given."""
    rows = [summary_row(variables, check_mode, reset) for variables in host_variables]
    return [row for row in rows if row is not None]


def reports_folder(given=None, environ=None):
    """Where a run's summary goes: ``given`` when set, else under AWX the job's artifacts folder, else reports/
    of the folder ansible-playbook runs in (never inside the installed collection)."""
    if given:
        return given
    environ = os.environ if environ is None else environ
    if environ.get("AWX_PRIVATE_DATA_DIR") and environ.get("JOB_ID"):
        return os.path.join(environ["AWX_PRIVATE_DATA_DIR"], "artifacts", environ["JOB_ID"], "reports")
    return os.path.join(os.getcwd(), "reports")


class FilterModule(object):
    """The summary_rows and reports_folder filters."""

    def filters(self):
        return {"summary_rows": summary_rows, "reports_folder": reports_folder}
