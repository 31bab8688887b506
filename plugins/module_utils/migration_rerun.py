# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generate's own re-run (or cancel) of a migration: asked of its background app, watched in its database.

The background app's ``GET /api/DataMigration/MigrateData/{type}`` does what the
Migrate button does: it enqueues the type's Hangfire jobs with the selection
already saved in the database, and answers at once. The run then goes on in
Hangfire; this module watches it by reading the step (one SELECT a poll) until
it ends in success or error, or the time allowed runs out. Each request is sent
once: when it fails, the database says whether the run started anyway.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.ceds.generate.plugins.module_utils import (
    app_probe,
    connection,
    migration_options,
    migration_plan,
    migration_report,
    migration_tables,
)
from ansible_collections.ceds.generate.plugins.module_utils.connection_options import connection_argument_spec
from ansible_collections.ceds.generate.plugins.module_utils.connection_string import (
    ConnectionOptionsError,
    scrub,
    secrets_of,
)

MODULE_NAME = "ceds.generate.migration_run"
# Generate runs its migrations in this order, each on the data of the one before.
GENERATE_ORDER = ("ods", "rds", "report")
MIGRATE_PATH = "/api/DataMigration/MigrateData/%s"
CANCEL_PATH = "/api/DataMigration/MigrateData/Cancel/%s"
MIN_TIMEOUT = 1800
DEFAULT_POLL = 30
MAX_POLL = 3600

OUTCOME_SUCCESS = "success"
OUTCOME_ERROR = "error"
OUTCOME_TIMEOUT = "timeout"
OUTCOME_NOT_STARTED = "not started"
OUTCOME_WOULD_START = "would start"
OUTCOME_CANCELLED = "cancelled"
OUTCOME_NOT_HUNG = "not hung"
# Outcomes after which the next type may go on (and the task does not fail).
OUTCOMES_OK = (OUTCOME_SUCCESS, OUTCOME_WOULD_START, OUTCOME_CANCELLED, OUTCOME_NOT_HUNG)


def new_outcome(type_code):
    """One type's entry of the result, before anything happened to it."""
    return {"type_code": type_code, "triggered": False, "outcome": None, "elapsed_seconds": 0,
            "duration_seconds": None, "last_history_line": None, "history": [], "reason": None}


def argument_spec():
    """The options of ceds.generate.migration_run, for the action plugin and the module alike."""
    spec = connection_argument_spec()
    spec.update(
        state=dict(type="str", default="rerun", choices=["rerun", "cancel"]),
        background_url=dict(type="str", required=True),
        types=dict(type="list", elements="str", required=True),
        poll=dict(type="int", default=DEFAULT_POLL),
        timeout=dict(type="int"),
        http_timeout=dict(type="int", default=30),
        validate_certs=dict(type="bool", default=True),
    )
    spec.update(migration_options.evidence_argument_spec())
    return spec


def in_generate_order(types):
    """The types once each, in Generate's order (ods, rds, report), others after them as given."""
    unique = []
    for type_code in types:
        if type_code not in unique:
            unique.append(type_code)
    known = [code for code in GENERATE_ORDER if code in unique]
    return known + [code for code in unique if code not in GENERATE_ORDER]


def default_timeout(last_duration_seconds, database_version):
    """Three times the last successful run, at least 30 minutes, at most Generate's own command timeout."""
    ceiling = migration_plan.default_stuck_after(database_version)
    return min(max(3 * (last_duration_seconds or 0), MIN_TIMEOUT), ceiling)


def elapsed_text(seconds):
    """Seconds as h:mm:ss, the way a person reads a stopwatch."""
    seconds = int(seconds)
    return "%d:%02d:%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60)


