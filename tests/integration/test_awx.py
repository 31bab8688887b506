"""The AWX side: jobs run through ansible-runner the way AWX runs them, and the AWX configuration as code.

An AWX job is a private data directory handed to ``ansible_runner.run``: the
project checkout in ``project/`` (with the collections its project update
installed from ``collections/requirements.yml``), the inventory as a script in
``inventory/hosts``, ``env/extravars``, ``env/cmdline`` and ``env/settings``,
the credential type's env injectors passed as environment variables, and its
file injectors written as files of ``env/`` that only the owner may read. The
jobs here are built that way from awx/configure.yml itself: its credential
type's injectors render the environment and the files, its inventory variables
and job templates decide the rest.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import tempfile
import types

import ansible_runner
import pytest
import yaml
from dateutil.rrule import rrulestr
from jinja2.sandbox import ImmutableSandboxedEnvironment

import generate_db
from ansible_run import BIN, ROOT
from standin_app import StandinGenerate

from ansible_collections.ceds.generate.plugins.module_utils import database as module_database

CONFIGURE = os.path.join(ROOT, "awx", "configure.yml")
EXECUTION_ENVIRONMENT = os.path.join(ROOT, "execution-environment.yml")
STATUS_TEMPLATE = "Generate - migration status"
RESET_TEMPLATE = "Generate - reset failed migrations"
RECOVER_TEMPLATE = "Recover Generate migrations"
FAILED = [("ods", "error", 7200), ("rds", "pending", 7100), ("report", "pending", 7100)]
FAILED_HISTORY = [("ods", 7000, "Error in App.Migrate_Data: deadlock victim")]
HEALTHY = [("ods", "success", 90000), ("rds", "success", 88000), ("report", "success", 86000)]
# Processing for an hour: running by the default stuck_after, stuck by a survey answer of 600.
PROCESSING_AN_HOUR = [("ods", "success", 9000), ("rds", "success", 8000), ("report", "processing", 3600)]


class _ConfigurationLoader(yaml.SafeLoader):
    """Reads awx/configure.yml, keeping its !unsafe templates as the text AWX receives."""


_ConfigurationLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def configuration():
    """The play of awx/configure.yml."""
    with open(CONFIGURE, encoding="utf-8") as handle:
        plays = yaml.load(handle, Loader=_ConfigurationLoader)  # noqa: S506 - a SafeLoader with one more tag
    assert len(plays) == 1
    return plays[0]


def awx_objects(module):
    """The arguments of every task of awx/configure.yml that uses awx.awx.<module>."""
    return [task["awx.awx." + module] for task in configuration()["tasks"] if "awx.awx." + module in task]


def awx_object(module, name=None):
    """The arguments of the one awx.awx.<module> task (of that name)."""
    found = [args for args in awx_objects(module) if name is None or args["name"] == name]
    assert len(found) == 1, "%d awx.awx.%s tasks named %r" % (len(found), module, name)
    return found[0]


def credential_type():
    """The credential type "CEDS Generate database" as AWX stores it."""
    return awx_object("credential_type", "CEDS Generate database")


def inject(inputs, private_data_dir):
    """What AWX gives a job for a credential of the type: ``(environment, files)``, rendered as AWX does.

    AWX renders each template in a sandbox over the credential's non-empty inputs;
    an input left empty is undefined and renders as an empty string. Each file
    injector becomes a new file in the private data directory's ``env/``, mode
    0600, written whether its input is empty or not, whose path the env templates
    see as ``tower.filename`` (a single ``template``) or ``tower.filename.<name>``
    (``template.<name>``; AWX refuses both spellings in one type). ``files`` maps
    each file's name (``""`` for the single ``template``) to its path.
    """
    sandbox = ImmutableSandboxedEnvironment()
    injectors = credential_type()["injectors"]
    namespace = dict((name, value) for name, value in inputs.items() if len(value))
    files = {}
    for label, template in injectors.get("file", {}).items():
        kind, _dot, name = label.partition(".")
        assert kind == "template" and (name or not _dot), "AWX refuses the file injector %r" % label
        handle, path = tempfile.mkstemp(dir=os.path.join(private_data_dir, "env"))
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(sandbox.from_string(template).render(**namespace))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        files[name] = path
    tower = types.SimpleNamespace()
    if "" in files:
        assert len(files) == 1, "AWX refuses 'template' next to 'template.<name>' file injectors"
        tower.filename = files[""]
    elif files:
        tower.filename = types.SimpleNamespace(**files)
    env = dict((name, sandbox.from_string(template).render(tower=tower, **namespace))
               for name, template in injectors["env"].items())
    return env, files


def project_files():
    """The files of the project checkout: tracked and untracked, without what git ignores."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode("utf-8")
    return [name for name in listed.split("\0") if name and os.path.isfile(os.path.join(ROOT, name))]


