"""The pure decision: which steps are failed, stuck or running, and what a reset changes."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.ceds.generate.plugins.module_utils import hangfire_state as hs
from ansible_collections.ceds.generate.plugins.module_utils import migration_plan as mp
from ansible_collections.ceds.generate.plugins.module_utils import migration_report as report
from tests.support.scenarios import FAILED

NOW = datetime.datetime(2026, 11, 26, 12, 0, 0)
STANDARD = {"initial": 1, "pending": 2, "processing": 3, "error": 4, "success": 5}
CODES = dict((v, k) for k, v in STANDARD.items())


def steps_of(*rows, ids=None):
    """Steps from (type_code, status_code or raw id, age seconds or None)."""
    ids = STANDARD if ids is None else ids
    steps = []
    for number, (type_code, status, age) in enumerate(rows, start=1):
        status_id = ids[status] if isinstance(status, str) else status
        trigger = None if age is None else NOW - datetime.timedelta(seconds=age)
        steps.append(mp.Step(number, number, status_id, type_code=type_code, last_trigger_date=trigger))
    return steps


def make_plan(*rows, stuck_after=30000, reset=True, ids=None):
    ids = STANDARD if ids is None else ids
    return mp.plan(steps_of(*rows, ids=ids), ids, NOW, stuck_after, reset)


def reset_codes(plan):
    return [(change["type_code"], change["from"]) for change in report.reset_steps(plan)]


# Every combination of two steps' statuses, with fresh dates (60 s old).
FRESH = 60
EXPECTED_PAIRS = {
    # (first, second): (state, resets)
    ("success", "success"): ("ok", []),
    ("initial", "initial"): ("ok", []),
    ("initial", "success"): ("ok", []),
    ("success", "error"): ("failed", [("b", "error")]),
    ("error", "pending"): ("failed", [("a", "error"), ("b", "pending")]),
    ("error", "processing"): ("failed", []),
    ("error", "error"): ("failed", [("a", "error"), ("b", "error")]),
    ("error", "initial"): ("failed", [("a", "error")]),
    ("pending", "success"): ("running", []),
    ("processing", "success"): ("running", []),
    ("pending", "processing"): ("running", []),
    ("success", "initial"): ("ok", []),
}


@pytest.mark.parametrize("pair", sorted(EXPECTED_PAIRS))
def test_status_combination(pair):
    state, resets = EXPECTED_PAIRS[pair]
    plan = make_plan(("a", pair[0], FRESH), ("b", pair[1], FRESH))
    assert plan.state == state
    assert reset_codes(plan) == resets


def test_every_status_combination_of_three_steps_follows_the_rules():
    for first in mp.STATUS_CODES:
        for second in mp.STATUS_CODES:
            for third in mp.STATUS_CODES:
                codes = (first, second, third)
                plan = make_plan(("a", first, FRESH), ("b", second, FRESH), ("c", third, FRESH))
                failed = "error" in codes
                running = "processing" in codes
                touched = [code for code in codes if code in mp.RESETTABLE]
                expected = len(touched) if failed and not running else 0
                assert len(plan.resets) == expected, codes
                assert plan.deferred == (failed and running), codes
                assert all(view.status_code not in ("initial", "success") for view in plan.resets)


def test_troubleshooting_page_case_resets_error_and_later_pending_steps():
    plan = make_plan(*FAILED)
    assert plan.state == "failed"
    assert plan.failed_steps == ["ods"]
    assert reset_codes(plan) == [("ods", "error"), ("rds", "pending"), ("report", "pending")]
    assert report.message(plan, applied=True) == (
        "reset 3 steps: ods error -> success, rds pending -> success, report pending -> success")


def test_fresh_processing_defers_the_reset_with_a_warning():
    plan = make_plan(("ods", "error", 9000), ("rds", "processing", 600))
    assert plan.resets == []
    assert plan.deferred
    assert plan.running_steps == ["rds"]
    assert plan.deferral_warning() == "reset deferred: rds is processing since 2026-11-26T11:50:00.000Z"


@pytest.mark.parametrize("age, stuck", [(29999, False), (30000, False), (30001, True), (None, True)])
def test_stuck_boundary_for_processing(age, stuck):
    plan = make_plan(("rds", "processing", age), stuck_after=30000)
    assert plan.views[0].stuck is stuck
    assert plan.views[0].running is (not stuck)
    assert reset_codes(plan) == ([("rds", "processing")] if stuck else [])


@pytest.mark.parametrize("age, stuck", [(30000, False), (30001, True), (None, True)])
def test_stuck_boundary_for_pending(age, stuck):
    plan = make_plan(("report", "pending", age))
    assert plan.views[0].stuck is stuck
    assert plan.state == ("failed" if stuck else "running")


def test_stuck_after_zero_never_calls_a_step_stuck():
    plan = make_plan(("rds", "processing", None), ("report", "pending", 10 ** 7), stuck_after=0)
    assert [view.stuck for view in plan.views] == [False, False]
    assert plan.running_steps == ["rds"]
    assert plan.resets == []


def test_null_trigger_date_reports_no_age():
    plan = make_plan(("ods", "success", None))
    assert plan.views[0].age_seconds is None
    assert plan.state == "ok"


def test_status_check_plans_no_reset_but_reports_failure():
    plan = make_plan(("ods", "error", 100), reset=False)
    assert plan.resets == []
    assert plan.reset_needed
    assert report.message(plan, applied=False) == "failed steps: ods"


def test_unknown_status_id_is_left_untouched_and_warned():
    plan = make_plan(("ods", "error", 100), ("rds", 99, 100), ("report", None, 100))
    assert reset_codes(plan) == [("ods", "error")]
    assert any("rds has status id 99" in warning for warning in plan.warnings)
    assert any("report has status id NULL" in warning for warning in plan.warnings)
    assert plan.views[1].status_code is None


def test_non_standard_status_ids_are_resolved_by_code():
    ids = {"initial": 10, "pending": 20, "processing": 30, "error": 40, "success": 50}
    plan = make_plan(("ods", "error", 100), ("rds", "pending", 100), ids=ids)
    assert reset_codes(plan) == [("ods", "error"), ("rds", "pending")]
    after = mp.after_reset(plan, NOW)
    assert [view.step.status_id for view in after.views] == [50, 50]
    assert after.state == "ok"


def test_future_trigger_date_counts_as_fresh_and_warns():
    plan = make_plan(("rds", "processing", -3600))
    assert plan.views[0].age_seconds == -3600
    assert plan.running_steps == ["rds"]
    assert any("in the future" in warning for warning in plan.warnings)


def test_unknown_type_is_named_by_its_id():
    step = mp.Step(1, 42, 4, type_code=None)
    plan = mp.plan([step], STANDARD, NOW, 30000, True)
    assert report.reset_steps(plan) == [{"id": 1, "type_code": "type-42", "from": "error", "to": "success"}]


def test_diff_lists_every_step_before_and_after():
    plan = make_plan(("ods", "success", 10), ("rds", "error", 10), ("report", "initial", None))
    assert report.status_by_type(plan) == {"ods": "success", "rds": "error", "report": "initial"}
    assert report.status_by_type(plan, after=True) == {"ods": "success", "rds": "success", "report": "initial"}


def test_check_mode_message_says_would():
    plan = make_plan(("rds", "error", 10))
    assert report.message(plan, applied=False, check_mode=True) == "would reset 1 step: rds error -> success"


def test_empty_table_is_ok():
    plan = make_plan()
    assert plan.state == "ok" and plan.resets == [] and not plan.reset_needed


@pytest.mark.parametrize("rows, message", [
    ([(1, "initial"), (2, "pending"), (3, "processing"), (4, "error")], "no status code 'success'"),
    ([(1, "initial"), (2, "pending"), (3, "processing"), (4, "error"), (5, "success"), (9, "error")],
     "status code 'error' twice (ids 4 and 9)"),
    ([], "no status code 'initial', 'pending', 'processing', 'error', 'success'"),
])
def test_status_table_problems_are_named(rows, message):
    with pytest.raises(mp.PlanError) as raised:
        mp.resolve_status_ids(rows)
    assert message in str(raised.value)


def test_status_codes_match_regardless_of_case():
    ids = mp.resolve_status_ids([(1, "Initial"), (2, "PENDING"), (3, "processing "), (4, "Error"), (5, "success")])
    assert ids == STANDARD


@pytest.mark.parametrize("value, expected", [
    (datetime.datetime(2026, 1, 1, 10, 0), datetime.datetime(2026, 1, 1, 10, 0)),
    (datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
     datetime.datetime(2026, 1, 1, 10, 0)),
    ("2026-01-01 10:00:00", datetime.datetime(2026, 1, 1, 10, 0)),
    ("2026-01-01T10:00:00Z", datetime.datetime(2026, 1, 1, 10, 0)),
    ("not a date", None),
    (None, None),
])
def test_dates_are_read_as_utc(value, expected):
    assert hs.to_utc(value) == expected


def test_history_keeps_at_most_the_asked_lines_per_failed_type():
    rows = [(2, NOW, "rds 3"), (2, NOW, "rds 2"), (3, NOW, "report 1"), (2, NOW, "rds 1"), (1, NOW, "ods 1")]
    lines = report.select_history(rows, [(2, None), (3, None)], 2, {2: "rds", 3: "report"})
    assert [line["message"] for line in lines] == ["rds 3", "rds 2", "report 1"]


def test_facts_after_a_reset_describe_the_new_state():
    steps = steps_of(("ods", "error", 100), ("rds", "pending", 100))
    plan = mp.plan(steps, STANDARD, NOW, 30000, True)
    after = mp.after_reset(plan, NOW)
    facts = report.facts(after, [], "13.1", "OK", NOW)
    assert facts["state"] == "ok"
    assert [step["status_code"] for step in facts["steps"]] == ["success", "success"]
    assert facts["checked_at"] == "2026-11-26T12:00:00.000Z"
