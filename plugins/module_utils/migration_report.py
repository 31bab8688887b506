# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the user sees of a plan: the message, reset_steps, the diff, the facts and the failed steps' history.

The run's ``dump`` (data_migrations.MigrationCheck) builds its result from
these, all from the same plan, so check mode, diff mode, the facts and the
message can never tell different stories.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ceds.generate.plugins.module_utils import hangfire_state, migration_plan


def reset_steps(current_plan):
    """The changes a reset makes, as returned to the user."""
    return [
        {"id": view.step.id, "type_code": view.step.label, "from": view.status_code, "to": migration_plan.SUCCESS_STATUS}
        for view in current_plan.resets
    ]


def status_by_type(current_plan, after=False):
    """``{type_code: status_code}`` for every step, before or after the reset (for the diff)."""
    reset_ids = set(view.step.id for view in current_plan.resets) if after else set()
    return dict(
        (view.step.label, migration_plan.SUCCESS_STATUS if view.step.id in reset_ids else view.status_code)
        for view in current_plan.views
    )


def message(current_plan, applied, check_mode=False):
    """One line a person can read, saying what was (or would be) done and why."""
    if current_plan.resets:
        changes = ", ".join("%s %s -> %s" % (view.step.label, view.status_code, migration_plan.SUCCESS_STATUS)
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
    """The ``generate_migrations`` fact: the state of every step, what decided it, and why it failed."""
    reason = current_plan.reports_blocked_reason(metadata_status)
    return {
        "state": current_plan.state,
        "reset_needed": current_plan.reset_needed,
        "decided_by": current_plan.decided_by,
        # The name of decided_by in 1.0.0: deprecated, removed in 2.0.0.
        "evidence": current_plan.decided_by,
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


def failed_history(current_plan, rows, lines):
    """The newest history lines of the plan's failed steps, from the rows the state read returned."""
    failed = [(view.step.type_id, None) for view in current_plan.views if view.failed]
    labels = dict((view.step.type_id, view.step.label) for view in current_plan.views)
    return select_history(rows, failed, lines, labels)


def select_history(rows, window, lines, labels):
    """Newest-first history lines of the failed types, at most ``lines`` per type.

    rows: (type_id, date, message, line id) as read, newest first.  labels: type_id -> type code.
    """
    taken = {}
    wanted = dict(window)
    selected = []
    for row in rows:
        type_id, date, message = row[0], row[1], row[2]
        if type_id not in wanted or taken.get(type_id, 0) >= lines:
            continue
        taken[type_id] = taken.get(type_id, 0) + 1
        selected.append({"type_code": labels.get(type_id), "date": hangfire_state.iso_utc(hangfire_state.to_utc(date)), "message": message})
    return selected
