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
import re

from ansible_collections.ceds.generate.plugins.module_utils.hangfire_state import (
    HANGFIRE_SERVER_TIMEOUT,
    JOB_ORPHANED,
    JOB_QUEUED,
    JOB_RUNNING,
    age_of,
    classify_jobs,
    iso_utc,
    live_servers,
    to_utc,
)

STATUS_CODES = ("initial", "pending", "processing", "error", "success")
RESETTABLE = ("error", "pending", "processing")
ACTIVE = ("pending", "processing")
# The status a reset sets.
SUCCESS_STATUS = "success"

STATE_OK = "ok"
STATE_RUNNING = "running"
STATE_FAILED = "failed"

# Generate's command timeout for App.Migrate_Data (AppRepository.ExecuteSqlBasedMigration):
# 30000 s up to 13.1, 300000 s from 13.2 on.
STUCK_AFTER_BEFORE_13_2 = 30000
STUCK_AFTER_FROM_13_2 = 300000
VERSION_WITH_LONGER_TIMEOUT = (13, 2)
# What decided whether a step runs: Hangfire's jobs and servers, or the age of its LastTriggerDate.
DECIDED_BY_HANGFIRE = "hangfire"
DECIDED_BY_AGE = "age"

# What the report pages say, in the order they check (generate.web report.component.ts).
METADATA_PROCESSING_REASON = ("Metadata is currently being processed. Allow the metadata process to finish "
                              "before viewing reports.")
METADATA_FAILED_REASON = ("Metadata process failed. Please successfully migrate the metadata before "
                          "viewing reports.")
MIGRATION_IN_PROGRESS_REASON = ("A migration is in progress. Allow the current migration to finish before "
                                "viewing reports.")
MIGRATION_NOT_RUN_REASON = "The migration must be run prior to viewing reports."
NO_REPORT_STEP_REASON = "DataMigrations has no report row, so the report pages cannot read a status."


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


def version_of(text):
    """Generate's DatabaseVersion text (``13.1``, ``13.2.0``) as a (major, minor) tuple, or None."""
    match = re.match(r"\s*(\d+)(?:\.(\d+))?", text or "")
    return (int(match.group(1)), int(match.group(2) or 0)) if match else None


def default_stuck_after(database_version):
    """Generate's own command timeout for a migration on this version; the longer one when unknown."""
    version = version_of(database_version)
    if version is not None and version < VERSION_WITH_LONGER_TIMEOUT:
        return STUCK_AFTER_BEFORE_13_2
    return STUCK_AFTER_FROM_13_2


class StepView:
    """A step as the plan sees it: its status code, age, and whether it is stuck, running, queued or hung."""

    def __init__(self, step, status_code, age_seconds, stuck, running, queued, hung=False):
        self.step = step
        self.status_code = status_code
        self.age_seconds = age_seconds
        self.stuck = stuck
        self.running = running
        self.queued = queued
        self.hung = hung

    @property
    def failed(self):
        """A step is failed when its status is error, or when it is stuck."""
        return self.status_code == "error" or self.stuck

    @property
    def never_succeeded(self):
        """No run of the step ever finished: Generate writes LastDurationInSeconds only on success."""
        return self.step.last_duration_seconds is None