def install_project_collections(project, target):
    """What AWX's project update does with collections/requirements.yml, in the project's folder.

    Only ``target`` is a collections path, so nothing installed elsewhere on the
    machine can satisfy the requirement in its place.
    """
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=target, ANSIBLE_HOME=os.path.join(target, ".ansible"),
               ANSIBLE_NOCOLOR="1", PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "install",
                           "-r", "collections/requirements.yml", "-p", target],
                          cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False)


class AwxJob:
    """One AWX job of a job template, laid out and launched as AWX's RunJob does."""

    def __init__(self, folder, job_id, template_name):
        self.job_id = job_id
        self.template = awx_object("job_template", template_name)
        self.private_data_dir = os.path.join(folder, "awx_%d" % job_id)
        self.project = os.path.join(self.private_data_dir, "project")
        self.collections = os.path.join(self.private_data_dir, "requirements_collections")
        self.events = []
        self.credential_files = {}
        self.runner = None

    @property
    def artifacts(self):
        """The job's artifacts folder."""
        return os.path.join(self.private_data_dir, "artifacts", str(self.job_id))

    def _checkout(self):
        for name in project_files():
            target = os.path.join(self.project, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, name), target)
        update = install_project_collections(self.project, self.collections)
        assert update.returncode == 0, update.stdout + update.stderr

    def _inventory(self, environments, host_variables):
        """The inventory script AWX writes: the AWX inventory's variables on `all`, tiers under `generate`."""
        inventory_variables = awx_object("inventory")["variables"]
        data = {"all": {"vars": inventory_variables, "children": ["generate"]},
                "generate": {"children": sorted(set(tier for tier, _name in environments)), "hosts": []},
                "_meta": {"hostvars": {}}}
        for tier, name in environments:
            data.setdefault(tier, {"hosts": []})["hosts"].append(name)
            data["_meta"]["hostvars"][name] = host_variables.get(name, {})
        path = os.path.join(self.private_data_dir, "inventory", "hosts")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint(%r)\n" % json.dumps(data))
        os.chmod(path, 0o700)
        return path

    def launch(self, environments, host_variables=None, credential=None, job_type=None, limit=None,
               survey_answers=None, verbosity=0, launch_type="scheduled"):
        """Run the job; ``environments`` is a list of (tier, name). Return the runner's status."""
        os.makedirs(os.path.join(self.private_data_dir, "env"))
        os.makedirs(os.path.join(self.private_data_dir, "inventory"))
        self._checkout()
        inventory = self._inventory(environments, host_variables or {})
        # The template's extra variables, then the survey's answers over them, as AWX merges them.
        extra_vars = dict(self.template.get("extra_vars") or {})
        extra_vars.update(survey_answers or {})
        extra_vars.update({
            "awx_job_id": self.job_id, "tower_job_id": self.job_id,
            "awx_job_template_name": self.template["name"], "awx_job_launch_type": launch_type,
            "awx_inventory_name": "CEDS Generate environments", "awx_project_revision": "0" * 40,
        })
        with open(os.path.join(self.private_data_dir, "env", "extravars"), "w", encoding="utf-8") as handle:
            yaml.safe_dump(extra_vars, handle)
        args = []
        if (job_type or self.template["job_type"]) == "check":
            args.append("--check")
        args.extend(["-u", "root"])
        if self.template.get("diff_mode"):
            args.append("--diff")
        if limit:
            args.extend(["-l", limit])
        if verbosity:
            args.append("-" + "v" * verbosity)
        with open(os.path.join(self.private_data_dir, "env", "cmdline"), "w", encoding="utf-8") as handle:
            handle.write(ansible_runner.utils.args2cmdline(*args))
        with open(os.path.join(self.private_data_dir, "env", "settings"), "w", encoding="utf-8") as handle:
            json.dump({"job_timeout": 0, "suppress_ansible_output": True, "suppress_output_file": True}, handle)
        envvars = {
            "JOB_ID": str(self.job_id), "INVENTORY_ID": "1", "AWX_PRIVATE_DATA_DIR": self.private_data_dir,
            "ANSIBLE_RETRY_FILES_ENABLED": "False", "MAX_EVENT_RES": "700000",
            "ANSIBLE_COLLECTIONS_PATH": self.collections,
            "ANSIBLE_HOME": os.path.join(self.private_data_dir, "ansible-home"),
            "ANSIBLE_LOCAL_TEMP": os.path.join(self.private_data_dir, "tmp"),
            "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
        }
        injected, self.credential_files = inject(credential or {}, self.private_data_dir)
        envvars.update(injected)
        self.runner = ansible_runner.run(
            ident=str(self.job_id), private_data_dir=self.private_data_dir, playbook=self.template["playbook"],
            inventory=inventory, envvars=envvars, suppress_env_files=True,
            fact_cache_type="jsonfile" if self.template.get("use_fact_cache") else "",
            event_handler=self.events.append, quiet=True, timeout=300)
        return self.runner.status

    def output(self):
        """The job's output as AWX shows it: the stdout of every event."""
        return "\n".join(event.get("stdout", "") for event in self.events)

    def results(self, task, event="runner_on_ok"):
        """``{host: result}`` of one task's events of a kind."""
        return dict((e["event_data"]["host"], e["event_data"]["res"]) for e in self.events
                    if e["event"] == event and e["event_data"].get("task") == task)

    def stats(self):
        """The event_data of the playbook_on_stats event, where AWX reads host counts and artifacts."""
        found = [e["event_data"] for e in self.events if e["event"] == "playbook_on_stats"]
        assert len(found) == 1, self.output()
        return found[0]

    def fact_cache(self, host):
        """The facts the job's jsonfile fact cache holds for a host.

        AWX reads ``fact_cache/<host>`` as plain JSON after the job, which is what
        ansible-core writes up to 2.18 (the execution environment's). ansible-core
        2.19, which may run these tests, writes ``s1_<host>`` holding that JSON as
        the string ``__payload__``; both are read here, the format named by the file.
        """
        folder = os.path.join(self.artifacts, "fact_cache")
        if os.path.exists(os.path.join(folder, host)):
            with open(os.path.join(folder, host), encoding="utf-8") as handle:
                return json.load(handle)
        with open(os.path.join(folder, "s1_" + host), encoding="utf-8") as handle:
            return json.loads(json.load(handle)["__payload__"])

    def leaks(self, secret):
        """Where ``secret`` shows in the job's files and events, beyond the credential's injected files.

        The files of the credential type's file injectors, in ``env/`` and readable by
        their owner only, are where AWX hands the password and the connection string over; AWX removes the
        private data directory after the job. Every other file, as bytes, and above
        all ``artifacts/`` with ansible-runner's launch record ``command`` (the
        command and the whole environment of the job), must be free of it.
        """
        forms = [form.encode("utf-8") for form in (secret, "{" + secret.replace("}", "}}") + "}")]
        found = []
        for folder, _dirs, files in os.walk(self.private_data_dir):
            if folder.startswith(self.project) or folder.startswith(self.collections):
                continue
            for name in files:
                path = os.path.join(folder, name)
                if path in self.credential_files.values():
                    continue
                with open(path, "rb") as handle:
                    data = handle.read()
                if any(form in data for form in forms):
                    found.append(os.path.relpath(path, self.private_data_dir))
        if any(form in json.dumps(self.events, ensure_ascii=False).encode("utf-8") for form in forms):
            found.append("job events")
        return found

    def launch_record(self):
        """ansible-runner's record of the command and environment it launched: ``artifacts/<job>/command``."""
        with open(os.path.join(self.artifacts, "command"), encoding="utf-8") as handle:
            return json.load(handle)


