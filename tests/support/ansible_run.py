"""Run the collection through the real Ansible executor (ansible-playbook as a subprocess)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

SUPPORT = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(SUPPORT))
BIN = os.path.dirname(sys.executable)

# Values that depend on the moment of the read, in which two runs a few seconds apart may differ.
MOMENT_KEYS = frozenset(("age_seconds", "checked_at"))
# The same ages inside texts: a hung job's age in its warning ("..., 36004 s, longer than stuck_after").
MOMENT_TEXTS = (re.compile(r"(?<=, )\d+(?= s, longer than stuck_after)"),)


def collections_path():
    """A folder holding ansible_collections/ceds/generate -> this checkout (made once per process)."""
    base = os.path.join(tempfile.gettempdir(), "ceds-generate-collections-%d" % os.getuid(), str(os.getpid()))
    link = os.path.join(base, "ansible_collections", "ceds", "generate")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)
    return base


def ansible_env(extra=None, workdir=None):
    """The environment for an ansible command: this collection, the test callback, no colour."""
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": collections_path(),
        "ANSIBLE_CALLBACK_PLUGINS": os.path.join(SUPPORT, "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "result_file",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_HOST_KEY_CHECKING": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "PATH": BIN + os.pathsep + env.get("PATH", ""),
    })
    if workdir:
        env["ANSIBLE_HOME"] = os.path.join(workdir, "ansible-home")
        env["ANSIBLE_LOCAL_TEMP"] = os.path.join(workdir, "ansible-tmp")
    for name in [key for key in env if key.startswith("GENERATE_DB_")]:
        env.pop(name)
    env.update(extra or {})
    return env


class Run:
    """What one ansible-playbook run printed and the task results its callback received."""

    def __init__(self, completed, records):
        self.rc = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        self.records = records
        # The same run as a module process, when the test's runs happen on both paths (tests/integration/conftest.py).
        self.module_process = None

    @property
    def output(self):
        """Everything the run printed."""
        return self.stdout + self.stderr

    @property
    def record(self):
        """The callback record of the last task that ran the module."""
        module_records = [r for r in self.records if r["action"].endswith("data_migrations")]
        assert module_records, "the module did not run:\n%s" % self.output
        return module_records[-1]

    @property
    def result(self):
        """The result of the last task that ran the module."""
        return self.record["result"]

    @property
    def failed(self):
        """Whether the module's task failed."""
        return self.record["status"] == "failed"

    def by_task(self):
        """``{task name: record}`` of the module's tasks (of one host), for playbooks with many tasks."""
        return dict((r["task"], r) for r in self.records if r["action"].endswith("data_migrations"))


def run_playbook(playbook, inventory, args=(), env=None, workdir=None, timeout=300, deprecated=()):
    """Run ansible-playbook; return a Run with the results written by the test callback.

    deprecated: texts of the deprecations the run must report (a deprecated alias used on purpose); any other
    deprecation fails the run.
    """
    workdir = workdir or tempfile.mkdtemp(prefix="ceds-run-")
    result_file = os.path.join(workdir, "results-%d.jsonl" % len(os.listdir(workdir)))
    environment = ansible_env(dict(env or {}, CEDS_RESULT_FILE=result_file), workdir)
    command = [os.path.join(BIN, "ansible-playbook"), "-i", inventory, playbook] + list(args)
    completed = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=timeout,
                               cwd=workdir, stdin=subprocess.DEVNULL, check=False)
    records = []
    if os.path.exists(result_file):
        with open(result_file, encoding="utf-8") as handle:
            records = [json.loads(line) for line in handle if line.strip()]
    found = deprecations(completed, records)
    unexpected = [line for line in found if not any(text in line for text in deprecated)]
    assert not unexpected, "ansible-core reported deprecated use:\n%s" % "\n".join(unexpected)
    missing = [text for text in deprecated if not any(text in line for line in found)]
    assert not missing, "ansible-core did not report these deprecations: %s\n%s" % (missing, completed.stdout[-3000:])
    return Run(completed, records)


def deprecations(completed, records):
    """What ansible-core reported as deprecated in a run: the warnings it printed and its results' own list.

    Every run of the tests goes through here, on every release of the controller matrix, so that the
    collection, its playbooks and its tests use no interface a release has deprecated.
    """
    found = [line.strip() for line in (completed.stdout + completed.stderr).splitlines()
             if "DEPRECATION WARNING" in line]
    for record in records:
        found += ["%s: %s" % (record.get("task"), item) for item in (record.get("result") or {}).get("deprecations", [])]
    return found


def python_wrapper(folder):
    """A script in ``folder`` that starts this same Python: as a host's ansible_python_interpreter it is not the
    controller's Python to the action plugin, so the module runs as a module process, with this Python's pyodbc."""
    path = os.path.join(folder, "python-wrapper")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write('#!/bin/sh\nexec %s "$@"\n' % sys.executable)
    os.chmod(path, 0o755)
    return path


