"""The rules of a recovery through Generate: which runs, which reports, and when a run or a cancel has ended.

Each scenario is one poll (or a few) of what the database would show, as Generate's code writes it.
"""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.ceds.generate.plugins.module_utils import hangfire_state as hs
from ansible_collections.ceds.generate.plugins.module_utils import migration_recovery as mr

NOW = datetime.datetime(2026, 11, 26, 12, 0, 0)
STARTED = "REPORT Migration Started"
SUCCESSFUL = "REPORT Migration Complete - successful"


def job(job_id, method="ExecuteSqlBasedMigration", status="running", state="Processing", arguments=("report", None)):
    found = hs.Job(job_id, method, "report", state, NOW, "bg:1" if state == "Processing" else None, arguments)
    return hs.JobView(found, status, 0, False)


REPORT_JOB_ARGUMENTS = ("c002", "2025", "sea", "CSA", None, None)


def poll(status="processing", lines=(), jobs=(), locked=(), elapsed=10, duration=None):
    return mr.Poll(status, duration, lines, jobs, locked, elapsed)


def watch(selection=("c002",), legacy=(), type_code="report", start_timeout=60, timeout=3600):
    return mr.RunWatch(type_code, selection, legacy, start_timeout, timeout)


@pytest.mark.parametrize("types, version, expected", [
    (["ods", "rds", "report"], "13.3", ["report"]),   # from 12.0 one run does the whole pipeline
    (["ods"], "12.0", ["report"]),
    (["rds", "ods"], "13.1", ["report"]),
    (["report", "ods", "rds"], None, ["report"]),      # an unknown version counts as the newest
    (["report", "ods", "rds"], "11.4", ["ods", "rds", "report"]),  # before 12.0 each type once, in order
    (["rds", "rds"], "11.0", ["rds"]),
    ([], "13.3", []),
])
def test_runs_from_twelve_are_one_report_run_and_before_it_each_type_once_in_generates_order(types, version, expected):
    assert mr.runs_for(types, version) == expected


def test_only_the_lower_case_codes_that_migratedata_acts_on_are_accepted():
    assert mr.bad_types(["ods", "rds", "report"]) == []
    assert mr.bad_types(["ODS", "Report", "staging", "ods"]) == ["ODS", "Report", "staging"]


def test_the_reports_a_crashed_run_left_locked_are_the_selection_and_nothing_is_locked():
    assert mr.report_selection(["c002", "c089"], ["c175"], {}) == (["c002", "c089"], [], None)


def test_given_reports_that_exist_and_are_active_are_the_selection_and_those_unlocked_are_locked():
    rows = {"c002": (True, False), "c089": (True, True)}
    assert mr.report_selection([], ["c002", "c089", "c002"], rows) == (["c002", "c089"], ["c002"], None)


def test_with_no_locked_report_and_none_given_there_is_no_run_and_the_problem_says_how_to_give_one():
    selection, to_lock, problem = mr.report_selection([], [], {})
    assert (selection, to_lock) == ([], [])
    assert problem.startswith("no report is selected: ") and "Generate unlocked them" in problem
    assert "generate_rerun_reports" in problem


@pytest.mark.parametrize("rows, problem", [
    ({"c002": (True, False)}, "report codes not found in GenerateReports: c999; "),
    ({"c002": (True, False), "c999": (False, False)}, "reports not active in GenerateReports: c999; "),
])
def test_given_reports_must_exist_and_be_active(rows, problem):
    selection, _to_lock, found = mr.report_selection([], ["c002", "c999"], rows)
    assert selection == [] and found.startswith(problem)


def test_a_report_run_succeeds_only_with_the_step_the_successful_line_no_job_and_the_reports_unlocked():
    judge = watch()
    assert judge.judge(poll(lines=[STARTED], jobs=[job(1)])) is None
    done = poll(status="success", lines=[STARTED, "Report Complete (c002/2025/sea/CSA)", SUCCESSFUL], duration=42)
    assert judge.judge(done) is None                 # one quiet poll is not yet an end
    assert judge.judge(done) == ("success", None)


