"""Where data_migrations runs: in Ansible's worker on a local connection, as a module process otherwise.

Both ways must give the same result; the worker must see the same options and environment a module
process would, and print no command line. Each test runs its playbook once per path and compares them
(tests/integration/conftest.py), unless it chooses the path of each task itself.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from tests.support import ansible_run
from tests.support.ansible_run import path_differences, python_wrapper
from tests.support.scenarios import FAILED

pytestmark = [pytest.mark.both_paths, pytest.mark.every_release]

# What an async task adds to the module's result: Ansible's bookkeeping of the job, not the module's.
ASYNC_KEYS = frozenset(("ansible_job_id", "started", "finished", "results_file",
                        "stdout", "stdout_lines", "stderr", "stderr_lines"))


def task_output(run, name):
    """What ansible-playbook printed for one task, from its TASK header to the next one."""
    found = re.search(r"TASK \[%s\].*?(?=\nTASK \[|\nPLAY RECAP|\Z)" % re.escape(name), run.output, re.S)
    assert found, "no output for task %s:\n%s" % (name, run.output)
    return found.group(0)


@pytest.mark.one_path("each task chooses its path (async makes a module process); the test compares them itself")
def test_a_local_connection_runs_in_the_worker_and_async_as_a_module_with_the_same_result(pg_db, run_tasks):
    pg_db.seed(FAILED)
    args = pg_db.module_args()
    run = run_tasks([("in the worker", args), ("as a module process", args, {"async": 60, "poll": 1})])
    records = run.by_task()
    worker, module = records["in the worker"], records["as a module process"]
    assert worker["status"] == "ok", worker["result"].get("msg")
    assert module["status"] == "ok", module["result"].get("msg")
    # A module process shows at -vvvv as the AnsiballZ payload Ansible writes and starts.
    assert "AnsiballZ_data_migrations" not in task_output(run, "in the worker")
    assert "AnsiballZ_data_migrations" in task_output(run, "as a module process")
    # Async adds its own bookkeeping (job id, results file, ...) to the module's result; the rest is the same.
    async_keys = set(module["result"]) - set(worker["result"])
    assert async_keys <= ASYNC_KEYS, async_keys
    module = dict(module, result=dict((key, value) for key, value in module["result"].items()
                                      if key not in ASYNC_KEYS))
    assert path_differences([worker], [module]) == []
    assert worker["result"]["ansible_facts"]["generate_migrations"]["failed_steps"] == ["ods", "rds", "report"]
    assert pg_db.statuses() == {"ods": "error", "rds": "pending", "report": "pending"}


# A module process's command line, which Ansible prints at -vvvv, carries the task's environment, the password
# in it: only the worker can keep it out of the output.
@pytest.mark.one_path("a module process's command line shows the task's environment at -vvvv")
def test_the_worker_reads_the_fallbacks_from_the_task_environment_and_prints_none(pg_db, run_tasks):
    pg_db.seed(FAILED)
    login = pg_db.module_args()
    environment = {
        "GENERATE_DB_SERVER": login["server"], "GENERATE_DB_PORT": str(login["port"]),
        "GENERATE_DB_NAME": login["database"], "GENERATE_DB_USERNAME": login["username"],
        "GENERATE_DB_PASSWORD": login["password"], "GENERATE_DB_DRIVER": login["driver"],
    }
    # The process environment names another server; the task's environment wins, as for a module process.
    run = run_tasks([("from the task environment", {"schema": "App"}, {"environment": environment})],
                    env={"GENERATE_DB_SERVER": "192.0.2.1"})
    record = run.by_task()["from the task environment"]
    assert record["status"] == "ok", record["result"].get("msg")
    assert record["result"]["ansible_facts"]["generate_migrations"]["failed_steps"] == ["ods", "rds", "report"]
    assert "GENERATE_DB_PASSWORD" not in task_output(run, "from the task environment")


def test_the_worker_refuses_bad_options_with_the_module_s_one_line_errors(pg_db, run_tasks):
    pg_db.seed(FAILED)
    args = pg_db.module_args()
    run = run_tasks([
        ("unknown option", dict(args, stuck_afer=60)),
        ("wrong type", dict(args, stuck_after="soon")),
        ("bad choice", dict(args, state="fix")),
    ])
    records = run.by_task()
    assert all(record["status"] == "failed" for record in records.values())
    messages = dict((name, record["result"]["msg"]) for name, record in records.items())
    assert messages["unknown option"].startswith(
        "Unsupported parameters for (ceds.generate.data_migrations) module: stuck_afer.")
    assert "stuck_after" in messages["wrong type"] and "int" in messages["wrong type"]
    assert "state" in messages["bad choice"] and "fix" in messages["bad choice"]
    assert all("\n" not in message for message in messages.values())
    assert pg_db.statuses() == {"ods": "error", "rds": "pending", "report": "pending"}


def test_a_deprecated_alias_works_and_is_reported_deprecated_on_both_paths(pg_db, run_tasks):
    pg_db.seed(FAILED)
    run = run_tasks([("old name", dict(pg_db.module_args(), server_timeout=600))],
                    deprecated=["Alias 'server_timeout' is deprecated"])
    record = run.by_task()["old name"]
    assert record["status"] == "ok", record["result"].get("msg")
    invocation = record["result"].get("invocation")
    if invocation is not None:  # before ansible-core 2.21, or with INJECT_INVOCATION
        assert invocation["module_args"]["hangfire_server_timeout"] == 600
    assert record["result"]["deprecations"][0]["msg"].startswith("Alias 'server_timeout' is deprecated")


def test_the_task_environment_reaches_the_odbc_driver_manager_on_both_paths(pg_db, run_tasks, tmp_path):
    # An odbcinst.ini of its own (ODBCSYSINI), naming psqlODBC under a name the system's does not know.
    with open("/etc/odbcinst.ini", encoding="utf-8") as handle:
        system = handle.read()
    section = re.search(r"\[PostgreSQL Unicode\]\n(.*?)(?=\n\[|\Z)", system, re.S).group(1)
    (tmp_path / "odbcinst.ini").write_text("[Generate Test Alias]\n%s\n" % section)
    pg_db.seed(FAILED)
    args = pg_db.module_args(driver="Generate Test Alias")
    # The playbook runs in the worker, then as a module process (the fixture), with the same result.
    run = run_tasks([("with the task environment", args, {"environment": {"ODBCSYSINI": str(tmp_path)}}),
                     ("without the task environment", args)])
    records = run.by_task()
    assert records["with the task environment"]["status"] == "ok", records["with the task environment"]["result"]
    assert records["without the task environment"]["result"]["msg"] == (
        "ODBC driver 'Generate Test Alias' is not installed: install it or set driver (GENERATE_DB_DRIVER) to one "
        "that 'odbcinst -q -d' lists")


@pytest.mark.one_path("each task chooses its interpreter; the test compares them itself")
def test_a_host_interpreter_other_than_this_python_runs_the_module_process_with_the_same_result(
        pg_db, run_tasks, tmp_path):
    # Another interpreter path (a wrapper around this same Python, so that it has pyodbc).
    wrapper = python_wrapper(str(tmp_path))
    pg_db.seed(FAILED)
    args = pg_db.module_args()
    run = run_tasks([("in the worker", args), ("with another interpreter", args,
                                               {"vars": {"ansible_python_interpreter": wrapper}})])
    records = run.by_task()
    assert "AnsiballZ_data_migrations" not in task_output(run, "in the worker")
    assert "AnsiballZ_data_migrations" in task_output(run, "with another interpreter")
    assert path_differences([records["in the worker"]], [records["with another interpreter"]]) == []


@pytest.mark.one_path("environment_check's action plugin always runs in the worker; this runs its module itself")
def test_environment_check_run_as_a_module_process_gives_what_its_action_gives(pg_db, run_tasks, tmp_path):
    pg_db.seed(FAILED)
    args = dict(pg_db.module_args(), state="status")
    worker = run_tasks([("check", args)], module="ceds.generate.environment_check").records[-1]["result"]
    (tmp_path / "args.json").write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    collections = os.environ.get("ANSIBLE_COLLECTIONS_PATH", ansible_run.ansible_env()["ANSIBLE_COLLECTIONS_PATH"])
    process = subprocess.run(
        [sys.executable, "-m", "ansible_collections.ceds.generate.plugins.modules.environment_check",
         str(tmp_path / "args.json")], capture_output=True, text=True, check=False, timeout=120,
        env=dict(os.environ, PYTHONPATH=collections.split(os.pathsep)[0]))
    module = json.loads(process.stdout)
    assert module["failures"] == worker["failures"]
    assert module["failures"][0].startswith("Database: leave no failed or stuck step behind: failed steps: ods, rds, "
                                            "report")
    assert module["ansible_facts"]["generate_migrations"]["failed_steps"] == ["ods", "rds", "report"]
    # From ansible-core 2.22 a module hands its secrets to the controller's masker in a key of Ansible's own
    # (_ansible_...); everything else it returns must be free of them.
    returned = json.dumps(dict((key, value) for key, value in module.items() if not key.startswith("_ansible")))
    assert module["failed"] is True and pg_db.module_args()["password"] not in returned
