"""The replica of Generate's background app (tests/support/generate_replica.py) against Generate's own behaviour.

Each test pins one behaviour of Generate or Hangfire, read in their source
(Generate's repository at the tag of the version line, Hangfire 1.7.31 or
1.8.23), and names the file it comes from. None of them tests the collection:
they hold the stand-in the collection is tested against to the real thing.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
import urllib.request

import pytest

from tests.support.generate_replica import CANCELLED_MESSAGE, DEADLOCK_MESSAGE, GenerateReplica
from tests.support.scenarios import FAILED, HEALTHY, SERVER
from tests.support.standin_app import StandinGenerate, report_selection

# The history lines App.Migrate_Data writes before its tasks (App.Migrate_Data.StoredProcedure.sql).
PROCEDURE_START = ["Shrink database log", "Delete old DataMigrationHistories"]
UNFINISHED = ("Enqueued", "Processing", "Awaiting", "Scheduled")


@pytest.fixture
def replicas():
    """Start replicas over databases; stop every one afterwards. Yields a start function."""
    started = []

    def start(database, version="13.3", run=True, **knobs):
        replica = GenerateReplica(database.connection_string, database.schema, database.hangfire_schema, version,
                                  knobs.pop("clock_offset", 0.0))
        replica.pipeline_seconds = 0.1
        replica.report_job_seconds = 0.1
        for name, value in knobs.items():
            setattr(replica, name, value)
        started.append(replica)
        return replica.start() if run else replica

    yield start
    for replica in started:
        replica.stop()


def seeded(database, steps=None, version="13.1"):
    """The database seeded with ``steps`` (every step succeeded by default) and Generate ``version``."""
    database.seed(steps or HEALTHY, version=version)
    return database


def wait_for(predicate, timeout=10.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for %s" % what
        time.sleep(0.02)


def jobs(database):
    """``[(job id, method, state name)]`` of every Hangfire job, oldest first."""
    rows = database.execute('SELECT "Id", "InvocationData", "StateName" FROM %s ORDER BY "Id"'
                            % database.qualified("Job"))
    return [(int(row[0]), json.loads(row[1])["Method"], row[2]) for row in rows]


def states(database, job_id):
    """``[(state name, reason, data)]`` of one job, oldest first."""
    rows = database.execute('SELECT "Name", "Reason", "Data" FROM %s WHERE "JobId" = ? ORDER BY "Id"'
                            % database.qualified("State"), job_id)
    return [(row[0], row[1], json.loads(row[2] or "{}")) for row in rows]


def processing_server(database, job_id):
    """The ServerId of the job's current Processing state."""
    name, _reason, data = states(database, job_id)[-1]
    assert name == "Processing"
    return data["ServerId"]


def servers(database):
    """``{server id: LastHeartbeat}``."""
    return dict((row[0], row[1]) for row in database.execute(
        'SELECT "Id", "LastHeartbeat" FROM %s' % database.qualified("Server")))


def database_now(database):
    """The database's UTC now, read from it."""
    clock = {"sqlite": "strftime('%Y-%m-%d %H:%M:%f', 'now')",
             "postgresql": "(statement_timestamp() AT TIME ZONE 'UTC')"}[database.kind]
    value = database.execute("SELECT %s" % clock)[0][0]
    if isinstance(value, str):
        value = datetime.datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f")
    return value


def messages_since(database, first):
    """The history messages from the first one equal to ``first`` on."""
    messages = database.history_messages()
    return messages[messages.index(first):]


# --- App.Migrate_Data: what a run does, by version line -------------------------------------------------------


def test_report_run_with_nothing_locked_ends_in_success_and_migrates_nothing(any_db, replicas):
    # App.Migrate_Data.StoredProcedure.sql (V13.3): no locked report, no task; success and 'Migration Complete'.
    replica = replicas(seeded(any_db), version="13.3")
    replica.migrate_data("report")
    replica.wait_idle()
    assert replica.pipeline_runs == [{"type": "report", "reports": [], "outcome": "success"}]
    assert any_db.statuses()["report"] == "success"
    assert any_db.history_messages()[-4:] == ["REPORT Migration Started"] + PROCEDURE_START + ["Migration Complete"]
    assert not [line for line in any_db.history_messages() if "Migration Complete - successful" in line]
    assert [state for _job, _method, state in jobs(any_db)] == ["Succeeded"]


