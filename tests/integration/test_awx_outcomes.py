"""Every outcome of an environment, as an AWX job shows it: run through ansible-runner the way AWX runs it.

Each job is laid out and launched by tests/support/awx_job.py from
awx/configure.yml. What each test reads is what an AWX operator, a workflow or
a notification reads: the job's status and return code, the summary rows of the
Markdown and JSON files the job leaves in its artifacts, and the ``set_stats``
data AWX keeps from the job's ``playbook_on_stats`` event (its artifacts).
"""

from __future__ import annotations

import contextlib
import json
import os

import pytest

from tests.support import generate_db
from tests.support.awx_job import RESET_TEMPLATE, AwxJob
from tests.support.scenarios import FAILED, HEALTHY
from tests.support.silent_host import silent_host
from tests.support.standin_app import StandinGenerate

# The one task that checks (and resets) each environment in the reset playbook.
CHECK_TASK = "Environment: check the apps and the database, and reset failed steps"


def environment(folder, name, steps):
    """A Generate database in a SQLite file of its own, and the host variables that reach it from the controller."""
    database = generate_db.sqlite_database(os.path.join(str(folder), "%s.db" % name))
    database.seed(steps)
    return database, {"generate_db_connection_string": database.connection_string, "generate_db_schema": "main",
                      "generate_hangfire_schema": "main"}


def with_apps(stack, database, variables):
    """The host variables, with the URLs of stand-in web and background apps started over the database."""
    standin = stack.enter_context(StandinGenerate.for_database(database))
    return standin, dict(variables, generate_web_url=standin.web_url, generate_background_url=standin.background_url)


def written_summary(job, name):
    """The JSON summary the job left in its artifacts, and its Markdown text."""
    folder = os.path.join(job.artifacts, "reports")
    # A job's summary names the job, so that the slices of a sliced job keep one each.
    name = "%s-job%s" % (name, job.job_id)
    with open(os.path.join(folder, name + ".json"), encoding="utf-8") as handle:
        document = json.load(handle)
    with open(os.path.join(folder, name + ".md"), encoding="utf-8") as handle:
        return document, handle.read()


def outcomes(document):
    """``{environment: outcome}`` of a summary."""
    return dict((row["environment"], row["outcome"]) for row in document["environments"])


def row_of(document, name):
    """One environment's row of a summary."""
    return [row for row in document["environments"] if row["environment"] == name][0]


class NightlyReset:
    """One reset job, launched as the nightly schedule launches it (stopping before prod), over environments that
    end each way: ok, failed, failed before the read (twice), stopped before prod."""

    def __init__(self, folder):
        with contextlib.ExitStack() as stack:
            healthy, healthy_host = environment(folder, "dev-healthy", HEALTHY)
            web_down, web_down_host = environment(folder, "dev-web-down", FAILED)
            self.web_down_standin, web_down_host = with_apps(stack, web_down, web_down_host)
            self.web_down_standin.set_web("down")
            empty, empty_host = environment(folder, "test-empty-password", FAILED)
            # AWX's inventory hands the job what its variables hold: here an empty password.
            empty_host["generate_db_password"] = ""
            bad, bad_host = environment(folder, "test-bad-connection", HEALTHY)
            # A typo in the connection: Ansible cannot even load it, for any task of the environment.
            bad_host["ansible_connection"] = "no_such_connection"
            prod, prod_host = environment(folder, "prod-failed", FAILED)
            self.databases = {"dev-healthy": healthy, "dev-web-down": web_down, "test-empty-password": empty,
                              "test-bad-connection": bad, "prod-failed": prod}
            self.before = dict((name, database.snapshot()) for name, database in self.databases.items())
            self.job = AwxJob(str(folder), 601, RESET_TEMPLATE)
            self.status = self.job.launch(
                [("dev", "dev-healthy"), ("dev", "dev-web-down"), ("test", "test-empty-password"),
                 ("test", "test-bad-connection"), ("prod", "prod-failed")],
                host_variables={"dev-healthy": with_apps(stack, healthy, healthy_host)[1],
                                "dev-web-down": web_down_host, "test-empty-password": empty_host,
                                "test-bad-connection": bad_host, "prod-failed": prod_host},
                survey_answers={"generate_stop_before_prod": "yes"})
        self.document, self.markdown = written_summary(self.job, "reset_migrations")
        self.published = self.job.stats()["artifact_data"]["generate_summary"]

    def unchanged(self, name):
        """Whether the environment's database is as it was before the job."""
        return self.databases[name].snapshot() == self.before[name]


@pytest.fixture(scope="module", name="nightly")
def nightly_job(tmp_path_factory):
    """The nightly reset job, run once for the tests that read it."""
    return NightlyReset(tmp_path_factory.mktemp("nightly"))


def test_reset_job_gives_every_environment_its_own_outcome_and_fails(nightly):
    assert (nightly.status, nightly.job.runner.rc) == ("failed", 2), nightly.job.output()[-3000:]
    assert outcomes(nightly.document) == {
        "dev-healthy": "ok",
        "dev-web-down": "failed",
        "test-empty-password": "failed before the read",
        "test-bad-connection": "failed before the read",
        "prod-failed": "stopped before prod",
    }
    assert nightly.document["complete"] is True
    assert nightly.document["failed_environments"] == [
        row["environment"] for row in nightly.document["environments"] if row["outcome"] != "ok"]
    assert nightly.published == nightly.document
    assert nightly.job.stats()["failures"] == {
        "dev-web-down": 1, "test-empty-password": 1, "test-bad-connection": 1, "prod-failed": 1}
    for name, outcome in outcomes(nightly.document).items():
        assert "| %s | %s | " % (name, outcome) in nightly.markdown
    assert "5 environments, 4 not ok: " in nightly.markdown