def run_module(module_args, check=False, diff=False, verbosity=0, env=None, workdir=None, timeout=300,
               interpreter=None):
    """Run ceds.generate.data_migrations once on localhost through ansible-playbook.

    interpreter: the host's ansible_python_interpreter, this Python by default (the module then runs in
    Ansible's worker); ``python_wrapper`` makes it run as a module process.
    """
    workdir = workdir or tempfile.mkdtemp(prefix="ceds-module-")
    playbook = os.path.join(workdir, "module.yml")
    with open(playbook, "w", encoding="utf-8") as handle:
        yaml.safe_dump([{
            "name": "Run the module",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [{"name": "data_migrations", "ceds.generate.data_migrations": module_args}],
        }], handle)
    inventory = os.path.join(workdir, "inventory.ini")
    with open(inventory, "w", encoding="utf-8") as handle:
        handle.write("localhost ansible_connection=local ansible_python_interpreter=%s\n"
                     % (interpreter or sys.executable))
    args = []
    if check:
        args.append("--check")
    if diff:
        args.append("--diff")
    if verbosity:
        args.append("-" + "v" * verbosity)
    return run_playbook(playbook, inventory, args, env=env, workdir=workdir, timeout=timeout)


def run_tasks(tasks, hosts=1, verbosity=0, env=None, workdir=None, timeout=300, module="ceds.generate.data_migrations",
              interpreter=None, deprecated=()):
    """Run several module tasks in one ansible-playbook, each with ``ignore_errors`` so all of them run.

    tasks: (name, module_args) or (name, module_args, extra task keywords such as ``environment``).
    hosts: how many local hosts (``host1``..) run every task at the same time, with one fork each.
    interpreter: the hosts' ansible_python_interpreter, as for ``run_module``.
    """
    workdir = workdir or tempfile.mkdtemp(prefix="ceds-tasks-")
    playbook = os.path.join(workdir, "tasks-%d.yml" % len(os.listdir(workdir)))
    play_tasks = []
    for task in tasks:
        name, module_args = task[0], task[1]
        entry = {"name": name, module: module_args, "ignore_errors": True}
        entry.update(task[2] if len(task) > 2 else {})
        play_tasks.append(entry)
    with open(playbook, "w", encoding="utf-8") as handle:
        yaml.safe_dump([{"name": "Run the module", "hosts": "all", "gather_facts": False,
                         "tasks": play_tasks}], handle, allow_unicode=True)
    inventory = os.path.join(workdir, "inventory-%d.ini" % hosts)
    with open(inventory, "w", encoding="utf-8") as handle:
        names = ["localhost"] if hosts == 1 else ["host%d" % number for number in range(1, hosts + 1)]
        for name in names:
            handle.write("%s ansible_connection=local ansible_python_interpreter=%s\n"
                         % (name, interpreter or sys.executable))
    args = ["--forks", str(max(hosts, 1))]
    if verbosity:
        args.append("-" + "v" * verbosity)
    return run_playbook(playbook, inventory, args, env=env, workdir=workdir, timeout=timeout, deprecated=deprecated)


def without_moment(value):
    """A result with the values that depend on the moment of the read (``MOMENT_KEYS``, ``MOMENT_TEXTS``) left out."""
    if isinstance(value, dict):
        return dict((key, without_moment(item)) for key, item in value.items() if key not in MOMENT_KEYS)
    if isinstance(value, list):
        return [without_moment(item) for item in value]
    if isinstance(value, str):
        for pattern in MOMENT_TEXTS:
            value = pattern.sub("<moment>", value)
    return value


def differences(worker, process, where):
    """Lines naming each place where the worker's and the module process's values differ, key by key, item by item."""
    if isinstance(worker, dict) and isinstance(process, dict):
        found = []
        for key in sorted(set(worker) | set(process), key=str):
            place = "%s.%s" % (where, key)
            if key not in process:
                found.append("%s: only in the worker: %r" % (place, worker[key]))
            elif key not in worker:
                found.append("%s: only in the module process: %r" % (place, process[key]))
            else:
                found.extend(differences(worker[key], process[key], place))
        return found
    if isinstance(worker, list) and isinstance(process, list) and len(worker) == len(process):
        return [line for number, pair in enumerate(zip(worker, process))
                for line in differences(pair[0], pair[1], "%s[%d]" % (where, number))]
    if worker != process or type(worker) is not type(process):
        return ["%s: worker %r, module process %r" % (where, worker, process)]
    return []


def path_differences(worker_records, process_records):
    """How the module's task records of runs in the worker and as a module process differ, one line each.

    The records are compared whole, pair by pair in task order: the task's status and its entire result,
    with only the moment of the read (``without_moment``) left out.
    """
    if len(worker_records) != len(process_records):
        return ["the worker gave %d task results, the module process %d"
                % (len(worker_records), len(process_records))]
    found = []
    for worker, process in zip(worker_records, process_records):
        where = "%s/%s" % (worker["host"], worker["task"])
        found.extend(differences(worker["status"], process["status"], where + " status"))
        found.extend(differences(without_moment(worker["result"]), without_moment(process["result"]),
                                 where + " result"))
    return found
