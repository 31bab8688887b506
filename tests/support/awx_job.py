"""AWX jobs, laid out and launched the way AWX runs them, built from awx/configure.yml.

An AWX job is a private data directory handed to ``ansible_runner.run``: the
project checkout in ``project/`` (with the collections its project update
installed from ``collections/requirements.yml``), the inventory as a script in
``inventory/hosts``, ``env/extravars``, ``env/cmdline`` and ``env/settings``,
and the credentials' injections. The jobs here take everything AWX would take
from the configuration from awx/configure.yml itself: the job template's
playbook, job type, diff mode, fact cache, launch prompts and survey, the
inventory's variables, and the credential type, whose injectors are rendered by
AWX's own injector code (``inject_credential`` of ``awx_plugins.interfaces``).

What AWX does in its control plane and execution environment container is
reproduced on this machine: the launch's prompts and survey answers are
accepted, ignored or refused by AWX's rules, and the paths AWX's injector code
names inside the container (``/runner/...``) are mapped to the private data
directory, which AWX mounts there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import ansible_runner
import yaml
from awx_plugins.interfaces._temporary_private_api import ManagedCredentialType
from awx_plugins.interfaces._temporary_private_container_api import CONTAINER_ROOT
from awx_plugins.interfaces._temporary_private_credential_api import Credential
from awx_plugins.interfaces._temporary_private_inject_api import inject_credential
from dateutil.rrule import rrulestr
from jinja2 import Environment, StrictUndefined

from .ansible_run import BIN, ROOT

CONFIGURE = os.path.join(ROOT, "awx", "configure.yml")
CREDENTIAL_TYPE = "CEDS Generate database"
STATUS_TEMPLATE = "Generate - migration status"
RESET_TEMPLATE = "Generate - reset failed migrations"
RECOVER_TEMPLATE = "Recover Generate migrations"
INVENTORY = "CEDS Generate environments"


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
    """The credential type "CEDS Generate database" as AWX's injector code takes it."""
    args = awx_object("credential_type", CREDENTIAL_TYPE)
    return ManagedCredentialType(namespace="ceds_generate_database", name=args["name"], kind=args["kind"],
                                 inputs=args["inputs"], injectors=args["injectors"])


def host_path(value, private_data_dir):
    """Where on this machine a job finds what the execution environment sees at ``value``.

    AWX mounts the private data directory at ``/runner`` in the container that
    runs the job, and its injector code names the files it writes by that
    in-container path. These jobs run without a container, so a value under
    ``/runner/`` is mapped into the private data directory; any other value is
    returned as it is.
    """
    root = CONTAINER_ROOT.rstrip("/") + "/"
    if not isinstance(value, str) or not value.startswith(root):
        return value
    return os.path.join(private_data_dir, value[len(root):])


def inject(inputs, private_data_dir):
    """What AWX gives a job for a credential of the type with ``inputs``: ``(env, safe_env, args, files)``.

    AWX's own ``inject_credential`` renders the injectors: ``env`` the job's
    environment variables, ``safe_env`` the same as AWX records them on the job
    (secret inputs hidden), ``args`` the extra arguments of ansible-playbook,
    ``files`` the host paths of the files it wrote to the private data
    directory's ``env/``. In-container paths in ``env`` and ``args`` are mapped
    to the private data directory (``host_path``); ``safe_env`` keeps AWX's.
    """
    folder = os.path.join(private_data_dir, "env")
    before = set(os.listdir(folder))
    env, safe_env, args = {}, {}, []
    inject_credential(credential_type(), Credential(inputs=dict(inputs)), env, safe_env, args, private_data_dir)
    files = sorted(os.path.join(folder, name) for name in set(os.listdir(folder)) - before)
    env = dict((name, host_path(value, private_data_dir)) for name, value in env.items())
    # An extra-vars injector hands ansible-playbook "-e @<in-container path>".
    args = [("@" + host_path(arg[1:], private_data_dir)) if arg.startswith("@") else arg for arg in args]
    return env, safe_env, args, files