class Plan:
    """The outcome of planning: the state, the steps to reset, and why nothing happens when it does not."""

    def __init__(self, views, status_ids, resets, blockers, warnings, decided_by, stuck_after, hangfire=None,
                 jobs=(), alive=()):
        self.views = views
        self.status_ids = status_ids
        self.resets = resets
        self.blockers = blockers
        self.warnings = warnings
        self.decided_by = decided_by
        self.stuck_after = stuck_after
        self.hangfire = hangfire
        self.jobs = list(jobs)
        self.alive = set(alive)
        self.server_timeout = HANGFIRE_SERVER_TIMEOUT
        # The locked reports the reset unlocks (decide: with unlock_reports, when it resets the report step).
        self.unlock = []

    def _labels(self, keep):
        return [view.step.label for view in self.views if keep(view)]

    @property
    def failed_steps(self):
        """Type codes of the failed (error or stuck) steps."""
        return self._labels(lambda view: view.failed)

    @property
    def stuck_steps(self):
        """Type codes of the steps that are pending or processing with nothing left to finish them."""
        return self._labels(lambda view: view.stuck)

    @property
    def running_steps(self):
        """Type codes of the steps whose migration is running."""
        return self._labels(lambda view: view.running)

    @property
    def queued_steps(self):
        """Type codes of the steps whose migration waits to run."""
        return self._labels(lambda view: view.queued)

    @property
    def hung_steps(self):
        """Type codes of the steps whose job runs longer than stuck_after."""
        return self._labels(lambda view: view.hung)

    @property
    def orphaned_jobs(self):
        """Ids of the jobs that will re-run when a background app starts."""
        return [job.job.id for job in self.jobs if job.status == JOB_ORPHANED]

    @property
    def active_jobs(self):
        """The jobs running or queued: while there is one, nothing is reset."""
        return [job for job in self.jobs if job.status in (JOB_RUNNING, JOB_QUEUED)]

    @property
    def state(self):
        """ok, running (a migration is running or queued) or failed."""
        if self.failed_steps:
            return STATE_FAILED
        if any(view.running or view.queued for view in self.views) or self.active_jobs:
            return STATE_RUNNING
        return STATE_OK

    @property
    def reset_needed(self):
        """True when failed steps exist, whether or not the reset can run now."""
        return bool(self.failed_steps)

    @property
    def deferred(self):
        """True when a reset is needed but a running or queued migration holds it back."""
        return bool(self.blockers) and self.reset_needed

    def deferral_warning(self):
        """The warning given when a running or queued migration holds a reset back."""
        return "reset deferred: %s" % "; ".join(self.blockers)

    def reports_blocked_reason(self, metadata_status):
        """What the report pages say instead of showing reports, by their own rule; None when they open."""
        metadata = (metadata_status or "").strip().upper()
        if metadata == "PROCESSING":
            return METADATA_PROCESSING_REASON
        if metadata == "FAILED":
            return METADATA_FAILED_REASON
        report = report_view(self)
        if report is None:
            return NO_REPORT_STEP_REASON
        if report.status_code == "processing":
            return MIGRATION_IN_PROGRESS_REASON
        if report.status_code != SUCCESS_STATUS:
            return MIGRATION_NOT_RUN_REASON
        return None


def step_view(current_plan, type_code):
    """The view of the step of ``type_code`` (compared without regard to case), or None."""
    for view in current_plan.views:
        if (view.step.type_code or "").lower() == type_code.lower():
            return view
    return None


def report_view(current_plan):
    """The view of the report step, which the report pages read, or None."""
    return step_view(current_plan, "report")


def plan(steps, status_ids, now, stuck_after, reset, hangfire=None, server_timeout=HANGFIRE_SERVER_TIMEOUT):
    """Classify every step and decide what a reset changes.

    steps: list of Step, ordered by id.  status_ids: code -> id, from
    resolve_status_ids.  now: naive UTC datetime.  stuck_after: seconds after
    which a run counts as too long (0: never); see default_stuck_after.
    reset: True for state=reset, False for a read-only status check.
    hangfire: Hangfire's servers and jobs when they could be read, else None.

    With Hangfire, a step is running or queued when a job of its type is, and
    a pending or processing step with no such job is stuck whatever its age;
    any running or queued migration job holds a reset back.  Without it, the
    age of LastTriggerDate against stuck_after decides.
    """
    codes_by_id = dict((status_id, code) for code, status_id in status_ids.items())
    jobs = classify_jobs(hangfire, now, server_timeout, stuck_after) if hangfire is not None else []
    views = []
    warnings = []
    for step in steps:
        code = codes_by_id.get(step.status_id)
        age = age_of(step.last_trigger_date, now)
        if age is not None and age < 0:
            warnings.append(
                "%s was last triggered at %s, in the future: check the database server's clock"
                % (step.label, iso_utc(step.last_trigger_date))
            )
        if code is None:
            warnings.append(
                "%s has status id %s, which is none of Generate's status codes: left untouched"
                % (step.label, "NULL" if step.status_id is None else step.status_id)
            )
        active = code in ACTIVE
        if hangfire is not None:
            own = [job for job in jobs if job.belongs_to(step)]
            running = any(job.status == JOB_RUNNING for job in own)
            queued = not running and any(job.status == JOB_QUEUED for job in own)
            views.append(StepView(step, code, age, active and not running and not queued, running, queued,
                                  any(job.hung for job in own)))
        else:
            stuck = active and stuck_after > 0 and (age is None or age > stuck_after)
            views.append(StepView(step, code, age, stuck, code == "processing" and not stuck,
                                  code == "pending" and not stuck))

    if hangfire is not None:
        blockers = [job.describe() for job in jobs if job.status in (JOB_RUNNING, JOB_QUEUED)]
    else:
        blockers = ["%s is processing since %s" % (
            view.step.label, iso_utc(view.step.last_trigger_date) or "an unknown time") for view in views if view.running]
    resets = []
    if reset and any(view.failed for view in views) and not blockers:
        resets = [view for view in views if view.status_code in RESETTABLE]
    for job in jobs:
        if job.status == JOB_ORPHANED:
            warnings.append("%s%s, and no background server is alive: Hangfire runs it when a background app "
                            "starts" % (job.describe(), " on server %s" % job.job.server_id if job.job.server_id
                                        else ""))
        if job.hung:
            warnings.append("%s, %s s, longer than stuck_after (%s s): reported as hung, not reset; "
                            "Generate's Cancel stops it" % (job.describe(), job.age_seconds, stuck_after))
    for view in resets:
        if view.never_succeeded:
            warnings.append("%s never finished a run (LastDurationInSeconds is NULL): after the reset its "
                            "pages open on data no run has finished" % view.step.label)
    decided_by = DECIDED_BY_HANGFIRE if hangfire is not None else DECIDED_BY_AGE
    alive = live_servers(hangfire, now, server_timeout) if hangfire is not None else ()
    result = Plan(views, status_ids, resets, blockers, warnings, decided_by, stuck_after, hangfire, jobs, alive)
    result.server_timeout = server_timeout
    return result


