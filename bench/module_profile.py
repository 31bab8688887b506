# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One run of ceds.generate.data_migrations in this process, timed phase by phase.

Usage: python bench/module_profile.py COLLECTIONS_PATH ARGS_JSON OUT_JSON

The module runs as Ansible runs it (AnsibleModule reads its arguments, main()
ends in exit_json), with timers around importing, parsing the arguments,
connecting, each query, planning and writing the result. bench/module_process.py
starts it many times and reports the medians.
"""

from __future__ import annotations

import importlib
import io
import json
import sys
import time

started = time.perf_counter()
collections_path, args_json, out_path = sys.argv[1:4]
sys.path.insert(0, collections_path)
phases = {}


def mark(name, since):
    now = time.perf_counter()
    phases[name] = phases.get(name, 0.0) + (now - since)
    return now


t = time.perf_counter()
from ansible.module_utils import basic  # noqa: E402
t = mark("import ansible.module_utils.basic", t)
importlib.import_module("pyodbc")  # the driver, timed apart from the collection that imports it
t = mark("import pyodbc", t)
from ansible_collections.ceds.generate.plugins.module_utils import data_migrations as run  # noqa: E402
from ansible_collections.ceds.generate.plugins.module_utils import migration_tables  # noqa: E402
from ansible_collections.ceds.generate.plugins.modules import data_migrations  # noqa: E402
t = mark("import the collection", t)

basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": json.loads(args_json)}).encode()
basic._ANSIBLE_PROFILE = "legacy"


def timed(owner, attribute, phase):
    original = getattr(owner, attribute)

    def wrapper(*args, **kwargs):
        begun = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            mark(phase, begun)
    setattr(owner, attribute, wrapper)


timed(basic.AnsibleModule, "__init__", "parse arguments")
# execute() calls connect by the name the module's run (module_utils/data_migrations) imported it under.
timed(run, "connect", "connect")
timed(migration_tables.MigrationTable, "read", "query: read steps")
timed(migration_tables.MigrationTable, "read_state", "query: read Hangfire and history")
timed(migration_tables.MigrationTable, "apply", "query: reset")
timed(run.MigrationCheck, "plan", "plan")
timed(run.MigrationCheck, "dump", "facts")
timed(basic.AnsibleModule, "exit_json", "result (exit_json)")
timed(basic.AnsibleModule, "fail_json", "result (exit_json)")

output = io.StringIO()
real_stdout, sys.stdout = sys.stdout, output
t = time.perf_counter()
try:
    data_migrations.main()
except SystemExit:
    pass
finally:
    sys.stdout = real_stdout
mark("main() in all", t)
result = json.loads(output.getvalue())
phases["plan and facts"] = phases.pop("plan") + phases.pop("facts")
phases["in process, in all"] = time.perf_counter() - started
with open(out_path, "w", encoding="utf-8") as handle:
    json.dump({"phases": phases, "failed": bool(result.get("failed")), "msg": result.get("msg"),
               "queries": len(result.get("executed_queries", []))}, handle)
