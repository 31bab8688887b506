"""The playbooks through the real ansible-playbook, over fleets of PostgreSQL and SQLite environments and stand-in apps."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import uuid

import pytest
import yaml

from tests.support import ansible_run
from tests.support import generate_db
from tests.support.fleet import PLAYBOOKS, ROOT, Fleet
from tests.support.scenarios import FAILED, HEALTHY, RUNNING, STUCK

TROUBLESHOOTING_HISTORY = [("ods", 7000, "Error in App.Migrate_Data: deadlock victim")]
# A step whose Hangfire job runs holds a reset back (the tests seed the job).
RUNNING_BEHIND_ERROR = [("ods", "error", 9000), ("rds", "processing", 300), ("report", "pending", 300)]
ALL_SUCCESS = {"ods": "success", "rds": "success", "report": "success"}
# The only requests a probe may send: GETs of read-only pages.
READ_ONLY_PROBES = {
    ("web", "GET", "/api/app/about/getvers"),
    ("web", "GET", "/api/app/datamigrations/currentmigrationstatus"),
    ("background", "GET", "/"),
}


def recap(run):
    """``{host: {"ok": n, "changed": n, "failed": n, ...}}`` from the PLAY RECAP."""
    counts = {}
    for line in run.stdout.split("PLAY RECAP")[-1].splitlines():
        match = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
        if match:
            counts[match.group(1)] = dict((key, int(value)) for key, value in re.findall(r"(\w+)=(\d+)", match.group(2)))
    assert counts, "no PLAY RECAP in:\n%s" % run.output
    return counts


def summary(fleet, name="reset_migrations"):
    """The JSON summary a playbook wrote, and its Markdown text."""
    with open(os.path.join(fleet.reports_dir, name + ".json"), encoding="utf-8") as handle:
        document = json.load(handle)
    with open(os.path.join(fleet.reports_dir, name + ".md"), encoding="utf-8") as handle:
        return document, handle.read()


def rows(document):
    """The summary rows by environment name."""
    return dict((row["environment"], row) for row in document["environments"])


def sqlite(folder, name, steps, history=(), running=()):
    """A seeded SQLite Generate database in ``folder``; ``running``: types with a job Processing on a live server."""
    database = generate_db.sqlite_database(os.path.join(str(folder), name + ".db"))
    database.seed(steps, history=history)
    for type_code in running:
        database.beat("generate-background:seeded")
        database.add_job(type_code=type_code, state="Processing", age=300, server_id="generate-background:seeded")
    return database


@pytest.fixture(scope="module")
def pg_database(postgres):
    """A factory of seeded PostgreSQL Generate databases, dropped when the module's tests are done."""
    names = []

    def make(steps, history=()):
        name = "generate_%s" % uuid.uuid4().hex[:10]
        names.append(name)
        database = generate_db.postgres_database(postgres, name)
        database.seed(steps, history=history)
        return database
    yield make
    for name in names:
        postgres.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


@pytest.fixture
def fleet(tmp_path):
    """An empty fleet in a fresh folder; its stand-in apps are stopped afterwards."""
    with Fleet(str(tmp_path)) as new_fleet:
        yield new_fleet


