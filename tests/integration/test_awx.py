"""The AWX side: jobs of awx/configure.yml's job templates, run through ansible-runner the way AWX runs them.

Each job is laid out and launched by tests/support/awx_job.py from the
configuration itself (its credential type rendered by AWX's own injector code),
and what it proves is what an AWX operator would see: the job's status and
events, the host facts, the databases afterwards, and the files of the job.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import secrets
import socket
import stat
import subprocess

import pytest
import yaml

from tests.support import generate_db
from tests.support.ansible_run import BIN, ROOT
from tests.support.awx_job import (
    CONFIGURE,
    RECOVER_TEMPLATE,
    RESET_TEMPLATE,
    STATUS_TEMPLATE,
    AwxJob,
    LaunchRefused,
    install_project_collections,
    occurrences,
    project_files,
    schedules,
)
from tests.support.scenarios import FAILED, FAILED_HISTORY, HEALTHY, PROCESSING_AN_HOUR
from tests.support.standin_app import StandinGenerate

EXECUTION_ENVIRONMENT = os.path.join(ROOT, "execution-environment.yml")
# Generate's error line of FAILED_HISTORY, the one a failed status job names.
# The one task that checks each environment, as the status and the reset playbooks name it.
STATUS_TASK = "Environment: check the apps and the database"
RESET_TASK = "Environment: check the apps and the database, and reset failed steps"
FAILED_ERROR = [message for _type, _age, message in FAILED_HISTORY if message.startswith("Error")][0]


def odbc_braced(value):
    """A connection-string value in braces, with } doubled, the quoting every ODBC driver manager reads."""
    return "{" + value.replace("}", "}}") + "}"


@pytest.fixture
def generate_login(postgres):
    """A PostgreSQL login with a password of its own, as the credential of a real install would hold.

    The password holds what a connection string, a template or a file could
    mangle: spaces around it, braces, a semicolon, equals signs and non-ASCII
    letters, so a job that logs in proves the secret reached the module exactly.
    Yields a function that makes a Generate database this login may read and reset.
    """
    role = "awx_%s" % secrets.token_hex(4)
    password = " Aw;x}{pw} = é %s " % secrets.token_hex(8)
    postgres.psql("CREATE ROLE \"%s\" LOGIN PASSWORD '%s'" % (role, password))
    names = []

    def make(steps, history=()):
        name = "generate_awx_%s" % secrets.token_hex(5)
        names.append(name)
        database = generate_db.postgres_database(postgres, name)
        database.seed(steps, history=history)
        grants = (
            'GRANT USAGE ON SCHEMA "App" TO "{role}"',
            'GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA "App" TO "{role}"',
            'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "App" TO "{role}"',
        )
        for grant in grants:
            postgres.psql(grant.format(role=role), database=name)
        return database

    make.role = role
    make.password = password
    make.credential = {"server": postgres.host, "port": str(postgres.port), "username": role,
                       "password": password, "driver": "PostgreSQL Unicode"}
    yield make
    for name in names:
        postgres.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
    postgres.psql('DROP ROLE IF EXISTS "%s"' % role)


@pytest.fixture
def standins():
    """Start stand-in Generate apps over databases; stop them afterwards. Yields a start function."""
    started = []

    def start(database, run_seconds=None):
        standin = StandinGenerate.for_database(database).start()
        if run_seconds is not None:
            standin.replica.pipeline_seconds = run_seconds
        started.append(standin)
        return standin

    yield start
    for standin in started:
        standin.stop()


def app_urls(standin):
    """The host variables that point an environment at its stand-in web and background apps."""
    return {"generate_web_url": standin.web_url, "generate_background_url": standin.background_url}


def sqlite_environment(tmp_path, name, steps):
    """A Generate database of its own in a SQLite file, and the host variables of its schemas.

    Hangfire's tables are in the same schema, so the module decides from them,
    not from a step's age, whether anything still runs the steps.
    """
    database = generate_db.sqlite_database(str(tmp_path / ("%s.db" % name)))
    database.seed(steps)
    return database, {"generate_db_schema": "main", "generate_hangfire_schema": "main"}


def background_runs(standin):
    """The paths of the requests that asked the stand-in background app to run a migration."""
    return [path for app, _method, path in standin.requests if app == "background" and "/MigrateData/" in path]


@pytest.fixture(autouse=True)
def no_inherited_credentials(monkeypatch):
    """A job sees only what its credential injects, never GENERATE_DB_* of the machine running the tests."""
    for name in [name for name in os.environ if name.startswith("GENERATE_DB_")]:
        monkeypatch.delenv(name)


# --- the status template ---------------------------------------------------------------------------------------


def test_status_job_over_the_fleet_fails_on_a_failed_environment_and_caches_its_facts(tmp_path, generate_login,
                                                                                      standins):
    dev = generate_login(FAILED, FAILED_HISTORY)
    test = generate_login(HEALTHY)
    job = AwxJob(str(tmp_path), 101, STATUS_TEMPLATE)
    # One credential for the login every environment shares; each host names its database.
    status = job.launch(
        [("dev", "dev"), ("test", "test")],
        host_variables={"dev": dict(app_urls(standins(dev)), generate_db_database=dev.name),
                        "test": dict(app_urls(standins(test)), generate_db_database=test.name)},
        credential=generate_login.credential)

    assert (status, job.runner.rc) == ("failed", 2), job.output()
    facts = dict(job.results(STATUS_TASK), **job.results(STATUS_TASK, "runner_on_failed"))
    assert facts["dev"]["ansible_facts"]["generate_migrations"]["state"] == "failed"
    assert facts["dev"]["ansible_facts"]["generate_migrations"]["failed_steps"] == ["ods"]
    assert facts["test"]["ansible_facts"]["generate_migrations"]["state"] == "ok"
    assert job.fact_cache("dev")["generate_migrations"]["state"] == "failed"
    assert FAILED_ERROR in [line["message"] for line in job.fact_cache("dev")["generate_migrations"]["last_errors"]]
    assert job.fact_cache("test")["generate_migrations"]["state"] == "ok"
    stats = job.stats()
    assert stats["failures"] == {"dev": 1}
    assert stats["artifact_data"]["generate_summary"]["failed_environments"] == ["dev"]
    assert dev.statuses() == {"ods": "error", "rds": "pending", "report": "pending"}
    # The login worked with the password of the credential's file, which the environment only names.
    launched = job.launch_record()["env"]
    password_file = launched["GENERATE_DB_PASSWORD_FILE"]
    assert password_file in job.credential_files
    assert launched["GENERATE_DB_CONNECTION_STRING_FILE"] == ""
    assert "GENERATE_DB_PASSWORD" not in launched
    assert os.path.dirname(password_file) == os.path.join(job.private_data_dir, "env")
    assert stat.S_IMODE(os.stat(password_file).st_mode) == 0o600
    # AWX's record of the job names the file where the execution environment sees it.
    assert job.safe_env["GENERATE_DB_PASSWORD_FILE"] == "/runner/env/" + os.path.basename(password_file)
    assert job.leaks(generate_login.password) == []


def test_status_job_with_a_connection_string_holding_the_password_keeps_it_out_of_the_artifacts(
        tmp_path, generate_login, standins, postgres):
    test = generate_login(HEALTHY)
    # The login needs its password (scram-sha-256 over TCP), which only the connection string holds.
    text = "DRIVER={PostgreSQL Unicode};SERVER=%s;PORT=%d;DATABASE=%s;UID=%s;PWD=%s;" % (
        postgres.host, postgres.port, test.name, generate_login.role, odbc_braced(generate_login.password))
    job = AwxJob(str(tmp_path), 404, STATUS_TEMPLATE)
    status = job.launch([("test", "test")], host_variables={"test": app_urls(standins(test))},
                        credential={"connection_string": text}, verbosity=3)

    assert (status, job.runner.rc) == ("successful", 0), job.output()
    assert job.fact_cache("test")["generate_migrations"]["state"] == "ok"
    launched = job.launch_record()["env"]
    assert launched["GENERATE_DB_CONNECTION_STRING_FILE"] in job.credential_files
    assert "GENERATE_DB_CONNECTION_STRING" not in launched
    assert launched["GENERATE_DB_PASSWORD_FILE"] == ""
    assert stat.S_IMODE(os.stat(launched["GENERATE_DB_CONNECTION_STRING_FILE"]).st_mode) == 0o600
    assert job.leaks(generate_login.password) == []


# --- the reset template ----------------------------------------------------------------------------------------


def test_check_job_of_the_reset_template_shows_the_diff_and_writes_nothing(tmp_path, generate_login, standins):
    dev = generate_login(FAILED, FAILED_HISTORY)
    before = dev.snapshot()
    job = AwxJob(str(tmp_path), 202, RESET_TEMPLATE)
    # One credential per environment: the schedule or the launch picks dev and dev's credential.
    status = job.launch([("dev", "dev")], host_variables={"dev": app_urls(standins(dev))},
                        credential=dict(generate_login.credential, database=dev.name),
                        job_type="check", limit="dev", survey_answers={"generate_stop_before_prod": "no"},
                        verbosity=3, launch_type="manual")

    assert (status, job.runner.rc) == ("successful", 0), job.output()
    # The template prompts for all of it: AWX took the job type, the limit and the credential.
    assert job.ignored_fields == {}
    reset = job.results(RESET_TASK)["dev"]["migration"]
    assert reset["changed"] is True
    assert [(step["type_code"], step["from"]) for step in reset["reset_steps"]] == [
        ("ods", "error"), ("rds", "pending"), ("report", "pending")]
    assert reset["diff"]["before"] == {"ods": "error", "rds": "pending", "report": "pending"}
    assert reset["diff"]["after"] == {"ods": "success", "rds": "success", "report": "success"}
    assert job.stats()["changed"] == {"dev": 1}
    assert dev.snapshot() == before
    assert not os.path.exists(os.path.join(job.project, "playbooks", "reports"))
    assert not [query for query in reset["executed_queries"] if re.match(r"\s*(INSERT|UPDATE)\b", query)]
    assert job.leaks(generate_login.password) == []


def test_reset_job_applies_the_survey_answers_and_notes_the_job_in_generate_history(tmp_path, standins):
    sqlite = generate_db.sqlite_database(str(tmp_path / "sandbox.db"))
    # Processing for an hour: running by the default stuck_after, stuck by the survey's answer of 600.
    sqlite.seed(PROCESSING_AN_HOUR)
    job = AwxJob(str(tmp_path), 303, RESET_TEMPLATE)
    # A credential may carry a whole connection string instead of the separate fields.
    status = job.launch([("sandbox", "sandbox")],
                        host_variables={"sandbox": dict(app_urls(standins(sqlite)), generate_db_schema="main")},
                        credential={"connection_string": sqlite.connection_string}, limit="sandbox",
                        survey_answers={"generate_stuck_after": 600, "generate_audit_note": "CHG-1234",
                                        "generate_stop_before_prod": "no"})

    assert (status, job.runner.rc) == ("successful", 0), job.output()
    assert sqlite.statuses() == {"ods": "success", "rds": "success", "report": "success"}
    audit = [message for message in sqlite.history_messages() if "report" in message.lower()]
    assert len(audit) == 1 and "AWX job 303" in audit[0], audit
    assert "CHG-1234" in audit[0], "the reset playbook must add the survey's generate_audit_note to the audit lines"
    assert job.fact_cache("sandbox")["generate_migrations"]["state"] == "ok"


def test_survey_questions_left_unanswered_leave_the_inventory_values_in_force(tmp_path):
    sqlite = generate_db.sqlite_database(str(tmp_path / "sandbox.db"))
    sqlite.seed(PROCESSING_AN_HOUR)
    # Without Hangfire's tables (schema HangFire is missing) the age rule decides: the inventory's 600 seconds make
    # the report run of an hour ago stuck; a default of the survey's question would override them.
    job = AwxJob(str(tmp_path), 304, RESET_TEMPLATE)
    status = job.launch([("sandbox", "sandbox")],
                        host_variables={"sandbox": {"generate_db_schema": "main", "generate_stuck_after": 600}},
                        credential={"connection_string": sqlite.connection_string}, launch_type="manual")

    assert (status, job.runner.rc) == ("successful", 0), job.output()
    assert sqlite.statuses() == {"ods": "success", "rds": "success", "report": "success"}


@pytest.mark.parametrize("launch, failed, prod_after", [
    ("nightly schedule", ["dev", "prod"], {"ods": "error", "rds": "pending", "report": "pending"}),
    ("manual, not stopping before prod", ["dev"], {"ods": "success", "rds": "success", "report": "success"}),
])
def test_reset_job_leaves_prod_alone_after_a_failed_environment_when_asked_to_stop_before_prod(tmp_path, launch,
                                                                                               failed, prod_after):
    # One nightly schedule over every environment, as docs/awx.md sets it up for the tier order.
    nightly = schedules(RESET_TEMPLATE, settings={"generate_awx_environments": [{"name": "all", "limit": "generate"}]})
    answers = nightly[0]["extra_data"] if launch == "nightly schedule" else {"generate_stop_before_prod": "no"}
    prod, host = sqlite_environment(tmp_path, "prod", FAILED)
    # Each environment's connection is in the inventory; dev's database cannot be opened, so dev fails first.
    missing = "DRIVER={SQLite3};DATABASE=%s" % (tmp_path / "missing" / "dev.db")
    job = AwxJob(str(tmp_path), 305, RESET_TEMPLATE)
    status = job.launch([("dev", "dev"), ("prod", "prod")],
                        host_variables={"dev": dict(host, generate_db_connection_string=missing),
                                        "prod": dict(host, generate_db_connection_string=prod.connection_string)},
                        limit=nightly[0]["limit"], survey_answers=answers,
                        launch_type="scheduled" if launch == "nightly schedule" else "manual")

    assert (status, job.runner.rc) == ("failed", 2), job.output()
    assert job.stats()["artifact_data"]["generate_summary"]["failed_environments"] == failed
    assert prod.statuses() == prod_after


@pytest.mark.parametrize("answers", [
    {"generate_stuck_after": "600"},
    {"generate_stuck_after": -1},
    {"generate_stuck_after": 30 * 86400 + 1},
    {"generate_audit_note": "x" * 501},
    {"generate_stop_before_prod": "maybe"},
], ids=["stuck_after as text", "negative stuck_after", "stuck_after over 30 days", "audit note over 500",
        "stop_before_prod neither yes nor no"])
def test_reset_launch_with_a_survey_answer_out_of_bounds_is_refused_before_anything_runs(tmp_path, answers):
    job = AwxJob(str(tmp_path), 306, RESET_TEMPLATE)

    with pytest.raises(LaunchRefused, match=list(answers)[0]):
        job.launch([("dev", "dev")], survey_answers=answers, launch_type="manual")
    assert not os.path.exists(job.private_data_dir)


# --- the recover template --------------------------------------------------------------------------------------


def test_recover_job_resets_reruns_through_generate_and_shows_the_progress_in_the_job_output(tmp_path, standins):
    sqlite, host = sqlite_environment(tmp_path, "sandbox", FAILED)
    sqlite.add_report("c002")
    sqlite.add_report("c089", legacy=True)
    standin = standins(sqlite, run_seconds=1)
    job = AwxJob(str(tmp_path), 404, RECOVER_TEMPLATE)
    # The survey's text answer names the reports to migrate, as the report migration page's selection.
    status = job.launch([("test", "sandbox")],
                        host_variables={"sandbox": dict(host, generate_rerun_poll=1, **app_urls(standin))},
                        credential={"connection_string": sqlite.connection_string}, limit="sandbox",
                        survey_answers={"generate_cancel_hung": "no", "generate_rerun_reports": "c002, c089"},
                        launch_type="manual")

    assert (status, job.runner.rc) == ("successful", 0), job.output()
    # Generate 13.1: one report run does the whole pipeline over the selection.
    assert background_runs(standin) == ["/api/DataMigration/MigrateData/report"]
    assert [entry["reports"] for entry in standin.replica.pipeline_runs] == [["c002", "c089"]]
    assert sqlite.statuses() == {"ods": "success", "rds": "success", "report": "success"}
    assert "sandbox: report: 0:00:0" in job.output()
    summary = job.stats()["artifact_data"]["generate_summary"]
    assert [run["outcome"] for run in summary["environments"][0]["reruns"]] == ["success"]


def test_recover_job_answered_not_to_rerun_resets_without_asking_generate_to_run_again(tmp_path, standins):
    sqlite, host = sqlite_environment(tmp_path, "sandbox", FAILED)
    standin = standins(sqlite, run_seconds=1)
    job = AwxJob(str(tmp_path), 405, RECOVER_TEMPLATE)
    # The survey's "no" wins over the template's generate_rerun: true.
    status = job.launch([("test", "sandbox")], host_variables={"sandbox": dict(host, **app_urls(standin))},
                        credential={"connection_string": sqlite.connection_string}, limit="sandbox",
                        survey_answers={"generate_rerun": "no"}, launch_type="manual")

    assert (status, job.runner.rc) == ("successful", 0), job.output()
    assert sqlite.statuses() == {"ods": "success", "rds": "success", "report": "success"}
    assert background_runs(standin) == []
    assert job.stats()["artifact_data"]["generate_summary"]["environments"][0]["reruns"] == []


# --- project sync ----------------------------------------------------------------------------------------------


def test_project_update_installs_this_collection_from_the_checkout_offline(tmp_path):
    update = install_project_collections(ROOT, str(tmp_path))

    assert update.returncode == 0, update.stdout + update.stderr
    installed = tmp_path / "ansible_collections" / "ceds" / "generate"
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        version = yaml.safe_load(handle)["version"]
    assert json.loads((installed / "MANIFEST.json").read_text())["collection_info"]["version"] == version
    module = os.path.join("plugins", "modules", "data_migrations.py")
    with open(os.path.join(ROOT, module), encoding="utf-8") as handle:
        assert (installed / module).read_text() == handle.read()


# --- the AWX configuration -------------------------------------------------------------------------------------


def test_status_schedules_fire_every_15_minutes_and_the_nightly_resets_at_two_each_day():
    status = schedules(STATUS_TEMPLATE)
    nightly = schedules(RESET_TEMPLATE)

    assert status and nightly
    for schedule in status:
        times = occurrences(schedule["rrule"], 4)
        assert [b - a for a, b in zip(times[:-1], times[1:])] == [datetime.timedelta(minutes=15)] * 3
    for schedule in nightly:
        times = occurrences(schedule["rrule"], 4)
        assert [b - a for a, b in zip(times[:-1], times[1:])] == [datetime.timedelta(days=1)] * 3
        assert all((moment.hour, moment.minute, moment.utcoffset()) == (2, 0, datetime.timedelta(0))
                   for moment in times)


def test_configuration_playbook_passes_syntax_check_and_lint():
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    listed = subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "list", "awx.awx", "--format", "json"],
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    assert "awx.awx" in listed.stdout, "awx.awx is not installed (the ansible package of requirements-dev.txt)"

    syntax = subprocess.run([os.path.join(BIN, "ansible-playbook"), "--syntax-check", CONFIGURE],
                            env=env, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
    lint = subprocess.run([os.path.join(BIN, "ansible-lint"), "--offline", "--nocolor", "--profile", "production",
                           CONFIGURE], env=env, capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr


# --- the execution environment ---------------------------------------------------------------------------------


def test_execution_environment_build_context_installs_the_driver_pyodbc_and_this_collection(tmp_path):
    context = tmp_path / "context"
    create = subprocess.run([os.path.join(BIN, "ansible-builder"), "create", "-f", EXECUTION_ENVIRONMENT,
                             "--context", str(context), "--output-filename", "Containerfile"],
                            capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert create.returncode == 0, create.stdout + create.stderr
    containerfile = (context / "Containerfile").read_text()
    build = context / "_build"
    final_stage = containerfile.split("AS final", 1)[1]

    # Microsoft's repository, then msodbcsql18 with the licence accepted, in the image that runs jobs.
    repository = final_stage.index("packages.microsoft.com/config/rhel/9/prod.repo")
    driver = re.search(r"^RUN ACCEPT_EULA=Y \S+ install -y msodbcsql18\b", final_stage, re.MULTILINE)
    assert driver and repository < driver.start()
    # pyodbc and unixODBC through ansible-builder's requirement files, installed in the final stage.
    assert re.search(r"^pyodbc\b", (build / "requirements.txt").read_text(), re.MULTILINE)
    assert re.search(r"^unixODBC \[platform:rpm\]", (build / "bindep.txt").read_text(), re.MULTILINE)
    assert "COPY _build/requirements.txt" in containerfile and "COPY _build/bindep.txt" in containerfile
    assert "RUN /output/scripts/install-from-bindep" in final_stage
    # This collection from the checkout, by ansible-galaxy in the galaxy stage: every plugin file as it is here.
    galaxy = yaml.safe_load((build / "requirements.yml").read_text())
    assert galaxy == {"collections": [{"name": "/build/collection", "type": "dir"}]}
    assert "COPY _build /build" in containerfile
    assert "ansible-galaxy collection install" in containerfile
    plugins = [name for name in project_files() if name.startswith("plugins/")]
    for name in ["galaxy.yml", "meta/runtime.yml"] + plugins:
        with open(os.path.join(ROOT, name), "rb") as handle:
            assert (build / "collection" / name).read_bytes() == handle.read(), name
    assert sorted(path.name for path in (build / "collection" / "plugins" / "module_utils").glob("*.py")) == sorted(
        name for name in os.listdir(os.path.join(ROOT, "plugins", "module_utils")) if name.endswith(".py"))
    assert "pyodbc.drivers()" in final_stage
    # The image's ansible-core writes its fact cache where AWX reads it (tests/integration/test_awx_fact_cache.py).
    assert re.search(r"^ENV ANSIBLE_CACHE_JSONFILE_PERSIST_METADATA=false$", final_stage, re.MULTILINE)


def test_status_job_reports_an_unreachable_environment_as_such_and_the_others_in_full(tmp_path, standins):
    healthy, host = sqlite_environment(tmp_path, "healthy", HEALTHY)
    failed, _host = sqlite_environment(tmp_path, "failed", FAILED)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    # A host of its own over ssh: the inventory's ansible_connection (local, on `all`) is overridden for it.
    far = dict(host, ansible_connection="ssh", ansible_host="127.0.0.1", ansible_port=closed_port,
               generate_db_connection_string=healthy.connection_string)
    job = AwxJob(str(tmp_path), 501, STATUS_TEMPLATE)
    status = job.launch(
        [("dev", "healthy"), ("test", "far"), ("prod", "failed")],
        host_variables={
            "healthy": dict(host, generate_db_connection_string=healthy.connection_string,
                            **app_urls(standins(healthy))),
            "far": far,
            "failed": dict(host, generate_db_connection_string=failed.connection_string)})

    assert (status, job.runner.rc) == ("failed", 2), job.output()
    summary = job.stats()["artifact_data"]["generate_summary"]
    assert summary["complete"] is True
    assert dict((row["environment"], row["outcome"]) for row in summary["environments"]) == {
        "healthy": "ok", "far": "unreachable", "failed": "failed"}
    assert sorted(summary["failed_environments"]) == ["failed", "far"]
    far_row = [row for row in summary["environments"] if row["environment"] == "far"][0]
    assert far_row["error"].startswith("Database: read the migration status: unreachable over ssh: ")
    assert far_row["error"].endswith("the inventory sets ansible_connection: ssh for this environment: set it to "
                                     "local, or remove it, to check it from the controller")
    assert job.stats()["failures"] == {"far": 1, "failed": 1}
    summary_path = os.path.join(job.artifacts, "reports", "migration_status-job%s.json" % job.job_id)
    with open(summary_path, encoding="utf-8") as handle:
        assert json.load(handle) == summary