@pytest.fixture
def generate_login(postgres):
    """A PostgreSQL login with a password of its own, as the credential of a real install would hold.

    Yields a function that makes a Generate database this login may read and reset.
    """
    role = "awx_%s" % secrets.token_hex(4)
    password = "Aw;x}%s" % secrets.token_hex(8)
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
    """Start stand-in Generate apps over databases; stop them afterwards."""
    started = []

    def start(database):
        standin = StandinGenerate.for_database(database).start()
        started.append(standin)
        return {"generate_web_url": standin.web_url, "generate_background_url": standin.background_url}

    yield start
    for standin in started:
        standin.stop()


@pytest.fixture(autouse=True)
def no_inherited_credentials(monkeypatch):
    """A job sees only what its credential injects, never GENERATE_DB_* of the machine running the tests."""
    for name in [name for name in os.environ if name.startswith("GENERATE_DB_")]:
        monkeypatch.delenv(name)


# --- jobs, run the way AWX runs them ---------------------------------------------------------------------------


def test_status_job_over_the_fleet_fails_on_a_failed_environment_and_caches_its_facts(tmp_path, generate_login,
                                                                                      standins):
    dev = generate_login(FAILED, FAILED_HISTORY)
    test = generate_login(HEALTHY)
    job = AwxJob(str(tmp_path), 101, STATUS_TEMPLATE)
    # One credential for the login every environment shares; each host names its database.
    status = job.launch(
        [("dev", "dev"), ("test", "test")],
        host_variables={"dev": dict(standins(dev), generate_db_name=dev.name),
                        "test": dict(standins(test), generate_db_name=test.name)},
        credential=generate_login.credential)

    assert (status, job.runner.rc) == ("failed", 2), job.output()
    facts = job.results("Database: read the migration status")
    assert facts["dev"]["ansible_facts"]["generate_migrations"]["state"] == "failed"
    assert facts["dev"]["ansible_facts"]["generate_migrations"]["failed_steps"] == ["ods"]
    assert facts["test"]["ansible_facts"]["generate_migrations"]["state"] == "ok"
    assert job.fact_cache("dev")["generate_migrations"]["state"] == "failed"
    assert job.fact_cache("dev")["generate_migrations"]["last_errors"][0]["message"] == FAILED_HISTORY[0][2]
    assert job.fact_cache("test")["generate_migrations"]["state"] == "ok"
    stats = job.stats()
    assert stats["failures"] == {"dev": 1}
    assert stats["artifact_data"]["generate_summary"]["failed_environments"] == ["dev"]
    assert dev.statuses() == {"ods": "error", "rds": "pending", "report": "pending"}
    # The login worked with the password of the credential's file, which the environment only names.
    password_file = job.credential_files["password"]
    launched = job.launch_record()["env"]
    assert launched[module_database.PASSWORD_FILE_ENV] == password_file
    assert launched[module_database.CONNECTION_STRING_FILE_ENV] == ""
    assert dict(module_database.DISCRETE_OPTIONS)["password"] not in launched
    assert os.path.dirname(password_file) == os.path.join(job.private_data_dir, "env")
    assert stat.S_IMODE(os.stat(password_file).st_mode) == 0o600
    assert job.leaks(generate_login.password) == []