def check_options(params):
    """Refuse options that cannot work, with a one-line message naming the option."""
    if not 1 <= params["poll"] <= MAX_POLL:
        raise ConnectionOptionsError(
            "poll must be between 1 and %d seconds, got %d" % (MAX_POLL, params["poll"]))
    if params.get("timeout") is not None and params["timeout"] < 1:
        raise ConnectionOptionsError("timeout must be a positive number of seconds, got %d" % params["timeout"])
    if not 1 <= params["http_timeout"] <= 600:
        raise ConnectionOptionsError("http_timeout must be between 1 and 600 seconds, got %d"
                                     % params["http_timeout"])
    if not params["types"] or any(not code or not code.replace("_", "").isalnum() for code in params["types"]):
        raise ConnectionOptionsError(
            "types must name migration types such as ods, rds and report, got %r" % (params["types"],))


class Watch:
    """One step as one poll read it."""

    def __init__(self, status_code, trigger, duration, newest_line, job_active):
        self.status_code = status_code
        self.trigger = trigger
        self.duration = duration
        self.newest_line = newest_line
        self.job_active = job_active


class Recovery:
    """Re-run or cancel migrations of one Generate environment, one type at a time.

    table: a MigrationTable on an open connection.  request: GETs one path of the
    background app (raises app_probe.ProbeFailed).  say: prints one progress line.
    """

    def __init__(self, table, params, check_mode, request, say, clock=time.monotonic, sleep=time.sleep,
                 now=migration_tables.utc_now):
        self.table = table
        self.params = params
        self.check_mode = check_mode
        self.request = request
        self.say = say
        self.clock = clock
        self.sleep = sleep
        self.now = now
        self.requests_sent = []

    def observe(self):
        """Steps and Hangfire's state, read and planned as data_migrations reads them (no reset)."""
        snapshot, evidence = migration_tables.observe(self.table, self.params)
        self.table.rollback()
        plan = migration_tables.decide(snapshot, evidence, dict(self.params, state="status"), self.now())
        return snapshot, evidence, plan

    def _send(self, path):
        """Send one request, once; return None, or the one-line reason it failed."""
        self.requests_sent.append(path)
        try:
            self.request(path)
        except app_probe.ProbeFailed as exc:
            return "%s" % exc
        return None

    def watch(self, step, since, status_ids):
        """One SELECT: the step's status, trigger date and duration, its newest history line since ``since``,
        and whether a job of its type still runs or waits (Hangfire marks a job Succeeded after the step)."""
        evidence = self.table.read_evidence(window=[(step.type_id, since)], lines=1, steps=True)
        self.table.rollback()
        codes = dict((status_id, code) for code, status_id in status_ids.items())
        job_active = False
        if evidence.hangfire is not None:
            jobs = migration_plan.classify_jobs(evidence.hangfire, self.now(), self.params["server_timeout"], 0)
            job_active = any(job.belongs_to(step) and job.status != migration_plan.JOB_ORPHANED for job in jobs)
        for step_id, status_id, trigger, duration in evidence.steps:
            if step_id == step.id:
                newest = evidence.history[0][2] if evidence.history else None
                return Watch(codes.get(status_id), migration_plan.to_utc(trigger), duration, newest, job_active)
        raise migration_tables.RunFailed("step %s is no longer in DataMigrations" % step.label)

    def run(self):
        """Every type in Generate's order; stops at the first that does not end in success."""
        outcomes = []
        for type_code in in_generate_order(self.params["types"]):
            outcome = self.rerun(type_code) if self.params["state"] == "rerun" else self.cancel(type_code)
            outcomes.append(outcome)
            if outcome["outcome"] not in OUTCOMES_OK:
                break
        return outcomes

    @staticmethod
    def _step(plan, type_code):
        view = migration_plan.step_view(plan, type_code)
        if view is not None:
            return view
        raise migration_tables.RunFailed("DataMigrations has no step of type %s: name one of %s"
                                         % (type_code, ", ".join(view.step.label for view in plan.views)))

    def rerun(self, type_code):
        """Trigger Generate's re-run of one type when nothing runs, and wait for its end."""
        snapshot, _evidence, plan = self.observe()
        view = self._step(plan, type_code)
        outcome = new_outcome(type_code)
        if plan.active_jobs:
            outcome.update(outcome=OUTCOME_NOT_STARTED, reason="a migration is running or queued: %s"
                           % "; ".join(plan.blockers))
            return outcome
        # A stuck step is no run: nothing will finish it (in check mode, the reset would set it to success).
        if view.status_code in migration_plan.ACTIVE and not view.stuck:
            outcome.update(outcome=OUTCOME_NOT_STARTED, reason="%s is already %s" % (type_code, view.status_code))
            return outcome
        timeout = self.params.get("timeout") or default_timeout(view.step.last_duration_seconds,
                                                                snapshot.database_version)
        if self.check_mode:
            outcome.update(outcome=OUTCOME_WOULD_START, reason="%s is %s and no migration is running or queued; "
                           "would wait up to %d s" % (type_code, view.status_code, timeout))
            return outcome
        before = view.step.last_trigger_date
        failure = self._send(MIGRATE_PATH % type_code)
        outcome["triggered"] = True
        if failure is not None and not self._started_anyway(type_code, before):
            outcome.update(outcome=OUTCOME_NOT_STARTED, reason="%s; the run did not start" % failure)
            return outcome
        return self._wait(view.step, before, timeout, outcome, snapshot.status_ids)

    def _started_anyway(self, type_code, before):
        """After a failed request: whether Generate started the run all the same (a job, or a new trigger)."""
        _snapshot, _evidence, plan = self.observe()
        view = self._step(plan, type_code)
        started = any(job.belongs_to(view.step) for job in plan.active_jobs)
        return started or view.step.last_trigger_date != before or view.status_code in migration_plan.ACTIVE

    def _wait(self, step, before, timeout, outcome, status_ids):
        started = self.clock()
        while True:
            watch = self.watch(step, before, status_ids)
            elapsed = int(self.clock() - started)
            self.say("%s: %s elapsed, %s%s" % (step.label, elapsed_text(elapsed), watch.status_code,
                                               (", " + watch.newest_line) if watch.newest_line else ""))
            outcome.update(elapsed_seconds=elapsed, last_history_line=watch.newest_line)
            new_run = watch.trigger is not None and watch.trigger != before
            ended = new_run and not watch.job_active
            if ended and watch.status_code == migration_plan.TARGET and watch.duration is not None:
                outcome.update(outcome=OUTCOME_SUCCESS, duration_seconds=watch.duration)
                return outcome
            if ended and watch.status_code == "error":
                outcome.update(outcome=OUTCOME_ERROR, history=self._history(step, watch.trigger),
                               reason="%s ended in error" % step.label)
                return outcome
            if elapsed >= timeout:
                outcome.update(outcome=OUTCOME_TIMEOUT, reason="still running after %d s; left running" % elapsed)
                return outcome
            self.sleep(min(self.params["poll"], max(timeout - elapsed, 1)))

    def _history(self, step, since):
        """The run's history lines, newest first."""
        lines = max(self.params.get("history_lines") or 0, 1)
        evidence = self.table.read_evidence(hangfire=False, window=[(step.type_id, since)], lines=lines)
        self.table.rollback()
        return [{"date": migration_plan.iso_utc(migration_plan.to_utc(date)), "message": message}
                for _type_id, date, message in evidence.history]

    def cancel(self, type_code):
        """Ask Generate to cancel a hung run of one type, and wait until Hangfire and the step show it ended."""
        _snapshot, _evidence, plan = self.observe()
        view = self._step(plan, type_code)
        outcome = new_outcome(type_code)
        if not view.hung:
            outcome.update(outcome=OUTCOME_NOT_HUNG, reason="%s has no job running longer than stuck_after"
                           % type_code)
            return outcome
        if self.check_mode:
            outcome.update(outcome=OUTCOME_WOULD_START, reason="%s is hung: would ask Generate to cancel it"
                           % type_code)
            return outcome
        failure = self._send(CANCEL_PATH % type_code)
        outcome["triggered"] = True
        timeout = self.params.get("timeout") or MIN_TIMEOUT
        started = self.clock()
        while True:
            _snapshot, _evidence, plan = self.observe()
            view = self._step(plan, type_code)
            processing = [job for job in plan.jobs if job.job.state == migration_plan.PROCESSING_JOB_STATE]
            elapsed = int(self.clock() - started)
            self.say("%s: cancel, %s elapsed, %s, %d Processing job(s)" % (
                type_code, elapsed_text(elapsed), view.status_code, len(processing)))
            outcome["elapsed_seconds"] = elapsed
            if not processing and view.status_code == "error":
                outcome.update(outcome=OUTCOME_CANCELLED)
                return outcome
            if elapsed >= timeout:
                outcome.update(outcome=OUTCOME_TIMEOUT, reason="%scancel not done after %d s: %d Processing job(s), "
                               "%s is %s" % ("%s; " % failure if failure else "", elapsed, len(processing),
                                             type_code, view.status_code))
                return outcome
            self.sleep(min(self.params["poll"], max(timeout - elapsed, 1)))