def image():
    """What the execution environment's image sets for the jobs: its ansible-core requirement and its ENV lines."""
    with open(os.path.join(ROOT, "execution-environment.yml"), encoding="utf-8") as handle:
        definition = yaml.safe_load(handle)
    steps = definition.get("additional_build_steps", {})
    lines = [line for stage in ("prepend_final", "append_final") for line in steps.get(stage, [])]
    environment = dict(line.split(None, 1)[1].split("=", 1) for line in lines if line.startswith("ENV "))
    return definition["dependencies"]["ansible_core"]["package_pip"], environment


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


def schedules(template_name, settings=None):
    """The schedules awx/configure.yml creates for a job template: ``rrule``, ``limit`` and ``extra_data`` of each.

    Rendered as the play renders them, one per entry of
    ``generate_awx_environments``, with the play's defaults and ``settings``
    over them (what ``-e @awx-settings.yml`` would set).
    """
    variables = dict(configuration()["vars"], **(settings or {}))
    environment = Environment(undefined=StrictUndefined)

    def render(value, item):
        if isinstance(value, dict):
            return dict((key, render(entry, item)) for key, entry in value.items())
        if not isinstance(value, str):
            return value
        return environment.from_string(value).render(item=item, **variables)

    return [dict((field, render(schedule.get(field, {}), item)) for field in ("rrule", "limit", "extra_data"))
            for schedule in awx_objects("schedule") if schedule["unified_job_template"] == template_name
            for item in variables["generate_awx_environments"]]


def occurrences(rrule, count):
    """The first ``count`` times a schedule's rrule fires, parsed as AWX parses it, after the checks AWX makes.

    AWX takes a DTSTART, a space and an RRULE, and refuses a rule that fires
    every second or more than 999 times.
    """
    assert re.match(r"^DTSTART[:;]\S+ RRULE:\S+$", rrule), "AWX refuses the rrule %r" % rrule
    assert "FREQ=SECONDLY" not in rrule, "AWX refuses the rrule %r" % rrule
    times = re.search(r"COUNT=(\d+)", rrule)
    assert not times or int(times.group(1)) <= 999, "AWX refuses the rrule %r" % rrule
    rule = rrulestr(rrule.replace(" RRULE:", "\nRRULE:"), forceset=True)
    return list(rule[:count])


class LaunchRefused(Exception):
    """AWX refuses the launch (HTTP 400) and starts no job; the arguments are its error messages."""


def survey_errors(question, answers):
    """AWX's objections to the answer of one survey question (none when the question is not answered)."""
    variable, kind = question["variable"], question["type"]
    if variable not in answers:
        return ["'%s' value missing" % variable] if question.get("required") else []
    value = answers[variable]
    low, high = question.get("min"), question.get("max")
    low = None if low in ("", None) else low
    high = None if high in ("", None) else high
    if kind in ("text", "textarea", "password"):
        if not isinstance(value, str):
            return ["Value %s for '%s' expected to be a string." % (value, variable)]
        size = len(value)
    elif kind in ("integer", "float"):
        numbers = (int,) if kind == "integer" else (int, float)
        if not isinstance(value, numbers) or isinstance(value, bool):
            return ["Value %s for '%s' expected to be %s." % (value, variable, "an integer" if kind == "integer"
                                                              else "a numeric type")]
        size = value
    elif kind in ("multiplechoice", "multiselect"):
        choices = question["choices"]
        choices = choices.split("\n") if isinstance(choices, str) else choices
        picked = value if kind == "multiselect" else [value]
        if not isinstance(picked, list) or any(choice not in choices for choice in picked):
            return ["Value %s for '%s' expected to be one of %s." % (value, variable, choices)]
        return []
    else:
        return ["Survey question '%s' has a type AWX does not know: %s" % (variable, kind)]
    if low is not None and size < int(low):
        return ["'%s' value %s is too small (must be at least %s)." % (variable, value, low)]
    if high is not None and size > int(high):
        return ["'%s' value %s is too large (must be no more than %s)." % (variable, value, high)]
    return []


