# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generate's own re-run (or cancel) of a migration: asked of its background app, watched in its database.

The background app's ``GET /api/DataMigration/MigrateData/{type}`` does what the
Migrate button does: it enqueues the type's Hangfire jobs with the selection
already saved in the database, and answers at once. The run then goes on in
Hangfire; this module watches it with one SELECT a poll (the step, its history
lines since the request, Hangfire's jobs, the locked reports, the database's
clock) and judges each poll by the rules of migration_recovery. Each request
is sent once: when it fails, the database says whether the run started anyway.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.ceds.generate.plugins.module_utils import (
    app_client,
    connection,
    connection_options,
    data_migrations,
    hangfire_state,
    migration_options,
    migration_plan,
    migration_recovery,
    migration_tables,
)
from ansible_collections.ceds.generate.plugins.module_utils.connection_string import OptionsError, scrub, secrets_of

MODULE_NAME = "ceds.generate.migration_run"
MIGRATE_PATH = "/api/DataMigration/MigrateData/%s"
CANCEL_PATH = "/api/DataMigration/MigrateData/Cancel/%s"
MIN_TIMEOUT = 1800
DEFAULT_POLL = 30
MAX_POLL = 3600
DEFAULT_START_TIMEOUT = 120
# History lines of the run read per poll, newest first: a run writes a handful (one per task before 12.0).
RUN_LINES = 100
MAX_REPORTS = 100
# Who writes the audit line of a report selection.
SELECTED_BY = MODULE_NAME
# The authors this collection's own audit lines name (a reset's, a selection's lock): never a line of a run.
OWN_AUTHORS = (" by %s" % migration_tables.RESET_BY, " by %s" % SELECTED_BY)


def new_outcome(type_code):
    """One type's entry of the result, before anything happened to it."""
    return {"type_code": type_code, "triggered": False, "outcome": None, "elapsed_seconds": 0,
            "duration_seconds": None, "last_history_line": None, "history": [], "reason": None, "reports": []}


def argument_spec():
    """The options of ceds.generate.migration_run, for the action plugin and the module alike."""
    spec = connection_options.connection_argument_spec()
    spec.update(
        state=dict(type="str", default="rerun", choices=["rerun", "cancel"]),
        background_url=dict(type="str", required=True),
        types=dict(type="list", elements="str", required=True),
        reports=dict(type="list", elements="str", default=[]),
        poll=dict(type="int", default=DEFAULT_POLL),
        timeout=dict(type="int"),
        start_timeout=dict(type="int", default=DEFAULT_START_TIMEOUT),
        http_timeout=dict(type="int", default=30),
        validate_certs=dict(type="bool", default=True),
    )
    spec.update(migration_options.reading_argument_spec())
    return spec


def argument_rules():
    """The module's mutually_exclusive, required_together, ... rules, as keyword arguments."""
    return connection_options.argument_rules()


def default_timeout(last_duration_seconds, database_version):
    """Three times the last successful run, at least 30 minutes, at most Generate's own command timeout."""
    ceiling = migration_plan.default_stuck_after(database_version)
    return min(max(3 * (last_duration_seconds or 0), MIN_TIMEOUT), ceiling)


def run_lines(history, step, since):
    """The (date, message) of the history lines that Generate wrote for ``step``'s run since ``since``.

    The state read takes a second of slack before ``since``: a line written before the request is not the run's.
    Nor is a line this collection wrote (the selection's lock is written just before the request, and a clock of
    coarse steps, such as SQL Server's datetime, can date it in the instant of the request).
    """
    return [(date, message) for type_id, date, message, _line in history
            if type_id == step.type_id and date is not None and date >= since
            and not any(author in message for author in OWN_AUTHORS)]


def elapsed_text(seconds):
    """Seconds as h:mm:ss, the way a person reads a stopwatch."""
    seconds = int(seconds)
    return "%d:%02d:%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60)