def test_check_job_of_the_reset_template_shows_the_diff_and_writes_nothing(tmp_path, generate_login, standins):
    dev = generate_login(FAILED, FAILED_HISTORY)
    before = dev.snapshot()
    job = AwxJob(str(tmp_path), 202, RESET_TEMPLATE)
    # One credential per environment: the schedule or the launch picks dev and dev's credential.
    status = job.launch([("dev", "dev")], host_variables={"dev": standins(dev)},
                        credential=dict(generate_login.credential, database=dev.name),
                        job_type="check", limit="dev", survey_answers={"generate_stop_before_prod": "no"},
                        verbosity=3, launch_type="manual")

    assert (status, job.runner.rc) == ("successful", 0), job.output()
    reset = job.results("Database: reset failed steps")["dev"]
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


def test_status_job_with_a_connection_string_holding_the_password_keeps_it_out_of_the_artifacts(
        tmp_path, generate_login, standins, postgres):
    test = generate_login(HEALTHY)
    # The login needs its password (scram-sha-256 over TCP), which only the connection string holds.
    text = "DRIVER={PostgreSQL Unicode};SERVER=%s;PORT=%d;DATABASE=%s;UID=%s;PWD=%s;" % (
        postgres.host, postgres.port, test.name, generate_login.role, module_database.escape_value(generate_login.password))
    job = AwxJob(str(tmp_path), 404, STATUS_TEMPLATE)
    status = job.launch([("test", "test")], host_variables={"test": standins(test)},
                        credential={"connection_string": text}, verbosity=3)

    assert (status, job.runner.rc) == ("successful", 0), job.output()
    assert job.fact_cache("test")["generate_migrations"]["state"] == "ok"
    launched = job.launch_record()["env"]
    assert launched[module_database.CONNECTION_STRING_FILE_ENV] == job.credential_files["connection_string"]
    assert module_database.CONNECTION_STRING_ENV not in launched
    assert launched[module_database.PASSWORD_FILE_ENV] == ""
    assert stat.S_IMODE(os.stat(job.credential_files["connection_string"]).st_mode) == 0o600
    assert job.leaks(generate_login.password) == []


