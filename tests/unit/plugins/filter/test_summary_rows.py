"""The summary's rows, built from what each environment's check (ceds.generate.environment_check) registered."""

from __future__ import annotations

from ansible_collections.ceds.generate.plugins.filter.summary_rows import (
    FilterModule,
    check_failures,
    reports_folder,
    summary_rows,
)

PROBED = {"changed": False, "web": {"ok": True, "url": "http://web"}, "background": {"ok": True, "url": "http://bg"}}
FACTS_AFTER = {"generate_migrations": {
    "state": "ok", "database_version": "13.1", "decided_by": "hangfire", "orphaned_jobs": [7], "hung_steps": [],
    "reports_blocked_reason": None,
    "hangfire": {"servers": [{"id": "a", "alive": True}, {"id": "b", "alive": False}],
                 "jobs": [{"id": 7, "status": "orphaned"}]},
    "last_errors": [{"type_code": "ods", "date": "2026-11-26T10:00:00Z", "message": "deadlock victim"}]}}
RESET = {"changed": True, "before": {"state": "failed", "failed_steps": ["ods", "report"], "stuck_steps": ["report"]},
         "reset_steps": [{"type_code": "ods", "from": "error"}], "ansible_facts": FACTS_AFTER}


def host(name, environment_failure=None, **checks):
    """An environment's host variables: what its check registered, each check's result by its name."""
    variables = dict(inventory_hostname=name, generate_db_password="not in any row")
    if checks:
        variables["environment_check"] = dict(checks, held_back=checks.get("held_back", False))
    if environment_failure is not None:
        variables["environment_failure"] = environment_failure
    return variables


def test_a_reset_environment_reports_before_steps_reset_after_and_the_apps():
    [row] = summary_rows([host("dev", app_probes=PROBED, migration=RESET)], reset=True)
    assert row == {
        "environment": "dev", "outcome": "ok", "before": "failed", "failed_steps_before": ["ods", "report"],
        "stuck_steps_before": ["report"], "steps_reset": [{"type_code": "ods", "from": "error"}], "after": "ok",
        "web_ok": True, "background_ok": True, "database_version": "13.1",
        "migration_errors": FACTS_AFTER["generate_migrations"]["last_errors"], "error": None,
        "evidence": {"decided_by": "hangfire", "live_servers": 1, "running_jobs": [], "queued_jobs": [],
                     "orphaned_jobs": [7], "hung_steps": []},
        "reports_blocked_reason": None, "reruns": [],
    }


def test_there_is_no_state_after_in_check_mode_or_without_a_reset():
    hosts = [host("dev", migration=RESET)]
    assert summary_rows(hosts, check_mode=True, reset=True)[0]["after"] is None
    assert summary_rows(hosts, reset=False)[0]["after"] is None


def test_a_failed_environment_carries_its_error_on_one_line_and_apps_not_reached_are_unknown():
    failure = "Database: reset failed steps: cannot connect to sql01/generate:\n  connection refused"
    skipped = {"changed": False, "skipped": True}
    [row] = summary_rows([host("test", environment_failure=failure, app_probes=skipped,
                               migration={"failed": True, "msg": "cannot connect"})], reset=True)
    assert row["outcome"] == "failed before the read"
    assert row["error"] == "Database: reset failed steps: cannot connect to sql01/generate: connection refused"
    assert (row["web_ok"], row["background_ok"], row["before"], row["database_version"]) == (None, None, None, None)
    assert (row["failed_steps_before"], row["steps_reset"], row["migration_errors"]) == ([], [], [])


def test_a_web_app_that_disagrees_with_the_database_is_not_ok():
    failure = "Web app: agree with the database, and show success after a reset: the report pages see pending"
    web_status = {"failed": True, "msg": "the report pages see pending"}
    [row] = summary_rows([host("prod", app_probes=PROBED, migration=RESET, web_status=web_status,
                               environment_failure=failure)])
    assert (row["outcome"], row["web_ok"], row["background_ok"]) == ("failed", False, True)