def check_options(params):
    """Refuse options that cannot work, with a one-line message naming the option."""
    if not 1 <= params["poll"] <= MAX_POLL:
        raise OptionsError(
            "poll must be between 1 and %d seconds, got %d" % (MAX_POLL, params["poll"]))
    if params.get("timeout") is not None and params["timeout"] < 1:
        raise OptionsError("timeout must be a positive number of seconds, got %d" % params["timeout"])
    if not 1 <= params.get("start_timeout", DEFAULT_START_TIMEOUT) <= MAX_POLL:
        raise OptionsError("start_timeout must be between 1 and %d seconds, got %d"
                           % (MAX_POLL, params["start_timeout"]))
    if not 1 <= params["http_timeout"] <= 600:
        raise OptionsError("http_timeout must be between 1 and 600 seconds, got %d"
                           % params["http_timeout"])
    bad = migration_recovery.bad_types(params["types"] or [])
    if not params["types"] or bad:
        raise OptionsError(
            "types must name Generate's migration types in lower case (%s), got %r: Generate's MigrateData compares "
            "them case-sensitively and does nothing for any other value"
            % (", ".join(migration_recovery.MIGRATE_TYPES), bad or params["types"]))
    # An AWX survey's text answer "c002, c089" reaches the option as a list split on the commas.
    reports = params["reports"] = [code.strip() for code in params.get("reports") or [] if code and code.strip()]
    if len(reports) > MAX_REPORTS or any(not code or len(code) > 100 or "\x00" in code for code in reports):
        raise OptionsError(
            "reports must name at most %d report codes of GenerateReports (such as c002), each of 1 to 100 "
            "characters" % MAX_REPORTS)


