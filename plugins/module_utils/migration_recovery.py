# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules of a recovery through Generate's own background app: what to run, on which reports, and when a
run or a cancel has ended and how.

Everything here is pure: what one poll of the database read goes in, an
outcome (or "keep waiting") comes out. Each rule names the Generate file it
follows (tag V13.3 unless said otherwise).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ceds.generate.plugins.module_utils import hangfire_state, migration_plan

REPORT = "report"
# The types MigrationService.MigrateData acts on, compared case-sensitively; any other value does nothing and
# the background app still answers 200 (generate.infrastructure/Services/MigrationService.cs).
MIGRATE_TYPES = ("ods", "rds", REPORT)
# Before 12.0 each type ran its own tasks, each on the data of the one before, in this order.
GENERATE_ORDER = MIGRATE_TYPES
# From 12.0, App.Migrate_Data runs the whole pipeline over the locked reports whatever the type it picked
# (generate.database/StoredProcedures/Create/App.Migrate_Data.StoredProcedure.sql, tag 12.0): one report run
# does all of it, as the report migration page's Migrate button does.
ONE_PIPELINE_FROM = (12, 0)

OUTCOME_SUCCESS = "success"
OUTCOME_ERROR = "error"
OUTCOME_TIMEOUT = "timeout"
OUTCOME_STUCK = "stuck"
OUTCOME_INCOMPLETE = "incomplete"
OUTCOME_NOT_STARTED = "not started"
OUTCOME_WOULD_START = "would start"
OUTCOME_CANCELLED = "cancelled"
OUTCOME_NOT_HUNG = "not hung"
# Outcomes after which the next type may go on (and the task does not fail).
OUTCOMES_OK = (OUTCOME_SUCCESS, OUTCOME_WOULD_START, OUTCOME_CANCELLED, OUTCOME_NOT_HUNG)
# Polls in a row that must agree before a run with no job left is judged stuck or incomplete: Hangfire
# enqueues a continuation in a transaction of its own after its parent succeeded.
QUIET_POLLS = 2

# The line AppRepository.CompleteMigration writes on success; for report it comes from the last
# MarkReportAsComplete (CompleteReportMigrationIfReady). App.Migrate_Data itself writes "Migration Complete"
# when it marks a step success, which for report happens only when no new-style report is left locked.
SUCCESSFUL_LINE = "%s Migration Complete - successful"
MIGRATE_DATA_COMPLETE_LINE = "Migration Complete"
# LogException's first line, written only by the worker that ran the migration (AppRepository.cs).
WORKER_ERROR_PREFIX = "Error Occurred - "
# What CompleteMigration(code, "error") writes: on a step not yet error, then on one already error.
ERROR_CLOSING_LINES = ("%s Migration Complete - either due to error or cancellation",
                       "%s Migration Completed after Cancel/Error")
# FactReportRepository.ExecuteReportMigrationByYearLevelAndCategorySet's last line.
REPORT_JOB_COMPLETE_PREFIX = "Report Complete ("
REPORT_JOB_COMPLETE_LINE = REPORT_JOB_COMPLETE_PREFIX + "%s)"
SQL_MIGRATION_METHOD = "ExecuteSqlBasedMigration"
REPORT_JOB_METHOD = "ExecuteReportMigrationByYearLevelAndCategorySet"

NO_SELECTION = ("no report is selected: a report run migrates only the locked reports, and Generate unlocked them "
                "when the failed run ended (AppRepository.CompleteMigration with error); a report run with none "
                "locked migrates nothing and still ends in success. Give the report codes to migrate in reports "
                "(playbook variable generate_rerun_reports), as the report migration page's selection")


def error_closings(type_code):
    """The lines CompleteMigration(code, "error") writes for ``type_code``."""
    return [text % type_code.upper() for text in ERROR_CLOSING_LINES]


def in_generate_order(types):
    """The types once each, in Generate's order (ods, rds, report)."""
    return [code for code in GENERATE_ORDER if code in types]


def runs_for(types, database_version):
    """The runs that re-do ``types``: from 12.0 one report run, before it each type once in Generate's order.

    An unknown version counts as the newest.
    """
    version = migration_plan.version_of(database_version)
    if version is None or version >= ONE_PIPELINE_FROM:
        return [REPORT] if types else []
    return in_generate_order(types)


def bad_types(types):
    """The values of ``types`` that MigrateData would ignore (only the lower-case codes act)."""
    return [code for code in types if code not in MIGRATE_TYPES]