def test_reset_job_reads_the_database_of_an_environment_whose_web_app_is_down_and_shows_each_check(nightly):
    row = row_of(nightly.published, "dev-web-down")
    assert (row["web_ok"], row["background_ok"], row["before"], row["after"]) == (False, True, "failed", "failed")
    assert row["failed_steps_before"] == ["ods", "rds", "report"] and row["steps_reset"] == []
    assert row["evidence"]["decided_by"] == "hangfire"
    assert row["error"].startswith("Web and background apps: answer the read-only probes: web app %s: cannot "
                                   "connect for /api/app/about/getvers: " % nightly.web_down_standin.web_url)
    assert ("; Database: reset held back by the failed web and background apps check: failed steps: ods, rds, "
            "report" in row["error"])
    assert ("| dev-web-down | failed | failed (ods, rds stuck, report stuck) | - | failed | no | yes | "
            in nightly.markdown)
    assert nightly.unchanged("dev-web-down")
    healthy = row_of(nightly.published, "dev-healthy")
    assert (healthy["before"], healthy["after"], healthy["web_ok"], healthy["error"]) == ("ok", "ok", True, None)


def test_reset_job_fails_an_environment_before_the_read_for_an_empty_variable_or_an_unknown_connection(nightly):
    empty = row_of(nightly.published, "test-empty-password")
    assert empty["error"].startswith("Inventory: no connection variable left empty: generate_db_password is empty")
    # The database task is the first that needs the connection: the row names it, and what Ansible could not load.
    bad = row_of(nightly.published, "test-bad-connection")
    assert bad["error"] == "Database: reset failed steps: the connection plugin 'no_such_connection' was not found"
    for row in (empty, bad):
        assert (row["before"], row["after"], row["evidence"], row["database_version"]) == (None, None, None, None)
    assert "| test-empty-password | failed before the read | - | - | - | " in nightly.markdown
    assert nightly.unchanged("test-empty-password") and nightly.unchanged("test-bad-connection")


def test_reset_job_stops_before_prod_after_a_failed_environment_and_says_why(nightly):
    row = row_of(nightly.published, "prod-failed")
    assert row["error"] == (
        "Rollout: stop before prod when an earlier environment failed: not run, since dev-web-down, "
        "test-empty-password, test-bad-connection failed and generate_stop_before_prod is set")
    assert (row["before"], row["after"], row["steps_reset"]) == (None, None, [])
    assert "| prod-failed | stopped before prod | - | - | - | " in nightly.markdown
    assert nightly.unchanged("prod-failed")


def test_reset_job_cancelled_while_an_environment_hangs_leaves_a_summary_of_no_more_than_was_done(tmp_path):
    """AWX's cancel: the cancel callback it hands ansible-runner returns true, and ansible-runner then kills
    ansible-playbook's process group (SIGKILL; ansible_runner/runner.py, Runner.handle_termination), so nothing of
    the playbook runs after it: what the job leaves is what was written before."""
    with contextlib.ExitStack() as stack:
        silent_port = stack.enter_context(silent_host())
        first, first_host = environment(tmp_path, "first", HEALTHY)
        second_host = environment(tmp_path, "second", HEALTHY)[1]
        # Neither app of the second environment ever answers: each probe waits for its timeout.
        second_host.update(generate_web_url="http://127.0.0.1:%d" % silent_port,
                           generate_background_url="http://127.0.0.1:%d" % silent_port)
        third, third_host = environment(tmp_path, "third", FAILED)
        before = third.snapshot()
        job = AwxJob(str(tmp_path), 602, RESET_TEMPLATE)

        def hanging():
            """Whether the second environment's check, which waits on its probes, has started and not ended."""
            return bool(check_events("runner_on_start")) and not check_events("runner_on_ok", "runner_on_failed")

        def check_events(*kinds):
            return [e for e in job.events if e["event"] in kinds and e["event_data"].get("host") == "second"
                    and e["event_data"].get("task") == CHECK_TASK]

        # The operator cancels the job while the second environment's probes wait.
        status = job.launch([("dev", "first"), ("test", "second"), ("prod", "third")],
                            host_variables={"first": with_apps(stack, first, first_host)[1],
                                            "second": second_host, "third": third_host},
                            survey_answers={"generate_stop_before_prod": "no"}, launch_type="manual",
                            cancel_callback=hanging)

    assert (status, job.runner.rc) == ("canceled", 254), job.output()[-3000:]
    # The second environment's check never ended: the job ended during its probes, before its database.
    assert check_events("runner_on_start") and not check_events("runner_on_ok", "runner_on_failed")
    # A cancelled job publishes no set_stats data: it has no playbook_on_stats event, where AWX reads them.
    assert [e for e in job.events if e["event"] == "playbook_on_stats"] == []
    document, markdown = written_summary(job, "reset_migrations")
    assert document["complete"] is False
    assert outcomes(document) == {"first": "ok", "second": "not finished", "third": "not reached"}
    assert sorted(document["failed_environments"]) == ["second", "third"]
    assert row_of(document, "second")["error"].startswith("the run ended while this environment was being checked")
    assert row_of(document, "third")["before"] is None
    assert "(run not finished: " in markdown.splitlines()[0]
    assert "| second | not finished | - | " in markdown and "| third | not reached | - | " in markdown
    assert "3 environments, 2 not ok: %s." % ", ".join(
        "%s (%s)" % (name, outcomes(document)[name]) for name in document["failed_environments"]) in markdown
    assert third.snapshot() == before
