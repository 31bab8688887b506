"""The decision from Hangfire's evidence: jobs running, queued or orphaned, and what that allows."""

from __future__ import annotations

import datetime
import json

import pytest

from ansible_collections.ceds.generate.plugins.module_utils import hangfire_state as hs
from ansible_collections.ceds.generate.plugins.module_utils import migration_plan as mp
from ansible_collections.ceds.generate.plugins.module_utils import migration_report
from tests.support.scenarios import TEN_HOUR_REPORT

NOW = datetime.datetime(2026, 11, 26, 12, 0, 0)
IDS = {"initial": 1, "pending": 2, "processing": 3, "error": 4, "success": 5}
HOUR = 3600


def ago(seconds):
    return NOW - datetime.timedelta(seconds=seconds)


def steps(*rows):
    """Steps from (type_code, status_code, trigger age)."""
    return [mp.Step(number, number, IDS[status], type_code=code, last_trigger_date=ago(age),
                    last_duration_seconds=600)
            for number, (code, status, age) in enumerate(rows, start=1)]


def job(job_id, type_code, state="Processing", age=10 * HOUR, server="bg:1"):
    return hs.Job(job_id, "ExecuteSqlBasedMigration", type_code, state, ago(age),
                  server if state == "Processing" else None)


def hangfire(servers=(), jobs=()):
    return hs.Hangfire([hs.Server(server_id, ago(age)) for server_id, age in servers], list(jobs))


def decide(rows, state, reset=True, stuck_after=300000):
    return mp.plan(steps(*rows), IDS, NOW, stuck_after, reset, state)


def test_a_live_processing_job_defers_a_ten_hour_old_step_whatever_stuck_after_says():
    plan = decide(TEN_HOUR_REPORT, hangfire([("bg:1", 10)], [job(7, "report")]), stuck_after=mp.STUCK_AFTER_BEFORE_13_2)
    assert plan.decided_by == "hangfire"
    assert plan.running_steps == ["report"] and plan.stuck_steps == []
    assert plan.resets == [] and plan.state == "running"


def test_a_job_on_a_dead_server_with_no_live_server_is_orphaned_and_the_step_is_reset():
    plan = decide(TEN_HOUR_REPORT, hangfire([("bg:1", 10 * HOUR)], [job(7, "report")]))
    assert plan.orphaned_jobs == [7]
    assert plan.stuck_steps == ["report"]
    assert [view.step.label for view in plan.resets] == ["report"]
    assert any("runs it when a background app starts" in warning for warning in plan.warnings)


@pytest.mark.parametrize("state", ["Enqueued", "Awaiting", None])
def test_with_no_live_server_a_waiting_job_is_orphaned_like_a_processing_one_and_the_reset_goes_ahead(state):
    # Neither an Enqueued, an Awaiting nor a just created job runs before a background app starts, exactly
    # like a Processing job of a dead server: the same rule for all of them, with a warning naming each.
    rows = [("ods", "error", HOUR), ("rds", "success", HOUR), ("report", "pending", HOUR)]
    plan = decide(rows, hangfire([("bg:1", 10 * HOUR)], [job(9, "report", state=state, age=60)]))
    assert plan.orphaned_jobs == [9] and plan.blockers == []
    assert [view.step.label for view in plan.resets] == ["ods", "report"]
    assert [warning for warning in plan.warnings if warning.startswith("job 9 ")] == [
        "job 9 ExecuteSqlBasedMigration (report) is orphaned (%s) since 2026-11-26T11:59:00.000Z, and no background "
        "server is alive: Hangfire runs it when a background app starts" % state]


def test_a_job_just_created_with_no_state_yet_is_queued_while_a_server_lives():
    rows = [("ods", "error", HOUR), ("rds", "success", HOUR), ("report", "success", HOUR)]
    plan = decide(rows, hangfire([("bg:1", 10)], [job(9, "report", state=None, age=1)]))
    assert plan.deferred and plan.queued_steps == ["report"]


def test_a_job_on_a_dead_server_while_another_server_lives_is_queued_and_defers():
    plan = decide(TEN_HOUR_REPORT, hangfire([("bg:1", 10 * HOUR), ("bg:2", 5)], [job(7, "report")]))
    assert plan.queued_steps == ["report"] and plan.orphaned_jobs == []
    assert plan.resets == []
    assert plan.blockers == ["job 7 ExecuteSqlBasedMigration (report) is queued (Processing) since "
                             "2026-11-26T02:00:00.000Z"]


def test_an_enqueued_job_behind_a_failed_step_defers_the_reset():
    rows = [("ods", "error", 600), ("rds", "pending", 60), ("report", "success", HOUR)]
    plan = decide(rows, hangfire([("bg:1", 10)], [job(9, "rds", state="Enqueued", age=60)]))
    assert plan.failed_steps == ["ods"] and plan.queued_steps == ["rds"]
    assert plan.deferred and plan.resets == []
    assert plan.deferral_warning().startswith("reset deferred: job 9 ExecuteSqlBasedMigration (rds) is queued")


def test_a_pending_step_with_no_job_is_stuck_however_fresh():
    plan = decide([("ods", "success", HOUR), ("rds", "pending", 5)], hangfire([("bg:1", 10)]))
    assert plan.stuck_steps == ["rds"]
    assert [view.step.label for view in plan.resets] == ["rds"]


