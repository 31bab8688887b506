"""The hosted-CI workflow that runs the integration suite on SQL Server: valid for GitHub, and doing that job.

check-jsonschema validates the workflows against GitHub's workflow schema,
which it ships (vendor.github-workflows), so nothing is downloaded.
"""

from __future__ import annotations

import glob
import os

import yaml

from release_run import ROOT, run, tool

WORKFLOWS = sorted(glob.glob(os.path.join(ROOT, ".github", "workflows", "*.yml")))
SQLSERVER = os.path.join(ROOT, ".github", "workflows", "sqlserver.yml")


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def check_workflows(paths):
    return run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", "--color", "never"] + paths)


def test_workflows_match_the_github_workflow_schema():
    assert SQLSERVER in WORKFLOWS
    completed = check_workflows(WORKFLOWS)
    assert completed.returncode == 0, completed.stdout


def test_a_workflow_github_would_reject_fails_the_check(tmp_path):
    workflow = load(SQLSERVER)
    workflow["jobs"]["sqlserver"]["runs-on"] = 5
    del workflow["jobs"]["sqlserver"]["steps"]
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump(workflow), encoding="utf-8")
    completed = check_workflows([str(broken)])
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
