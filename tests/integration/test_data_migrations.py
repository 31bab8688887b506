"""The module through the real Ansible executor, on PostgreSQL (psqlODBC) and SQLite (SQLite ODBC).

Every scenario runs in Ansible's worker and as a module process, and both must give the same result
(tests/integration/conftest.py).
"""

from __future__ import annotations

import socket

import pytest
from tests.support.scenarios import FAILED, FAILED_HISTORY, HEALTHY_RECENT
from tests.support.silent_host import silent_host

pytestmark = pytest.mark.both_paths

# The failed run's history, and a line from before its last trigger that the facts must not report.
FAILED_HISTORY_AND_YESTERDAY = FAILED_HISTORY + [("ods", 90000, "ODS Migration Started (yesterday)")]


def facts(result):
    return result["ansible_facts"]["generate_migrations"]


def test_all_success_reports_ok_and_changes_nothing(any_db, run_module):
    any_db.seed(HEALTHY_RECENT)
    before = any_db.snapshot()
    result = run_module(any_db.module_args(state="reset")).result
    assert result["changed"] is False
    assert facts(result)["state"] == "ok"
    assert facts(result)["reset_needed"] is False
    assert result["msg"] == "all migration steps are ok"
    assert any_db.snapshot() == before


@pytest.mark.every_release
def test_status_reports_every_step_as_facts(any_db, run_module):
    any_db.seed(FAILED, history=FAILED_HISTORY_AND_YESTERDAY)
    result = run_module(any_db.module_args()).result
    reported = facts(result)
    assert result["changed"] is False
    assert reported["state"] == "failed"
    # No Hangfire job waits for rds or report: nothing will ever run them, so they are stuck.
    assert reported["failed_steps"] == ["ods", "rds", "report"]
    assert reported["decided_by"] == "hangfire" and reported["hangfire"]["available"] is True
    assert reported["database_version"] == "13.1"
    assert reported["metadata_status"] == "OK"
    assert [step["type_code"] for step in reported["steps"]] == ["ods", "rds", "report"]
    first = reported["steps"][0]
    assert first["status_code"] == "error" and first["status_name"] == "Error"
    assert first["type_name"] == "Operational Data Store"
    assert first["last_trigger_date"].endswith("Z")
    assert 7190 <= first["age_seconds"] <= 7300
    assert first["user_name"] == "admin" and first["last_duration_seconds"] == 120
    # History since the last trigger only, newest first.
    assert [line["message"] for line in reported["last_errors"]] == [
        "ODS Migration Complete - either due to error or cancellation",
        "Error in App.Migrate_Data: deadlock victim",
        "ODS Migration Started",
    ]
    assert any_db.statuses() == {"ods": "error", "rds": "pending", "report": "pending"}


def test_history_lines_bounds_last_errors(any_db, run_module):
    any_db.seed(FAILED, history=FAILED_HISTORY_AND_YESTERDAY)
    result = run_module(any_db.module_args(history_lines=1)).result
    assert [line["message"] for line in facts(result)["last_errors"]] == [
        "ODS Migration Complete - either due to error or cancellation"]


@pytest.mark.every_release
def test_troubleshooting_case_is_reset_with_audit_lines(any_db, run_module):
    any_db.seed(FAILED)
    result = run_module(any_db.module_args(state="reset", audit_note="AWX job 42")).result
    assert result["changed"] is True
    assert result["msg"] == ("reset 3 steps: ods error -> success, rds pending -> success, "
                             "report pending -> success")
    assert result["reset_steps"] == [
        {"id": 1, "type_code": "ods", "from": "error", "to": "success"},
        {"id": 2, "type_code": "rds", "from": "pending", "to": "success"},
        {"id": 3, "type_code": "report", "from": "pending", "to": "success"},
    ]
    assert any_db.statuses() == {"ods": "success", "rds": "success", "report": "success"}
    assert any_db.history_messages() == [
        "ODS migration status reset from error to success by ceds.generate.data_migrations: AWX job 42",
        "RDS migration status reset from pending to success by ceds.generate.data_migrations: AWX job 42",
        "REPORT migration status reset from pending to success by ceds.generate.data_migrations: AWX job 42",
    ]
    # The facts describe the state the reset left.
    assert facts(result)["state"] == "ok"
    assert [step["status_code"] for step in facts(result)["steps"]] == ["success"] * 3
    assert any(query.startswith('UPDATE "%s"."DataMigrations"' % any_db.schema) for query in result["executed_queries"])