class ResetScenario:
    """One fleet (dev, test, prod; PostgreSQL and SQLite) through a dry run, a reset and a second reset."""

    def __init__(self, fleet, pg_database):
        self.fleet = fleet
        folder = fleet.folder
        fleet.add("dev-pg", "dev", pg_database(FAILED, TROUBLESHOOTING_HISTORY))
        fleet.add("dev-healthy", "dev", sqlite(folder, "dev-healthy", HEALTHY))
        fleet.add("test-stuck", "test", sqlite(folder, "test-stuck", STUCK))
        fleet.add("prod-failed", "prod", sqlite(folder, "prod-failed", FAILED), background=False)
        # The encryption options reach the module through module_defaults; psqlODBC ignores them.
        fleet["dev-pg"].variables.update(generate_db_encrypt=False, generate_db_trust_server_certificate=True)
        self.before = self.snapshots()
        self.check = fleet.run("reset_migrations.yml", "--check", "--diff")
        self.after_check = self.snapshots()
        self.reports_after_check = os.path.exists(fleet.reports_dir)
        self.reset = fleet.run("reset_migrations.yml", "--diff", "-e", "generate_serial=1",
                               "-e", "generate_audit_note=CHG-1234 awx_job_id=42")
        self.after_reset = self.snapshots()
        # A run with awx_job_id names the job in its summary's file name, as the slices of a sliced AWX job need.
        self.reset_summary = summary(fleet, "reset_migrations-job42")
        self.second = fleet.run("reset_migrations.yml")
        self.after_second = self.snapshots()

    def snapshots(self):
        """Every environment's rows, read over a separate connection."""
        return dict((env.name, env.database.snapshot()) for env in self.fleet.environments)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, pg_database):
    """The reset scenario, run once for the tests that read it."""
    with Fleet(str(tmp_path_factory.mktemp("reset"))) as reset_fleet:
        yield ResetScenario(reset_fleet, pg_database)


@pytest.mark.every_release
def test_check_mode_writes_nothing_anywhere(scenario):
    assert scenario.check.rc == 0, scenario.check.output
    assert scenario.after_check == scenario.before
    assert scenario.reports_after_check is False
    assert '-    "ods": "error"' in scenario.check.stdout and '+    "ods": "success"' in scenario.check.stdout


@pytest.mark.every_release
def test_check_mode_shows_what_the_reset_would_do(scenario):
    counts = recap(scenario.check)
    assert counts["dev-pg"]["changed"] == 1 and counts["test-stuck"]["changed"] == 1
    assert counts["dev-healthy"]["changed"] == 0
    assert ("| dev-pg | ok | failed (ods, rds stuck, report stuck) | ods (error), rds (pending), report (pending) | - |"
            in scenario.check.stdout)
    assert "(check mode: nothing was written)" in scenario.check.stdout


@pytest.mark.every_release
def test_reset_sets_failed_and_stuck_steps_to_success_in_every_tier(scenario):
    assert scenario.reset.rc == 0, scenario.reset.output
    for env in scenario.fleet.environments:
        assert env.database.statuses() == ALL_SUCCESS, env.name
    assert scenario.after_reset["dev-healthy"] == scenario.before["dev-healthy"]


@pytest.mark.every_release
def test_reset_writes_one_audit_line_per_reset_step(scenario):
    note = "by ceds.generate.data_migrations: reset_migrations.yml, AWX job 42, CHG-1234"
    assert scenario.fleet["dev-pg"].database.history_messages()[-3:] == [
        "ODS migration status reset from error to success %s" % note,
        "RDS migration status reset from pending to success %s" % note,
        "REPORT migration status reset from pending to success %s" % note,
    ]
    assert scenario.fleet["test-stuck"].database.history_messages() == [
        "REPORT migration status reset from processing to success %s" % note]


@pytest.mark.every_release
def test_reset_rolls_out_dev_then_test_then_prod_one_environment_at_a_time(scenario):
    hosts = [record["host"] for record in scenario.reset.records if record["action"].endswith("environment_check")]
    order = [host for number, host in enumerate(hosts) if number == 0 or hosts[number - 1] != host]
    assert order == ["dev-pg", "dev-healthy", "test-stuck", "prod-failed"]