def test_reset_job_applies_the_survey_answers_and_notes_the_job_in_generate_history(tmp_path, standins):
    sqlite = generate_db.sqlite_database(str(tmp_path / "sandbox.db"))
    sqlite.seed(PROCESSING_AN_HOUR)
    job = AwxJob(str(tmp_path), 303, RESET_TEMPLATE)
    # A credential may carry a whole connection string instead of the separate fields.
    status = job.launch([("sandbox", "sandbox")], host_variables={"sandbox": dict(standins(sqlite), generate_db_schema="main")},
                        credential={"connection_string": sqlite.connection_string}, limit="sandbox",
                        survey_answers={"generate_stuck_after": 600, "generate_audit_note": "CHG-1234",
                                        "generate_stop_before_prod": "no"})

    assert (status, job.runner.rc) == ("successful", 0), job.output()
    assert sqlite.statuses() == {"ods": "success", "rds": "success", "report": "success"}
    audit = [message for message in sqlite.history_messages() if "report" in message.lower()]
    assert len(audit) == 1 and "AWX job 303" in audit[0], audit
    assert "CHG-1234" in audit[0], "the reset playbook must add the survey's generate_audit_note to the audit lines"
    assert job.fact_cache("sandbox")["generate_migrations"]["state"] == "ok"