def result_of(outcomes, plan, snapshot, evidence, now, check_mode):
    """The task result: changed, msg, one entry per type, and the migration facts as they are now."""
    failed = [entry for entry in outcomes if entry["outcome"] not in OUTCOMES_OK]
    parts = []
    for entry in outcomes:
        text = "%s %s" % (entry["type_code"], entry["outcome"])
        if entry["outcome"] == OUTCOME_SUCCESS:
            text += " in %s s" % entry["duration_seconds"]
        if entry["reason"] and entry["outcome"] != OUTCOME_SUCCESS:
            text += " (%s)" % entry["reason"]
        if entry["outcome"] == OUTCOME_ERROR and entry["history"]:
            text += ": %s" % " | ".join(line["message"] for line in entry["history"])
        parts.append(text)
    result = {
        "changed": any(entry["triggered"] or entry["outcome"] == OUTCOME_WOULD_START for entry in outcomes),
        "msg": "; ".join(parts) if parts else "nothing to do",
        "runs": outcomes,
        "ansible_facts": {"generate_migrations": migration_report.facts(
            plan, [], snapshot.database_version, snapshot.metadata_status, now, evidence.locked_reports,
            evidence.hangfire_unavailable)},
    }
    if failed and not check_mode:
        result["failed"] = True
    return result


