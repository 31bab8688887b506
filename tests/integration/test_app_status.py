"""ceds.generate.app_status through the real ansible-playbook, against stand-in Generate apps on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import sys

import pytest
import yaml

from tests.support import ansible_run
from tests.support import generate_db
from tests.support.standin_app import StandinGenerate


@pytest.fixture
def standin(tmp_path):
    """A stand-in Generate over a seeded SQLite database, stopped afterwards."""
    database = generate_db.sqlite_database(str(tmp_path / "generate.db"))
    database.seed([("ods", "success", 9000), ("rds", "success", 9000), ("report", "pending", 300)])
    with StandinGenerate.for_database(database) as apps:
        yield apps


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_app_status(folder, module_args, *args, host_variables=None):
    """Run one ceds.generate.app_status task on one host; return (Run, the task's result)."""
    playbook = os.path.join(str(folder), "app_status.yml")
    with open(playbook, "w", encoding="utf-8") as handle:
        yaml.safe_dump([{"name": "Check the apps", "hosts": "all", "gather_facts": False,
                         "tasks": [{"name": "app_status", "ceds.generate.app_status": module_args}]}], handle)
    variables = host_variables or {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = os.path.join(str(folder), "inventory.yml")
    with open(inventory, "w", encoding="utf-8") as handle:
        yaml.safe_dump({"all": {"hosts": {"generate-dev": variables}}}, handle)
    run = ansible_run.run_playbook(playbook, inventory, args, workdir=str(folder))
    records = [record for record in run.records if record["action"].endswith("app_status")]
    assert records, "app_status did not run:\n%s" % run.output
    return run, records[-1]


def test_healthy_apps_answer_with_the_database_version_and_the_report_status(standin, tmp_path):
    run, record = run_app_status(tmp_path, {"web_url": standin.web_url, "background_url": standin.background_url,
                                            "report_status": True})
    assert run.rc == 0, run.output
    assert record["status"] == "ok"
    result = record["result"]
    assert result["web"] == {"url": standin.web_url, "status": 200, "ok": True, "database_version": "13.1"}
    assert result["background"] == {"url": standin.background_url, "status": 200, "ok": True}
    assert result["report_migration_status"] == "pending"
    assert result["changed"] is False


def test_web_app_answering_http_500_fails_the_task_with_one_line(standin, tmp_path):
    standin.set_web("error")
    run, record = run_app_status(tmp_path, {"web_url": standin.web_url, "background_url": standin.background_url})
    assert run.rc == 2
    assert record["status"] == "failed"
    assert record["result"]["msg"] == (
        "web app %s: HTTP 500 from /api/app/about/getvers: stand-in web app told to fail" % standin.web_url)
    assert "Traceback" not in run.output
    assert standin.background.requests == []


def test_app_that_is_down_fails_the_task_naming_the_connection_error(standin, tmp_path):
    standin.set_background("down")
    run, record = run_app_status(tmp_path, {"web_url": standin.web_url, "background_url": standin.background_url})
    assert run.rc == 2
    assert record["result"]["msg"] == "background app %s: cannot connect for /: Connection refused" % (
        standin.background_url)
    assert record["result"]["web"]["ok"] is True and record["result"]["background"]["ok"] is False
    assert "Traceback" not in run.output


def test_probes_run_in_check_mode(standin, tmp_path):
    run, record = run_app_status(tmp_path, {"web_url": standin.web_url, "report_status": True}, "--check")
    assert run.rc == 0, run.output
    assert record["result"]["report_migration_status"] == "pending"
    assert [request[2] for request in standin.requests] == [
        "/api/app/about/getvers", "/api/app/datamigrations/currentmigrationstatus"]


def test_probes_run_on_the_controller_without_reaching_the_host(standin, tmp_path):
    # A host whose SSH port is closed: a module would need that connection, the controller-side probe does not.
    unreachable = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": closed_port()}
    run, record = run_app_status(tmp_path, {"web_url": standin.web_url}, host_variables=unreachable)
    assert run.rc == 0, run.output
    assert record["result"]["web"]["database_version"] == "13.1"


def test_bad_option_fails_with_one_line(tmp_path):
    run, record = run_app_status(tmp_path, {"web_url": "http://127.0.0.1:1", "timeout": "soon"})
    assert run.rc == 2
    assert "timeout" in record["result"]["msg"] and "\n" not in record["result"]["msg"]
