# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The decision: which migration steps are failed, stuck or running, and what a reset changes.

Everything here is pure: plain rows, a clock and the options go in, a plan
comes out.  The same plan feeds the facts, check mode, the diff, the message
and the real update, so they can never disagree.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime

STATUS_CODES = ("initial", "pending", "processing", "error", "success")
RESETTABLE = ("error", "pending", "processing")
TARGET = "success"

STATE_OK = "ok"
STATE_RUNNING = "running"
STATE_FAILED = "failed"


class PlanError(Exception):
    """The rows read cannot be planned on (for example a status code is missing)."""


def resolve_status_ids(status_rows):
    """Map each of Generate's five status codes to its id, from (id, code) rows.

    Generate looks statuses up by code, never by id, so the ids of an install
    are taken from its own table.  Codes are compared without regard to case,
    as SQL Server's default collation does.
    """
    ids = {}
    for status_id, code in status_rows:
        key = (code or "").strip().lower()
        if key not in STATUS_CODES:
            continue
        if key in ids and ids[key] != status_id:
            raise PlanError(
                "DataMigrationStatuses holds status code '%s' twice (ids %s and %s): "
                "remove the duplicate so each code has one id" % (key, ids[key], status_id)
            )
        ids[key] = status_id
    missing = [code for code in STATUS_CODES if code not in ids]
    if missing:
        raise PlanError(
            "DataMigrationStatuses has no status code %s: Generate needs all of %s"
            % (", ".join("'%s'" % code for code in missing), ", ".join(STATUS_CODES))
        )
    return ids