def report_selection(locked, given, rows):
    """The reports a report run migrates: (selection, to lock, problem).

    locked: the report codes locked now (a run that crashed leaves them locked). given: the codes the
    operator named. rows: code -> (active, locked) of the given codes, as read. The locked ones win;
    else the given ones, each of which must exist and be active (App.Migrate_Data takes only
    IsActive = 1 reports), and are locked before the run. With neither, no run: the problem says why.
    """
    if locked:
        return list(locked), [], None
    if not given:
        return [], [], NO_SELECTION
    missing = [code for code in given if code not in rows]
    if missing:
        return [], [], ("report codes not found in GenerateReports: %s; name existing report codes in reports"
                        % ", ".join(missing))
    inactive = [code for code in given if not rows[code][0]]
    if inactive:
        return [], [], ("reports not active in GenerateReports: %s; Generate migrates only active reports"
                        % ", ".join(inactive))
    unique = []
    for code in given:
        if code not in unique:
            unique.append(code)
    return unique, [code for code in unique if not rows[code][1]], None


class Poll:
    """What one read of the database says of a run: the step, its lines since the run began, its jobs."""

    def __init__(self, status_code, duration, lines, jobs, locked, elapsed):
        """lines: messages of the type since the request, oldest first. jobs: JobViews of the type's unfinished
        jobs. locked: the report codes locked now. elapsed: seconds since the request."""
        self.status_code = status_code
        self.duration = duration
        self.lines = list(lines)
        self.jobs = list(jobs)
        self.locked = list(locked)
        self.elapsed = elapsed


def describe_jobs(jobs):
    """The jobs in a few words each."""
    return "; ".join(job.describe() for job in jobs)


class RunWatch:
    """Judges a run poll by poll: None while it goes on, else (outcome, reason).

    type_code: the run's type. selection: the reports it migrates; legacy: those of them that Generate
    migrates the old way (UseLegacyReportMigration), which nothing unlocks. start_timeout, timeout: seconds.
    """

    def __init__(self, type_code, selection, legacy, start_timeout, timeout):
        self.type_code = type_code
        self.selection = list(selection)
        self.legacy = set(legacy)
        self.start_timeout = start_timeout
        self.timeout = timeout
        self.started = False
        self.quiet = 0

    def completion_lines(self):
        """The lines that say the run finished its work, any of them.

        App.Migrate_Data writes "Migration Complete" when it marks the step success, which for report it does
        only when no new-style report is left locked: with the selection locked at the request, that line too
        proves the reports were migrated (the per-report jobs finished first), with each one's "Report Complete"
        line. Otherwise the last MarkReportAsComplete writes "REPORT Migration Complete - successful" (from 13.2;
        in 12.0 to 13.1 CompleteMigration throws there, and the step stays processing: stuck).
        """
        if self.type_code == REPORT:
            return (SUCCESSFUL_LINE % self.type_code.upper(), MIGRATE_DATA_COMPLETE_LINE)
        return (MIGRATE_DATA_COMPLETE_LINE,)

    def _error_line(self, line):
        """Whether ``line`` is one that Generate writes when a run of this type fails."""
        return line.startswith(WORKER_ERROR_PREFIX) or line in error_closings(self.type_code)

    def judge(self, poll):
        """The outcome after this poll, or None to keep waiting."""
        self.started = self.started or bool(poll.jobs) or bool(poll.lines)
        if not self.started:
            if poll.elapsed >= min(self.start_timeout, self.timeout):
                return OUTCOME_NOT_STARTED, (
                    "no job of %s and no history line of it after %d s: Generate did not start the run; check that "
                    "background_url is this environment's background app" % (self.type_code, poll.elapsed))
            return None
        if poll.status_code == "error" and any(self._error_line(line) for line in poll.lines):
            left = (", jobs left: %s" % describe_jobs(poll.jobs)) if poll.jobs else ""
            return OUTCOME_ERROR, "%s ended in error%s" % (self.type_code, left)
        if poll.elapsed >= self.timeout:
            return OUTCOME_TIMEOUT, "still running after %d s; left running" % poll.elapsed
        active = [job for job in poll.jobs if job.status != hangfire_state.JOB_ORPHANED]
        if active:
            self.quiet = 0
            return None
        self.quiet += 1
        if self.quiet < QUIET_POLLS:
            return None
        if poll.jobs:
            return OUTCOME_STUCK, ("no background server is alive to run %s's jobs: %s"
                                   % (self.type_code, describe_jobs(poll.jobs)))
        return self._ended(poll)

    def _ended(self, poll):
        """No job of the run is left: success only when all of its work shows."""
        still_locked = [code for code in self.selection if code in poll.locked and code not in self.legacy]
        missing = []
        if poll.status_code != migration_plan.SUCCESS_STATUS:
            missing.append("%s is %s" % (self.type_code, poll.status_code))
        # Each report migrated the new way has one job per year and category set, whose last line names it
        # (FactReportRepository.ExecuteReportMigrationByYearLevelAndCategorySet): a run over nothing has none.
        unmigrated = [code for code in self.selection if code not in self.legacy and not any(
            line.startswith("%s%s/" % (REPORT_JOB_COMPLETE_PREFIX, code)) for line in poll.lines)]
        if unmigrated:
            missing.append("no \"%s\" line for %s" % (REPORT_JOB_COMPLETE_LINE % "...", ", ".join(unmigrated)))
        if not any(line in poll.lines for line in self.completion_lines()):
            missing.append("Generate wrote no \"%s\" line" % "\" or \"".join(self.completion_lines()))
        if still_locked:
            missing.append("reports still locked: %s" % ", ".join(still_locked))
        if not missing:
            return OUTCOME_SUCCESS, None
        if poll.status_code in migration_plan.ACTIVE:
            return OUTCOME_STUCK, (
                "no job is left to finish the run: %s (a job that fails is deleted by Generate's AutomaticRetry, "
                "with its continuation)" % "; ".join(missing))
        return OUTCOME_INCOMPLETE, "no job left, but %s" % "; ".join(missing)