class MigrationRun:
    """Re-run or cancel migrations of one Generate environment, one run at a time.

    table: a MigrationTable on an open connection.  request: GETs one path of the
    background app (raises app_client.RequestFailed).  say: prints one progress line.
    """

    def __init__(self, table, params, check_mode, request, say, clock=time.monotonic, sleep=time.sleep):
        self.table = table
        self.params = params
        self.check_mode = check_mode
        self.request = request
        self.say = say
        self.clock = clock
        self.sleep = sleep
        self.requests_sent = []
        self.warnings = []
        self._current = None

    def observe(self):
        """The steps and Hangfire's state, read and planned as data_migrations reads them, with no reset: a
        data_migrations.MigrationCheck."""
        check = data_migrations.MigrationCheck(self.table, self.params, self.check_mode).read()
        self.table.rollback()
        check.plan(reset=False)
        return check

    def current(self):
        """The status as it is now (``observe``), read again only after a request may have changed it."""
        if self._current is None:
            self._current = self.observe()
        return self._current

    def _send(self, path):
        """Send one request, once; return None, or the one-line reason it failed."""
        self.requests_sent.append(path)
        try:
            self.request(path)
        except app_client.RequestFailed as exc:
            return "%s" % exc
        return None

    def poll(self, step, since, status_ids, started):
        """One SELECT: the step, the type's history lines since ``since`` (the database's clock at the request),
        its unfinished jobs, the locked reports; as a migration_recovery.Poll (with the newest line)."""
        observation = self.table.read_state(window=[(step.type_id, since)], lines=RUN_LINES, steps=True,
                                            locked_reports=True)
        self.table.rollback()
        codes = dict((status_id, code) for code, status_id in status_ids.items())
        jobs = []
        if observation.hangfire is not None:
            jobs = [job for job in hangfire_state.classify_jobs(observation.hangfire, observation.now,
                                                                self.params["hangfire_server_timeout"], 0)
                    if job.belongs_to(step)]
        lines = [message for _date, message in run_lines(reversed(observation.history), step, since)]
        for step_id, status_id, _trigger, duration in observation.steps:
            if step_id == step.id:
                return migration_recovery.Poll(codes.get(status_id), duration, lines, jobs,
                                               observation.locked_reports or [], int(self.clock() - started))
        raise migration_tables.RunFailed("step %s is no longer in DataMigrations" % step.label)

    def run(self):
        """Every run in Generate's order; stops at the first that does not end well."""
        outcomes = []
        if self.params["state"] == "rerun":
            act = self.rerun
            types = migration_recovery.runs_for(self.params["types"], self.current().snapshot.database_version)
        else:
            act = self.cancel
            types = migration_recovery.in_generate_order(self.params["types"])
        for type_code in types:
            outcome = act(type_code, self.current())
            if outcome["triggered"]:
                # Generate acts on the request: the next run or cancel, and the result, start from a new read.
                self._current = None
            outcomes.append(outcome)
            if outcome["outcome"] not in migration_recovery.OUTCOMES_OK:
                break
        return outcomes

    @staticmethod
    def _step(plan, type_code):
        view = migration_plan.step_view(plan, type_code)
        if view is not None:
            return view
        raise migration_tables.RunFailed("DataMigrations has no step of type %s: name one of %s"
                                         % (type_code, ", ".join(view.step.label for view in plan.views)))

    def _selection(self, type_code, observation):
        """(selection, to lock, legacy, problem) of a run: reports only for a report run."""
        if type_code != migration_recovery.REPORT:
            return [], [], [], None
        given = self.params.get("reports") or []
        rows = self.table.read_reports(given) if given and not observation.locked_reports else {}
        selection, to_lock, problem = migration_recovery.report_selection(
            observation.locked_reports, given, dict((code, row[:2]) for code, row in rows.items()))
        legacy = [code for code in selection
                  if code in observation.legacy_reports or rows.get(code, (0, 0, 0))[2]]
        return selection, to_lock, legacy, problem

    def rerun(self, type_code, observed):
        """Trigger Generate's run of one type when nothing runs, on a report selection, and wait for its end.

        observed: the MigrationCheck that ``observe`` read and planned just before."""
        snapshot, observation, plan = observed.snapshot, observed.observation, observed.current
        view = self._step(plan, type_code)
        outcome = new_outcome(type_code)
        if plan.active_jobs:
            outcome.update(outcome=migration_recovery.OUTCOME_NOT_STARTED,
                           reason="a migration is running or queued: %s" % "; ".join(plan.blockers))
            return outcome
        # A stuck step is no run: nothing will finish it (in check mode, the reset would set it to success).
        if view.status_code in migration_plan.ACTIVE and not view.stuck:
            outcome.update(outcome=migration_recovery.OUTCOME_NOT_STARTED,
                           reason="%s is already %s" % (type_code, view.status_code))
            return outcome
        selection, to_lock, legacy, problem = self._selection(type_code, observation)
        outcome["reports"] = selection
        if problem is not None:
            outcome.update(outcome=migration_recovery.OUTCOME_NOT_STARTED, reason=problem)
            return outcome
        timeout = self.params.get("timeout") or default_timeout(view.step.last_duration_seconds,
                                                                snapshot.database_version)
        on_reports = (" on reports %s" % ", ".join(selection)) if selection else ""
        if self.check_mode:
            outcome.update(outcome=migration_recovery.OUTCOME_WOULD_START, reason=(
                "%s is %s and no migration is running or queued; would %srun %s%s and wait up to %d s"
                % (type_code, view.status_code, ("lock %s, then " % ", ".join(to_lock)) if to_lock else "",
                   type_code, on_reports, timeout)))
            return outcome
        if to_lock:
            message = "REPORT selection locked (%s) by %s" % (", ".join(to_lock), SELECTED_BY)
            conflict = self.table.lock_reports(to_lock, view.step.type_id, message)
            if conflict is not None:
                outcome.update(outcome=migration_recovery.OUTCOME_NOT_STARTED, reason=conflict)
                return outcome
        since = self.table.read_state(hangfire=False).now
        self.table.rollback()
        self.say("%s: run%s requested" % (type_code, on_reports))
        failure = self._send(MIGRATE_PATH % type_code)
        outcome["triggered"] = True
        watch = migration_recovery.RunWatch(type_code, selection, legacy, self.params["start_timeout"], timeout)
        if failure is not None:
            # The request failed, or its answer was lost: the database says whether the run started anyway.
            watch.start_timeout = 0
        return self._wait(view.step, since, snapshot.status_ids, watch, outcome, failure)

    def _wait(self, step, since, status_ids, watch, outcome, failure=None):
        started = self.clock()
        while True:
            poll = self.poll(step, since, status_ids, started)
            newest = poll.lines[-1] if poll.lines else None
            self.say("%s: %s elapsed, %s%s%s" % (step.label, elapsed_text(poll.elapsed), poll.status_code,
                                                 ", %d job(s)" % len(poll.jobs) if poll.jobs else "",
                                                 (", " + newest) if newest else ""))
            outcome.update(elapsed_seconds=poll.elapsed, last_history_line=newest)
            judged = watch.judge(poll)
            if judged is not None:
                result, reason = judged
                if result == migration_recovery.OUTCOME_NOT_STARTED and failure is not None:
                    reason = "%s; the run did not start" % failure
                outcome.update(outcome=result, reason=reason)
                if result == migration_recovery.OUTCOME_SUCCESS:
                    outcome["duration_seconds"] = poll.duration
                elif result in (migration_recovery.OUTCOME_ERROR, migration_recovery.OUTCOME_STUCK,
                                migration_recovery.OUTCOME_INCOMPLETE):
                    outcome["history"] = self._history(step, since)
                return outcome
            self.sleep(max(1, min(self.params["poll"], watch.timeout - poll.elapsed)))

    def _history(self, step, since):
        """The run's history lines, newest first."""
        lines = max(self.params.get("history_lines") or 0, 1)
        observation = self.table.read_state(hangfire=False, window=[(step.type_id, since)], lines=lines)
        self.table.rollback()
        return [{"date": hangfire_state.iso_utc(date), "message": message}
                for date, message in run_lines(observation.history, step, since)]

    def cancel(self, type_code, observed):
        """Ask Generate to cancel a hung run of one type, and wait until each cancelled worker has closed and no
        job of the type is left; nothing may be reset before that. observed: as for ``rerun``."""
        plan = observed.current
        view = self._step(plan, type_code)
        outcome = new_outcome(type_code)
        if not view.hung:
            outcome.update(outcome=migration_recovery.OUTCOME_NOT_HUNG,
                           reason="%s has no job running longer than stuck_after" % type_code)
            return outcome
        running = [job.job for job in plan.jobs
                   if job.belongs_to(view.step) and job.job.state == hangfire_state.PROCESSING_JOB_STATE]
        watch = migration_recovery.CancelWatch(type_code, running, self.params.get("timeout") or MIN_TIMEOUT)
        unstoppable = ["job %s %s takes no cancellation token: Generate's cancel deletes it, but it runs to its end"
                       % (job.id, job.method) for job in watch.unstoppable()]
        if self.check_mode:
            outcome.update(outcome=migration_recovery.OUTCOME_WOULD_START,
                           reason="; ".join(["%s is hung: would ask Generate to cancel it" % type_code] + unstoppable))
            return outcome
        self.warnings.extend(unstoppable)
        since = observed.observation.now
        failure = self._send(CANCEL_PATH % type_code)
        outcome["triggered"] = True
        started = self.clock()
        while True:
            poll = self.poll(view.step, since, plan.status_ids, started)
            self.say("%s: cancel, %s elapsed, %s, %d job(s) left" % (
                type_code, elapsed_text(poll.elapsed), poll.status_code, len(poll.jobs)))
            outcome.update(elapsed_seconds=poll.elapsed, last_history_line=poll.lines[-1] if poll.lines else None)
            judged = watch.judge(poll)
            if judged is not None:
                result, reason = judged
                if reason and failure:
                    reason = "%s; %s" % (failure, reason)
                outcome.update(outcome=result, reason=reason)
                return outcome
            self.sleep(max(1, min(self.params["poll"], watch.timeout - poll.elapsed)))


