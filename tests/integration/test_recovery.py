"""Recovery through the real ansible-playbook against the replica of Generate (tests/support/generate_replica.py),
one version line at a time: 11.x (each type runs its own tasks), 12.0 to 13.2 (the locked-report pipeline,
Hangfire 1.7) and 13.3 (Hangfire 1.8).

The replica runs Generate's MigrationService, AppRepository and App.Migrate_Data through Hangfire's real
tables and counts the pipeline runs; the stand-in background app records every request, so each test
counts what was sent and what Generate did with it.
"""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from tests.support import generate_db
from tests.support.fleet import Fleet
from tests.support.pythons import one_in_matrix_run
from tests.support.scenarios import FAILED, HEALTHY_RECENT

HOUR = 3600
RERUN = ("-e", "generate_rerun=true", "-e", "generate_rerun_poll=1")
MIGRATE_REPORT = "/api/DataMigration/MigrateData/report"
CANCEL_REPORT = "/api/DataMigration/MigrateData/Cancel/report"
# The database version each version line seeds, which the module reads to choose its runs.
VERSIONS = {"11": "11.4", "12": "13.1", "13.3": "13.3"}
# The lines a test runs on: in a run of the controller matrix, the newest only (the lines are the same on every
# ansible-core release).
LINES = one_in_matrix_run(VERSIONS)
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def reports_var(*codes):
    return ("-e", json.dumps({"generate_rerun_reports": list(codes)}))


def locked_reports(database):
    return sorted(code for code, (locked, _active, _legacy) in database.reports().items() if locked)


def triggers(environment):
    """The MigrateData requests the environment's background app received, in order."""
    return [path for app, _method, path in environment.standin.requests
            if app == "background" and path.lower().startswith("/api/datamigration/")]


def summary(fleet):
    with open(os.path.join(fleet.reports_dir, "reset_migrations.json"), encoding="utf-8") as handle:
        document = json.load(handle)
    return dict((row["environment"], row) for row in document["environments"])


@pytest.fixture
def fleet(tmp_path, request):
    with Fleet(str(tmp_path)) as new_fleet:
        yield new_fleet
        # What each environment's background app was asked and what the replica did, as observed (shown with -s).
        outcomes = {}
        if os.path.exists(os.path.join(new_fleet.reports_dir, "reset_migrations.json")):
            outcomes = dict((name, ", ".join(entry["outcome"] for entry in row["reruns"]) or row["outcome"])
                            for name, row in summary(new_fleet).items())
        for added in new_fleet.environments:
            sent = triggers(added)
            print("recovery | %s | %s | line %s | MigrateData %d | Cancel %d | pipeline runs %d | %s" % (
                request.node.name, added.name, added.standin.replica.version,
                sum("/cancel/" not in path.lower() for path in sent), sum("/cancel/" in path.lower() for path in sent),
                len(added.standin.replica.pipeline_runs), outcomes.get(added.name, "-")))


def environment(fleet, name, steps, line, database=None, background=True):
    """An environment of the version line ``line`` on SQLite (or ``database``), its replica fast."""
    if database is None:
        database = generate_db.sqlite_database(os.path.join(fleet.folder, name + ".db"))
    database.seed(steps, version=VERSIONS[line])
    added = fleet.add(name, "test", database, background=background, version=line)
    replica = added.standin.replica
    replica.pipeline_seconds = 0.5
    replica.report_job_seconds = 0.5
    return added


@pytest.mark.every_release
@pytest.mark.parametrize("line", one_in_matrix_run(["12", "13.3"]))
def test_from_twelve_a_recovery_is_one_report_run_over_the_given_reports_and_the_report_pages_open(fleet, line):
    failed = environment(fleet, "failed", FAILED, line)
    failed.database.add_report("c002")
    failed.database.add_report("c089")
    run = fleet.run("reset_migrations.yml", *RERUN, *reports_var("c002"))
    assert run.rc == 0, run.output[-4000:]
    # One request, one pipeline run over the selection; never ods or rds on their own.
    assert triggers(failed) == [MIGRATE_REPORT]
    # Whether App.Migrate_Data or the last continuation marks the step success depends on which ends first.
    runs = failed.standin.replica.pipeline_runs
    assert [(entry["type"], entry["reports"]) for entry in runs] == [("report", ["c002"])]
    assert failed.database.statuses() == {"ods": "success", "rds": "success", "report": "success"}
    assert locked_reports(failed.database) == []
    history = failed.database.history_messages()
    assert "REPORT selection locked (c002) by ceds.generate.migration_run" in history
    assert "REPORT Migration Complete - successful" in history
    row = summary(fleet)["failed"]
    assert [(entry["type_code"], entry["outcome"]) for entry in row["reruns"]] == [("report", "success")]
    assert row["after"] == "ok" and row["reports_blocked_reason"] is None
    # A second run finds nothing to reset and triggers nothing.
    again = fleet.run("reset_migrations.yml", *RERUN, *reports_var("c002"))
    assert again.rc == 0 and len(triggers(failed)) == 1 and len(runs) == 1