@pytest.mark.every_release
def test_reset_summary_is_written_as_json_and_markdown(scenario):
    document, markdown = scenario.reset_summary
    assert document["playbook"] == "reset_migrations" and document["check_mode"] is False
    assert document["failed_environments"] == []
    found = rows(document)
    assert set(found) == {"dev-pg", "dev-healthy", "test-stuck", "prod-failed"}
    assert found["dev-pg"]["before"] == "failed" and found["dev-pg"]["after"] == "ok"
    # No Hangfire job waits for rds or report: they are stuck, whatever their age.
    assert found["dev-pg"]["failed_steps_before"] == ["ods", "rds", "report"]
    assert found["dev-pg"]["evidence"] == {"decided_by": "hangfire", "live_servers": 1, "running_jobs": [],
                                           "queued_jobs": [], "orphaned_jobs": [], "hung_steps": []}
    assert found["prod-failed"]["evidence"]["live_servers"] == 0
    assert [step["type_code"] for step in found["dev-pg"]["steps_reset"]] == ["ods", "rds", "report"]
    assert found["dev-pg"]["migration_errors"][0]["message"] == "Error in App.Migrate_Data: deadlock victim"
    assert found["test-stuck"]["stuck_steps_before"] == ["report"]
    assert found["dev-healthy"]["steps_reset"] == [] and found["dev-healthy"]["before"] == "ok"
    assert found["prod-failed"]["web_ok"] is True and found["prod-failed"]["background_ok"] is None
    assert all(row["outcome"] == "ok" and row["error"] is None for row in document["environments"])
    assert ("| test-stuck | ok | failed (report stuck) | report (processing) | ok | yes | yes "
            "| hangfire: 1 live server, 0 running, 0 queued, 0 orphaned | - |  |"
            in markdown)
    assert ("| prod-failed | ok | failed (ods, rds stuck, report stuck) | ods (error), rds (pending), report (pending) "
            "| ok | yes | - | hangfire: 0 live servers, 0 running, 0 queued, 0 orphaned | - |  |" in markdown)
    assert "4 environments, 0 not ok." in markdown
    assert "- dev-pg ods " in markdown and "Error in App.Migrate_Data: deadlock victim" in markdown


@pytest.mark.every_release
def test_reset_publishes_the_summary_as_a_stat(scenario):
    published = [record["result"] for record in scenario.reset.records
                 if record["action"] == "ceds.generate.run_summary"]
    assert published, scenario.reset.output
    stats = published[0]["ansible_stats"]
    assert stats["per_host"] is False
    assert [row["environment"] for row in stats["data"]["generate_summary"]["environments"]] == [
        "dev-pg", "dev-healthy", "test-stuck", "prod-failed"]


@pytest.mark.every_release
def test_second_run_changes_nothing(scenario):
    assert scenario.second.rc == 0, scenario.second.output
    assert all(counts["changed"] == 0 for counts in recap(scenario.second).values()), scenario.second.stdout
    assert scenario.after_second == scenario.after_reset


@pytest.mark.every_release
def test_web_app_sees_success_after_the_reset(scenario):
    for env in scenario.fleet.environments:
        assert env.standin.reader.current_migration_status()["reportMigrationStatusCode"] == "success"


def test_probes_never_call_urls_that_start_or_cancel_migrations(scenario):
    for env in scenario.fleet.environments:
        assert set(env.standin.requests) <= READ_ONLY_PROBES, env.name


class TroubledScenario:
    """A fleet where most environments fail in a different way, run once through the reset playbook."""

    WRONG_PASSWORD = "Wr0ng;{pass}word"

    def __init__(self, fleet, pg_database):
        self.fleet = fleet
        folder = fleet.folder
        fleet.add("web-error", "dev", sqlite(folder, "web-error", FAILED)).standin.set_web("error")
        fleet.add("web-down", "dev", sqlite(folder, "web-down", FAILED)).standin.set_web("down")
        fleet.add("background-down", "test", sqlite(folder, "background-down", FAILED)
                  ).standin.set_background("down")
        shared = pg_database(FAILED)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        fleet.add("db-unreachable", "test", shared).variables["generate_db_port"] = closed_port
        fleet.add("db-wrong-password", "test", shared).variables["generate_db_password"] = self.WRONG_PASSWORD
        fleet.add("deferred", "prod", sqlite(folder, "deferred", RUNNING_BEHIND_ERROR, running=["rds"]))
        fleet.add("web-stale", "prod", sqlite(folder, "web-stale", FAILED)).standin.set_web("stale")
        fleet.add("recovers", "prod", sqlite(folder, "recovers", FAILED))
        self.before = dict((env.name, env.database.snapshot()) for env in fleet.environments)
        self.run = fleet.run("reset_migrations.yml", "-vvv")
        self.document, self.markdown = summary(fleet)
        self.rows = rows(self.document)

    def unchanged(self, name):
        """Whether the environment's rows are as they were before the run."""
        return self.fleet[name].database.snapshot() == self.before[name]


