# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running ansible-playbook for the benchmark, and pairing runs that alternate.

Every run starts in a session of its own, so that stopping it stops its
workers and module processes too; a run stops at the first host that fails,
with that host's message, instead of going on over the rest of a fleet.
"""

from __future__ import annotations

import json
import os
import select
import signal
import statistics
import subprocess
import sys
import time

import yaml

from tests.support import ansible_run

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
PING = "ansible.builtin.ping"
DATA_MIGRATIONS = "ceds.generate.data_migrations"
# How often a running playbook is looked at for a failed host; its end is noticed at once.
WATCH_SECONDS = 0.5
# How long a stopped playbook has to end its workers before they are killed.
STOP_SECONDS = 5


class PlaybookFailed(RuntimeError):
    """An ansible-playbook run failed, or did not end in time; the message says where and why."""


def median(values):
    """The median of ``values`` (NaN for none)."""
    return statistics.median(values) if values else float("nan")


def spread(values):
    """The median, the least and the greatest of ``values``."""
    return {"median": median(values), "min": min(values), "max": max(values)}


def ms(seconds):
    """Seconds as whole milliseconds, for the tables."""
    return "%.0f ms" % (seconds * 1000)


class PlaybookProcess:
    """One ansible-playbook command, its output in a file and its task records read as they come."""

    def __init__(self, command, env, cwd, times, output):
        self.command = command
        self.times = times
        self.output_path = output
        self.records = []
        self._read = 0
        self.started = time.perf_counter()
        # The output goes to a file: a pipe nobody reads while waiting would stop a talkative run.
        with open(output, "w", encoding="utf-8") as handle:
            self.process = subprocess.Popen(command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=handle,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        self.ended = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def output(self):
        """Everything the run printed so far."""
        with open(self.output_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    @property
    def wall(self):
        """Seconds from the start to the end of the command."""
        return self.ended - self.started

    def _read_records(self):
        if not os.path.exists(self.times):
            return
        with open(self.times, encoding="utf-8") as handle:
            handle.seek(self._read)
            text = handle.read()
        # Only whole lines: the callback may be writing the next one.
        complete = text[:text.rfind("\n") + 1]
        self._read += len(complete.encode("utf-8"))
        self.records.extend(json.loads(line) for line in complete.splitlines() if line.strip())

    def first_failure(self):
        """The first host that failed or was unreachable (an ignored failure aside), as one line, or None."""
        self._read_records()
        for record in self.records:
            if record["status"] == "unreachable" or (record["status"] == "failed" and not record.get("ignored")):
                return "%s, task %r: %s" % (record["host"], record["task"], record.get("msg") or record["status"])
        return None

    def _wait_for_exit(self, seconds):
        """Whether the command ended within ``seconds``; a pidfd wakes this at its exit, not at the next look."""
        try:
            pidfd = os.pidfd_open(self.process.pid)
        except (AttributeError, OSError):
            try:
                self.process.wait(seconds)
                return True
            except subprocess.TimeoutExpired:
                return False
        try:
            # poll(), not select(): a fleet's stand-in sockets take the descriptors below 1024 that select() needs.
            waiting = select.poll()
            waiting.register(pidfd, select.POLLIN)
            return bool(waiting.poll(seconds * 1000))
        finally:
            os.close(pidfd)

    def wait(self, timeout):
        """Wait for the end and return the exit code; raise PlaybookFailed at the first failed host or the timeout."""
        name = os.path.basename(self.command[3])
        while not self._wait_for_exit(WATCH_SECONDS):
            failure = self.first_failure()
            if failure:
                self.stop()
                raise PlaybookFailed("%s stopped at its first failed host: %s" % (name, failure))
            if time.perf_counter() - self.started > timeout:
                self.stop()
                raise PlaybookFailed("%s did not end within %d s; its output ends:\n%s"
                                     % (name, timeout, self.output[-3000:]))
        self.ended = time.perf_counter()
        returncode = self.process.wait()
        self._read_records()
        return returncode

    def stop(self):
        """End the command and every process of its session, if it is still running."""
        if self.process.poll() is not None:
            return
        # The session is the command's own (start_new_session): its workers and module processes, nothing else.
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class Ansible:
    """Runs ansible-playbook with this checkout as ceds.generate and the task_times callback."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.python = sys.executable
        self.bin = os.path.dirname(sys.executable)
        self.env = ansible_run.ansible_env(workdir=workdir)
        self.env.update({
            "ANSIBLE_CALLBACK_PLUGINS": os.path.join(BENCH, "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "task_times",
        })
        self.collections = self.env["ANSIBLE_COLLECTIONS_PATH"]
        self.count = 0

    def playbook(self, name, plays):
        """Write a playbook into the work folder; return its path."""
        path = os.path.join(self.workdir, name)
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(plays, handle, sort_keys=False)
        return path

    def start(self, playbook, inventory, args=(), env=None, cwd=None):
        """Start one run; return its PlaybookProcess (a context manager that stops it)."""
        self.count += 1
        times = os.path.join(self.workdir, "times-%d.jsonl" % self.count)
        output = os.path.join(self.workdir, "output-%d.txt" % self.count)
        command = [os.path.join(self.bin, "ansible-playbook"), "-i", inventory, playbook] + list(args)
        return PlaybookProcess(command, dict(self.env, CEDS_TASK_TIMES=times, **(env or {})), cwd or self.workdir,
                               times, output)

    def run(self, playbook, inventory, args=(), env=None, timeout=900):
        """Run once, to the end; return the finished PlaybookProcess. A failed run raises PlaybookFailed."""
        with self.start(playbook, inventory, args, env) as run:
            returncode = run.wait(timeout)
        if returncode != 0:
            raise PlaybookFailed("%s failed (exit code %d): %s" % (
                os.path.basename(playbook), returncode, run.first_failure() or run.output[-3000:]))
        return run


def local_inventory(workdir, name, interpreter):
    """An inventory of one host, the controller itself, with ``interpreter`` as its Python; return its path."""
    path = os.path.join(workdir, name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("localhost ansible_connection=local ansible_python_interpreter=%s\n" % interpreter)
    return path


def single_task_play(name, action, args, hosts="all"):
    """A play of one task, without gathering facts."""
    return [{"name": name, "hosts": hosts, "gather_facts": False, "tasks": [{"name": name, action: args}]}]


def task_seconds(records, action):
    """The time of the first task of ``action`` in a run's records."""
    found = [record["seconds"] for record in records if record["action"] == action]
    if not found:
        raise PlaybookFailed("no %s task ran" % action)
    return found[0]


def alternate(rounds, contenders, before_each=None):
    """Run each contender once per round, the order reversed every other round; return {name: [results]}."""
    results = dict((name, []) for name, _run in contenders)
    for number in range(rounds):
        for name, run in contenders if number % 2 == 0 else list(reversed(contenders)):
            if before_each:
                before_each(name)
            results[name].append(run())
    return results


def single_task_runner(ansible, playbook, inventory, action, check=None):
    """A contender for ``alternate``: one run, returning (wall time, the task's time)."""
    def run():
        finished = ansible.run(playbook, inventory)
        if check:
            check(playbook)
        return finished.wall, task_seconds(finished.records, action)
    return run


def times(results):
    """Per contender of (wall, task) results: task and run times (medians) and the best task time."""
    return dict((name, {"task": median([v[1] for v in values]), "wall": median([v[0] for v in values]),
                        "task_min": min(v[1] for v in values)}) for name, values in results.items())


def paired_ratios(results, measured, baseline, index):
    """measured / baseline within each round, for element ``index`` of each result: a load that drifts from one
    round to the next weighs on both sides of a ratio alike."""
    return [m[index] / b[index] for m, b in zip(results[measured], results[baseline])]


def ratios(results, measured, baseline):
    """The paired ratios of task and run time of ``measured`` to ``baseline``: median, min and max over rounds."""
    return {"task": spread(paired_ratios(results, measured, baseline, 1)),
            "wall": spread(paired_ratios(results, measured, baseline, 0))}