def result_of(outcomes, status, check_mode):
    """The task result: changed, msg, one entry per type, and the migrations as they are now, with the warnings of
    ``status`` (the result of a data_migrations status check, whose facts it returns as ``migrations``: in a
    playbook, only data_migrations sets the fact generate_migrations)."""
    failed = [entry for entry in outcomes if entry["outcome"] not in migration_recovery.OUTCOMES_OK]
    parts = []
    for entry in outcomes:
        text = "%s %s" % (entry["type_code"], entry["outcome"])
        if entry["outcome"] == migration_recovery.OUTCOME_SUCCESS:
            text += " in %s s" % entry["duration_seconds"]
            if entry["reports"]:
                text += " on reports %s" % ", ".join(entry["reports"])
        if entry["reason"] and entry["outcome"] != migration_recovery.OUTCOME_SUCCESS:
            text += " (%s)" % entry["reason"]
        if entry["outcome"] != migration_recovery.OUTCOME_SUCCESS and entry["history"]:
            text += ": %s" % " | ".join(line["message"] for line in entry["history"])
        parts.append(text)
    migrations = status["ansible_facts"]["generate_migrations"]
    result = {
        "changed": any(entry["triggered"] or entry["outcome"] == migration_recovery.OUTCOME_WOULD_START
                       for entry in outcomes),
        "msg": "; ".join(parts) if parts else "nothing to do",
        "runs": outcomes,
        "migrations": migrations,
        "warnings": status["warnings"],
    }
    if failed and not check_mode:
        result["failed"] = True
    return result


def execute(params, check_mode, environ=None, say=None, request=None, sleep=time.sleep):
    """Do the whole job from validated options; return (result, secrets), as data_migrations' execute does."""
    missing = connection.missing_libs()
    if missing:
        return {"failed": True, "msg": missing}, set()
    options = dict(params, audit=False, audit_note=None)
    try:
        check_options(options)
        options = migration_options.check_options(options, environ)
    except OptionsError as exc:
        return {"failed": True, "msg": "%s" % exc}, set()
    secrets = set(secrets_of(options))
    if request is None:
        probe = app_client.AppClient("background", params["background_url"], params["http_timeout"],
                                     params["validate_certs"])

        def request(path):
            return probe.get(path)
    table = migration_tables.MigrationTable(None, options)
    recovery = MigrationRun(table, options, check_mode, request, say or (lambda text: None), sleep=sleep)
    failure = None
    result = None
    try:
        table.connection = connection.connect(options)
        outcomes = recovery.run()
        result = result_of(outcomes, recovery.current().dump(), check_mode)
        result["warnings"] = [scrub(warning, secrets) for warning in recovery.warnings + result["warnings"]]
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