def to_utc(value):
    """Return a naive UTC datetime from a driver value (naive UTC, aware, or ISO text), or None."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        if not text:
            return None
        try:
            value = datetime.datetime.fromisoformat(text)
        except ValueError:
            return None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day)
    return None


def iso_utc(value):
    """Format a naive UTC datetime as ISO 8601 with a Z, or None."""
    if value is None:
        return None
    return value.replace(microsecond=value.microsecond // 1000 * 1000).isoformat(timespec="milliseconds") + "Z"


class Step:
    """One row of DataMigrations: a migration type and the status of its last run."""

    def __init__(self, step_id, type_id, status_id, type_code=None, type_name=None, status_name=None,
                 last_trigger_date=None, last_duration_seconds=None, user_name=None):
        self.id = step_id
        self.type_id = type_id
        self.type_code = type_code
        self.type_name = type_name
        self.status_id = status_id
        self.status_name = status_name
        self.last_trigger_date = to_utc(last_trigger_date)
        self.last_duration_seconds = last_duration_seconds
        self.user_name = user_name

    @property
    def label(self):
        """The name a person knows the step by: its type code, or its type id when the type is unknown."""
        return self.type_code or "type-%s" % self.type_id


class StepView:
    """A step as the plan sees it: its status code, age, and whether it is stuck or running."""

    def __init__(self, step, status_code, age_seconds, stuck, running, queued):
        self.step = step
        self.status_code = status_code
        self.age_seconds = age_seconds
        self.stuck = stuck
        self.running = running
        self.queued = queued

    @property
    def failed(self):
        """A step is failed when its status is error, or when it is stuck."""
        return self.status_code == "error" or self.stuck


class Plan:
    """The outcome of planning: the state, the steps to reset, and why nothing happens when it does not."""

    def __init__(self, views, status_ids, resets, deferred_by, warnings):
        self.views = views
        self.status_ids = status_ids
        self.resets = resets
        self.deferred_by = deferred_by
        self.warnings = warnings

    @property
    def failed_steps(self):
        """Type codes of the failed (error or stuck) steps."""
        return [view.step.label for view in self.views if view.failed]

    @property
    def stuck_steps(self):
        """Type codes of the steps that are pending or processing past stuck_after."""
        return [view.step.label for view in self.views if view.stuck]

    @property
    def running_steps(self):
        """Type codes of the steps that are processing within stuck_after."""
        return [view.step.label for view in self.views if view.running]

    @property
    def state(self):
        """ok, running (a step is processing or freshly queued) or failed."""
        if self.failed_steps:
            return STATE_FAILED
        if any(view.running or view.queued for view in self.views):
            return STATE_RUNNING
        return STATE_OK

    @property
    def reset_needed(self):
        """True when failed steps exist, whether or not the reset can run now."""
        return bool(self.failed_steps)

    @property
    def deferred(self):
        """True when a reset is needed but a running step holds it back."""
        return bool(self.deferred_by) and self.reset_needed

    def reset_steps(self):
        """The changes a reset makes, as returned to the user."""
        return [
            {"id": view.step.id, "type_code": view.step.label, "from": view.status_code, "to": TARGET}
            for view in self.resets
        ]

    def status_by_type(self, after=False):
        """``{type_code: status_code}`` for every step, before or after the reset (for the diff)."""
        reset_ids = set(view.step.id for view in self.resets) if after else set()
        return dict(
            (view.step.label, TARGET if view.step.id in reset_ids else view.status_code)
            for view in self.views
        )

    def message(self, applied, check_mode=False):
        """One line a person can read, saying what was (or would be) done and why."""
        if self.resets:
            changes = ", ".join(
                "%s %s -> %s" % (view.step.label, view.status_code, TARGET) for view in self.resets
            )
            count = len(self.resets)
            noun = "step" if count == 1 else "steps"
            if applied:
                return "reset %d %s: %s" % (count, noun, changes)
            verb = "would reset" if check_mode else "reset needed for"
            return "%s %d %s: %s" % (verb, count, noun, changes)
        if self.deferred:
            return self.deferral_warning()
        if self.failed_steps:
            return "failed steps: %s" % ", ".join(self.failed_steps)
        if self.state == STATE_RUNNING:
            return "migration in progress: %s" % ", ".join(
                view.step.label for view in self.views if view.running or view.queued
            )
        return "all migration steps are ok"

    def deferral_warning(self):
        """The warning given when a running step holds a reset back."""
        parts = []
        for view in self.deferred_by:
            since = iso_utc(view.step.last_trigger_date) or "an unknown time"
            parts.append("%s is processing since %s" % (view.step.label, since))
        return "reset deferred: %s" % "; ".join(parts)


def plan(steps, status_ids, now, stuck_after, reset):
    """Classify every step and decide what a reset changes.

    steps: list of Step, ordered by id.  status_ids: code -> id, from
    resolve_status_ids.  now: naive UTC datetime.  stuck_after: seconds after
    its last trigger that a pending or processing step counts as stuck (0: never).
    reset: True for state=reset, False for a read-only status check.
    """
    codes_by_id = dict((status_id, code) for code, status_id in status_ids.items())
    views = []
    warnings = []
    for step in steps:
        code = codes_by_id.get(step.status_id)
        age = None
        if step.last_trigger_date is not None:
            age = int((now - step.last_trigger_date).total_seconds())
            if age < 0:
                warnings.append(
                    "%s was last triggered at %s, in the future: check the database server's clock"
                    % (step.label, iso_utc(step.last_trigger_date))
                )
        if code is None:
            warnings.append(
                "%s has status id %s, which is none of Generate's status codes: left untouched"
                % (step.label, "NULL" if step.status_id is None else step.status_id)
            )
        active = code in ("pending", "processing")
        expired = stuck_after > 0 and (age is None or age > stuck_after)
        stuck = active and expired
        running = code == "processing" and not stuck
        queued = code == "pending" and not stuck
        views.append(StepView(step, code, age, stuck, running, queued))

    deferred_by = [view for view in views if view.running]
    resets = []
    if reset and any(view.failed for view in views) and not deferred_by:
        resets = [view for view in views if view.status_code in RESETTABLE]
    return Plan(views, status_ids, resets, deferred_by, warnings)


def after_reset(current_plan, now, stuck_after):
    """The plan of the rows as a reset leaves them: every reset step at success (the plan's steps stay as read)."""
    reset_ids = set(view.step.id for view in current_plan.resets)
    steps = []
    for view in current_plan.views:
        step = copy.copy(view.step)
        if step.id in reset_ids:
            step.status_id = current_plan.status_ids[TARGET]
        steps.append(step)
    return plan(steps, current_plan.status_ids, now, stuck_after, reset=False)


def step_facts(view):
    """One step as reported in the facts."""
    step = view.step
    status_name = step.status_name if view.status_code is not None else None
    return {
        "id": step.id,
        "type_id": step.type_id,
        "type_code": step.type_code,
        "type_name": step.type_name,
        "status_id": step.status_id,
        "status_code": view.status_code,
        "status_name": status_name,
        "last_trigger_date": iso_utc(step.last_trigger_date),
        "last_duration_seconds": step.last_duration_seconds,
        "age_seconds": view.age_seconds,
        "user_name": step.user_name,
        "stuck": view.stuck,
    }


def facts(current_plan, last_errors, database_version, metadata_status, checked_at):
    """The ``generate_migrations`` fact: the state of every step and why it failed."""
    return {
        "state": current_plan.state,
        "reset_needed": current_plan.reset_needed,
        "steps": [step_facts(view) for view in current_plan.views],
        "failed_steps": current_plan.failed_steps,
        "running_steps": current_plan.running_steps,
        "last_errors": last_errors,
        "database_version": database_version,
        "metadata_status": metadata_status,
        "checked_at": iso_utc(checked_at),
    }


def history_window(current_plan):
    """The failed steps whose history is worth reading, with the date their last run started."""
    return [(view.step.type_id, view.step.last_trigger_date) for view in current_plan.views if view.failed]


def select_history(rows, window, lines, labels):
    """Newest-first history lines of the failed types, at most ``lines`` per type.

    rows: (type_id, date, message) as read, newest first.  labels: type_id -> type code.
    """
    taken = {}
    wanted = dict(window)
    selected = []
    for type_id, date, message in rows:
        if type_id not in wanted or taken.get(type_id, 0) >= lines:
            continue
        taken[type_id] = taken.get(type_id, 0) + 1
        selected.append({"type_code": labels.get(type_id), "date": iso_utc(to_utc(date)), "message": message})
    return selected
