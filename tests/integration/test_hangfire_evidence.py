"""Hangfire's evidence through the real Ansible executor, on PostgreSQL (psqlODBC) and SQLite (SQLite ODBC).

Each scenario writes Hangfire's rows the way Hangfire.SqlServer does (tests/support/hangfire_jobs.py)
and runs the module as a user would, in Ansible's worker and as a module process, which must give the
same result (tests/integration/conftest.py).
"""

from __future__ import annotations

import pytest
from tests.support.generate_db import utc_now
from tests.support.scenarios import HOUR, SERVER, TEN_HOUR_REPORT
from tests.support.server_sessions import blocked_module_pids, in_background, row_lock, sessions_left

pytestmark = pytest.mark.both_paths


def facts(result):
    return result["ansible_facts"]["generate_migrations"]


def reset(database, run_module, **options):
    """Run state=reset; return the result, asserting the run itself succeeded."""
    run = run_module(database.module_args(state="reset", **options))
    assert not run.failed, run.output[-3000:]
    return run.result


def test_a_live_processing_job_with_a_ten_hour_old_trigger_defers_the_reset(any_db, run_module):
    any_db.seed(TEN_HOUR_REPORT)
    any_db.beat(SERVER)
    job = any_db.add_job(type_code="report", state="Processing", age=10 * HOUR, server_id=SERVER)
    before = any_db.snapshot()
    result = reset(any_db, run_module, stuck_after=30000)
    assert result["changed"] is False
    assert facts(result)["decided_by"] == "hangfire" and facts(result)["running_steps"] == ["report"]
    assert facts(result)["hangfire"]["jobs"][0]["id"] == job
    assert facts(result)["hangfire"]["servers"][0]["alive"] is True
    assert any_db.snapshot() == before


def test_the_same_job_on_a_dead_server_with_no_live_server_is_orphaned_and_the_step_reset(any_db, run_module):
    any_db.seed(TEN_HOUR_REPORT)
    any_db.beat(SERVER, age=10 * HOUR)
    job = any_db.add_job(type_code="report", state="Processing", age=10 * HOUR, server_id=SERVER)
    result = reset(any_db, run_module)
    assert result["changed"] is True
    assert result["reset_steps"] == [{"id": 3, "type_code": "report", "from": "processing", "to": "success"}]
    assert facts(result)["orphaned_jobs"] == [job]
    assert any("job %d ExecuteSqlBasedMigration (report) is orphaned" % job in warning
               and "when a background app starts" in warning for warning in result["warnings"])
    assert any_db.statuses()["report"] == "success"


def test_a_dead_server_while_another_lives_makes_the_job_queued_and_defers(any_db, run_module):
    any_db.seed(TEN_HOUR_REPORT)
    any_db.beat(SERVER, age=10 * HOUR)
    any_db.beat("generate-background:9001:aa")
    job = any_db.add_job(type_code="report", state="Processing", age=10 * HOUR, server_id=SERVER)
    before = any_db.snapshot()
    result = reset(any_db, run_module)
    assert result["changed"] is False
    assert facts(result)["queued_steps"] == ["report"] and facts(result)["orphaned_jobs"] == []
    assert [job_facts["status"] for job_facts in facts(result)["hangfire"]["jobs"]] == ["queued"]
    assert facts(result)["hangfire"]["jobs"][0]["id"] == job
    assert any_db.snapshot() == before


def test_an_enqueued_job_with_a_fresh_pending_step_defers_a_reset_of_the_failed_one(any_db, run_module):
    any_db.seed([("ods", "error", 900), ("rds", "pending", 30), ("report", "success", HOUR)])
    any_db.beat(SERVER)
    job = any_db.add_job(type_code="rds", state="Enqueued", age=30, layout="170")
    before = any_db.snapshot()
    result = reset(any_db, run_module)
    assert result["changed"] is False and result["deferred"] is True
    assert result["msg"].startswith("reset deferred: job %d ExecuteSqlBasedMigration (rds) is queued (Enqueued)"
                                    % job)
    assert any_db.snapshot() == before


def test_a_pending_step_with_no_job_at_all_is_reset(any_db, run_module):
    any_db.seed([("ods", "success", HOUR), ("rds", "pending", 60), ("report", "success", HOUR)])
    any_db.beat(SERVER)
    result = reset(any_db, run_module)
    assert result["changed"] is True
    assert result["before"]["stuck_steps"] == ["rds"]
    assert any_db.statuses()["rds"] == "success"


def test_without_hangfire_tables_a_ten_hour_step_is_running_on_13_3_and_stuck_on_13_1(any_db, run_module):
    any_db.seed(TEN_HOUR_REPORT, version="13.3")
    any_db.drop_hangfire()
    before = any_db.snapshot()
    result = reset(any_db, run_module)
    assert result["changed"] is False
    assert facts(result)["decided_by"] == "age" and facts(result)["stuck_after"] == 300000
    assert facts(result)["hangfire"]["available"] is False
    assert any_db.snapshot() == before
    any_db.execute("UPDATE %s SET \"GenerateConfigurationValue\" = '13.1' WHERE \"GenerateConfigurationKey\" = "
                   "'DatabaseVersion'" % any_db.table("GenerateConfigurations"))
    result = reset(any_db, run_module)
    assert result["changed"] is True and facts(result)["stuck_after"] == 30000
    assert any_db.statuses()["report"] == "success"