def test_a_report_run_with_nothing_migrated_is_not_a_success():
    # App.Migrate_Data with no new-style report locked marks success and writes "Migration Complete", with no
    # per-report job and so no "Report Complete" line of the selected report.
    judge = watch()
    empty = poll(status="success", lines=[STARTED, "Migration Complete"])
    judge.judge(empty)
    outcome, reason = judge.judge(empty)
    assert outcome == "incomplete"
    assert reason == "no job left, but no \"Report Complete (...)\" line for c002"


def test_a_report_run_whose_reports_finished_before_the_pipeline_ends_on_migrate_datas_own_line():
    # The last MarkReportAsComplete ran before App.Migrate_Data ended: the pipeline then finds no report locked
    # and marks the step success itself ("Migration Complete"), as in 12.0 to 13.1 where CompleteMigration
    # throws in the continuation.
    judge = watch()
    done = poll(status="success", lines=[STARTED, "Report Complete (c002/2025/sea/CSA)", "Migration Complete"])
    judge.judge(done)
    assert judge.judge(done) == ("success", None)


def test_reports_still_locked_keep_a_run_from_success_unless_generate_migrates_them_the_old_way():
    lines = [STARTED, "Report Complete (c002/2025/sea/CSA)", "Report Complete (c089/2025/sea/CSA)", SUCCESSFUL]
    judge = watch(selection=("c002", "c089"))
    judge.judge(poll(status="success", lines=lines, locked=["c089"]))
    assert judge.judge(poll(status="success", lines=lines, locked=["c089"])) == (
        "incomplete", "no job left, but reports still locked: c089")
    legacy = watch(selection=("c002", "c089"), legacy=("c089",))
    legacy.judge(poll(status="success", lines=lines, locked=["c089"]))
    assert legacy.judge(poll(status="success", lines=lines, locked=["c089"])) == ("success", None)


def test_a_step_left_processing_with_no_job_is_stuck_not_left_to_time_out():
    # A per-report job that fails is deleted with its continuation (AutomaticRetry OnAttemptsExceeded = Delete).
    judge = watch()
    judge.judge(poll(lines=[STARTED], jobs=[job(1, "ExecuteReportMigrationByYearLevelAndCategorySet")]))
    assert judge.judge(poll(lines=[STARTED], locked=["c002"])) is None
    outcome, reason = judge.judge(poll(lines=[STARTED], locked=["c002"]))
    assert outcome == "stuck"
    assert reason.startswith("no job is left to finish the run: report is processing; no \"Report Complete (...)\" "
                             "line for c002; Generate wrote no \"REPORT Migration Complete - successful\" or "
                             "\"Migration Complete\" line; reports still locked: c002 (a job that fails")


def test_a_job_that_still_runs_or_waits_keeps_the_run_going():
    judge = watch()
    for state in ("Processing", "Enqueued", "Awaiting", None):
        assert judge.judge(poll(lines=[STARTED], jobs=[job(2, status="queued", state=state)])) is None
        assert judge.judge(poll(lines=[STARTED], jobs=[job(2, status="queued", state=state)])) is None


def test_jobs_with_no_live_server_to_run_them_are_stuck():
    judge = watch()
    orphaned = [job(3, status="orphaned")]
    judge.judge(poll(lines=[STARTED], jobs=orphaned))
    outcome, reason = judge.judge(poll(lines=[STARTED], jobs=orphaned))
    assert outcome == "stuck" and reason.startswith("no background server is alive to run report's jobs: job 3 ")


def test_an_error_is_an_error_only_with_generates_error_lines_since_the_request():
    judge = watch()
    # The step was error before the run began: no line of this run says it failed yet.
    assert judge.judge(poll(status="error", lines=[], jobs=[job(1, status="queued", state="Enqueued")])) is None
    failed = poll(status="error", lines=[STARTED, "Error Occurred - Transaction was deadlocked",
                                         "REPORT Migration Complete - either due to error or cancellation"])
    assert judge.judge(failed) == ("error", "report ended in error")


def test_no_job_and_no_line_after_the_start_timeout_is_not_started():
    judge = watch(start_timeout=30)
    assert judge.judge(poll(status="success", elapsed=29)) is None
    outcome, reason = judge.judge(poll(status="success", elapsed=30))
    assert outcome == "not started"
    assert reason.startswith("no job of report and no history line of it after 30 s: Generate did not start the run")


