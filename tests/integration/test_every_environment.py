"""Every environment of a run is accounted for in its summary, and no environment is `ok` unless it was checked.

Each scenario runs the real ansible-playbook over a fleet of stand-in Generate
environments, with inventories as a user writes them (no `ansible_connection`
for the group), and reads what the run left: its exit status, the JSON and
Markdown summaries, the `set_stats` data and the databases.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import pytest
import yaml

from tests.support import ansible_run
from tests.support.fleet import PLAYBOOKS, Fleet
from tests.support.scenarios import FAILED, HEALTHY
from tests.support.silent_host import silent_host
from test_playbooks import recap, rows, sqlite, summary

NOT_OK = ("failed", "failed before the read", "unreachable", "stopped before prod", "not finished", "not reached")


def closed_port():
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def users_inventory(fleet):
    """The fleet's inventory as a user following docs/getting-started.md writes it: no connection, no interpreter."""
    fleet.interpreter = False
    path = fleet.write_inventory()
    with open(path, encoding="utf-8") as handle:
        inventory = yaml.safe_load(handle)
    del inventory["generate"]["vars"]["ansible_connection"]
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(inventory, handle, sort_keys=False)
    return path


def run(fleet, playbook, *args, **kwargs):
    """ansible-playbook over the user's inventory of the fleet."""
    return ansible_run.run_playbook(os.path.join(PLAYBOOKS, playbook), users_inventory(fleet), args,
                                    workdir=fleet.folder, **kwargs)


def published(run_result):
    """The summary the run published as the stat generate_summary (the last one)."""
    stats = [record["result"]["ansible_stats"] for record in run_result.records
             if record["action"] == "ceds.generate.run_summary"]
    assert stats, run_result.output[-3000:]
    return stats[-1]["data"]["generate_summary"]


class MixedFleet:
    """One reset run, one environment at a time and stopping before prod, over environments that end each way."""

    def __init__(self, fleet):
        self.fleet = fleet
        folder = fleet.folder
        fleet.add("dev-healthy", "dev", sqlite(folder, "dev-healthy", HEALTHY))
        fleet.add("dev-web-down", "dev", sqlite(folder, "dev-web-down", FAILED)).standin.set_web("down")
        # A typo in the connection: Ansible cannot even load it, for any task of the environment.
        fleet.add("test-bad-connection", "test", sqlite(folder, "test-bad-connection", HEALTHY)
                  ).variables["ansible_connection"] = "no_such_connection"
        self.ssh_port = closed_port()
        fleet.add("test-unreachable", "test", sqlite(folder, "test-unreachable", FAILED)).variables.update(
            ansible_host="127.0.0.1", ansible_port=self.ssh_port)
        fleet.add("test-empty-password", "test", sqlite(folder, "test-empty-password", FAILED)).variables[
            "generate_db_password"] = "{{ lookup('ansible.builtin.env', 'NO_SUCH_PASSWORD_VARIABLE') }}"
        fleet.add("prod-failed", "prod", sqlite(folder, "prod-failed", FAILED))
        self.before = dict((env.name, env.database.snapshot()) for env in fleet.environments)
        self.run = run(fleet, "reset_migrations.yml", "-e", "generate_serial=1", "-e", "generate_stop_before_prod=true")
        self.document, self.markdown = summary(fleet)
        self.rows = rows(self.document)

    def unchanged(self, name):
        """Whether the environment's rows are as they were before the run."""
        return self.fleet[name].database.snapshot() == self.before[name]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """The mixed fleet's run, once for the tests that read it."""
    with Fleet(str(tmp_path_factory.mktemp("mixed"))) as mixed_fleet:
        yield MixedFleet(mixed_fleet)


def test_every_environment_of_the_run_has_a_row_with_its_own_outcome(mixed):
    assert dict((name, row["outcome"]) for name, row in mixed.rows.items()) == {
        "dev-healthy": "ok",
        "dev-web-down": "failed",
        "test-bad-connection": "failed before the read",
        "test-unreachable": "unreachable",
        "test-empty-password": "failed before the read",
        "prod-failed": "stopped before prod",
    }
    assert mixed.document["complete"] is True
    assert mixed.document["failed_environments"] == [
        "dev-web-down", "test-bad-connection", "test-unreachable", "test-empty-password", "prod-failed"]


def test_an_environment_without_a_connection_runs_on_the_controller(mixed):
    assert mixed.rows["dev-healthy"]["before"] == "ok" and mixed.rows["dev-healthy"]["error"] is None
    assert "interpreter" not in mixed.run.output.lower()