def test_before_twelve_each_reset_type_runs_once_in_generates_order_each_on_its_own_work(fleet):
    failed = environment(fleet, "failed", FAILED, "11")
    failed.database.add_report("c002")
    run = fleet.run("reset_migrations.yml", *RERUN, *reports_var("c002"))
    assert run.rc == 0, run.output[-4000:]
    assert triggers(failed) == ["/api/DataMigration/MigrateData/ods", "/api/DataMigration/MigrateData/rds",
                                MIGRATE_REPORT]
    assert [entry["type"] for entry in failed.standin.replica.pipeline_runs] == ["ods", "rds", "report"]
    assert failed.database.statuses() == {"ods": "success", "rds": "success", "report": "success"}
    assert [(entry["type_code"], entry["outcome"]) for entry in summary(fleet)["failed"]["reruns"]] == [
        ("ods", "success"), ("rds", "success"), ("report", "success")]


# Before 12.0 the ods and rds runs need no selection: the report run, last, is the one refused.
BEFORE_THE_REPORT_RUN = {"11": ["/api/DataMigration/MigrateData/ods", "/api/DataMigration/MigrateData/rds"],
                         "12": [], "13.3": []}


@pytest.mark.parametrize("line", LINES)
def test_with_nothing_locked_and_no_reports_given_no_report_run_is_sent_and_the_environment_fails_saying_why(
        fleet, line):
    # Generate's error path unlocked the selection: a report run now would migrate nothing and end in "success".
    failed = environment(fleet, "failed", FAILED, line)
    failed.database.add_report("c002")
    run = fleet.run("reset_migrations.yml", *RERUN)
    assert run.rc == 2
    assert triggers(failed) == BEFORE_THE_REPORT_RUN[line]
    assert [entry["type"] for entry in failed.standin.replica.pipeline_runs] == ["ods", "rds"][:len(triggers(failed))]
    error = summary(fleet)["failed"]["error"]
    assert "report not started (no report is selected: a report run migrates only the locked reports, and " \
           "Generate unlocked them when the failed run ended" in error
    assert "generate_rerun_reports" in error


def test_the_reports_a_crashed_run_left_locked_are_migrated_again_without_being_named(fleet):
    # The report run died with its background app; its job is gone, the step processing, c002 still locked.
    stuck = environment(fleet, "stuck", [("ods", "success", 9000), ("rds", "success", 8000),
                                         ("report", "processing", 7000)], "13.3")
    stuck.database.lock_reports("c002")
    stuck.database.add_report("c089")
    run = fleet.run("reset_migrations.yml", *RERUN)
    assert run.rc == 0, run.output[-4000:]
    assert triggers(stuck) == [MIGRATE_REPORT]
    assert [entry["reports"] for entry in stuck.standin.replica.pipeline_runs] == [["c002"]]
    assert locked_reports(stuck.database) == [] and stuck.database.statuses()["report"] == "success"
    assert not any(message.startswith("REPORT selection locked") for message in stuck.database.history_messages())


@pytest.mark.parametrize("line", LINES)
def test_a_failed_per_report_job_is_reported_stuck_at_once_not_after_the_timeout(fleet, line):
    # Hangfire deletes the failed job and its MarkReportAsComplete continuation (AutomaticRetry, Delete):
    # nothing is left to finish the report step.
    failed = environment(fleet, "failed", FAILED, line)
    failed.database.add_report("c002")
    failed.standin.replica.fail.add("report_job")
    started = time.monotonic()
    run = fleet.run("reset_migrations.yml", *RERUN, *reports_var("c002"), "-e", "generate_rerun_timeout=600")
    assert time.monotonic() - started < 120
    assert run.rc == 2
    error = summary(fleet)["failed"]["error"]
    assert "report stuck (no job is left to finish the run: report is processing; " in error
    assert "reports still locked: c002" in error
    assert failed.database.statuses()["report"] == "processing"


def test_a_pipeline_that_fails_ends_the_recovery_in_error_with_generates_own_lines(fleet):
    failed = environment(fleet, "failed", FAILED, "12")
    failed.database.add_report("c002")
    failed.standin.replica.fail.add("pipeline")
    run = fleet.run("reset_migrations.yml", *RERUN, *reports_var("c002"))
    assert run.rc == 2
    error = summary(fleet)["failed"]["error"]
    assert "report error (report ended in error" in error
    assert "Error Occurred - Transaction (Process ID 61) was deadlocked" in error
    assert failed.database.statuses()["report"] == "error"
    # Generate's error path unlocked the selection.
    assert locked_reports(failed.database) == []


