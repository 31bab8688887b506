# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rows of a run's summary, from what ceds.generate.environment_check registered for each environment."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.ceds.generate.plugins.module_utils.environment_check import (
    check_failures,
    one_line,
    registered,
)


# What the summary keeps of each re-run of ceds.generate.migration_run.
RERUN_KEYS = ("type_code", "outcome", "duration_seconds", "elapsed_seconds", "last_history_line", "reason")

# Why an environment of the run has no result of its own, by outcome.
NOT_CHECKED = {
    "not finished": "the run ended while this environment was being checked (interrupted, cancelled, or stopped "
                    "by Ansible); what it did is unknown",
    "not reached": "the run ended before it reached this environment (interrupted, cancelled, or stopped by "
                   "Ansible); it was not checked",
}


def checks_of(variables):
    """What ceds.generate.environment_check registered for an environment (its parts by name), {} when it did not
    run."""
    return registered(variables, "environment_check")


def failure_of(variables):
    """Why an environment failed, on one line, or None: its failed checks, or the error that stopped its check."""
    failures = checks_of(variables).get("failures") or []
    failure = variables.get("environment_failure")
    return failure if failure is not None else ("; ".join(failures) if failures else None)


def outcome_of(variables, in_progress=()):
    """An environment's outcome: ok only when its database was read and every check passed in this run."""
    failure = failure_of(variables)
    checks = checks_of(variables)
    migration = registered(checks, "migration")
    read = bool(migration) and not migration.get("failed") and not migration.get("unreachable")
    if failure is None:
        if read:
            return "ok"
        return "not finished" if variables.get("inventory_hostname") in in_progress else "not reached"
    if checks.get("held_back"):
        return "stopped before prod"
    if migration.get("unreachable"):
        return "unreachable"
    return "failed" if read else "failed before the read"


def summary_row(variables, check_mode=False, reset=False, in_progress=()):
    """One environment's row, from its host variables."""
    failure = failure_of(variables)
    outcome = outcome_of(variables, in_progress)
    checks = checks_of(variables)
    probed = registered(checks, "app_probes")
    background_probe = registered(checks, "background_probe")
    migration = registered(checks, "migration")
    rerun = registered(checks, "rerun")
    web_status = registered(checks, "web_status")
    read = outcome in ("ok", "failed")
    before = (migration.get("before") or {}) if read else {}
    facts = ((migration.get("ansible_facts") or {}).get("generate_migrations") or {}) if read else {}
    # After a re-run, the state the database holds at its end.
    rerun_facts = rerun.get("migrations") or {}
    web = probed.get("web")
    background = probed.get("background") or background_probe.get("background")
    if outcome in NOT_CHECKED:
        error = NOT_CHECKED[outcome]
    else:
        error = one_line(failure) if failure is not None else None
    return {
        "environment": variables.get("inventory_hostname"),
        "outcome": outcome,
        "before": before.get("state"),
        "failed_steps_before": list(before.get("failed_steps") or []),
        "stuck_steps_before": list(before.get("stuck_steps") or []),
        "steps_reset": list(migration.get("reset_steps") or []) if read else [],
        # In check mode nothing changed, so there is no state after to report.
        "after": (rerun_facts or facts).get("state") if reset and not check_mode and read else None,
        # An app that was not configured, or not reached, is neither ok nor failed.
        "web_ok": None if web is None else bool(web.get("ok")) and not web_status.get("failed"),
        "background_ok": None if background is None else bool(background.get("ok")),
        "database_version": facts.get("database_version"),
        "migration_errors": list(facts.get("last_errors") or []),
        "evidence": evidence_of(facts),
        "reports_blocked_reason": (rerun_facts or facts).get("reports_blocked_reason"),
        "reruns": [dict((key, run.get(key)) for key in RERUN_KEYS) for run in rerun.get("runs") or []],
        "error": error,
    }


def evidence_of(facts):
    """What decided for the environment: the rule, and with Hangfire its live servers and its jobs by status."""
    if not facts:
        return None
    hangfire = facts.get("hangfire") or {}
    jobs = hangfire.get("jobs") or []
    return {
        "decided_by": facts.get("decided_by"),
        "live_servers": len([server for server in hangfire.get("servers") or [] if server.get("alive")]),
        "running_jobs": [job.get("id") for job in jobs if job.get("status") == "running"],
        "queued_jobs": [job.get("id") for job in jobs if job.get("status") == "queued"],
        "orphaned_jobs": list(facts.get("orphaned_jobs") or []),
        "hung_steps": list(facts.get("hung_steps") or []),
    }


def summary_rows(host_variables, check_mode=False, reset=False, in_progress=()):
    """The rows of every environment of the run, in the order given: one each, whatever happened to it.

    in_progress: the environments being checked when the rows are written before the end of the run. Looked
    through once: at the start of a batch every row asks whether its environment is in it.
    """
    in_progress = frozenset(in_progress)
    return [summary_row(variables, check_mode, reset, in_progress) for variables in host_variables]


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
    """The summary_rows, check_failures and reports_folder filters."""

    def filters(self):
        return {"summary_rows": summary_rows, "check_failures": check_failures, "reports_folder": reports_folder}