def test_from_12_0_every_type_runs_the_whole_pipeline_over_the_locked_reports(sqlite_db, replicas):
    # App.Migrate_Data.StoredProcedure.sql (12.0 to V13.3): every cursor reads the locked, active reports.
    seeded(sqlite_db).lock_reports("c002")
    replica = replicas(sqlite_db, version="12", report_job_seconds=0.3)
    for type_code in ("ods", "rds", "report"):
        replica.migrate_data(type_code)
        replica.wait_idle()
    assert [(run["type"], run["reports"]) for run in replica.pipeline_runs] == [
        ("ods", ["c002"]), ("rds", ["c002"]), ("report", ["c002"])]
    assert sqlite_db.statuses() == {"ods": "success", "rds": "success", "report": "success"}


def test_before_12_0_each_type_runs_only_its_own_work(sqlite_db, replicas):
    # App.Migrate_Data.StoredProcedure.sql of 11.4: the type's own tasks (DataMigrationTypeId = @dataMigrationTypeId);
    # only the report tasks (RDS.Create_ReportData) build, and unlock, a locked legacy report.
    seeded(sqlite_db, version="11.4").add_report("c009", locked=True, legacy=True)
    replica = replicas(sqlite_db, version=None)
    assert replica.version == "11"
    locked_after = []
    for type_code in ("ods", "rds", "report"):
        replica.migrate_data(type_code)
        replica.wait_idle()
        locked_after.append(sqlite_db.reports()["c009"][0])
    assert [(run["type"], run["reports"], run["outcome"]) for run in replica.pipeline_runs] == [
        ("ods", [], "success"), ("rds", [], "success"), ("report", [], "success")]
    assert locked_after == [True, True, False]


def test_from_12_0_an_ods_run_builds_and_unlocks_the_locked_legacy_reports(sqlite_db, replicas):
    # App.Migrate_Data.StoredProcedure.sql (12.0): the report tasks run in an ods run too; RDS.Create_ReportData
    # unlocks each legacy report it built.
    seeded(sqlite_db).add_report("c009", locked=True, legacy=True)
    replica = replicas(sqlite_db, version="12")
    replica.migrate_data("ods")
    replica.wait_idle()
    assert replica.pipeline_runs == [{"type": "ods", "reports": ["c009"], "outcome": "success"}]
    assert sqlite_db.reports()["c009"] == (False, True, True)


def test_a_run_takes_the_last_pending_row_whatever_type_was_triggered(sqlite_db, replicas):
    # App.Migrate_Data.StoredProcedure.sql: SELECT @id = ... over every pending row keeps the last one read; the
    # triggered type's row is left pending.
    seeded(sqlite_db, FAILED)
    replica = replicas(sqlite_db, version="12")
    replica.migrate_data("ods")
    replica.wait_idle()
    assert [run["type"] for run in replica.pipeline_runs] == ["report"]
    assert sqlite_db.statuses() == {"ods": "pending", "rds": "pending", "report": "success"}


def test_version_line_follows_the_database_version(sqlite_db, replicas):
    # Generate 12.0 brought the pipeline over the locked reports; 13.3 brought Hangfire 1.8.23 (its csproj files).
    seeded(sqlite_db, version="13.2")
    replica = replicas(sqlite_db, version=None)
    assert (replica.version, replica.hangfire_version) == ("12", "1.7.31")


# --- new-style reports: one job per report, year and category set -------------------------------------------


def test_report_run_with_a_locked_new_style_report_ends_through_its_continuation(any_db, replicas):
    # MigrationService.cs MigrateData, HangfireHelper.cs TriggerReportMigrationByYearLevelAndCategorySet,
    # App.Migrate_Data (V13.3: no success while new-style reports are locked), AppRepository.cs MarkReportAsComplete.
    seeded(any_db).lock_reports("c002")
    replica = replicas(any_db, version="13.3", report_job_seconds=0.4)
    replica.migrate_data("report")
    replica.wait_idle()
    assert replica.pipeline_runs == [{"type": "report", "reports": ["c002"], "outcome": "not complete"}]
    assert any_db.statuses()["report"] == "success"
    assert any_db.history_messages()[-2:] == [
        "Report Complete (c002/2025/sea/CSA)", "REPORT Migration Complete - successful"]
    assert any_db.reports()["c002"][0] is False
    assert [(method, state) for _job, method, state in jobs(any_db)] == [
        ("ExecuteReportMigrationByYearLevelAndCategorySet", "Succeeded"), ("MarkReportAsComplete", "Succeeded"),
        ("ExecuteSqlBasedMigration", "Succeeded")]