@pytest.fixture(scope="module")
def troubled(tmp_path_factory, pg_database):
    """The troubled scenario, run once for the tests that read it."""
    with Fleet(str(tmp_path_factory.mktemp("troubled"))) as troubled_fleet:
        yield TroubledScenario(troubled_fleet, pg_database)


@pytest.mark.every_release
def test_failed_environments_do_not_stop_the_others(troubled):
    assert troubled.fleet["recovers"].database.statuses() == ALL_SUCCESS
    assert troubled.rows["recovers"]["outcome"] == "ok"


@pytest.mark.every_release
def test_run_exits_non_zero_and_fails_only_the_failed_environments(troubled):
    assert troubled.run.rc == 2, troubled.run.output
    failed = dict((host, counts["failed"]) for host, counts in recap(troubled.run).items())
    assert failed == {"web-error": 1, "web-down": 1, "background-down": 1, "db-unreachable": 1,
                      "db-wrong-password": 1, "deferred": 1, "web-stale": 1, "recovers": 0}


@pytest.mark.every_release
def test_summary_names_each_failed_environment_and_why(troubled):
    assert troubled.document["failed_environments"] == [
        "web-error", "web-down", "background-down", "db-unreachable", "db-wrong-password", "deferred", "web-stale"]
    reasons = dict((name, row["error"]) for name, row in troubled.rows.items())
    probes = "Web and background apps: answer the read-only probes: "
    web_error, web_down, background_down = (troubled.fleet[name].standin for name in (
        "web-error", "web-down", "background-down"))
    # A failed app check holds the reset back, and hides neither the database nor the report pages.
    held_back = ("; Database: reset held back by the failed web and background apps check: failed steps: ods, rds, "
                 "report; Report pages: open after the run: the report pages are blocked: The migration must be run "
                 "prior to viewing reports.")
    assert reasons["web-error"] == probes + "web app %s: HTTP 500 from /api/app/about/getvers: stand-in web app " \
        "told to fail" % web_error.web_url + held_back
    assert reasons["web-down"] == probes + "web app %s: cannot connect for /api/app/about/getvers: " \
        "Connection refused" % web_down.web_url + held_back
    assert reasons["background-down"] == probes + "background app %s: cannot connect for /: Connection refused" % (
        background_down.background_url) + held_back
    assert reasons["db-unreachable"].startswith("Database: reset failed steps: cannot connect to 127.0.0.1/")
    assert reasons["db-wrong-password"].startswith("Database: reset failed steps: login to 127.0.0.1/")
    assert reasons["deferred"].startswith("Database: leave no failed or stuck step behind: reset deferred: job 1 "
                                          "ExecuteSqlBasedMigration (rds) is running (Processing) since ")
    assert reasons["web-stale"] == (
        "Web app: agree with the database, and show success after a reset: the report pages see the report step "
        "as pending but the database says success; after a reset both must say success")
    assert all("\n" not in reason for reason in reasons.values() if reason)
    assert ("8 environments, 7 not ok: web-error (failed), web-down (failed), background-down (failed), "
            "db-unreachable (failed before the read)" in troubled.markdown)
    for name in troubled.document["failed_environments"]:
        assert "fatal: [%s -> localhost]: FAILED!" % name in troubled.run.stdout


@pytest.mark.every_release
def test_summary_says_which_app_failed(troubled):
    # A failed web app does not hide the background app: it is probed on its own.
    assert (troubled.rows["web-error"]["web_ok"], troubled.rows["web-error"]["background_ok"]) == (False, True)
    assert (troubled.rows["background-down"]["web_ok"], troubled.rows["background-down"]["background_ok"]) == (
        True, False)
    assert (troubled.rows["db-unreachable"]["web_ok"], troubled.rows["db-unreachable"]["before"]) == (True, None)
    assert troubled.rows["web-stale"]["web_ok"] is False and troubled.rows["web-stale"]["after"] == "ok"