def test_a_background_app_of_another_environment_starts_nothing_here_and_the_run_is_not_started(fleet):
    failed = environment(fleet, "failed", FAILED, "13.3")
    other = environment(fleet, "other", HEALTHY_RECENT, "13.3")
    failed.database.add_report("c002")
    failed.variables["generate_background_url"] = other.standin.background_url
    run = fleet.run("reset_migrations.yml", *RERUN, *reports_var("c002"), "-e", "generate_rerun_start_timeout=4",
                    "--limit", "failed")
    assert run.rc == 2
    assert "report not started (no job of report and no history line of it after " in summary(fleet)["failed"]["error"]


def test_a_trigger_whose_answer_times_out_is_not_sent_again_when_the_run_started(fleet):
    failed = environment(fleet, "failed", FAILED, "13.3")
    failed.database.add_report("c002")
    # The background app enqueues the run's jobs, then answers after the client gave up.
    failed.standin.answer_delay = 4
    run = fleet.run("reset_migrations.yml", *RERUN, *reports_var("c002"), "-e", "generate_rerun_http_timeout=1")
    assert run.rc == 0, run.output[-3000:]
    assert triggers(failed) == [MIGRATE_REPORT]
    assert failed.database.statuses() == {"ods": "success", "rds": "success", "report": "success"}


def test_a_fleet_where_one_recovery_fails_fails_only_that_environment(fleet):
    names = ("first", "second", "third")
    environments = [environment(fleet, name, FAILED, "13.3") for name in names]
    for added in environments:
        added.database.add_report("c002")
    environments[1].standin.replica.fail.add("pipeline")
    run = fleet.run("reset_migrations.yml", *RERUN, *reports_var("c002"))
    assert run.rc == 2
    rows = summary(fleet)
    assert [rows[name]["outcome"] for name in names] == ["ok", "failed", "ok"], [rows[name]["error"] for name in names]
    assert [triggers(added) for added in environments] == [[MIGRATE_REPORT]] * 3
    assert [rows[name]["reruns"][0]["outcome"] for name in names] == ["success", "error", "success"]


@pytest.mark.every_release
def test_check_mode_locks_nothing_triggers_nothing_and_says_what_it_would(fleet):
    failed = environment(fleet, "failed", FAILED, "13.3")
    failed.database.add_report("c002")
    before = failed.database.snapshot()
    run = fleet.run("reset_migrations.yml", "--check", *RERUN, *reports_var("c002"))
    assert run.rc == 0, run.output[-3000:]
    assert triggers(failed) == [] and failed.database.snapshot() == before
    assert locked_reports(failed.database) == []
    [record] = [record for record in run.records if record["action"] == "ceds.generate.environment_check"]
    [entry] = record["result"]["rerun"]["runs"]
    assert (entry["type_code"], entry["outcome"]) == ("report", "would start")
    assert "would lock c002, then run report on reports c002" in entry["reason"]


def hung_report_run(environment_under_test, *parts, legacy=False):
    """A report run of the replica over report c002 that hangs in ``parts`` (App.Migrate_Data, the per-report jobs),
    started as the Migrate button would; returned once its pipeline runs. A ``legacy`` report has no job of its
    own: the run is then one Processing job and nothing else."""
    replica = environment_under_test.standin.replica
    environment_under_test.database.add_report("c002", locked=True, legacy=legacy)
    replica.hang.update(parts)
    replica.migrate_data("report")
    deadline = time.monotonic() + 30
    while not replica.pipeline_runs:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return replica


@pytest.mark.every_release
@pytest.mark.parametrize("line", LINES)
def test_a_cancelled_run_is_waited_for_until_its_worker_closed_so_the_reset_and_rerun_that_follow_hold(fleet, line):
    hung = environment(fleet, "hung", HEALTHY_RECENT, line)
    replica = hung_report_run(hung, "pipeline")
    # The cancelled statement takes a few seconds to give up: long enough for a reset to come in between.
    replica.cancel_seconds = 5
    time.sleep(3)

    def let_the_next_run_finish():
        # Once the hung run has ended (its worker noticed the cancel), the next pipeline run ends normally.
        deadline = time.monotonic() + 120
        while replica.pipeline_runs[0]["outcome"] is None and time.monotonic() < deadline:
            time.sleep(0.05)
        replica.hang.discard("pipeline")
    helper = threading.Thread(target=let_the_next_run_finish, daemon=True)
    helper.start()
    run = fleet.run("reset_migrations.yml", *RERUN, *reports_var("c002"), "-e", "generate_cancel_hung=true",
                    "-e", "generate_stuck_after=2", "-e", "generate_cancel_timeout=60")
    helper.join(5)
    assert run.rc == 0, run.output[-4000:]
    assert triggers(hung) == [CANCEL_REPORT, MIGRATE_REPORT]
    # The cancelled worker closed before the reset: its late CompleteMigration(error) undid nothing. (Had it come
    # after, it would have set the step back to error, unlocked the reports mid-run, and left its line after the
    # reset's audit line.)
    history = hung.database.history_messages()
    reset = next(number for number, message in enumerate(history) if " reset from error to success by " in message)
    worker = next(number for number, message in enumerate(history) if message.startswith("Error Occurred - "))
    assert worker < reset
    assert "REPORT Migration Complete - either due to error or cancellation" not in history[reset:]
    assert hung.database.statuses()["report"] == "success"
    assert [entry["outcome"] for entry in replica.pipeline_runs][:1] == ["cancelled"]
    assert len(replica.pipeline_runs) == 2
    assert locked_reports(hung.database) == []