def test_continuation_waits_awaiting_and_is_enqueued_when_its_parent_succeeds(sqlite_db, replicas):
    # Hangfire.Core ContinuationsSupportAttribute (1.8.23): AddContinuation, then ExecuteContinuationsIfExist.
    seeded(sqlite_db).lock_reports("c002")
    replica = replicas(sqlite_db, version="13.3", report_job_seconds=0.3)
    replica.migrate_data("report")
    replica.wait_idle()
    report_job, continuation = jobs(sqlite_db)[0][0], jobs(sqlite_db)[1][0]
    assert [name for name, _reason, _data in states(sqlite_db, continuation)] == [
        "Awaiting", "Enqueued", "Processing", "Succeeded"]
    assert states(sqlite_db, continuation)[0][2]["ParentId"] == str(report_job)
    parameters = sqlite_db.execute('SELECT "Name", "Value" FROM %s WHERE "JobId" = ?'
                                   % sqlite_db.qualified("JobParameter"), report_job)
    assert [tuple(row) for row in parameters] == [("Continuations", '[{"JobId":"%d","Options":1}]' % continuation)]


def test_failed_report_job_is_deleted_with_its_continuation_and_the_step_stays_processing(sqlite_db, replicas):
    # generate.background/Program.cs: AutomaticRetry(Attempts = 0, OnAttemptsExceeded = Delete); Hangfire.Core
    # ContinuationsSupportAttribute: an OnlyOnSucceededState continuation of a deleted job is deleted.
    seeded(sqlite_db).lock_reports("c002")
    replica = replicas(sqlite_db, version="13.3", report_job_seconds=0.2, fail={"report_job"})
    replica.migrate_data("report")
    replica.wait_idle()
    found = jobs(sqlite_db)
    assert [(method, state) for _job, method, state in found] == [
        ("ExecuteReportMigrationByYearLevelAndCategorySet", "Deleted"), ("MarkReportAsComplete", "Deleted"),
        ("ExecuteSqlBasedMigration", "Succeeded")]
    assert states(sqlite_db, found[0][0])[-1][1] == "Retries were disabled for this job."
    assert states(sqlite_db, found[1][0])[-1][1] == "Continuation condition was not met"
    assert sqlite_db.statuses()["report"] == "processing"
    assert sqlite_db.reports()["c002"][0] is True
    assert not [job for job in found if job[2] in UNFINISHED]


def test_mark_report_as_complete_unlocks_nothing_while_any_report_job_is_processing(sqlite_db, replicas):
    # AppRepository.cs MarkReportAsComplete: ProcessingJobs of ExecuteReportMigration..., any report, any server.
    seeded(sqlite_db).lock_reports("c002")
    sqlite_db.beat(SERVER)
    sqlite_db.add_job(method="ExecuteReportMigrationByYearLevelAndCategorySet", state="Processing", age=60,
                      server_id=SERVER)
    replica = replicas(sqlite_db, version="13.3")
    replica.migrate_data("report")
    replica.wait_idle()
    assert [(method, state) for _job, method, state in jobs(sqlite_db)][1:] == [
        ("ExecuteReportMigrationByYearLevelAndCategorySet", "Succeeded"), ("MarkReportAsComplete", "Succeeded"),
        ("ExecuteSqlBasedMigration", "Succeeded")]
    assert sqlite_db.reports()["c002"][0] is True
    assert sqlite_db.statuses()["report"] == "processing"


# --- errors and cancellation --------------------------------------------------------------------------------


def test_failed_pipeline_logs_the_error_sets_error_and_unlocks_the_reports(sqlite_db, replicas):
    # AppRepository.cs ExecuteSqlBasedMigration's catch: LogException, CompleteMigration(code, "error"), throw;
    # CompleteMigration's MarkReportsAsComplete, then CompleteReportMigrationIfReady -> CompleteMigration("report").
    seeded(sqlite_db).add_report("c009", locked=True, legacy=True)
    replica = replicas(sqlite_db, version="13.3", fail={"pipeline"})
    replica.migrate_data("report")
    replica.wait_idle()
    assert replica.pipeline_runs == [{"type": "report", "reports": ["c009"], "outcome": "error"}]
    assert sqlite_db.statuses()["report"] == "error"
    assert sqlite_db.reports()["c009"][0] is False
    lines = messages_since(sqlite_db, "Error Occurred - " + DEADLOCK_MESSAGE)
    assert lines[1].startswith("Error Stack Trace = ")
    assert lines[2:] == ["REPORT Migration Complete - either due to error or cancellation",
                         "REPORT Migration Completed after Cancel/Error"]
    assert [(state, states(sqlite_db, job)[-1][1]) for job, _method, state in jobs(sqlite_db)] == [
        ("Deleted", "Retries were disabled for this job.")]


