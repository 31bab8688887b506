"""Recovery through the real ansible-playbook: reset, Generate's own re-run through the stand-in background app,
waited for in the database; hung runs cancelled through Generate; locked reports unlocked.

The stand-in background app runs a migration as Generate does (a Hangfire job Processing on its beating
server, the step pending then processing, then success or error) and records every request, so each test
counts the triggers it sent.
"""

from __future__ import annotations

import json
import os

import pytest

import generate_db
from fleet import Fleet
from scenarios import FAILED, HEALTHY_RECENT

HOUR = 3600
RERUN = ("-e", "generate_rerun=true", "-e", "generate_rerun_poll=1")


def sqlite(folder, name, steps):
    database = generate_db.sqlite_database(os.path.join(str(folder), name + ".db"))
    database.seed(steps)
    return database


def triggers(environment):
    """The MigrateData requests the environment's background app received, in order."""
    return [path for app, _method, path in environment.standin.requests
            if app == "background" and path.lower().startswith("/api/datamigration/")]


def summary(fleet):
    with open(os.path.join(fleet.reports_dir, "reset_migrations.json"), encoding="utf-8") as handle:
        document = json.load(handle)
    with open(os.path.join(fleet.reports_dir, "reset_migrations.md"), encoding="utf-8") as handle:
        return dict((row["environment"], row) for row in document["environments"]), handle.read()


@pytest.fixture
def fleet(tmp_path):
    with Fleet(str(tmp_path)) as new_fleet:
        yield new_fleet


def test_rerun_resets_then_runs_each_type_in_generates_order_and_the_report_pages_open(fleet):
    failed = fleet.add("failed", "test", sqlite(fleet.folder, "failed", FAILED))
    run = fleet.run("reset_migrations.yml", *RERUN)
    assert run.rc == 0, run.output[-4000:]
    assert triggers(failed) == ["/api/DataMigration/MigrateData/ods", "/api/DataMigration/MigrateData/rds",
                                "/api/DataMigration/MigrateData/report"]
    assert failed.database.statuses() == {"ods": "success", "rds": "success", "report": "success"}
    # Each run wrote what Generate writes; the progress lines name the elapsed time, the status and the history.
    assert "failed: ods: 0:00:0" in run.stdout and "ODS Migration Started" in run.stdout
    rows, markdown = summary(fleet)
    assert [(entry["type_code"], entry["outcome"]) for entry in rows["failed"]["reruns"]] == [
        ("ods", "success"), ("rds", "success"), ("report", "success")]
    assert all(entry["duration_seconds"] >= 1 for entry in rows["failed"]["reruns"])
    assert rows["failed"]["after"] == "ok" and rows["failed"]["reports_blocked_reason"] is None
    assert "| failed | report | success | " in markdown and "REPORT Migration Complete |" in markdown
    # A second run of a recovery that succeeded changes nothing and triggers nothing.
    again = fleet.run("reset_migrations.yml", *RERUN)
    assert again.rc == 0 and len(triggers(failed)) == 3
    assert "changed=0" in again.stdout.split("PLAY RECAP")[-1]


def test_rerun_that_ends_in_error_fails_the_environment_with_its_history_and_stops_there(fleet):
    failed = fleet.add("failed", "test", sqlite(fleet.folder, "failed", FAILED))
    failed.standin.migrations.outcomes["rds"] = "error"
    run = fleet.run("reset_migrations.yml", *RERUN)
    assert run.rc == 2
    assert triggers(failed) == ["/api/DataMigration/MigrateData/ods", "/api/DataMigration/MigrateData/rds"]
    rows, _markdown = summary(fleet)
    assert rows["failed"]["error"] == (
        "Re-run: Generate's own migration of the reset steps, waited for: ods success in %d s; rds error (rds ended "
        "in error): RDS Migration Complete - either due to error or cancellation | Error in App.Migrate_Data: "
        "Transaction was deadlocked and has been chosen as the deadlock victim | RDS Migration Started"
        % rows["failed"]["reruns"][0]["duration_seconds"])
    assert failed.database.statuses()["rds"] == "error"


def test_rerun_timeout_leaves_the_run_running_and_cancels_nothing(fleet):
    failed = fleet.add("failed", "test", sqlite(fleet.folder, "failed", FAILED))
    failed.standin.migrations.outcomes["ods"] = "hang"
    run = fleet.run("reset_migrations.yml", *RERUN, "-e", "generate_rerun_timeout=3")
    assert run.rc == 2
    assert triggers(failed) == ["/api/DataMigration/MigrateData/ods"]
    rows, _markdown = summary(fleet)
    error = rows["failed"]["error"]
    assert "ods timeout (still running after " in error and " s; left running)" in error
    assert failed.database.statuses()["ods"] == "processing"