def test_second_reset_changes_nothing(any_db, run_module):
    any_db.seed(FAILED)
    assert run_module(any_db.module_args(state="reset")).result["changed"] is True
    after_first = any_db.snapshot()
    second = run_module(any_db.module_args(state="reset")).result
    assert second["changed"] is False
    assert any_db.snapshot() == after_first


def test_audit_false_writes_no_history(any_db, run_module):
    any_db.seed(FAILED)
    run_module(any_db.module_args(state="reset", audit=False))
    assert any_db.statuses()["ods"] == "success"
    assert any_db.history_messages() == []


def test_fresh_processing_defers_the_reset_by_age_without_hangfire(any_db, run_module):
    any_db.seed([("ods", "error", 9000), ("rds", "processing", 300), ("report", "pending", 300)])
    before = any_db.snapshot()
    run = run_module(any_db.module_args(state="reset", hangfire="ignore"))
    result = run.result
    assert result["changed"] is False
    assert result["deferred"] is True
    assert facts(result)["running_steps"] == ["rds"]
    assert facts(result)["decided_by"] == "age"
    assert any(w.startswith("reset deferred: rds is processing since ") for w in result["warnings"])
    assert "reset deferred: rds is processing since" in run.output
    assert any_db.snapshot() == before


def test_stuck_processing_is_reset(any_db, run_module):
    any_db.seed([("ods", "success", 50000), ("rds", "processing", 40000), ("report", "pending", 40000)])
    result = run_module(any_db.module_args(state="reset")).result
    assert result["changed"] is True
    assert [change["from"] for change in result["reset_steps"]] == ["processing", "pending"]
    assert any_db.statuses() == {"ods": "success", "rds": "success", "report": "success"}


def test_stuck_after_decides_what_is_stuck_without_hangfire(any_db, run_module):
    any_db.seed([("ods", "processing", 600)])
    assert facts(run_module(any_db.module_args(hangfire="ignore")).result)["state"] == "running"
    stuck = facts(run_module(any_db.module_args(hangfire="ignore", stuck_after=300)).result)
    assert stuck["steps"][0]["stuck"] is True and stuck["stuck_after"] == 300


def test_initial_rows_are_never_touched(any_db, run_module):
    any_db.seed([("ods", "error", 500), ("rds", "initial", None), ("report", "initial", None)])
    result = run_module(any_db.module_args(state="reset")).result
    assert [change["type_code"] for change in result["reset_steps"]] == ["ods"]
    assert any_db.statuses() == {"ods": "success", "rds": "initial", "report": "initial"}


@pytest.mark.every_release
def test_check_mode_writes_nothing_and_returns_the_same_plan(any_db, run_module):
    any_db.seed(FAILED)
    before = any_db.snapshot()
    checked = run_module(any_db.module_args(state="reset"), check=True).result
    assert any_db.snapshot() == before
    assert checked["changed"] is True
    assert checked["msg"].startswith("would reset 3 steps: ods error -> success")
    assert not any(q.startswith(("UPDATE", "INSERT")) for q in checked["executed_queries"])
    real = run_module(any_db.module_args(state="reset")).result
    assert real["reset_steps"] == checked["reset_steps"]


@pytest.mark.every_release
def test_diff_shows_every_step_before_and_after(any_db, run_module):
    any_db.seed([("ods", "success", 9000), ("rds", "error", 3000), ("report", "initial", None)])
    run = run_module(any_db.module_args(state="reset"), check=True, diff=True)
    assert run.result["diff"] == {
        "before": {"ods": "success", "rds": "error", "report": "initial"},
        "after": {"ods": "success", "rds": "success", "report": "initial"},
    }
    assert '-    "rds": "error"' in run.stdout and '+    "rds": "success"' in run.stdout


@pytest.mark.every_release
def test_unknown_status_id_is_warned_and_left_alone(any_db, run_module):
    any_db.seed([("ods", "error", 500), ("rds", 77, 500), ("report", "success", 500)])
    result = run_module(any_db.module_args(state="reset")).result
    assert [change["type_code"] for change in result["reset_steps"]] == ["ods"]
    assert any("rds has status id 77" in warning for warning in result["warnings"])
    assert any_db.statuses() == {"ods": "success", "rds": 77, "report": "success"}