def test_recover_job_resets_reruns_through_generate_and_shows_the_progress_in_the_job_output(tmp_path):
    sqlite = generate_db.sqlite_database(str(tmp_path / "sandbox.db"))
    sqlite.seed([("ods", "error", 7200), ("rds", "pending", 7100), ("report", "pending", 7100)])
    standin = StandinGenerate.for_database(sqlite).start()
    standin.migrations.run_seconds = 1
    try:
        job = AwxJob(str(tmp_path), 404, RECOVER_TEMPLATE)
        host = {"generate_web_url": standin.web_url, "generate_background_url": standin.background_url,
                "generate_db_schema": "main", "generate_hangfire_schema": "main", "generate_rerun_poll": 1}
        status = job.launch([("test", "sandbox")], host_variables={"sandbox": host},
                            credential={"connection_string": sqlite.connection_string}, limit="sandbox",
                            survey_answers={"generate_cancel_hung": "no"}, launch_type="manual")
    finally:
        standin.stop()
    assert (status, job.runner.rc) == ("successful", 0), job.output()
    assert [path for app, _method, path in standin.requests if app == "background" and path != "/"] == [
        "/api/DataMigration/MigrateData/ods", "/api/DataMigration/MigrateData/rds",
        "/api/DataMigration/MigrateData/report"]
    assert sqlite.statuses() == {"ods": "success", "rds": "success", "report": "success"}
    assert "sandbox: report: 0:00:0" in job.output()
    summary = job.stats()["artifact_data"]["generate_summary"]
    assert [run["outcome"] for run in summary["environments"][0]["reruns"]] == ["success"] * 3


def test_recover_template_is_not_scheduled_asks_its_three_opt_ins_and_alerts_on_failure():
    template = awx_object("job_template", RECOVER_TEMPLATE)
    assert template["extra_vars"] == {"generate_rerun": True}
    assert [question["variable"] for question in template["survey_spec"]["spec"]] == [
        "generate_rerun", "generate_cancel_hung", "generate_unlock_reports"]
    assert all(question["required"] is False and "default" not in question
               for question in template["survey_spec"]["spec"])
    assert template["notification_templates_error"]
    assert RECOVER_TEMPLATE not in [schedule["unified_job_template"] for schedule in awx_objects("schedule")]


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


def test_job_templates_run_playbooks_of_the_project():
    for template in awx_objects("job_template"):
        assert os.path.isfile(os.path.join(ROOT, template["playbook"])), template["playbook"]


# --- the AWX configuration ------------------------------------------------------------------------------------


def credential_folder(tmp_path):
    """A private data directory with the env/ folder the credential's files go to."""
    (tmp_path / "env").mkdir()
    return str(tmp_path)


# Each secret input of the credential type: the module's variable it would land in, and the file variable instead.
SECRET_INPUTS = {
    "password": (dict(module_database.DISCRETE_OPTIONS)["password"], module_database.PASSWORD_FILE_ENV),
    "connection_string": (module_database.CONNECTION_STRING_ENV, module_database.CONNECTION_STRING_FILE_ENV),
}


def test_credential_type_injects_the_environment_variables_the_module_falls_back_to():
    injectors = credential_type()["injectors"]
    in_code = set(env for _option, env in module_database.DISCRETE_OPTIONS if env)
    in_code.update([module_database.CONNECTION_STRING_ENV, module_database.PASSWORD_FILE_ENV,
                    module_database.CONNECTION_STRING_FILE_ENV])
    with open(os.path.join(ROOT, "plugins", "doc_fragments", "connection.py"), encoding="utf-8") as handle:
        documented = set(re.findall(r"E\((GENERATE_DB_\w+)\)", handle.read()))

    # Every fallback but the secrets' variables, whose values would land in the job's artifacts: their files instead.
    assert set(injectors["env"]) == in_code - set(env for env, _file_env in SECRET_INPUTS.values())
    assert in_code == documented
    assert sorted(injectors["file"]) == sorted("template." + name for name in SECRET_INPUTS)
    for name, (_env, file_env) in SECRET_INPUTS.items():
        assert "{{ %s }}" % name == injectors["file"]["template." + name]
        assert "tower.filename.%s if %s is defined" % (name, name) in injectors["env"][file_env]