@pytest.mark.every_release
def test_environment_with_an_unhealthy_app_is_not_reset(troubled):
    for name in ("web-error", "web-down", "background-down", "deferred", "db-unreachable"):
        assert troubled.unchanged(name), name


@pytest.mark.every_release
def test_password_never_appears_in_output_or_reports(troubled):
    for secret in (troubled.WRONG_PASSWORD, "Wr0ng", troubled.fleet["db-unreachable"].database.options["password"]):
        assert secret not in troubled.run.output
        assert secret not in json.dumps(troubled.document) and secret not in troubled.markdown


def test_stop_before_prod_holds_prod_back_after_an_earlier_failure(fleet):
    fleet.add("dev-down", "dev", sqlite(fleet.folder, "dev-down", FAILED)).standin.set_web("down")
    prod = fleet.add("prod-failed", "prod", sqlite(fleet.folder, "prod-failed", FAILED))
    before = prod.database.snapshot()
    run = fleet.run("reset_migrations.yml", "-e", "generate_stop_before_prod=true")
    assert run.rc == 2, run.output[-4000:]
    assert prod.database.snapshot() == before
    assert prod.standin.requests == []
    found = rows(summary(fleet)[0])
    assert found["prod-failed"]["error"] == (
        "Rollout: stop before prod when an earlier environment failed: not run, since dev-down failed and "
        "generate_stop_before_prod is set")


def test_limit_resets_and_reports_only_the_limited_environments(fleet):
    dev = fleet.add("dev-failed", "dev", sqlite(fleet.folder, "dev-failed", FAILED))
    test = fleet.add("test-failed", "test", sqlite(fleet.folder, "test-failed", FAILED))
    before = test.database.snapshot()
    run = fleet.run("reset_migrations.yml", "--limit", "dev")
    assert run.rc == 0, run.output
    assert dev.database.statuses() == ALL_SUCCESS
    assert test.database.snapshot() == before
    assert [row["environment"] for row in summary(fleet)[0]["environments"]] == ["dev-failed"]


def test_status_exits_zero_when_every_environment_is_ok_or_running(fleet, pg_database):
    fleet.add("healthy", "dev", pg_database(HEALTHY))
    fleet.add("running", "prod", sqlite(fleet.folder, "running", RUNNING, running=["rds"]))
    run = fleet.run("migration_status.yml")
    assert run.rc == 0, run.output
    document, markdown = summary(fleet, "migration_status")
    assert [row["before"] for row in document["environments"]] == ["ok", "running"]
    assert ("| running | ok | running | - | - | yes | yes | hangfire: 2 live servers, 1 running, 0 queued, 0 orphaned "
            "| - |  |" in markdown)


@pytest.mark.every_release
def test_status_exits_non_zero_for_failed_or_stuck_environments_and_writes_nothing(fleet):
    for name, steps in (("healthy", HEALTHY), ("failed", FAILED), ("stuck", STUCK)):
        fleet.add(name, "test", sqlite(fleet.folder, name, steps, TROUBLESHOOTING_HISTORY if name == "failed" else ()))
    before = dict((env.name, env.database.snapshot()) for env in fleet.environments)
    run = fleet.run("migration_status.yml")
    assert run.rc == 2, run.output
    assert dict((env.name, env.database.snapshot()) for env in fleet.environments) == before
    document, _markdown = summary(fleet, "migration_status")
    assert document["failed_environments"] == ["failed", "stuck"]
    reasons = dict((row["environment"], row["error"]) for row in document["environments"])
    blocked = "; Report pages: open after the run: the report pages are blocked: "
    assert reasons["failed"] == ("Database: leave no failed or stuck step behind: failed steps: ods, rds, report; "
                                 "last error: Error in App.Migrate_Data: deadlock victim" + blocked
                                 + "The migration must be run prior to viewing reports.")
    assert reasons["stuck"] == ("Database: leave no failed or stuck step behind: failed steps: report" + blocked
                                + "A migration is in progress. Allow the current migration to finish before viewing "
                                "reports.")
    assert all(not record["action"].endswith("data_migrations") or record["result"]["changed"] is False
               for record in run.records)