@pytest.mark.every_release
def test_a_hung_job_is_reported_and_not_reset(any_db, run_module):
    any_db.seed(TEN_HOUR_REPORT, version="13.3")
    any_db.beat(SERVER)
    any_db.add_job(type_code="report", state="Processing", age=10 * HOUR, server_id=SERVER)
    before = any_db.snapshot()
    result = reset(any_db, run_module, stuck_after=8 * HOUR)
    assert result["changed"] is False
    assert facts(result)["hung_steps"] == ["report"]
    assert facts(result)["hangfire"]["jobs"][0]["hung"] is True
    assert any("reported as hung, not reset" in warning for warning in result["warnings"])
    assert any_db.snapshot() == before


def test_metadata_failed_blocks_the_report_pages_with_their_own_reason(any_db, run_module):
    any_db.seed([("ods", "success", HOUR), ("rds", "success", HOUR), ("report", "success", HOUR)], metadata="FAILED")
    result = run_module(any_db.module_args()).result
    assert facts(result)["reports_blocked"] is True
    assert facts(result)["reports_blocked_reason"] == (
        "Metadata process failed. Please successfully migrate the metadata before viewing reports.")


def test_locked_reports_and_steps_that_never_succeeded_are_reported(any_db, run_module):
    any_db.seed([("ods", "success", HOUR), ("rds", "success", HOUR), ("report", "error", HOUR)])
    any_db.execute('UPDATE %s SET "LastDurationInSeconds" = NULL WHERE "DataMigrationId" = 3'
                   % any_db.table("DataMigrations"))
    any_db.lock_reports("c002", "c089")
    result = reset(any_db, run_module)
    assert sorted(facts(result)["locked_reports"]) == ["c002", "c089"]
    assert facts(result)["steps"][2]["never_succeeded"] is True
    assert any("report never finished a run" in warning for warning in result["warnings"])


@pytest.mark.every_release
def test_hangfire_required_without_the_tables_fails_clearly_and_writes_nothing(any_db, run_module):
    any_db.seed([("ods", "error", HOUR)])
    any_db.drop_hangfire()
    before = any_db.snapshot()
    run = run_module(any_db.module_args(state="reset", hangfire="required"))
    assert run.failed
    assert run.result["msg"].startswith("Hangfire's tables cannot be read (")
    assert "and hangfire is required: check that %s.Job, %s.State, %s.Server exist" % (
        (any_db.hangfire_schema,) * 3) in run.result["msg"]
    assert "\n" not in run.result["msg"] and "Traceback" not in run.output
    assert any_db.snapshot() == before


def _during_the_write(postgres, database, run_module, generate_acts):
    """Run a reset that reads, then waits on ods's row lock; meanwhile Generate acts (on its own connection,
    committed with the lock's). Return the reset's result.

    The race happens once per path, from the same rows; Generate acts at the same moment both times, so
    that both paths leave the same rows.
    """
    now = utc_now()

    def race(run):
        with row_lock(database, step_id=1) as lock:
            running = in_background(run, database.module_args(state="reset"))
            blocked_module_pids(postgres, database.name)
            generate_acts(lock.cursor(), now)
            lock.commit()
            return running.result(timeout=120)
    return run_module.scenario(race).result


def test_a_step_that_turns_processing_during_the_write_rolls_it_back_and_replans(postgres, pg_db, run_module):
    # The reset would touch ods only; report starts (a job Processing on a live server) while it waits.
    pg_db.seed([("ods", "error", HOUR), ("rds", "success", HOUR), ("report", "success", HOUR)])

    def report_starts(cursor, now):
        cursor.execute('UPDATE %s SET "DataMigrationStatusId" = 3, "LastTriggerDate" = ? WHERE "DataMigrationId" = 3'
                       % pg_db.table("DataMigrations"), now)
        pg_db.hangfire.beat(cursor, SERVER, now)
        pg_db.hangfire.add_job(cursor, "ExecuteSqlBasedMigration", "report", "Processing", now, SERVER)
    result = _during_the_write(postgres, pg_db, run_module, report_starts)
    assert result["changed"] is False and result["deferred"] is True
    # Read twice: the plan, and the plan again after the rollback.
    assert sum(1 for query in result["executed_queries"] if query.startswith('SELECT s."DataMigrationStatusId"')) == 2
    assert pg_db.statuses() == {"ods": "error", "rds": "success", "report": "processing"}
    assert pg_db.history_messages() == []
    assert sessions_left(postgres, pg_db.name) == 0


def test_a_job_that_becomes_processing_during_the_write_rolls_it_back(postgres, pg_db, run_module):
    pg_db.seed([("ods", "error", HOUR), ("rds", "success", HOUR), ("report", "success", HOUR)])
    pg_db.beat(SERVER)
    job = pg_db.add_job(type_code="rds", state="Scheduled", age=HOUR)

    def the_job_starts(cursor, now):
        # Generate's job is fetched by a live worker; its step is not written yet.
        pg_db.hangfire.set_state(cursor, job, "Processing", now, SERVER)
    # The scheduled job already defers the reset: start from a Succeeded one that is scheduled again.
    pg_db.execute('UPDATE "HangFire"."Job" SET "StateName" = \'Succeeded\' WHERE "Id" = ?', job)
    result = _during_the_write(postgres, pg_db, run_module, the_job_starts)
    assert result["changed"] is False and result["deferred"] is True
    assert result["msg"].startswith("reset deferred: job %d ExecuteSqlBasedMigration (rds) is running" % job)
    assert pg_db.statuses()["ods"] == "error"
    assert pg_db.history_messages() == []