def test_non_standard_status_ids_are_resolved_by_code(any_db, run_module):
    statuses = [(11, "initial", "Initial"), (12, "pending", "Pending"), (13, "processing", "Processing"),
                (14, "error", "Error"), (15, "success", "Success")]
    any_db.seed([("ods", "error", 500), ("rds", "pending", 500)], statuses=statuses)
    result = run_module(any_db.module_args(state="reset")).result
    assert result["changed"] is True
    assert [step["status_id"] for step in facts(result)["steps"]] == [15, 15]
    assert any_db.statuses() == {"ods": "success", "rds": "success"}


def test_install_without_configuration_table_still_reports(any_db, run_module):
    any_db.seed(HEALTHY_RECENT, version=None)
    any_db.execute("DROP TABLE %s" % any_db.table("GenerateConfigurations"))
    result = run_module(any_db.module_args()).result
    assert facts(result)["state"] == "ok"
    assert facts(result)["database_version"] is None


@pytest.mark.parametrize("table", ["DataMigrations", "DataMigrationStatuses"])
def test_missing_table_says_it_is_not_a_generate_database(any_db, run_module, table):
    any_db.execute("DROP TABLE %s" % any_db.table(table))
    run = run_module(any_db.module_args(state="reset"))
    assert run.failed, run.output
    assert run.result["msg"].startswith("%s.%s not found in database " % (any_db.schema, table))
    assert "is this a Generate database?" in run.result["msg"]
    assert "Traceback" not in run.output


def test_missing_reports_table_leaves_hangfire_read(any_db, run_module):
    # The evidence read fails on the missing GenerateReports, the probes find it alone missing (each after the
    # failed statement is rolled back), and only the locked reports are dropped: the words of the failed read's
    # message ("reading Hangfire's state") must not make Hangfire's State table read as missing.
    any_db.seed(FAILED, history=FAILED_HISTORY)
    any_db.execute("DROP TABLE %s" % any_db.table("GenerateReports"))
    result = run_module(any_db.module_args()).result
    reported = facts(result)
    assert reported["hangfire"]["reason"] is None, reported["hangfire"]
    assert reported["decided_by"] == "hangfire" and reported["hangfire"]["available"] is True
    assert not [text for text in result.get("warnings") or [] if "hangfire" in text.lower()], result["warnings"]
    # Only the locked reports are gone; the history lines of the same read are still reported.
    assert reported["locked_reports"] is None
    assert reported["failed_steps"] == ["ods", "rds", "report"]
    assert reported["last_errors"][0]["message"] == "ODS Migration Complete - either due to error or cancellation"


@pytest.mark.every_release
def test_wrong_password_fails_cleanly_without_echoing_it(pg_db, run_module):
    pg_db.seed(HEALTHY_RECENT)
    wrong = "Wr0ng;{pass}word"
    run = run_module(pg_db.module_args(password=wrong), verbosity=4)
    assert run.failed
    assert run.result["msg"].startswith("login to 127.0.0.1/%s failed for user 'generate_admin'" % pg_db.name)
    assert "check username and password" in run.result["msg"]
    assert wrong not in run.output and "Wr0ng" not in run.output
    assert "Traceback" not in run.output


def test_unknown_driver_is_named(pg_db, run_module):
    run = run_module(pg_db.module_args(driver="No Such ODBC Driver"))
    assert run.failed
    assert run.result["msg"].startswith("ODBC driver 'No Such ODBC Driver' is not installed")


def test_unreachable_server_fails_within_connect_timeout(pg_db, run_module):
    with silent_host() as port:
        run = run_module(pg_db.module_args(port=port, connect_timeout=3))
    assert run.failed
    assert "timed out after 3 s" in run.result["msg"] or "cannot connect" in run.result["msg"]
    # The task's own time, from its start to its result: the connection attempt must not add more than the
    # timeout to what the module costs (a module process takes a moment to start).
    for each in (run, run.module_process):
        assert each.record["duration"] < 3 + 10, each.record["duration"]


def test_closed_port_fails_fast_with_a_clear_message(pg_db, run_module):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = run_module(pg_db.module_args(port=port))
    assert run.failed
    assert run.result["msg"].startswith("cannot connect to 127.0.0.1/%s" % pg_db.name)
    assert "Check server, port and network" in run.result["msg"]