def test_an_unreachable_environment_names_the_setting_that_decides_and_what_to_set(mixed):
    row = mixed.rows["test-unreachable"]
    assert row["before"] is None and row["evidence"] is None
    assert row["error"].startswith("Database: reset failed steps: unreachable over ssh: ")
    assert "port %d" % mixed.ssh_port in row["error"]
    assert row["error"].endswith("the inventory sets ansible_host for this environment, so Ansible connects to it "
                                 "over ssh: remove ansible_host, or set ansible_connection: local, to check it from "
                                 "the controller")
    assert mixed.unchanged("test-unreachable")


def test_a_dead_web_app_hides_neither_the_background_app_nor_a_failed_migration_and_holds_the_reset_back(mixed):
    row = mixed.rows["dev-web-down"]
    assert (row["web_ok"], row["background_ok"], row["before"]) == (False, True, "failed")
    assert row["failed_steps_before"] == ["ods", "rds", "report"] and row["steps_reset"] == []
    web_url = mixed.fleet["dev-web-down"].standin.web_url
    assert row["error"] == (
        "Web and background apps: answer the read-only probes: web app %s: cannot connect for /api/app/about/getvers: "
        "Connection refused; Database: reset held back by the failed web and background apps check: failed steps: "
        "ods, rds, report; Report pages: open after the run: the report pages are blocked: The migration must be "
        "run prior to viewing reports." % web_url)
    assert mixed.unchanged("dev-web-down")


def test_a_connection_ansible_cannot_load_fails_its_environment_and_the_others_go_on(mixed):
    row = mixed.rows["test-bad-connection"]
    assert "no_such_connection" in row["error"] and row["before"] is None
    assert mixed.rows["test-unreachable"]["outcome"] == "unreachable"


def test_an_environment_failed_before_the_read_and_one_held_back_before_prod_are_not_ok(mixed):
    assert mixed.rows["test-empty-password"]["error"].startswith(
        "Inventory: no connection variable left empty: generate_db_password is empty")
    assert mixed.rows["prod-failed"]["error"] == (
        "Rollout: stop before prod when an earlier environment failed: not run, since dev-web-down, "
        "test-bad-connection, test-unreachable, test-empty-password failed and generate_stop_before_prod is set")
    assert mixed.unchanged("test-empty-password") and mixed.unchanged("prod-failed")


def test_the_markdown_the_json_set_stats_and_the_exit_status_agree(mixed):
    assert mixed.run.rc == 2, mixed.run.output[-3000:]
    assert published(mixed.run) == mixed.document
    for name, row in mixed.rows.items():
        assert "| %s | %s | " % (name, row["outcome"]) in mixed.markdown
    assert ("6 environments, 5 not ok: dev-web-down (failed), test-bad-connection (failed before the read), "
            "test-unreachable (unreachable), test-empty-password (failed before the read), prod-failed "
            "(stopped before prod)." in mixed.markdown)
    failed = dict((host, counts["failed"]) for host, counts in recap(mixed.run).items())
    assert failed == dict((name, int(row["outcome"] != "ok")) for name, row in mixed.rows.items())


def test_a_status_run_interrupted_as_awx_cancels_it_leaves_a_summary_of_what_was_done(tmp_path):
    with Fleet(str(tmp_path)) as fleet, silent_host() as silent_port:
        fleet.add("first", "dev", sqlite(fleet.folder, "first", HEALTHY))
        # The second environment's web app never answers: its probe waits, and the run is cancelled meanwhile.
        fleet.add("second", "test", sqlite(fleet.folder, "second", HEALTHY), apps=False).variables[
            "generate_web_url"] = "http://127.0.0.1:%d" % silent_port
        fleet.add("third", "prod", sqlite(fleet.folder, "third", HEALTHY))
        inventory = users_inventory(fleet)
        output_path = os.path.join(fleet.folder, "output.txt")
        env = ansible_run.ansible_env(workdir=fleet.folder)
        with open(output_path, "w", encoding="utf-8") as output:
            process = subprocess.Popen(  # pylint: disable=consider-using-with
                [os.path.join(ansible_run.BIN, "ansible-playbook"), "-i", inventory,
                 os.path.join(PLAYBOOKS, "migration_status.yml"), "-e", "generate_serial=1"],
                env=env, cwd=fleet.folder, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            # Cancelled while the second environment's probe waits: its task has started, and no result for
            # the second environment has been printed since.
            deadline = time.monotonic() + 120
            while "check the apps and the database] *" not in open(output_path, encoding="utf-8").read().partition(
                    "[second")[2].split("[second")[-1]:
                assert time.monotonic() < deadline and process.poll() is None, open(output_path).read()
                time.sleep(0.2)
            # AWX's cancel: SIGINT, then SIGTERM when the run has not ended.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode != 0
        document, markdown = summary(fleet, "migration_status")
        assert document["complete"] is False
        assert dict((row["environment"], row["outcome"]) for row in document["environments"]) == {
            "first": "ok", "second": "not finished", "third": "not reached"}
        assert document["failed_environments"] == ["second", "third"]
        assert "run not finished" in markdown
        assert "| third | not reached | " in markdown
