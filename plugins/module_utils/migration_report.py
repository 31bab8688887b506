# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the user sees of a plan: changed, msg, reset_steps, before, diff, warnings and the facts.

One place builds all of them from the same plan (``dump``), so check mode,
diff mode, the facts and the message can never tell different stories.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ceds.generate.plugins.module_utils import hangfire_state, migration_plan


def dump(plan, applied, check_mode, snapshot, evidence, now, params, unlocked=()):
    """The module's result for a plan: ``applied`` says whether its reset was committed.

    snapshot and evidence are what was read (migration_tables); unlocked names the
    reports the reset unlocked (or would unlock).
    """
    reported = migration_plan.after_reset(plan, now) if applied else plan
    locked = [] if applied and unlocked else evidence.locked_reports
    warnings = list(evidence.warnings) + list(plan.warnings)
    if plan.deferred:
        warnings.append(plan.deferral_warning())
    last_errors = migration_plan.failed_history(plan, evidence.history, params["history_lines"])
    return {
        "changed": bool(plan.resets),
        "msg": message(plan, applied=applied, check_mode=check_mode),
        "reset_steps": reset_steps(plan),
        "unlocked_reports": list(unlocked),
        "before": {"state": plan.state, "failed_steps": plan.failed_steps, "stuck_steps": plan.stuck_steps},
        "deferred": plan.deferred,
        "warnings": warnings,
        "diff": {"before": status_by_type(plan), "after": status_by_type(plan, after=True)},
        "ansible_facts": {
            "generate_migrations": facts(reported, last_errors, snapshot.database_version,
                                         snapshot.metadata_status, now, locked, evidence.hangfire_unavailable),
        },
    }


def reset_steps(current_plan):
    """The changes a reset makes, as returned to the user."""
    return [
        {"id": view.step.id, "type_code": view.step.label, "from": view.status_code, "to": migration_plan.TARGET}
        for view in current_plan.resets
    ]


def status_by_type(current_plan, after=False):
    """``{type_code: status_code}`` for every step, before or after the reset (for the diff)."""
    reset_ids = set(view.step.id for view in current_plan.resets) if after else set()
    return dict(
        (view.step.label, migration_plan.TARGET if view.step.id in reset_ids else view.status_code)
        for view in current_plan.views
    )


def message(current_plan, applied, check_mode=False):
    """One line a person can read, saying what was (or would be) done and why."""
    if current_plan.resets:
        changes = ", ".join("%s %s -> %s" % (view.step.label, view.status_code, migration_plan.TARGET)
                            for view in current_plan.resets)
        count = len(current_plan.resets)
        noun = "step" if count == 1 else "steps"
        if applied:
            return "reset %d %s: %s" % (count, noun, changes)
        verb = "would reset" if check_mode else "reset needed for"
        return "%s %d %s: %s" % (verb, count, noun, changes)
    if current_plan.deferred:
        return current_plan.deferral_warning()
    if current_plan.failed_steps:
        return "failed steps: %s" % ", ".join(current_plan.failed_steps)
    if current_plan.state == migration_plan.STATE_RUNNING:
        running = [view.step.label for view in current_plan.views if view.running or view.queued]
        return "migration in progress: %s" % ", ".join(
            running or ["%s" % (job.job.type_code or job.job.method) for job in current_plan.active_jobs])
    return "all migration steps are ok"


def step_facts(view):
    """One step as reported in the facts."""
    step = view.step
    status_name = step.status_name if view.status_code is not None else None
    if status_name is None and view.status_code is not None:
        status_name = view.status_code.capitalize()
    return {
        "id": step.id,
        "type_id": step.type_id,
        "type_code": step.type_code,
        "type_name": step.type_name,
        "status_id": step.status_id,
        "status_code": view.status_code,
        "status_name": status_name,
        "last_trigger_date": hangfire_state.iso_utc(step.last_trigger_date),
        "last_duration_seconds": step.last_duration_seconds,
        "age_seconds": view.age_seconds,
        "user_name": step.user_name,
        "stuck": view.stuck,
        "never_succeeded": view.never_succeeded,
    }


def hangfire_facts(current_plan, unavailable_reason=None):
    """What Hangfire showed: whether it was read, its servers and Generate's unfinished migration jobs."""
    hangfire = current_plan.hangfire
    if hangfire is None:
        return {"available": False, "reason": unavailable_reason, "servers": [], "jobs": []}
    return {
        "available": True,
        "reason": None,
        "servers": [{"id": server.id, "last_heartbeat": hangfire_state.iso_utc(server.last_heartbeat),
                     "alive": server.id in current_plan.alive} for server in hangfire.servers],
        "jobs": [{"id": job.job.id, "method": job.job.method, "type_code": job.job.type_code,
                  "state": job.job.state, "since": hangfire_state.iso_utc(job.job.since), "server_id": job.job.server_id,
                  "status": job.status, "hung": job.hung} for job in current_plan.jobs],
    }


def facts(current_plan, last_errors, database_version, metadata_status, checked_at, locked_reports=None,
          hangfire_unavailable=None):
    """The ``generate_migrations`` fact: the state of every step, the evidence, and why it failed."""
    reason = current_plan.reports_blocked_reason(metadata_status)
    return {
        "state": current_plan.state,
        "reset_needed": current_plan.reset_needed,
        "evidence": current_plan.evidence,
        "stuck_after": current_plan.stuck_after,
        "steps": [step_facts(view) for view in current_plan.views],
        "failed_steps": current_plan.failed_steps,
        "running_steps": current_plan.running_steps,
        "queued_steps": current_plan.queued_steps,
        "hung_steps": current_plan.hung_steps,
        "orphaned_jobs": current_plan.orphaned_jobs,
        "hangfire": hangfire_facts(current_plan, hangfire_unavailable),
        "last_errors": last_errors,
        "database_version": database_version,
        "metadata_status": metadata_status,
        "reports_blocked": reason is not None,
        "reports_blocked_reason": reason,
        "locked_reports": locked_reports,
        "checked_at": hangfire_state.iso_utc(checked_at),
    }