class AwxJob:
    """One AWX job of a job template of awx/configure.yml, launched and laid out as AWX's RunJob does."""

    def __init__(self, folder, job_id, template_name):
        self.job_id = job_id
        self.template = awx_object("job_template", template_name)
        self.private_data_dir = os.path.join(folder, "awx_%d" % job_id)
        self.project = os.path.join(self.private_data_dir, "project")
        self.collections = os.path.join(self.private_data_dir, "requirements_collections")
        self.events = []
        self.credential_files = []
        self.safe_env = {}
        self.ignored_fields = {}
        self.runner = None

    @property
    def artifacts(self):
        """The job's artifacts folder."""
        return os.path.join(self.private_data_dir, "artifacts", str(self.job_id))

    def _prompted(self, field, value):
        """A launch's value for a prompt, or None with the value noted in ``ignored_fields``.

        AWX takes a launch's job type, limit or credentials only when the template
        prompts for them (``ask_<field>_on_launch``), and ignores them otherwise.
        """
        if value is None:
            return None
        if self.template.get("ask_%s_on_launch" % field):
            return value
        self.ignored_fields[field] = value
        return None

    def _extra_vars(self, answers, launch_type):
        """The job's extra variables: the template's, the survey's defaults, the launch's answers, AWX's own.

        AWX takes a launch's variables when they answer the survey, refusing the
        launch when an answer does not fit its question, and ignores the others
        unless the template prompts for variables. A question left unanswered
        adds its default, if it has one that fits.
        """
        extra_vars = dict(self.template.get("extra_vars") or {})
        spec = self.template["survey_spec"]["spec"] if self.template.get("survey_enabled") else []
        asked = set(question["variable"] for question in spec)
        accepted = dict((name, value) for name, value in answers.items()
                        if name in asked or self.template.get("ask_variables_on_launch"))
        if len(accepted) < len(answers):
            self.ignored_fields["extra_vars"] = dict((name, value) for name, value in answers.items()
                                                     if name not in accepted)
        errors = []
        for question in spec:
            errors.extend(survey_errors(question, accepted))
            default = question.get("default")
            if question["variable"] not in accepted and default is not None \
                    and not survey_errors(question, {question["variable"]: default}):
                extra_vars[question["variable"]] = default
        if errors:
            raise LaunchRefused(*errors)
        extra_vars.update(accepted)
        extra_vars.update({
            "awx_job_id": self.job_id, "tower_job_id": self.job_id,
            "awx_job_template_name": self.template["name"], "awx_job_launch_type": launch_type,
            "awx_inventory_name": INVENTORY, "awx_project_revision": "0" * 40,
        })
        return extra_vars

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
               survey_answers=None, verbosity=0, launch_type="scheduled", cancel_callback=None, image_environment=None):
        """Launch the job and run it to its end; return the runner's status.

        ``environments`` is the inventory, a list of (tier, name), and
        ``host_variables`` each host's variables. ``credential`` (the inputs of
        one "CEDS Generate database" credential), ``job_type``, ``limit`` and
        ``survey_answers`` are what the launch (or a schedule) asks for, taken or
        ignored as AWX would; answers that do not fit the survey raise
        ``LaunchRefused`` before anything runs. ``verbosity`` is the job's.
        ``cancel_callback`` is what AWX hands ansible-runner to learn that the
        job was cancelled: called while the playbook runs, with the events so
        far in ``events``; once it returns true, ansible-runner ends the run.
        ``image_environment`` is the environment the execution environment's
        image sets (its ENV lines), under AWX's own settings.
        """
        credential = self._prompted("credential", credential)
        job_type = self._prompted("job_type", job_type) or self.template["job_type"]
        limit = self._prompted("limit", limit)
        extra_vars = self._extra_vars(survey_answers or {}, launch_type)
        os.makedirs(os.path.join(self.private_data_dir, "env"))
        os.makedirs(os.path.join(self.private_data_dir, "inventory"))
        self._checkout()
        inventory = self._inventory(environments, host_variables or {})
        with open(os.path.join(self.private_data_dir, "env", "extravars"), "w", encoding="utf-8") as handle:
            yaml.safe_dump(extra_vars, handle)
        envvars = {
            "JOB_ID": str(self.job_id), "INVENTORY_ID": "1", "AWX_PRIVATE_DATA_DIR": self.private_data_dir,
            "ANSIBLE_RETRY_FILES_ENABLED": "False", "MAX_EVENT_RES": "700000",
            "ANSIBLE_COLLECTIONS_PATH": self.collections,
            "ANSIBLE_HOME": os.path.join(self.private_data_dir, "ansible-home"),
            "ANSIBLE_LOCAL_TEMP": os.path.join(self.private_data_dir, "tmp"),
            "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
        }
        envvars = dict(image_environment or {}, **envvars)
        args = []
        if credential is not None:
            injected, self.safe_env, args, self.credential_files = inject(credential, self.private_data_dir)
            envvars.update(injected)
        if job_type == "check":
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
        self.runner = ansible_runner.run(
            ident=str(self.job_id), private_data_dir=self.private_data_dir, playbook=self.template["playbook"],
            inventory=inventory, envvars=envvars, suppress_env_files=True,
            fact_cache_type="jsonfile" if self.template.get("use_fact_cache") else "",
            event_handler=self.events.append, cancel_callback=cancel_callback, quiet=True, timeout=300)
        # As every ansible-playbook run of the tests (ansible_run.deprecations): nothing deprecated is used.
        deprecated = [line for line in self.output().splitlines() if "DEPRECATION WARNING" in line]
        assert not deprecated, "ansible-core reported deprecated use:\n%s" % "\n".join(deprecated)
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

    def facts_awx_reads(self, host):
        """The facts AWX takes for a host after the job, read as its finish_fact_cache reads them, or None.

        AWX (awx/main/tasks/facts.py) reads ``fact_cache/<host>`` of the job's
        artifacts as plain JSON, and only when the file was written after it put
        the host's facts there before the job (``host_cache_summary.json``); a
        file that is missing clears the host's facts, one that is not JSON is
        skipped.
        """
        folder = os.path.join(self.artifacts, "fact_cache")
        path = os.path.join(folder, host)
        summary = os.path.join(self.artifacts, "host_cache_summary.json")
        if not os.path.exists(path):
            return None
        if os.path.exists(summary) and os.path.getmtime(path) < os.path.getmtime(summary):
            return None
        try:
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
        except ValueError:
            return None

    def seed_fact_cache(self, facts):
        """Write each host's facts before the job, as AWX's start_fact_cache does, with its summary file."""
        folder = os.path.join(self.artifacts, "fact_cache")
        os.makedirs(folder, mode=0o700, exist_ok=True)
        for host, host_facts in facts.items():
            with open(os.path.join(folder, host), "w", encoding="utf-8") as handle:
                json.dump(host_facts, handle)
        with open(os.path.join(self.artifacts, "host_cache_summary.json"), "w", encoding="utf-8") as handle:
            json.dump({"hosts_cached": sorted(facts), "written_ct": len(facts)}, handle)

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
        """Where ``secret`` shows in the job's files, events and recorded environment, beyond the credential's files.

        The files the credential type's file injectors write, in ``env/`` and
        readable by their owner only, are where AWX hands the password and the
        connection string over; AWX removes the private data directory after the
        job. Every other file, as bytes, and above all ``artifacts/`` with
        ansible-runner's launch record ``command`` (the command and the whole
        environment of the job), the job's events, and the credential's
        variables as AWX records them on the job must be free of it.
        """
        forms = [form.encode("utf-8") for form in (secret, "{" + secret.replace("}", "}}") + "}")]
        found = []
        for folder, _dirs, files in os.walk(self.private_data_dir):
            if folder.startswith(self.project) or folder.startswith(self.collections):
                continue
            for name in files:
                path = os.path.join(folder, name)
                if path in self.credential_files:
                    continue
                with open(path, "rb") as handle:
                    data = handle.read()
                if any(form in data for form in forms):
                    found.append(os.path.relpath(path, self.private_data_dir))
        if any(form in json.dumps(self.events, ensure_ascii=False).encode("utf-8") for form in forms):
            found.append("job events")
        if any(form in json.dumps(self.safe_env, ensure_ascii=False).encode("utf-8") for form in forms):
            found.append("job environment")
        return found

    def launch_record(self):
        """ansible-runner's record of the command and environment it launched: ``artifacts/<job>/command``."""
        with open(os.path.join(self.artifacts, "command"), encoding="utf-8") as handle:
            return json.load(handle)