def test_a_run_still_going_at_the_timeout_is_left_running():
    judge = watch(timeout=100)
    assert judge.judge(poll(lines=[STARTED], jobs=[job(1)], elapsed=100)) == (
        "timeout", "still running after 100 s; left running")


def test_other_types_end_on_migrate_datas_own_line():
    judge = watch(selection=(), type_code="ods")
    done = poll(status="success", lines=["ODS Migration Started", "Migration Complete"], duration=5)
    judge.judge(done)
    assert judge.judge(done) == ("success", None)


CANCELING = "Canceling migration"
CANCEL_CLOSED = "REPORT Migration Complete - either due to error or cancellation"
WORKER_CLOSED = "REPORT Migration Completed after Cancel/Error"
WORKER_ERROR = "Error Occurred - A severe error occurred on the current command. Operation cancelled by user."


def test_a_cancel_is_done_only_after_the_cancelled_worker_has_closed():
    cancel = mr.CancelWatch("report", [job(7).job], timeout=60)
    # Generate's cancel answered: the step is error, the job deleted, but its worker is still running.
    assert cancel.judge(poll(status="error", lines=[CANCELING, CANCEL_CLOSED])) is None
    # Its catch block: LogException, then CompleteMigration(code, "error") again.
    assert cancel.judge(poll(status="error", lines=[CANCELING, CANCEL_CLOSED, WORKER_ERROR])) is None
    closed = poll(status="error", lines=[CANCELING, CANCEL_CLOSED, WORKER_ERROR, "Error Stack Trace = ...",
                                         WORKER_CLOSED])
    assert cancel.judge(closed) == ("cancelled", None)


def test_a_closing_line_of_the_cancel_itself_is_not_the_workers():
    # With reports locked, the cancel's own CompleteMigration unlocks them and its CompleteReportMigrationIfReady
    # writes "Completed after Cancel/Error" before the worker has noticed anything.
    cancel = mr.CancelWatch("report", [job(7).job], timeout=60)
    assert cancel.judge(poll(status="error", lines=[CANCELING, CANCEL_CLOSED, WORKER_CLOSED])) is None


def test_a_cancel_waits_for_the_jobs_generates_cancel_leaves_and_names_them_at_the_timeout():
    cancel = mr.CancelWatch("report", [job(7).job], timeout=60)
    lines = [CANCELING, CANCEL_CLOSED, WORKER_ERROR, WORKER_CLOSED]
    left = [job(8, "MarkReportAsComplete", status="queued", state="Awaiting", arguments=("c002",))]
    assert cancel.judge(poll(status="error", lines=lines, jobs=left)) is None
    outcome, reason = cancel.judge(poll(status="error", lines=lines, jobs=left, elapsed=60))
    assert outcome == "timeout"
    assert reason.startswith("cancel not done after 60 s: jobs left by Generate's cancel: job 8 MarkReportAsComplete")


def test_a_per_report_job_cannot_be_stopped_and_the_cancel_waits_for_its_own_last_line():
    report_job = job(9, "ExecuteReportMigrationByYearLevelAndCategorySet", arguments=REPORT_JOB_ARGUMENTS).job
    cancel = mr.CancelWatch("report", [report_job], timeout=60)
    assert [found.id for found in cancel.unstoppable()] == [9]
    lines = [CANCELING, CANCEL_CLOSED]
    outcome, reason = cancel.judge(poll(status="error", lines=lines, elapsed=60))
    assert outcome == "timeout" and "job 9 ExecuteReportMigrationByYearLevelAndCategorySet takes no cancellation " \
        "token: Generate's cancel deleted it, but it runs to its end" in reason
    assert cancel.judge(poll(status="error", lines=lines + ["Report Complete (c002/2025/sea/CSA)"])) == (
        "cancelled", None)


def test_a_cancel_whose_step_is_no_longer_error_is_not_done():
    cancel = mr.CancelWatch("report", [job(7).job], timeout=60)
    lines = [CANCELING, CANCEL_CLOSED, WORKER_ERROR, WORKER_CLOSED]
    assert cancel.judge(poll(status="success", lines=lines)) is None
    assert cancel.judge(poll(status="success", lines=lines, elapsed=61))[1].endswith("report is success")