def test_an_ods_error_with_reports_locked_marks_the_report_step_successful(sqlite_db, replicas):
    # AppRepository.cs CompleteMigration("ods", "error") -> MarkReportsAsComplete -> MarkReportAsComplete ->
    # CompleteReportMigrationIfReady -> CompleteMigration("report", "success") on a report step not in error.
    seeded(sqlite_db).lock_reports("c002")
    replica = replicas(sqlite_db, version="12", fail={"pipeline"})
    replica.migrate_data("ods")
    replica.wait_idle()
    assert sqlite_db.statuses() == {"ods": "error", "rds": "success", "report": "success"}
    assert sqlite_db.history_messages()[-2:] == ["ODS Migration Complete - either due to error or cancellation",
                                                 "REPORT Migration Complete - successful"]
    assert sqlite_db.reports()["c002"][0] is False


def test_complete_migration_never_overwrites_an_error(sqlite_db, replicas):
    # AppRepository.cs CompleteMigration: a step already in error gets "Completed after Cancel/Error" only.
    seeded(sqlite_db)
    replica = replicas(sqlite_db, version="12", hang={"pipeline"})
    replica.migrate_data("ods")
    wait_for(lambda: sqlite_db.statuses()["ods"] == "processing", what="the ods run")
    replica.cancel_migration("ods")
    replica.wait_idle()
    assert replica.pipeline_runs[0]["outcome"] == "cancelled"
    assert sqlite_db.statuses()["ods"] == "error"
    lines = messages_since(sqlite_db, "Canceling migration")
    assert lines[:3] == ["Canceling migration", "ODS Migration Complete - either due to error or cancellation",
                         "Error Occurred - " + CANCELLED_MESSAGE]
    assert lines[3].startswith("Error Stack Trace = ")
    assert lines[4:] == ["ODS Migration Completed after Cancel/Error"]


def test_cancel_answers_before_the_worker_stops_whose_late_error_undoes_a_reset(sqlite_db, replicas):
    # MigrationService.cs CancelMigration returns after CompleteMigration; the job's watcher (AppRepository.cs
    # ExecuteSqlBasedMigration) notices within a second (ServerJobCancellationToken reads the state), cancels the
    # command, and its catch calls CompleteMigration(code, "error") again, unlocking the reports.
    seeded(sqlite_db).lock_reports("c002")
    replica = replicas(sqlite_db, version="12", hang={"pipeline"})
    replica.migrate_data("ods")
    wait_for(lambda: sqlite_db.statuses()["ods"] == "processing", what="the ods run")
    replica.cancel_migration("ods")
    assert replica.pipeline_runs[0]["outcome"] is None
    assert sqlite_db.statuses()["ods"] == "error" and sqlite_db.reports()["c002"][0] is False
    # Meanwhile the step is reset and a report locked again, as an operator would.
    sqlite_db.execute('UPDATE %s SET "DataMigrationStatusId" = 5 WHERE "DataMigrationTypeId" = 1'
                      % sqlite_db.table("DataMigrations"))
    sqlite_db.execute('UPDATE %s SET "IsLocked" = 1' % sqlite_db.table("GenerateReports"))
    replica.wait_idle()
    assert replica.pipeline_runs[0]["outcome"] == "cancelled"
    assert sqlite_db.statuses()["ods"] == "error"
    assert sqlite_db.reports()["c002"][0] is False


def test_cancel_deletes_processing_jobs_and_leaves_enqueued_and_awaiting_ones(sqlite_db, replicas):
    # MigrationService.cs CancelMigration deletes ProcessingJobs only; ContinuationsSupportAttribute deletes the
    # continuation of the job deleted.
    seeded(sqlite_db).lock_reports("c002", "c005")
    replica = replicas(sqlite_db, version="13.3", worker_count=1, hang={"report_job"})
    replica.migrate_data("report")
    wait_for(lambda: jobs(sqlite_db)[0][2] == "Processing" and len(jobs(sqlite_db)) == 5, what="the first report job")
    replica.cancel_migration("report")
    assert [(method, state) for _job, method, state in jobs(sqlite_db)] == [
        ("ExecuteReportMigrationByYearLevelAndCategorySet", "Deleted"), ("MarkReportAsComplete", "Deleted"),
        ("ExecuteReportMigrationByYearLevelAndCategorySet", "Enqueued"), ("MarkReportAsComplete", "Awaiting"),
        ("ExecuteSqlBasedMigration", "Enqueued")]