def test_credential_type_keeps_the_password_and_the_connection_string_secret(tmp_path):
    fields = dict((field["id"], field) for field in credential_type()["inputs"]["fields"])
    env, files = inject(dict((name, "value-of-%s" % name) for name in fields), credential_folder(tmp_path))

    assert sorted(name for name, field in fields.items() if field.get("secret")) == sorted(SECRET_INPUTS)
    assert sorted(files) == sorted(SECRET_INPUTS)
    for name, (env_name, file_env) in SECRET_INPUTS.items():
        assert env[file_env] == files[name] and env_name not in env
        assert os.path.dirname(files[name]) == os.path.join(str(tmp_path), "env")
        with open(files[name], "rb") as handle:
            assert handle.read() == ("value-of-%s" % name).encode("utf-8")
        assert stat.S_IMODE(os.stat(files[name]).st_mode) == 0o600
    assert sorted(value for value in env.values() if value not in files.values()) == sorted(
        "value-of-%s" % name for name in fields if name not in SECRET_INPUTS)


@pytest.mark.parametrize("inputs, option", [
    ({"server": "sql01.example.org", "password": " Aw;x}{pw} = é "}, "password"),
    ({"connection_string": "DRIVER={PostgreSQL Unicode};SERVER=db;UID=u;PWD={ Aw;x}}{pw}} = é };"},
     "connection_string"),
], ids=["password", "connection string"])
def test_credential_secret_reaches_the_module_exactly_through_its_file(tmp_path, inputs, option):
    env, _files = inject(inputs, credential_folder(tmp_path))
    options = module_database.resolve_connection(dict((name, None) for name in module_database.connection_argument_spec()),
                                                 environ=env)

    assert options[option] == inputs[option]


def test_credential_inputs_left_empty_reach_the_module_as_unset(tmp_path):
    env, _files = inject({"server": "sql01.example.org", "password": "", "connection_string": ""},
                         credential_folder(tmp_path))
    options = module_database.resolve_connection(dict((name, None) for name in module_database.connection_argument_spec()),
                                                 environ=env)

    assert env["GENERATE_DB_PORT"] == ""
    assert [env[file_env] for _env, file_env in SECRET_INPUTS.values()] == ["", ""]
    assert (options["server"], options["port"], options["database"], options["driver"], options["password"],
            options["connection_string"]) == (
        "sql01.example.org", None, "generate", "ODBC Driver 18 for SQL Server", None, None)


def test_status_template_is_read_only_with_fact_cache_and_alerts_on_failure():
    template = awx_object("job_template", STATUS_TEMPLATE)

    assert template["playbook"] == "playbooks/migration_status.yml"
    assert template["job_type"] == "run" and not template.get("ask_job_type_on_launch")
    assert template["use_fact_cache"] is True
    assert "{{ generate_awx_failure_notification_names }}" == template["notification_templates_error"]


def test_reset_template_prompts_for_job_type_and_limit_and_shows_the_diff():
    template = awx_object("job_template", RESET_TEMPLATE)

    assert template["playbook"] == "playbooks/reset_migrations.yml"
    assert template["ask_job_type_on_launch"] is True
    assert template["ask_limit_on_launch"] is True
    assert template["diff_mode"] is True
    assert template["survey_enabled"] is True


