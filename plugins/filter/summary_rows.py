# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rows of a run's summary, built once from what each environment's tasks registered."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os


# What the summary keeps of each re-run of ceds.generate.migration_run.
RERUN_KEYS = ("type_code", "outcome", "duration_seconds", "elapsed_seconds", "last_history_line", "reason")

# Why an environment of the run has no result of its own, by outcome.
NOT_CHECKED = {
    "not finished": "the run ended while this environment was being checked (interrupted, cancelled, or stopped "
                    "by Ansible); what it did is unknown",
    "not reached": "the run ended before it reached this environment (interrupted, cancelled, or stopped by "
                   "Ansible); it was not checked",
}


def _registered(variables, name):
    """A registered result, or {} when the task did not run (skipped, or never reached)."""
    result = variables.get(name)
    if not result or result.get("skipped"):
        return {}
    return result


def _one_line(text):
    return " ".join(("%s" % text).split())


def _message(result):
    """A failed result's message, without the "Task failed: " that ansible-core 2.19 puts before it."""
    message = _one_line(result.get("msg") or "failed")
    return message[len("Task failed: "):] if message.startswith("Task failed: ") else message


def _task_failure(results, name, check):
    """``["<check>: <message>"]`` when the task registered as ``name`` failed, else []."""
    result = _registered(results, name)
    return ["%s: %s" % (check, _message(result))] if result.get("failed") else []


def unreachable_advice(connection, setting):
    """What decides that an environment is reached over ``connection``, and what to set instead."""
    if setting == "ansible_connection":
        return ("the inventory sets ansible_connection: %s for this environment: set it to local, or remove it, to "
                "check it from the controller" % connection)
    return ("the inventory sets ansible_host for this environment, so Ansible connects to it over %s: remove "
            "ansible_host, or set ansible_connection: local, to check it from the controller" % connection)


def check_failures(results, reset=False, check_mode=False):
    """Every failed check of one environment, one line each ("<check>: <what it found>"), in the order they ran.

    results: what the environment's tasks registered (app_probes, background_probe, migration, web_status,
    rerun), the connection it was reached over and the inventory setting that chose it (connection,
    connection_setting), and generate_migrations, the migrations as the database holds them at the end.
    """
    failures = (_task_failure(results, "app_probes", "Web and background apps: answer the read-only probes")
                + _task_failure(results, "background_probe", "Background app: answer the read-only probe"))
    probes_failed = bool(failures)
    migration = _registered(results, "migration")
    database = "Database: %s" % ("reset failed steps" if reset else "read the migration status")
    facts = results.get("generate_migrations") or {}
    if migration.get("unreachable"):
        failures.append("%s: unreachable over %s: %s; %s" % (
            database, results.get("connection"), _message(migration),
            unreachable_advice(results.get("connection"), results.get("connection_setting"))))
    elif migration.get("failed"):
        failures.append("%s: %s" % (database, _message(migration)))
    elif migration and facts.get("state") == "failed" and not migration.get("changed"):
        # Failed steps this run did not (or, in check mode, would not) reset: a deferred or held back reset, or
        # any failed step when only reporting.
        errors = facts.get("last_errors") or []
        last = ("; last error: %s" % _one_line(errors[0].get("message"))) if errors else ""
        if reset and probes_failed:
            failures.append("Database: reset held back by the failed web and background apps check: %s%s"
                            % (_message(migration), last))
        else:
            failures.append("Database: leave no failed or stuck step behind: %s%s" % (_message(migration), last))
    rerun_failures = _task_failure(results, "rerun", "Re-run: Generate's own migration of the reset steps")
    failures += rerun_failures + _task_failure(
        results, "web_status", "Web app: agree with the database, and show success after a reset")
    # The report pages' own rule, on what the database holds after the run (the facts are the newest: a re-run's
    # when one ran); a dry run that would reset is judged by the run that resets.
    if (migration and not migration.get("failed") and not migration.get("unreachable") and not rerun_failures
            and facts.get("reports_blocked") and not (check_mode and migration.get("changed"))):
        failures.append("Report pages: open after the run: the report pages are blocked: %s"
                        % facts.get("reports_blocked_reason"))
    return failures


def outcome_of(variables, in_progress=()):
    """An environment's outcome: ok only when its database was read and every check passed in this run."""
    failure = variables.get("environment_failure")
    migration = _registered(variables, "migration")
    read = bool(migration) and not migration.get("failed") and not migration.get("unreachable")
    if failure is None:
        if read:
            return "ok"
        return "not finished" if variables.get("inventory_hostname") in in_progress else "not reached"
    if _registered(variables, "held_back").get("failed"):
        return "stopped before prod"
    if migration.get("unreachable"):
        return "unreachable"
    return "failed" if read else "failed before the read"


def summary_row(variables, check_mode=False, reset=False, in_progress=()):
    """One environment's row, from its host variables."""
    failure = variables.get("environment_failure")
    outcome = outcome_of(variables, in_progress)
    probed = _registered(variables, "app_probes")
    background_probe = _registered(variables, "background_probe")
    migration = _registered(variables, "migration")
    rerun = _registered(variables, "rerun")
    web_status = _registered(variables, "web_status")
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
        error = _one_line(failure) if failure is not None else None
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
        "decided_by": facts.get("evidence"),
        "live_servers": len([server for server in hangfire.get("servers") or [] if server.get("alive")]),
        "running_jobs": [job.get("id") for job in jobs if job.get("status") == "running"],
        "queued_jobs": [job.get("id") for job in jobs if job.get("status") == "queued"],
        "orphaned_jobs": list(facts.get("orphaned_jobs") or []),
        "hung_steps": list(facts.get("hung_steps") or []),
    }


def summary_rows(host_variables, check_mode=False, reset=False, in_progress=()):
    """The rows of every environment of the run, in the order given: one each, whatever happened to it.

    in_progress: the environments being checked when the rows are written before the end of the run.
    """
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