def test_deleted_report_job_keeps_running_to_its_end(sqlite_db, replicas):
    # FactReportRepository.cs ExecuteReportMigrationByYearLevelAndCategorySet takes no cancellation token;
    # Worker.cs: its Succeeded state is not applied, the job being no longer Processing.
    seeded(sqlite_db).lock_reports("c002")
    replica = replicas(sqlite_db, version="13.3", report_job_seconds=0.6, pipeline_seconds=0.1)
    replica.migrate_data("report")
    wait_for(lambda: jobs(sqlite_db)[0][2] == "Processing", what="the report job")
    replica.cancel_migration("report")
    replica.wait_idle()
    assert "Report Complete (c002/2025/sea/CSA)" in messages_since(sqlite_db, "Canceling migration")
    report_job = jobs(sqlite_db)[0][0]
    assert [name for name, _reason, _data in states(sqlite_db, report_job)] == ["Enqueued", "Processing", "Deleted"]


def test_migrate_data_with_a_type_in_upper_case_does_nothing_and_answers_200(sqlite_db):
    # generate.background/Controllers/DataMigrationController.cs MigrateData -> MigrationService.cs MigrateData:
    # "ods", "rds" and "report" compared case-sensitively; Ok() whatever the type.
    seeded(sqlite_db)
    with StandinGenerate.for_database(sqlite_db, version="13.3") as standin:
        before = sqlite_db.snapshot()
        with urllib.request.urlopen(standin.background_url + "/api/DataMigration/MigrateData/ODS") as answer:
            assert (answer.status, answer.read()) == (200, b"")
        standin.replica.wait_idle()
        assert sqlite_db.snapshot() == before
        assert jobs(sqlite_db) == []


# --- Hangfire: servers, heartbeats, crashes ------------------------------------------------------------------


def crashed_then_restarted(database, replicas, version):
    """An ods run whose background process died while it ran, then a new background process, idle again; return
    the replica and the dead server's id. The job was left Processing on the dead server, whose row stays."""
    seeded(database)
    replica = replicas(database, version=version, hang={"pipeline"})
    replica.migrate_data("ods")
    wait_for(lambda: database.statuses()["ods"] == "processing", what="the ods run")
    dead = replica.server_id
    replica.crash()
    job = jobs(database)[0][0]
    assert jobs(database)[0][2] == "Processing" and processing_server(database, job) == dead
    assert dead in servers(database)
    replica.hang.clear()
    replica.start()
    replica.wait_idle()
    return replica, dead


def test_crash_leaves_the_job_processing_and_hangfire_1_7_fetches_it_again_at_once(sqlite_db, replicas):
    # Hangfire.SqlServer 1.7.31 SqlServerJobQueue DequeueUsingTransaction: the queue row is deleted in a transaction
    # kept open for the whole job; when the process dies it rolls back, and the next fetch takes the job again.
    replica, dead = crashed_then_restarted(sqlite_db, replicas, "12")
    job = jobs(sqlite_db)[0][0]
    assert [run["outcome"] for run in replica.pipeline_runs] == [None, "success"]
    assert [name for name, _reason, _data in states(sqlite_db, job)] == [
        "Enqueued", "Processing", "Processing", "Succeeded"]
    assert states(sqlite_db, job)[2][2]["ServerId"] == replica.server_id != dead
    assert sqlite_db.history_messages().count("ODS Migration Started") == 2


def test_crash_leaves_the_job_to_hangfire_1_8_until_its_invisibility_timeout(sqlite_db, replicas):
    # Hangfire.SqlServer 1.8.23 SqlServerJobQueue: a row is fetched again once its FetchedAt (kept alive by
    # SqlServerTimeoutJob) is older than SlidingInvisibilityTimeout, 5 minutes.
    replica, dead = crashed_then_restarted(sqlite_db, replicas, "13.3")
    job = jobs(sqlite_db)[0][0]
    assert processing_server(sqlite_db, job) == dead and len(replica.pipeline_runs) == 1
    six_minutes_ago = database_now(sqlite_db) - datetime.timedelta(minutes=6)
    sqlite_db.execute('UPDATE %s SET "FetchedAt" = ?' % sqlite_db.qualified("JobQueue"), six_minutes_ago)
    replica.wait_idle()
    assert [run["outcome"] for run in replica.pipeline_runs] == [None, "success"]
    assert jobs(sqlite_db)[0][2] == "Succeeded"