def test_check_mode_triggers_nothing_and_says_what_it_would(fleet):
    failed = fleet.add("failed", "test", sqlite(fleet.folder, "failed", FAILED))
    before = failed.database.snapshot()
    run = fleet.run("reset_migrations.yml", "--check", *RERUN)
    assert run.rc == 0, run.output[-3000:]
    assert triggers(failed) == []
    assert failed.database.snapshot() == before
    [record] = [record for record in run.records
                if record["action"] == "ceds.generate.migration_run" and record["status"] != "skipped"]
    assert [(entry["type_code"], entry["outcome"]) for entry in record["result"]["runs"]] == [
        ("ods", "would start"), ("rds", "would start"), ("report", "would start")]
    assert record["result"]["runs"][0]["reason"].startswith("ods is error and no migration is running or queued")


def test_a_trigger_whose_answer_times_out_is_not_sent_again_when_the_run_started(fleet):
    failed = fleet.add("failed", "test", sqlite(fleet.folder, "failed", [("ods", "error", 7200)] + HEALTHY_RECENT[1:]))
    failed.standin.migrations.answer_delay = 4
    run = fleet.run("reset_migrations.yml", *RERUN, "-e", "generate_rerun_http_timeout=1")
    assert run.rc == 0, run.output[-3000:]
    assert triggers(failed) == ["/api/DataMigration/MigrateData/ods"]
    assert failed.database.statuses() == {"ods": "success", "rds": "success", "report": "success"}


def test_a_hung_run_is_deferred_without_cancel_hung_and_cancelled_then_rerun_with_it(fleet):
    steps = [("ods", "success", 9000), ("rds", "success", 8000), ("report", "processing", 2 * HOUR)]
    database = sqlite(fleet.folder, "hung", steps)
    hung = fleet.add("hung", "prod", database)
    database.add_job(type_code="report", state="Processing", age=2 * HOUR, server_id=hung.standin.heartbeat.server_id)
    stuck_after = ("-e", "generate_stuck_after=3600")
    deferred = fleet.run("reset_migrations.yml", *stuck_after, *RERUN)
    assert deferred.rc == 2 and triggers(hung) == []
    assert database.statuses()["report"] == "processing"
    run = fleet.run("reset_migrations.yml", *stuck_after, *RERUN, "-e", "generate_cancel_hung=true")
    assert run.rc == 0, run.output[-4000:]
    assert triggers(hung) == ["/api/DataMigration/MigrateData/Cancel/report", "/api/DataMigration/MigrateData/report"]
    assert database.statuses()["report"] == "success"
    assert "Canceling migration" in database.history_messages()


def test_a_fleet_where_one_rerun_fails_fails_only_that_environment(fleet):
    names = ("first", "second", "third")
    environments = [fleet.add(name, "test", sqlite(fleet.folder, name, FAILED)) for name in names]
    environments[1].standin.migrations.outcomes["report"] = "error"
    run = fleet.run("reset_migrations.yml", *RERUN)
    assert run.rc == 2
    rows, markdown = summary(fleet)
    assert [rows[name]["outcome"] for name in names] == ["ok", "failed", "ok"], [rows[name]["error"] for name in names]
    assert [len(triggers(environment)) for environment in environments] == [3, 3, 3]
    assert "| second | report | error (report ended in error) |" in markdown
    assert "3 environments, 1 failed: second." in markdown


def test_migration_run_never_triggers_while_a_migration_job_runs(any_db, run_tasks, tmp_path):
    any_db.seed(HEALTHY_RECENT)
    with Fleet(str(tmp_path)) as own:
        environment = own.add("busy", "dev", any_db)
        any_db.add_job(type_code="rds", state="Processing", age=60, server_id=environment.standin.heartbeat.server_id)
        arguments = any_db.module_args(background_url=environment.standin.background_url, types=["ods"], poll=1)
        run = run_tasks([("rerun", arguments)], module="ceds.generate.migration_run")
        assert triggers(environment) == []
    record = run.records[-1]
    assert record["status"] == "failed"
    assert record["result"]["msg"].startswith("ods not started (a migration is running or queued: job ")


def test_unlock_reports_unlocks_them_with_the_report_reset_in_one_audited_transaction(any_db, run_module):
    any_db.seed([("ods", "success", HOUR), ("rds", "success", HOUR), ("report", "error", HOUR)])
    any_db.lock_reports("c002", "c089")
    kept = run_module(any_db.module_args(state="reset"), check=True).result
    assert kept["unlocked_reports"] == [] and kept["ansible_facts"]["generate_migrations"]["locked_reports"]
    result = run_module(any_db.module_args(state="reset", unlock_reports=True)).result
    assert sorted(result["unlocked_reports"]) == ["c002", "c089"]
    assert any_db.execute('SELECT COUNT(*) FROM %s WHERE "IsLocked" = 1' % any_db.table("GenerateReports"))[0][0] == 0
    assert any(message.startswith("REPORT selection unlocked (") for message in any_db.history_messages())