def test_reset_survey_is_valid_for_awx_and_asks_stuck_after_and_an_audit_note():
    spec = awx_object("job_template", RESET_TEMPLATE)["survey_spec"]["spec"]
    by_variable = dict((question["variable"], question) for question in spec)

    assert len(by_variable) == len(spec)
    for question in spec:
        assert question["type"] in ("text", "textarea", "password", "integer", "float", "multiplechoice",
                                    "multiselect")
        assert isinstance(question["required"], bool) and question["question_name"]
        if "min" in question and "max" in question:
            assert question["min"] <= question["max"]
        if question["type"] == "multiplechoice" and "default" in question:
            assert question["default"] in question["choices"]
        # AWX sends a question's default with every launch; a question that leaves the inventory in force has none.
        assert question["required"] or "default" not in question
    assert by_variable["generate_stop_before_prod"]["required"] is False
    assert by_variable["generate_stuck_after"]["type"] == "integer"
    assert by_variable["generate_stuck_after"]["max"] == 2592000
    assert by_variable["generate_audit_note"]["max"] == 500


def test_survey_variables_are_variables_the_playbooks_read():
    spec = awx_object("job_template", RESET_TEMPLATE)["survey_spec"]["spec"]
    texts = []
    for folder, _dirs, files in os.walk(os.path.join(ROOT, "playbooks")):
        for name in files:
            with open(os.path.join(folder, name), encoding="utf-8") as handle:
                texts.append(handle.read())

    for question in spec:
        assert any(re.search(r"\b%s\b" % question["variable"], text) for text in texts), (
            "no playbook reads the survey's %s" % question["variable"])


def test_status_schedule_runs_every_15_minutes_and_the_nightly_reset_once_a_day():
    variables = configuration()["vars"]
    status = awx_rrule(variables["generate_awx_status_rrule"])
    nightly = awx_rrule(variables["generate_awx_reset_rrule"])

    assert [b - a for a, b in zip(status[:-1], status[1:])] == [datetime.timedelta(minutes=15)] * 3
    assert [b - a for a, b in zip(nightly[:-1], nightly[1:])] == [datetime.timedelta(days=1)] * 3
    assert all((moment.hour, moment.minute) == (2, 0) for moment in nightly)
    assert variables["generate_awx_reset_schedule_enabled"] is False
    schedules = dict((args["unified_job_template"], args) for args in awx_objects("schedule"))
    assert schedules[STATUS_TEMPLATE]["rrule"] == "{{ generate_awx_status_rrule }}"
    assert schedules[RESET_TEMPLATE]["rrule"] == "{{ generate_awx_reset_rrule }}"


def awx_rrule(text):
    """The first four occurrences of a schedule rule in AWX's form, checked as AWX checks it."""
    assert re.match(r"^DTSTART[:;]\S+ RRULE:\S+$", text), text
    assert "FREQ=SECONDLY" not in text and "COUNT=" not in text
    rule = rrulestr(text.replace(" RRULE:", "\nRRULE:"), forceset=True)
    return list(rule[:4])


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
    # This collection from the checkout, by ansible-galaxy in the galaxy stage.
    galaxy = yaml.safe_load((build / "requirements.yml").read_text())
    assert galaxy == {"collections": [{"name": "/build/collection", "type": "dir"}]}
    assert "COPY _build /build" in containerfile
    assert "ansible-galaxy collection install" in containerfile
    for name in ("galaxy.yml", "meta/runtime.yml", "plugins/modules/data_migrations.py",
                 "plugins/module_utils/database.py"):
        with open(os.path.join(ROOT, name), encoding="utf-8") as handle:
            assert (build / "collection" / name).read_text() == handle.read(), name
    assert sorted(path.name for path in (build / "collection" / "plugins" / "module_utils").glob("*.py")) == sorted(
        name for name in os.listdir(os.path.join(ROOT, "plugins", "module_utils")) if name.endswith(".py"))
    assert "pyodbc.drivers()" in final_stage


def test_execution_environment_runs_an_ansible_core_whose_fact_cache_awx_reads():
    with open(EXECUTION_ENVIRONMENT, encoding="utf-8") as handle:
        definition = yaml.safe_load(handle)
    core = definition["dependencies"]["ansible_core"]["package_pip"]

    assert re.fullmatch(r"ansible-core>=2\.1[6-8],<2\.19", core), core