def test_stop_removes_the_server_and_crash_leaves_it(sqlite_db, replicas):
    # Hangfire.SqlServer SqlServerConnection.RemoveServer on a graceful stop; a dead process removes nothing.
    seeded(sqlite_db)
    first, second = replicas(sqlite_db), replicas(sqlite_db)
    first_id, second_id = first.server_id, second.server_id
    first.stop()
    second.crash()
    assert list(servers(sqlite_db)) == [second_id] and first_id != second_id
    assert (first.server_id, second.server_id) == (None, None)


def test_hangfire_1_7_heartbeat_carries_the_app_servers_clock(sqlite_db, replicas):
    # Hangfire.SqlServer 1.7.31 SqlServerConnection.Heartbeat / AnnounceServer: LastHeartbeat = DateTime.UtcNow.
    seeded(sqlite_db)
    replica = replicas(sqlite_db, version="12", clock_offset=3600)
    skew = servers(sqlite_db)[replica.server_id] - database_now(sqlite_db)
    assert datetime.timedelta(minutes=59) < skew < datetime.timedelta(minutes=61)


def test_hangfire_1_8_heartbeat_carries_the_databases_clock(any_db, replicas):
    # Hangfire.SqlServer 1.8.23 SqlServerConnection.Heartbeat / AnnounceServer: LastHeartbeat = sysutcdatetime().
    seeded(any_db)
    replica = replicas(any_db, version="13.3", clock_offset=3600, heartbeat_seconds=0.2)
    first = servers(any_db)[replica.server_id]
    wait_for(lambda: servers(any_db)[replica.server_id] != first, what="a heartbeat")
    skew = servers(any_db)[replica.server_id] - database_now(any_db)
    assert abs(skew) < datetime.timedelta(seconds=5)


def test_a_starting_server_removes_the_servers_that_timed_out(sqlite_db, replicas):
    # Hangfire.Core Server/ServerWatchdog at start: RemoveTimedOutServers(ServerTimeout = 5 minutes).
    seeded(sqlite_db)
    sqlite_db.beat("generate-background:1:dead", age=400)
    sqlite_db.beat("generate-background:2:alive", age=60)
    replica = replicas(sqlite_db, version="13.3")
    assert sorted(servers(sqlite_db)) == sorted(["generate-background:2:alive", replica.server_id])


def test_an_idle_replica_runs_no_thread_of_its_own(sqlite_db, replicas):
    # A fleet of stand-ins runs in one process: workers exist only while they perform, heartbeats share a thread.
    seeded(sqlite_db)
    replica = replicas(sqlite_db)
    replica.migrate_data("ods")
    replica.wait_idle()
    wait_for(lambda: not [thread for thread in threading.enumerate() if thread.name == "generate-replica-worker"],
             what="the workers to end")


# --- the web app's report migration page ---------------------------------------------------------------------


def test_web_migratereport_saves_the_selection_then_runs_the_report_migration(sqlite_db):
    # generate.web/Controllers/Api/App/DataMigrationController.cs MigrateReport: UserName, the years, the reports
    # as posted (IsLocked: the selection), then the background app's MigrateData/report.
    seeded(sqlite_db)
    for code in ("c002", "c005"):
        sqlite_db.add_report(code)
    with StandinGenerate.for_database(sqlite_db, version="13.3") as standin:
        standin.replica.pipeline_seconds = standin.replica.report_job_seconds = 0.1
        body = json.dumps(report_selection(sqlite_db, ["c005"], user_name="jdoe", years=["2024"])).encode("utf-8")
        request = urllib.request.Request(standin.web_url + "/api/app/datamigrations/migratereport", data=body,
                                         method="PUT", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as answer:
            assert answer.status == 200
        standin.replica.wait_idle()
        assert ("background", "GET", "/api/DataMigration/MigrateData/report") in standin.requests
        assert sqlite_db.execute('SELECT "UserName" FROM %s WHERE "DataMigrationTypeId" = 3'
                                 % sqlite_db.table("DataMigrations"))[0][0] == "jdoe"
        assert "Report Started (c005/2024/sea/CSA)" in sqlite_db.history_messages()
        assert sqlite_db.statuses()["report"] == "success"
        assert sqlite_db.reports() == {"c002": (False, True, False), "c005": (False, True, False)}
