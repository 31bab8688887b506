# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Part 1: what one data_migrations status task costs against ansible.builtin.ping, on both execution paths.

On a local connection the action plugin runs the module's code in Ansible's
worker. A host whose ``ansible_python_interpreter`` is not the Python that
runs ansible-playbook gets the module process instead, as a remote host
would: here a wrapper script that execs the same Python, so both paths run
the same interpreter and the same code.
"""

from __future__ import annotations

import os
import stat
import sys

from bench.playbook_runs import (DATA_MIGRATIONS, PING, PlaybookFailed, alternate, local_inventory, ratios,
                                 single_task_play, single_task_runner, times)

# What ansible-playbook -vvvv shows when it sends and runs the module's payload: only the module process does.
PAYLOAD = "AnsiballZ_data_migrations.py"


def interpreter_wrapper(workdir):
    """A script that execs this Python: another path to the same interpreter, so the module runs as a process."""
    path = os.path.join(workdir, "python-wrapper")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write('#!/bin/sh\nexec "%s" "$@"\n' % sys.executable)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def check_paths(ansible, playbook, inventories):
    """Run the status task once per path with -vvvv: the payload must be sent on the module process path only."""
    for path, inventory in inventories.items():
        sent = PAYLOAD in ansible.run(playbook, inventory, ["-vvvv"]).output
        if sent != (path == "module_process"):
            raise PlaybookFailed("the %s path %s %s: the host variables do not choose the path they should"
                                 % (path.replace("_", " "), "sent" if sent else "did not send", PAYLOAD))


def measure(ansible, database, rounds):
    """Alternate ping, status in the worker and status as a module process, ``rounds`` times each."""
    worker = local_inventory(ansible.workdir, "worker.ini", sys.executable)
    process = local_inventory(ansible.workdir, "module_process.ini", interpreter_wrapper(ansible.workdir))
    ping = ansible.playbook("ping.yml", single_task_play("ping", PING, {}))
    status = ansible.playbook("status.yml", single_task_play(
        "status", DATA_MIGRATIONS, database.module_args(state="status")))
    check_paths(ansible, status, {"worker": worker, "module_process": process})
    results = alternate(rounds, [
        ("ping", single_task_runner(ansible, ping, worker, PING)),
        ("worker", single_task_runner(ansible, status, worker, DATA_MIGRATIONS)),
        ("module_process", single_task_runner(ansible, status, process, DATA_MIGRATIONS)),
    ])
    return {"rounds": rounds, "times": times(results), "payload": PAYLOAD,
            "ratios": dict((path, ratios(results, path, "ping")) for path in ("worker", "module_process"))}