def test_example_inventory_uses_the_documented_variables():
    inventory = os.path.join(ROOT, "inventories", "example")
    listed = subprocess.run([os.path.join(ansible_run.BIN, "ansible-inventory"), "-i", inventory, "--list"],
                            env=ansible_run.ansible_env(), capture_output=True, text=True, check=True)
    data = json.loads(listed.stdout)
    assert data["generate"]["children"] == ["dev", "test", "prod"]
    documented = {"generate_db_server", "generate_db_port", "generate_db_database", "generate_db_username",
                  "generate_db_password", "generate_db_driver", "generate_db_encrypt",
                  "generate_db_trust_server_certificate", "generate_db_connect_params", "generate_db_connection_string",
                  "generate_db_schema",
                  "generate_web_url", "generate_background_url", "generate_stuck_after", "generate_reports_dir",
                  "generate_serial", "generate_stop_before_prod", "generate_audit_note"}
    for host, variables in data["_meta"]["hostvars"].items():
        named = set(name for name in variables if name.startswith("generate_"))
        assert named <= documented, (host, named - documented)
        assert {"generate_db_server", "generate_web_url"} <= named, host


@pytest.mark.every_release
@pytest.mark.parametrize("playbook", ["reset_migrations.yml", "migration_status.yml"])
def test_playbook_passes_syntax_check(playbook):
    command = [os.path.join(ansible_run.BIN, "ansible-playbook"), "--syntax-check",
               "-i", os.path.join(ROOT, "inventories", "example"), os.path.join(PLAYBOOKS, playbook)]
    checked = subprocess.run(command, env=ansible_run.ansible_env(), capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.slow
def test_demo_runs_the_dry_run_and_the_reset_and_removes_what_it_made(tmp_path):
    env = ansible_run.ansible_env(workdir=str(tmp_path))
    env["TMPDIR"] = str(tmp_path)
    demo = subprocess.run([os.path.join(ansible_run.BIN, "python"), os.path.join(ROOT, "demo", "run.py")], env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False, timeout=600)
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr
    assert "reset_migrations.yml -i <demo>/inventory.yml --check --diff" in demo.stdout
    assert ("| demo-failed | ok | failed (ods, rds stuck, report stuck) | ods (error), rds (pending), report (pending) "
            "| ok | yes | yes | hangfire: 1 live server, 0 running, 0 queued, 0 orphaned | - |  |" in demo.stdout)
    assert ("| demo-stuck | ok | failed (report stuck) | report (processing) | ok | yes | - "
            "| hangfire: 0 live servers, 0 running, 0 queued, 1 orphaned | - |  |" in demo.stdout)
    assert "- demo-stuck: job 1" in demo.stdout
    # demo-failed's recovery: what Generate 13.3's Migrate button does, one report run, waited for and verified.
    assert "| demo-failed | report | success | " in demo.stdout
    assert "demo-failed: report: 0:00:0" in demo.stdout
    assert "  demo-failed   1 /api/DataMigration/MigrateData/report" in demo.stdout
    assert "demo-stuck    {'ods': 'success', 'rds': 'success', 'report': 'success'}" in demo.stdout
    assert [name for name in os.listdir(str(tmp_path)) if name.startswith("ceds-demo-")] == []
    # docs/getting-started.md quotes the demo's output: every quoted line is one the demo prints (digits aside).
    with open(os.path.join(ROOT, "docs", "getting-started.md"), encoding="utf-8") as handle:
        quoted = [line for block in handle.read().split("```")[1::2] for line in block.splitlines()
                  if line.startswith(("| demo-", "demo-", "  demo-", "Demo environments"))]
    assert len(quoted) >= 8
    printed = set(re.sub(r"\d", "0", line.strip()) for line in demo.stdout.splitlines())
    printed |= set(re.sub(r"\d", "0", line.strip().strip('",')) for line in demo.stdout.splitlines())
    for line in quoted:
        assert re.sub(r"\d", "0", line.strip()) in printed, line


def test_report_pages_still_blocked_after_the_run_fail_the_environment_with_their_reason(fleet):
    database = sqlite(fleet.folder, "metadata-failed", FAILED)
    database.execute("UPDATE %s SET \"GenerateConfigurationValue\" = 'FAILED' WHERE \"GenerateConfigurationKey\" = "
                     "'metaStatus'" % database.table("GenerateConfigurations"))
    fleet.add("metadata-failed", "test", database)
    run = fleet.run("reset_migrations.yml")
    assert run.rc == 2, run.output
    # The steps are reset; the metadata block is reported, never "fixed".
    assert database.statuses() == ALL_SUCCESS
    found = rows(summary(fleet)[0])["metadata-failed"]
    assert found["error"] == ("Report pages: open after the run: the report pages are blocked: Metadata process "
                              "failed. Please successfully migrate the metadata before viewing reports.")
    assert found["reports_blocked_reason"].startswith("Metadata process failed.")


@pytest.mark.every_release
def test_local_hosts_need_no_interpreter_even_with_a_broken_python3_first_in_path(fleet, tmp_path):
    broken = tmp_path / "broken-bin"
    broken.mkdir()
    (broken / "python3").write_text("#!/bin/sh\necho 'not a usable python' >&2\nexit 1\n")
    (broken / "python3").chmod(0o755)
    fleet.interpreter = False
    del fleet.group_variables["generate_reports_dir"]
    fleet.add("dev-healthy", "dev", sqlite(fleet.folder, "dev-healthy", HEALTHY))
    fleet.add("test-failed", "test", sqlite(fleet.folder, "test-failed", FAILED))
    fleet.add("prod-healthy", "prod", sqlite(fleet.folder, "prod-healthy", HEALTHY))
    run = fleet.run("reset_migrations.yml", env={"PATH": os.pathsep.join(
        [str(broken), ansible_run.BIN, os.environ.get("PATH", "")])})
    assert run.rc == 0, run.output[-3000:]
    assert "interpreter" not in run.output.lower(), [line for line in run.output.splitlines() if "nterpreter" in line]
    # No play of a normal run is empty.
    assert "no hosts matched" not in run.output
    # The reports go to reports/ of the folder ansible-playbook ran in, never into the collection.
    assert os.path.exists(os.path.join(fleet.folder, "reports", "reset_migrations.json"))
    assert not os.path.exists(os.path.join(PLAYBOOKS, "reports"))


def test_a_host_connection_string_works_beside_group_connection_variables(fleet):
    fleet.group_variables.update(generate_db_port=1433, generate_db_database="generate", generate_db_encrypt=True,
                                 generate_db_driver="ODBC Driver 18 for SQL Server")
    environment = fleet.add("sandbox", "dev", sqlite(fleet.folder, "sandbox", HEALTHY))
    assert "generate_db_connection_string" in environment.inventory_variables()
    run = fleet.run("migration_status.yml")
    assert run.rc == 0, run.output[-3000:]


@pytest.mark.every_release
def test_the_variable_names_of_1_0_0_still_work_and_the_run_names_them_deprecated(fleet, pg_database):
    renamed = fleet.add("renamed", "dev", pg_database(HEALTHY))
    database = renamed.inventory_variables()["generate_db_database"]
    renamed.variables.update(generate_db_database=None, generate_db_name=database, generate_server_timeout=600)
    fleet.add("current", "dev", pg_database(HEALTHY)).variables.update(generate_hangfire_server_timeout=600)
    run = fleet.run("migration_status.yml")
    assert run.rc == 0, run.output[-3000:]
    assert [row["before"] for row in summary(fleet, "migration_status")[0]["environments"]] == ["ok", "ok"]
    assert ("DEPRECATED (removed in ceds.generate 2.0.0): generate_db_name is set for renamed: set "
            "generate_db_database instead; generate_server_timeout is set for renamed: set "
            "generate_hangfire_server_timeout instead") in run.output


@pytest.mark.every_release
def test_slices_of_a_sliced_job_keep_a_summary_each_and_merge_summaries_makes_one(fleet):
    for name, steps in (("env1", HEALTHY), ("env2", FAILED), ("env3", HEALTHY), ("env4", HEALTHY)):
        fleet.add(name, "dev", sqlite(fleet.folder, name, steps))
    # AWX's slicing: every second host from the first, and from the second; each slice is a job of its own.
    for job_id, names in ((1001, ["env1", "env3"]), (1002, ["env2", "env4"])):
        inventory = fleet.write_inventory([fleet[name] for name in names],
                                          os.path.join(fleet.folder, "slice-%d.yml" % job_id))
        ansible_run.run_playbook(os.path.join(PLAYBOOKS, "migration_status.yml"), inventory,
                                 ["-e", "awx_job_id=%d" % job_id], workdir=fleet.folder)
    written = sorted(os.listdir(fleet.reports_dir))
    assert written == ["migration_status-job1001.json", "migration_status-job1001.md",
                       "migration_status-job1002.json", "migration_status-job1002.md"]
    merged = ansible_run.run_playbook(os.path.join(PLAYBOOKS, "merge_summaries.yml"), "localhost,",
                                      ["-e", "generate_reports_dir=%s" % fleet.reports_dir], workdir=fleet.folder)
    assert merged.rc == 2, merged.output[-3000:]
    assert "1 environment(s) not ok: env2" in merged.output
    with open(os.path.join(fleet.reports_dir, "migration_status.json"), encoding="utf-8") as handle:
        document = json.load(handle)
    assert [(row["environment"], row["outcome"]) for row in document["environments"]] == [
        ("env1", "ok"), ("env2", "failed"), ("env3", "ok"), ("env4", "ok")]
    assert document["failed_environments"] == ["env2"] and document["complete"] is True
    assert document["merged_from"] == ["migration_status-job1001.json", "migration_status-job1002.json"]
    with open(os.path.join(fleet.reports_dir, "migration_status.md"), encoding="utf-8") as handle:
        assert "4 environments, 1 not ok: env2 (failed)." in handle.read()


def test_an_empty_connection_variable_fails_the_environment_early_naming_it(fleet):
    environment = fleet.add("empty-password", "dev", sqlite(fleet.folder, "empty-password", FAILED))
    environment.variables["generate_db_password"] = "{{ lookup('ansible.builtin.env', 'NO_SUCH_PASSWORD_VARIABLE') }}"
    before = environment.database.snapshot()
    run = fleet.run("reset_migrations.yml")
    assert run.rc == 2
    assert environment.database.snapshot() == before
    found = rows(summary(fleet)[0])["empty-password"]
    assert found["error"].startswith("Inventory: no connection variable left empty: generate_db_password is empty "
                                     "for this environment: set it")


def test_example_inventory_sets_no_connection_variable_an_awx_credential_injects_at_group_level():
    listed = subprocess.run([os.path.join(ansible_run.BIN, "ansible-inventory"), "-i",
                             os.path.join(ROOT, "inventories", "example"), "--list"], env=ansible_run.ansible_env(),
                            capture_output=True, text=True, check=True)
    inventory = json.loads(listed.stdout)
    for host, variables in inventory["_meta"]["hostvars"].items():
        # Group-level values reach every host: none of the credential's settings may come from there.
        group_level = set(variables) - set(
            yaml.safe_load(open(os.path.join(ROOT, "inventories", "example", "host_vars", host + ".yml"),
                                encoding="utf-8")) or {})
        assert not [name for name in group_level if name.startswith("generate_db_")], (host, group_level)
        assert "ansible_python_interpreter" not in variables
        assert "generate_stop_before_prod" not in variables
