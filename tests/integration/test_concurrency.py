"""Concurrency: many resets at once, and Generate changing a step between the module's read and its write.

A row lock held by the test lines the runs up at their compare-and-set
UPDATE, so the race happens every time rather than by luck: all ten runs have
read the failed steps and wait to write when the lock is let go.
"""

from __future__ import annotations

import datetime
import time

from tests.support import figures
from tests.support.scenarios import FAILED
from tests.support.server_sessions import blocked_module_pids, in_background, row_lock, sessions_left

RUNS = 10
PROCESSING, SUCCESS = 3, 5
TYPES = {1: "ods", 2: "rds", 3: "report"}


def reads(result):
    """How many times the run read the steps: 2 when its compare-and-set lost and it planned again."""
    return sum(1 for query in result["executed_queries"] if query.startswith('SELECT s."DataMigrationStatusId"'))


def test_ten_concurrent_resets_change_the_steps_exactly_once(postgres, pg_db, run_tasks, request):
    pg_db.seed(FAILED)
    started = time.monotonic()
    with row_lock(pg_db, step_id=1):
        running = in_background(run_tasks, [("reset", pg_db.module_args(state="reset"))], hosts=RUNS)
        blocked_module_pids(postgres, pg_db.name, count=RUNS)
    run = running.result(timeout=300)
    elapsed = time.monotonic() - started

    records = [record for record in run.records if record["action"].endswith("data_migrations")]
    changed = [record for record in records if record["result"].get("changed")]
    others = [record["result"] for record in records if not record["result"].get("changed")]
    # A loser read, planned the same reset, lost the compare-and-set, read again and found nothing to do.
    replanned = sum(1 for result in others if reads(result) == 2)
    audit = pg_db.history_messages()
    test = request.node.nodeid
    figures.record("concurrent reset runs", len(records), test)
    figures.record("concurrent runs reporting changed", len(changed), test)
    figures.record("concurrent runs that lost the compare-and-set and planned again", replanned, test)
    figures.record("audit lines written by the concurrent runs", len(audit), test)
    figures.record("seconds for the concurrent runs, from start to the last result", elapsed, test)

    assert len(records) == RUNS and all(record["status"] == "ok" for record in records), run.output[-3000:]
    assert len(changed) == 1
    assert changed[0]["result"]["msg"] == ("reset 3 steps: ods error -> success, rds pending -> success, "
                                           "report pending -> success")
    assert all(result["msg"] == "all migration steps are ok" for result in others)
    assert replanned == RUNS - 1
    assert pg_db.statuses() == {"ods": "success", "rds": "success", "report": "success"}
    assert len(audit) == 3 and len(set(audit)) == 3
    assert sessions_left(postgres, pg_db.name) == 0


def status_id_of(database, step_id):
    """The status id of one step, read back over a separate connection."""
    return database.execute('SELECT "DataMigrationStatusId" FROM %s WHERE "DataMigrationId" = ?'
                            % database.table("DataMigrations"), step_id)[0][0]


def _reset_while_generate_changes_step(postgres, database, run_module, step_id, status_id, request):
    """Run a reset that reads the steps, then waits on the step's row lock; meanwhile Generate sets the
    step's status (and trigger date) and commits. Return the reset's result.

    Records how many steps Generate changed, and how many of them no longer hold the status Generate wrote
    once the reset is over (clobbered).
    """
    with row_lock(database, step_id=step_id) as lock:
        running = in_background(run_module, database.module_args(state="reset"))
        blocked_module_pids(postgres, database.name)
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        cursor = lock.cursor()
        cursor.execute(
            'UPDATE %s SET "DataMigrationStatusId" = ?, "LastTriggerDate" = ? WHERE "DataMigrationId" = ?'
            % database.table("DataMigrations"), status_id, now, step_id)
        written = {step_id: status_id} if cursor.rowcount == 1 else {}
        if status_id == PROCESSING:
            # Generate's run is a Hangfire job, Processing on a live background server.
            database.hangfire.beat(cursor, "generate-background:1", now)
            database.hangfire.add_job(cursor, "ExecuteSqlBasedMigration", TYPES[step_id], "Processing", now,
                                      "generate-background:1")
        lock.commit()
        result = running.result(timeout=120).result
    clobbered = [step for step, status in written.items() if status_id_of(database, step) != status]
    figures.record("steps Generate changed between the module's read and its write", len(written),
                   request.node.nodeid)
    figures.record("steps clobbered after a change between read and write (final status not the one Generate "
                   "wrote)", len(clobbered), request.node.nodeid)
    assert written, "Generate's update found no step %d" % step_id
    assert clobbered == [], "steps whose status Generate wrote were overwritten: %s" % clobbered
    return result


def test_step_that_became_processing_is_never_overwritten(postgres, pg_db, run_module, request):
    pg_db.seed([("ods", "error", 7200), ("rds", "error", 7200), ("report", "success", 7200)])
    # Generate starts an rds run after the module read rds as error, before its write.
    result = _reset_while_generate_changes_step(postgres, pg_db, run_module, 2, PROCESSING, request)
    assert result["changed"] is False
    assert result["deferred"] is True
    assert any(warning.startswith("reset deferred: job 1 ExecuteSqlBasedMigration (rds) is running (Processing)")
               for warning in result["warnings"])
    assert reads(result) == 2
    # The ods update made before the conflict was rolled back with the rest.
    assert pg_db.statuses() == {"ods": "error", "rds": "processing", "report": "success"}
    assert pg_db.history_messages() == []
    assert sessions_left(postgres, pg_db.name) == 0


def test_step_fixed_by_generate_meanwhile_is_left_to_it_and_the_rest_is_reset(postgres, pg_db, run_module, request):
    pg_db.seed([("ods", "error", 7200), ("rds", "error", 7200), ("report", "pending", 7100)])
    result = _reset_while_generate_changes_step(postgres, pg_db, run_module, 2, SUCCESS, request)
    assert result["changed"] is True
    assert reads(result) == 2
    assert result["reset_steps"] == [
        {"id": 1, "type_code": "ods", "from": "error", "to": "success"},
        {"id": 3, "type_code": "report", "from": "pending", "to": "success"},
    ]
    assert pg_db.statuses() == {"ods": "success", "rds": "success", "report": "success"}
    # Only ods and report were written by the module: no audit line for rds, which Generate fixed.
    assert [message.split(" ")[0] for message in pg_db.history_messages()] == ["ODS", "REPORT"]