class CancelWatch:
    """Judges a cancel poll by poll: None while it goes on, else (outcome, reason).

    Generate's cancel (MigrationService.CancelMigration) deletes every Processing job, sets the step to error
    and answers; the cancelled worker is still running then. It notices within about a second, and its
    catch block writes "Error Occurred - ..." and calls CompleteMigration(code, "error") again, which sets a
    step reset meanwhile back to error. So the cancel is done only once each cancelled worker has closed,
    and no job of the type is left running, queued or awaiting (Cancel leaves Enqueued and Awaiting jobs).
    running: the type's jobs that were Processing when the cancel was sent.
    """

    def __init__(self, type_code, running, timeout):
        self.type_code = type_code
        self.running = list(running)
        self.timeout = timeout

    def unstoppable(self):
        """The cancelled jobs that Generate's cancel cannot stop."""
        return [job for job in self.running if job.method == REPORT_JOB_METHOD]

    def open_workers(self, lines):
        """The cancelled jobs whose worker has not closed yet, by the history lines since the cancel.

        The migration job's worker closes with its catch block: LogException ("Error Occurred - ..."), then
        CompleteMigration(code, "error"). A per-report job takes no cancellation token and runs to its end,
        whose last line names it. Other jobs write nothing of their own.
        """
        closings = error_closings(self.type_code)
        seen_error = worker_closed = False
        for line in lines:
            if line.startswith(WORKER_ERROR_PREFIX):
                seen_error = True
            elif seen_error and line in closings:
                worker_closed = True
        waiting = []
        for job in self.running:
            if job.method == SQL_MIGRATION_METHOD and not worker_closed:
                waiting.append(job)
            elif job.method == REPORT_JOB_METHOD and REPORT_JOB_COMPLETE_LINE % "/".join(
                    "%s" % value for value in job.arguments[:4]) not in lines:
                waiting.append(job)
        return waiting

    def judge(self, poll):
        """The outcome after this poll, or None to keep waiting."""
        waiting = self.open_workers(poll.lines)
        if not waiting and not poll.jobs and poll.status_code == "error":
            return OUTCOME_CANCELLED, None
        if poll.elapsed < self.timeout:
            return None
        reasons = []
        for job in waiting:
            if job.method == REPORT_JOB_METHOD:
                reasons.append("job %s %s takes no cancellation token: Generate's cancel deleted it, but it runs to "
                               "its end" % (job.id, job.method))
            else:
                reasons.append("the cancelled worker of job %s %s has not closed" % (job.id, job.method))
        if poll.jobs:
            reasons.append("jobs left by Generate's cancel: %s" % describe_jobs(poll.jobs))
        if poll.status_code != "error":
            reasons.append("%s is %s" % (self.type_code, poll.status_code))
        return OUTCOME_TIMEOUT, "cancel not done after %d s: %s" % (poll.elapsed, "; ".join(reasons))