def decide(snapshot, observation, params, reset):
    """The plan for what was read (migration_rows), at the database's clock.

    An explicit stuck_after wins over Generate's timeout for its version. With
    unlock_reports, a reset of the report step also unlocks the locked reports.
    """
    stuck_after = params.get("stuck_after")
    if stuck_after is None:
        stuck_after = default_stuck_after(snapshot.database_version)
    result = plan(snapshot.steps, snapshot.status_ids, observation.now, stuck_after, reset, observation.hangfire,
                  params["hangfire_server_timeout"])
    report = report_view(result)
    if params.get("unlock_reports") and report is not None and report in result.resets:
        result.unlock = list(observation.locked_reports or [])
    return result


def guard(current_plan, rows, hangfire, now, server_timeout=HANGFIRE_SERVER_TIMEOUT):
    """Inside the writing transaction: why the planned reset must not be committed, or None.

    rows: (step id, status id, trigger date, ...) of every step, read after the plan's UPDATEs
    (so the reset steps read as success).  hangfire: Hangfire's state read at the same
    time (None when the plan had none).  Any step whose status or trigger date is not
    what the plan wrote or read, or a migration job now running or queued, means Generate
    acted since the read.
    """
    reset_ids = set(view.step.id for view in current_plan.resets)
    expected = dict(
        (view.step.id, (current_plan.status_ids[SUCCESS_STATUS] if view.step.id in reset_ids else view.step.status_id,
                        iso_utc(view.step.last_trigger_date)))
        for view in current_plan.views)
    found = dict((row[0], (row[1], iso_utc(to_utc(row[2])))) for row in rows)
    labels = dict((view.step.id, view.step.label) for view in current_plan.views)
    for step_id in sorted(set(expected) | set(found), key=lambda value: "%s" % value):
        if expected.get(step_id) != found.get(step_id):
            return "%s changed since it was read" % labels.get(step_id, "step %s" % step_id)
    if current_plan.hangfire is not None:
        if hangfire is None:
            return "Hangfire's tables could no longer be read"
        for job in classify_jobs(hangfire, now, server_timeout, current_plan.stuck_after):
            if job.status in (JOB_RUNNING, JOB_QUEUED):
                return job.describe()
    return None


def after_reset(current_plan, now):
    """The plan of the rows as a reset leaves them: every reset step at success (the plan's steps stay as read)."""
    reset_ids = set(view.step.id for view in current_plan.resets)
    steps = []
    for view in current_plan.views:
        step = copy.copy(view.step)
        if step.id in reset_ids:
            step.status_id = current_plan.status_ids[SUCCESS_STATUS]
            step.status_name = None
        steps.append(step)
    return plan(steps, current_plan.status_ids, now, current_plan.stuck_after, reset=False,
                hangfire=current_plan.hangfire, server_timeout=current_plan.server_timeout)


def history_window(steps, status_ids):
    """The steps whose history a plan may report (error, pending or processing), with their last trigger date.

    Read before planning, in the same SELECT as Hangfire's state; only the
    failed steps' lines are reported (``failed_history``).
    """
    candidates = set(status_ids[code] for code in RESETTABLE)
    return [(step.type_id, step.last_trigger_date) for step in steps if step.status_id in candidates]