def execute(params, check_mode, environ=None, say=None, request=None, sleep=time.sleep):
    """Do the whole job from validated options; return (result, secrets), as data_migrations' execute does."""
    if connection.pyodbc is None:
        return {"failed": True, "msg": "pyodbc is not installed in the Python that runs this task: %s"
                % connection.PYODBC_HINT}, set()
    options = dict(params, audit=False, audit_note=None)
    try:
        check_options(options)
        options = migration_options.check_options(options, environ)
    except ConnectionOptionsError as exc:
        return {"failed": True, "msg": "%s" % exc}, set()
    secrets = set(secrets_of(options))
    if request is None:
        probe = app_probe.Probe("background", params["background_url"], params["http_timeout"],
                                params["validate_certs"])

        def request(path):
            return probe.get(path)
    table = migration_tables.MigrationTable(None, options)
    recovery = Recovery(table, options, check_mode, request, say or (lambda text: None), sleep=sleep)
    failure = None
    result = None
    try:
        table.connection = connection.connect(options)
        outcomes = recovery.run()
        snapshot, evidence, plan = recovery.observe()
        result = result_of(outcomes, plan, snapshot, evidence, migration_tables.utc_now(), check_mode)
    except (connection.DatabaseError, migration_tables.RunFailed) as exc:
        failure = scrub(exc, secrets)
    except connection.pyodbc.Error as exc:
        failure = "%s" % connection.translate(exc, "reading the migration steps", options)
    finally:
        table.close()
    if failure is not None:
        return {"failed": True, "msg": failure, "requests_sent": recovery.requests_sent}, secrets
    result["requests_sent"] = recovery.requests_sent
    return result, secrets