def test_a_running_job_older_than_stuck_after_is_hung_reported_and_not_reset():
    plan = decide(TEN_HOUR_REPORT, hangfire([("bg:1", 10)], [job(7, "report")]), stuck_after=8 * HOUR)
    assert plan.hung_steps == ["report"]
    assert plan.resets == [] and plan.running_steps == ["report"]
    assert any("reported as hung, not reset" in warning for warning in plan.warnings)


def test_any_running_migration_job_holds_back_a_reset_of_another_step():
    rows = [("ods", "error", HOUR), ("rds", "success", HOUR), ("report", "success", HOUR)]
    plan = decide(rows, hangfire([("bg:1", 10)], [job(3, "report", age=60)]))
    assert plan.deferred and plan.resets == []


def test_without_hangfire_the_age_rule_decides():
    plan = decide(TEN_HOUR_REPORT, None, stuck_after=300000)
    assert plan.decided_by == "age" and plan.running_steps == ["report"]
    plan = decide(TEN_HOUR_REPORT, None, stuck_after=mp.STUCK_AFTER_BEFORE_13_2)
    assert plan.stuck_steps == ["report"]


@pytest.mark.parametrize("version, expected", [
    ("13.1", 30000), ("12.4", 30000), ("2.7", 30000), ("13.2", 300000), ("13.3", 300000), ("14.0", 300000),
    (None, 300000), ("unknown", 300000), ("13.2.1", 300000),
])
def test_stuck_after_defaults_to_generates_timeout_for_the_version(version, expected):
    assert mp.default_stuck_after(version) == expected


def test_a_reset_of_a_step_that_never_succeeded_warns():
    never = [mp.Step(1, 1, IDS["error"], type_code="report", last_trigger_date=ago(60))]
    plan = mp.plan(never, IDS, NOW, 300000, True, None)
    assert plan.resets and any("never finished a run" in warning for warning in plan.warnings)


@pytest.mark.parametrize("layout", ["long", "170"])
def test_job_parse_reads_both_invocation_layouts(layout):
    if layout == "long":
        invocation = {"Type": "IAppRepository, generate.core", "Method": "ExecuteSqlBasedMigration",
                      "ParameterTypes": "[]", "Arguments": None}
    else:
        invocation = {"t": "IAppRepository, generate.core", "m": "ExecuteSqlBasedMigration", "p": []}
    parsed = hs.Job.parse("12", "Processing", json.dumps(invocation), '["\\"rds\\"",null]', ago(5),
                          json.dumps({"StartedAt": "1764158400000", "ServerId": "bg:1", "WorkerId": "w"}))
    assert (parsed.id, parsed.method, parsed.type_code, parsed.server_id) == (12, "ExecuteSqlBasedMigration",
                                                                              "rds", "bg:1")


def test_job_parse_takes_arguments_from_invocation_data_when_the_column_is_empty():
    invocation = {"Type": "IAppRepository", "Method": "ExecuteSqlBasedMigration",
                  "Arguments": json.dumps([json.dumps("ods"), None])}
    assert hs.Job.parse(1, "Enqueued", json.dumps(invocation), "[]", ago(5), None).type_code == "ods"


@pytest.mark.parametrize("method, type_code", [
    ("MarkReportAsComplete", "report"), ("ExecuteReportMigrationByYearLevelAndCategorySet", "report"),
    ("Migrate_FactStudentCounts", "rds"),
])
def test_report_and_rds_jobs_belong_to_their_type(method, type_code):
    invocation = json.dumps({"Type": "X", "Method": method})
    assert hs.Job.parse(1, "Awaiting", invocation, '["\\"c002\\""]', ago(5), None).type_code == type_code


def test_other_jobs_are_not_migration_jobs():
    assert hs.Job.parse(1, "Enqueued", json.dumps({"Method": "fsMetaRefresh"}), "[]", ago(5), None) is None
    assert hs.Job.parse(1, "Enqueued", "not json", "[]", ago(5), None) is None


@pytest.mark.parametrize("metadata, report, reason", [
    ("PROCESSING", "success", mp.METADATA_PROCESSING_REASON),
    ("FAILED", "processing", mp.METADATA_FAILED_REASON),
    ("OK", "processing", mp.MIGRATION_IN_PROGRESS_REASON),
    ("OK", "error", mp.MIGRATION_NOT_RUN_REASON),
    ("OK", "pending", mp.MIGRATION_NOT_RUN_REASON),
    ("OK", "success", None),
    (None, "success", None),
])
def test_reports_blocked_follows_the_report_pages_rule(metadata, report, reason):
    plan = decide([("ods", "success", HOUR), ("report", report, HOUR)], None, reset=False)
    assert plan.reports_blocked_reason(metadata) == reason
    facts = migration_report.facts(plan, [], "13.3", metadata, NOW)
    assert facts["reports_blocked"] is (reason is not None)
    assert facts["reports_blocked_reason"] == reason


def test_guard_passes_when_nothing_moved_and_names_what_did():
    plan = decide([("ods", "error", HOUR), ("rds", "success", HOUR)], hangfire([("bg:1", 10)]))
    written = [(1, IDS["success"], ago(HOUR)), (2, IDS["success"], ago(HOUR))]
    assert mp.guard(plan, written, hangfire([("bg:1", 10)]), NOW) is None
    started = [(1, IDS["success"], ago(HOUR)), (2, IDS["pending"], ago(1))]
    assert mp.guard(plan, started, hangfire([("bg:1", 10)]), NOW) == "rds changed since it was read"
    queued = hangfire([("bg:1", 10)], [job(4, "rds", state="Enqueued", age=1)])
    assert mp.guard(plan, written, queued, NOW).startswith("job 4 ExecuteSqlBasedMigration (rds) is queued")
