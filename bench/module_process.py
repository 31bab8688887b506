# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Part 5: where one module process spends its time, phase by phase (``module_profile.py`` is that process).

This is the process that runs where data_migrations cannot run in the worker
(become, async, another connection or interpreter); part 1 times the same
path through the executor.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench.playbook_runs import BENCH, median

# The phases module_profile.py times inside main(); what main() takes beyond them is its own row.
MAIN_PHASES = ("parse arguments", "connect", "query: read steps", "query: read Hangfire and history",
               "plan and facts", "result (exit_json)")


def timed_process(command, env=None):
    """Run ``command`` to its end; return its wall time in seconds."""
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdin=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure(ansible, database, runs):
    """Time ``runs`` module processes (state=status, one healthy environment) and a bare Python each; medians."""
    out = os.path.join(ansible.workdir, "profile.json")
    command = [sys.executable, os.path.join(BENCH, "module_profile.py"), ansible.collections,
               json.dumps(database.module_args(state="status")), out]
    samples, startup = [], []
    for _run in range(runs):
        startup.append(timed_process([sys.executable, "-c", "pass"]))
        wall = timed_process(command, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        with open(out, encoding="utf-8") as handle:
            sample = json.load(handle)
        if sample["failed"]:
            raise RuntimeError("the module failed: %s" % sample["msg"])
        sample["phases"]["process, start to exit"] = wall
        samples.append(sample["phases"])
    phases = dict((name, median([sample.get(name, 0.0) for sample in samples])) for name in samples[0])
    process = phases["process, start to exit"]
    rows = [
        ("python start-up and exit (python -c pass)", median(startup)),
        ("import ansible.module_utils.basic", phases["import ansible.module_utils.basic"]),
        ("import pyodbc", phases["import pyodbc"]),
        ("import the collection's module_utils", phases["import the collection"]),
        ("parse arguments (AnsibleModule)", phases["parse arguments"]),
        ("connect (ODBC driver load, TCP, login)", phases["connect"]),
        ("query: read steps (one SELECT)", phases["query: read steps"]),
        ("query: read Hangfire's state and history (one SELECT)", phases["query: read Hangfire and history"]),
        ("plan and facts", phases["plan and facts"]),
        ("result (exit_json: JSON out)", phases["result (exit_json)"]),
        ("options, close and the rest of main()",
         max(phases["main() in all"] - sum(phases[name] for name in MAIN_PHASES), 0.0)),
    ]
    rows.append(("interpreter exit (finalising the loaded modules) and the rest",
                 max(process - sum(value for _name, value in rows), 0.0)))
    return {"rows": rows, "process": process, "runs": runs}