def test_every_environment_has_a_row_and_one_whose_database_was_not_read_is_never_ok():
    rows = summary_rows([host("b", migration=RESET), host("never-ran"), host("probed-only", app_probes=PROBED),
                         host("in-batch")], in_progress=["in-batch"])
    assert [(row["environment"], row["outcome"]) for row in rows] == [
        ("b", "ok"), ("never-ran", "not reached"), ("probed-only", "not reached"), ("in-batch", "not finished")]
    assert rows[1]["error"].startswith("the run ended before it reached this environment")
    assert rows[2]["before"] is None and rows[2]["web_ok"] is True


class CountedList(list):
    """A list that counts the elements its users look at: by iterating it, or by asking whether it holds one."""

    looked_at = 0

    def __iter__(self):
        for item in super().__iter__():
            self.looked_at += 1
            yield item

    def __contains__(self, item):
        return any(each == item for each in self)


def test_the_environments_in_progress_are_looked_through_once_not_once_per_row():
    # At the start of a batch no environment has been read, and every row asks whether its environment is in the
    # batch: looking through the batch for each row costs a fleet of N environments N * N steps.
    names = ["env%04d" % number for number in range(1, 201)]
    in_progress = CountedList(names[:100])
    rows = summary_rows([host(name) for name in names], in_progress=in_progress)
    assert [row["outcome"] for row in rows] == ["not finished"] * 100 + ["not reached"] * 100
    assert in_progress.looked_at <= len(in_progress)


def test_outcomes_of_a_held_back_and_an_unreachable_environment():
    unreachable = {"unreachable": True, "changed": False, "msg": "Task failed: Failed to connect to the host via ssh"}
    held = host("prod", environment_failure="Rollout: stop before prod ...",
                held_back=True)
    rows = summary_rows([held, host("far", migration=unreachable, environment_failure="Database: ...")])
    assert [row["outcome"] for row in rows] == ["stopped before prod", "unreachable"]


def test_check_failures_names_every_failed_check_and_what_to_set_for_an_unreachable_environment():
    failed_facts = {"state": "failed", "last_errors": [], "reports_blocked": True,
                    "reports_blocked_reason": "The migration must be run prior to viewing reports."}
    probes = {"failed": True, "msg": "web app http://web: cannot connect"}
    assert check_failures({"app_probes": probes, "migration": {"changed": False, "msg": "failed steps: ods"},
                           "generate_migrations": failed_facts}, reset=True) == [
        "Web and background apps: answer the read-only probes: web app http://web: cannot connect",
        "Database: reset held back by the failed web and background apps check: failed steps: ods",
        "Report pages: open after the run: the report pages are blocked: The migration must be run prior to viewing "
        "reports."]
    unreachable = {"unreachable": True, "msg": "Task failed: Failed to connect to the host via ssh: refused"}
    found = check_failures({"migration": unreachable, "connection": "ssh", "connection_setting": "ansible_connection"})
    assert found == [
        "Database: read the migration status: unreachable over ssh: Failed to connect to the host via ssh: refused; "
        "the inventory sets ansible_connection: ssh for this environment: set it to local, or remove it, to check "
        "it from the controller"]


def test_the_filter_is_published_under_its_name():
    assert FilterModule().filters()["summary_rows"] is summary_rows


def test_reports_go_to_the_folder_given_else_awx_artifacts_else_the_working_directory(tmp_path, monkeypatch):
    assert reports_folder("/srv/reports", {}) == "/srv/reports"
    awx = {"AWX_PRIVATE_DATA_DIR": "/runner", "JOB_ID": "42"}
    assert reports_folder(None, awx) == "/runner/artifacts/42/reports"
    monkeypatch.chdir(tmp_path)
    assert reports_folder(None, {}) == str(tmp_path / "reports")