@pytest.mark.parametrize("line", LINES)
def test_a_live_server_stays_alive_when_the_controllers_clock_is_six_minutes_ahead(fleet, pg_db, line):
    # Hangfire 1.7 (Generate 12.0 to 13.2) beats with the app server's clock, next to the database's, and 1.8
    # (13.3) with the database's own; the controller's clock, six minutes ahead (libfaketime), must not make that
    # server dead, its running report run an orphan, and the step stuck: a reset and a second run beside the
    # first would follow.
    running = environment(fleet, "running", HEALTHY_RECENT, line, database=pg_db)
    replica = hung_report_run(running, "pipeline", legacy=True)
    assert running.database.statuses()["report"] == "processing"
    skewed = {"LD_PRELOAD": LIBFAKETIME, "FAKETIME": "+360"}
    run = fleet.run("reset_migrations.yml", *RERUN, *reports_var("c002"), env=skewed)
    assert triggers(running) == [] and len(replica.pipeline_runs) == 1
    assert running.database.statuses()["report"] == "processing"
    assert not any("reset from" in message for message in running.database.history_messages())
    row = summary(fleet)["running"]
    assert (row["before"], row["after"]) == ("running", "running"), row
    assert run.rc == 2  # the report pages stay blocked while the run goes on


@pytest.mark.parametrize("line", LINES)
def test_with_no_live_server_a_queued_job_does_not_block_the_reset_and_is_named(fleet, line):
    # The background app is down: the Enqueued job runs only when one starts, like an orphaned Processing job.
    pending = environment(fleet, "pending", [("ods", "success", 9000), ("rds", "success", 8000),
                                             ("report", "pending", 7000)], line, background=False)
    job_id = pending.database.add_job(type_code="report", state="Enqueued", age=7000)
    run = fleet.run("reset_migrations.yml")
    assert run.rc == 0, run.output[-4000:]
    assert pending.database.statuses()["report"] == "success"
    warnings = [warning for record in run.records for warning in record["result"].get("warnings", [])]
    assert any(warning.startswith("job %d ExecuteSqlBasedMigration (report) is orphaned (Enqueued)" % job_id)
               for warning in warnings), warnings


@pytest.mark.every_release
def test_migration_run_refuses_upper_case_types_before_anything_is_sent(sqlite_db, run_tasks, tmp_path):
    sqlite_db.seed(HEALTHY_RECENT, version="13.3")
    with Fleet(str(tmp_path)) as own:
        added = own.add("env", "dev", sqlite_db, version="13.3")
        arguments = sqlite_db.module_args(background_url=added.standin.background_url, types=["ODS"], poll=1)
        run = run_tasks([("rerun", arguments)], module="ceds.generate.migration_run")
        assert triggers(added) == []
    record = run.records[-1]
    assert record["status"] == "failed"
    assert record["result"]["msg"].startswith("types must name Generate's migration types in lower case")


@pytest.mark.every_release
def test_unlock_reports_unlocks_them_with_the_report_reset_in_one_audited_transaction(any_db, run_module):
    any_db.seed([("ods", "success", HOUR), ("rds", "success", HOUR), ("report", "error", HOUR)])
    any_db.lock_reports("c002", "c089")
    kept = run_module(any_db.module_args(state="reset"), check=True).result
    assert kept["unlocked_reports"] == [] and kept["ansible_facts"]["generate_migrations"]["locked_reports"]
    result = run_module(any_db.module_args(state="reset", unlock_reports=True)).result
    assert sorted(result["unlocked_reports"]) == ["c002", "c089"]
    assert any_db.execute('SELECT COUNT(*) FROM %s WHERE "IsLocked" = 1' % any_db.table("GenerateReports"))[0][0] == 0
    assert any(message.startswith("REPORT selection unlocked (") for message in any_db.history_messages())
