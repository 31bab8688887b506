# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark: what a status check and a reset cost against Ansible's own floor, from one environment to a fleet.

Run it with ``./dev bench`` (or ``.venv/bin/python bench/run.py`` after ``./dev setup``; ``--quick`` for a
short run while changing it). It starts its own PostgreSQL cluster in a
temporary folder, reached through psqlODBC, runs the real ansible-playbook,
prints a table per part and writes docs/benchmarks.md. Everything it starts
is stopped at the end, whatever happens.

Every speed figure is a ratio against a baseline measured in the same run,
alternating with it, so a busy or slow machine shifts both sides alike.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

HEALTHY = [("ods", "success", 9000), ("rds", "success", 8000), ("report", "success", 7000)]
# The troubleshooting page's case: the first step failed, the later ones never ran.
FAILED = [("ods", "error", 7200), ("rds", "pending", 7100), ("report", "pending", 7100)]
FAILED_HISTORY = [
    ("ods", 7200, "ODS Migration Started"),
    ("ods", 7000, "Error in App.Migrate_Data: deadlock victim"),
    ("ods", 6990, "ODS Migration Complete - either due to error or cancellation"),
]
# The seed of the project: the documented manual fix.
SEED_UPDATE = 'UPDATE "App"."DataMigrations" SET "DataMigrationStatusId" = 5'
# psqlODBC as it behaves with none of the options the module sets for it.
PSQLODBC_DEFAULTS = "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=%d;DATABASE=%s;UID=%s;PWD={%s}"

# The figures this script measured on the code before the action plugin for data_migrations, the shared TLS
# context and the three-task playbooks (docs/benchmarks.md of that commit).
EARLIER = {
    "commit": "3dc8f3a",
    "date": "2026-11-26 12:01 UTC",
    "per_task": 1.30,
    "versus_tool": 1.00,
    "fleet_size": 200,
    "fleet": 3.44,
    "growth_base": 50,
    "growth": 1.11,
    "tasks": "9.0 (4.0 skipped)",
}

TARGETS = {
    "per_task": 1.25,
    "versus_tool": 1.0,
    "fleet": 1.3,
}


def ensure_requirements():
    """Install bench/requirements.txt into this interpreter's environment when something is missing."""
    missing = []
    for name, check in (("psycopg2", "import psycopg2"),
                        ("community.postgresql", "import ansible_collections.community.postgresql")):
        if subprocess.run([sys.executable, "-c", check], capture_output=True, check=False).returncode != 0:
            missing.append(name)
    if missing:
        print("==> installing bench/requirements.txt (missing: %s)" % ", ".join(missing), flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r", os.path.join(BENCH, "requirements.txt")],
                       check=True)


def median(values):
    return statistics.median(values) if values else float("nan")


def ms(seconds):
    return "%.0f ms" % (seconds * 1000)


def ratio_text(value, target=None):
    text = "%.2fx" % value
    if target is not None:
        text += " (target <= %.2fx: %s)" % (target, "met" if value <= target else "MISSED")
    return text


class Ansible:
    """Runs ansible-playbook with this checkout as ceds.generate and the task_times callback."""

    def __init__(self, workdir):
        import ansible_run

        self.workdir = workdir
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
        import yaml

        path = os.path.join(self.workdir, name)
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(plays, handle, sort_keys=False)
        return path

    def run(self, playbook, inventory, args=(), timeout=900, env=None):
        """Run once; return (wall seconds, exit code, task records, output)."""
        self.count += 1
        times = os.path.join(self.workdir, "times-%d.jsonl" % self.count)
        env = dict(self.env, CEDS_TASK_TIMES=times, **(env or {}))
        command = [os.path.join(self.bin, "ansible-playbook"), "-i", inventory, playbook] + list(args)
        started = time.perf_counter()
        completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout,
                                   cwd=self.workdir, stdin=subprocess.DEVNULL, check=False)
        wall = time.perf_counter() - started
        records = []
        if os.path.exists(times):
            with open(times, encoding="utf-8") as handle:
                records = [json.loads(line) for line in handle if line.strip()]
            os.remove(times)
        return wall, completed.returncode, records, completed.stdout + completed.stderr


def local_inventory(workdir):
    path = os.path.join(workdir, "localhost.ini")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    return path


def single_task_play(name, action, args, hosts="all"):
    return [{"name": name, "hosts": hosts, "gather_facts": False, "tasks": [{"name": name, action: args}]}]


def task_seconds(records, action):
    found = [record["seconds"] for record in records if record["action"] == action]
    if not found:
        raise RuntimeError("no %s task ran" % action)
    return found[0]


def alternate(runs, contenders, before_each=None):
    """Run each contender once per round, in alternating order; return {name: [results]}."""
    results = dict((name, []) for name, _run in contenders)
    for round_number in range(runs):
        order = contenders if round_number % 2 == 0 else list(reversed(contenders))
        for name, run in order:
            if before_each:
                before_each(name)
            results[name].append(run())
    return results


def single_task_runner(ansible, playbook, inventory, action, check=None):
    """A contender for ``alternate``: one ansible-playbook run, returning (wall time, the task's time)."""
    def run():
        wall, rc, records, output = ansible.run(playbook, inventory)
        if rc != 0:
            raise RuntimeError("%s failed:\n%s" % (playbook, output[-3000:]))
        if check:
            check(playbook)
        return wall, task_seconds(records, action)
    return run


def medians(results):
    """Median task and run times (and the best task time) of each contender's (wall, task) results."""
    return dict((name, {"task": median([v[1] for v in values]), "wall": median([v[0] for v in values]),
                        "task_min": min(v[1] for v in values)}) for name, values in results.items())


# ---------------------------------------------------------------- part 1


def part_per_task(ansible, database, runs):
    """data_migrations state=status against one environment versus ansible.builtin.ping, alternating."""
    inventory = local_inventory(ansible.workdir)
    ping = ansible.playbook("ping.yml", single_task_play("ping", "ansible.builtin.ping", {}))
    status = ansible.playbook("status.yml", single_task_play(
        "status", "ceds.generate.data_migrations", database.module_args(state="status")))

    results = alternate(runs, [("ping", single_task_runner(ansible, ping, inventory, "ansible.builtin.ping")),
                               ("status", single_task_runner(ansible, status, inventory,
                                                             "ceds.generate.data_migrations"))])
    row = medians(results)
    row["ratio_task"] = paired_ratio(results, "status", "ping")
    row["ratio_task_medians"] = row["status"]["task"] / row["ping"]["task"]
    row["ratio_wall"] = paired_ratio(results, "status", "ping", index=0)
    row["runs"] = runs
    # On a local connection data_migrations runs in the worker; async makes it start its module process.
    process_plays = single_task_play("status", "ceds.generate.data_migrations", database.module_args(state="status"))
    process_plays[0]["tasks"][0].update({"async": 60, "poll": 1})
    status_process = ansible.playbook("status_process.yml", process_plays)
    row["payload"] = payload_times(ansible, inventory, [("ping", ping), ("status", status_process)], runs * 2)
    return row


def paired_ratio(results, measured, baseline, index=1):
    """Median over the rounds of measured / baseline within each round: a load that drifts between rounds cancels."""
    return median([m[index] / b[index] for m, b in zip(results[measured], results[baseline])])


def payload_times(ansible, inventory, playbooks, runs):
    """The module's own process, as Ansible starts it: each kept AnsiballZ payload run directly, alternating."""
    payloads = []
    for name, playbook in playbooks:
        remote = os.path.join(ansible.workdir, "payload-%s" % name)
        shutil.rmtree(remote, ignore_errors=True)
        _wall, rc, _records, output = ansible.run(playbook, inventory, env={
            "ANSIBLE_KEEP_REMOTE_FILES": "1", "ANSIBLE_REMOTE_TMP": remote})
        found = [os.path.join(folder, entry) for folder, _dirs, files in os.walk(remote) for entry in files
                 if entry.startswith("AnsiballZ_") and not entry.startswith("AnsiballZ_async")]
        if rc != 0 or len(found) != 1:
            raise RuntimeError("no payload kept for %s:\n%s" % (name, output[-2000:]))
        payloads.append((name, found[0]))

    def runner(path):
        def run():
            started = time.perf_counter()
            completed = subprocess.run([sys.executable, path], capture_output=True, stdin=subprocess.DEVNULL,
                                       check=False)
            if completed.returncode != 0:
                raise RuntimeError("%s failed: %s" % (path, completed.stdout[-2000:]))
            elapsed = time.perf_counter() - started
            return elapsed, elapsed
        return run

    results = alternate(runs, [(name, runner(path)) for name, path in payloads])
    measured, baseline = payloads[1][0], payloads[0][0]
    return {"medians": dict((name, median([v[0] for v in values])) for name, values in results.items()),
            "ratio": paired_ratio(results, measured, baseline, index=0), "runs": runs}


# ---------------------------------------------------------------- part 2


def reseed_failed(cluster, database):
    """Put the failed scenario back: the same rows and history as seeded, audit lines removed."""
    cluster.psql(
        'UPDATE "App"."DataMigrations" SET "DataMigrationStatusId" = CASE "DataMigrationId" WHEN 1 THEN 4 ELSE 2 END;'
        ' DELETE FROM "App"."DataMigrationHistories" WHERE "DataMigrationHistoryMessage" LIKE \'%%reset from%%\'',
        database=database.name)


def part_versus_tool(ansible, cluster, database, runs):
    """The seed's UPDATE through community.postgresql.postgresql_query versus the module's state=reset."""
    inventory = local_inventory(ansible.workdir)
    query = ansible.playbook("postgresql_query.yml", single_task_play(
        "seed update", "community.postgresql.postgresql_query", {
            "login_host": cluster.host, "login_port": cluster.port, "login_user": cluster.user,
            "login_password": cluster.password, "db": database.name, "query": SEED_UPDATE}))
    reset = ansible.playbook("reset.yml", single_task_play(
        "reset", "ceds.generate.data_migrations", database.module_args(state="reset")))

    def all_reset(playbook):
        if database.statuses() != {"ods": "success", "rds": "success", "report": "success"}:
            raise RuntimeError("%s did not reset the steps" % playbook)

    def runner(playbook, action):
        return single_task_runner(ansible, playbook, inventory, action, check=all_reset)

    defaults = PSQLODBC_DEFAULTS % (cluster.port, database.name, cluster.user, cluster.password)
    reset_defaults = ansible.playbook("reset_defaults.yml", single_task_play(
        "reset", "ceds.generate.data_migrations", {"state": "reset", "connection_string": defaults}))
    results = alternate(runs, [("postgresql_query", runner(query, "community.postgresql.postgresql_query")),
                               ("reset", runner(reset, "ceds.generate.data_migrations")),
                               ("reset_defaults", runner(reset_defaults, "ceds.generate.data_migrations"))],
                        before_each=lambda _name: reseed_failed(cluster, database))
    row = medians(results)
    row["ratio_task"] = paired_ratio(results, "reset", "postgresql_query")
    row["ratio_task_medians"] = row["reset"]["task"] / row["postgresql_query"]["task"]
    row["ratio_wall"] = paired_ratio(results, "reset", "postgresql_query", index=0)
    row["ratio_options"] = paired_ratio(results, "reset", "reset_defaults")
    row["runs"] = runs
    return row


# ---------------------------------------------------------------- part 4

LOG_ENTRY = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[.\d]* \w+ \[(\d+)\] db=(\S*) app=(.*?) (\w+):  (.*)$")


def server_log_entries(path, offset, database):
    """Statements the server logged for ``database`` since ``offset``: (kind, text) per message received."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        handle.seek(offset)
        text = handle.read()
    entries = []
    current = None
    for line in text.splitlines():
        match = LOG_ENTRY.match(line)
        if match:
            current = None
            if match.group(2) == database and match.group(4) == "LOG":
                body = match.group(5)
                statement = re.match(r"(?:statement|execute [^:]*): (.*)$", body, re.S)
                if statement:
                    current = [statement.group(1)]
                    entries.append(current)
        elif current is not None and line.startswith("\t"):
            current.append(line[1:])
    return [classify("\n".join(lines)) for lines in entries]


CONTROL = re.compile(r"^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|DEALLOCATE)\b", re.I)


def classify(text):
    """Sort one message the server received into what sent it and why."""
    parts = [part.strip() for part in text.split(";") if part.strip()] if text.count(";") and not re.search(
        r"'[^']*;[^']*'", text) else [text.strip()]
    work = [part for part in parts if not CONTROL.match(part)]
    if not work:
        return ("transaction control", text)
    first = work[0]
    if first.startswith("SET DateStyle") or "from pg_type where typname = 'lo'" in first:
        return ("driver: session set-up", text)
    if first.lower().startswith("select n.nspname, c.relname, a.attname"):
        return ("driver: column catalog", text)
    if first.lower().startswith("select version()") or first.lower().startswith("set "):
        return ("tool: session set-up", text)
    verb = first.split(None, 1)[0].upper()
    return ("statement: %s" % verb, text)


def part_round_trips(ansible, cluster, databases):
    """Statements each run sends, counted on the server from PostgreSQL's statement log."""
    inventory = local_inventory(ansible.workdir)
    log = os.path.join(cluster.folder, "server.log")
    healthy, failed = databases
    for database in databases:
        cluster.psql('ALTER DATABASE "%s" SET log_statement = \'all\'' % database.name)
    defaults = PSQLODBC_DEFAULTS % (cluster.port, failed.name, cluster.user, cluster.password)
    cases = [
        ("status, nothing failed", healthy, dict(state="status"), None),
        ("status, a step failed", failed, dict(state="status"), "reseed"),
        ("reset of 3 steps", failed, dict(state="reset"), "reseed"),
        ("reset of 3 steps, psqlODBC defaults", failed,
         dict(state="reset", connection_string=defaults, schema="App"), "reseed"),
        ("status, a step failed, psqlODBC defaults", failed,
         dict(state="status", connection_string=defaults, schema="App"), "reseed"),
        ("seed UPDATE through postgresql_query", failed, None, "reseed"),
    ]
    rows = []
    for title, database, module_args, prepare in cases:
        if prepare == "reseed":
            reseed_failed(cluster, database)
        if module_args is None:
            play = single_task_play("seed update", "community.postgresql.postgresql_query", {
                "login_host": cluster.host, "login_port": cluster.port, "login_user": cluster.user,
                "login_password": cluster.password, "db": database.name, "query": SEED_UPDATE})
        else:
            args = dict(module_args)
            if "connection_string" not in args:
                args = database.module_args(**args)
            play = single_task_play("module", "ceds.generate.data_migrations", args)
        playbook = ansible.playbook("round_trips.yml", play)
        offset = os.path.getsize(log)
        _wall, rc, _records, output = ansible.run(playbook, inventory)
        if rc != 0:
            raise RuntimeError("%s failed:\n%s" % (title, output[-3000:]))
        time.sleep(0.3)
        entries = server_log_entries(log, offset, database.name)
        counts = {}
        for kind, _text in entries:
            counts[kind] = counts.get(kind, 0) + 1
        rows.append({"case": title, "messages": len(entries), "counts": counts,
                     "log": [text.split("\n")[0][:110] for _kind, text in entries]})
    for database in databases:
        cluster.psql('ALTER DATABASE "%s" RESET log_statement' % database.name)
    reseed_failed(cluster, failed)
    return rows


def round_trip_verdicts(rows):
    """Check the targets: status = 2 statements (the steps; Hangfire's state, history and locked reports);
    reset = those + UPDATEs + the guard's SELECT + INSERT + COMMIT."""
    by_case = dict((row["case"], row) for row in rows)
    verdicts = []

    def statements(row):
        return dict((kind, n) for kind, n in row["counts"].items() if kind.startswith("statement"))

    healthy = statements(by_case["status, nothing failed"])
    verdicts.append(("status, nothing failed: 2 statements", healthy == {"statement: SELECT": 2}))
    failed = statements(by_case["status, a step failed"])
    verdicts.append(("status, a step failed: 2 statements (history in the second)", failed == {"statement: SELECT": 2}))
    reset_row = by_case["reset of 3 steps"]
    reset = statements(reset_row)
    extra_control = [text for text in reset_row["log"]
                     if CONTROL.match(text) and not re.match(r"^(COMMIT|BEGIN;)", text)]
    verdicts.append(("reset: status statements + 3 UPDATE + 1 guard SELECT + 1 INSERT + COMMIT, nothing else",
                     reset == {"statement: SELECT": 3, "statement: UPDATE": 3, "statement: INSERT": 1}
                     and reset_row["counts"].get("transaction control") == 1 and not extra_control))
    return verdicts


# ---------------------------------------------------------------- part 5


def part_breakdown(ansible, database, runs, per_task):
    """Phases of one module run in its own process: imports, arguments, connect, queries, result."""
    out = os.path.join(ansible.workdir, "profile.json")
    args = json.dumps(database.module_args(state="status"))
    samples = []
    startup = []
    for _run in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        startup.append(time.perf_counter() - started)
        started = time.perf_counter()
        subprocess.run([sys.executable, os.path.join(BENCH, "module_profile.py"), ansible.collections, args, out],
                       check=True, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        wall = time.perf_counter() - started
        with open(out, encoding="utf-8") as handle:
            sample = json.load(handle)
        if sample["failed"]:
            raise RuntimeError("the module failed: %s" % sample["msg"])
        sample["phases"]["process, start to exit"] = wall
        samples.append(sample["phases"])
    phases = dict((name, median([sample.get(name, 0.0) for sample in samples])) for name in samples[0])
    phases["python start-up and exit"] = median(startup)
    known = sum(phases[name] for name in ("parse arguments", "connect", "query: read steps",
                                          "query: read Hangfire and history", "plan and facts", "result (exit_json)"))
    phases["options, close and the rest of main()"] = max(phases["main() in all"] - known, 0.0)
    process = phases["process, start to exit"]
    rows = [
        ("python start-up and exit (python -c pass)", phases["python start-up and exit"]),
        ("import ansible.module_utils.basic", phases["import ansible.module_utils.basic"]),
        ("import pyodbc", phases["import pyodbc"]),
        ("import the collection's module_utils", phases["import the collection"]),
        ("parse arguments (AnsibleModule)", phases["parse arguments"]),
        ("connect (ODBC driver load, TCP, login)", phases["connect"]),
        ("query: read steps (one SELECT)", phases["query: read steps"]),
        ("query: read Hangfire's state and history (one SELECT)", phases["query: read Hangfire and history"]),
        ("plan and facts", phases["plan and facts"]),
        ("result (exit_json: JSON out)", phases["result (exit_json)"]),
        ("options, close and the rest of main()", phases["options, close and the rest of main()"]),
    ]
    accounted = sum(value for _name, value in rows)
    rows.append(("interpreter exit (finalising the loaded modules) and the rest", max(process - accounted, 0.0)))
    return {"rows": rows, "process": process, "task": per_task["status"]["task"],
            "ping_task": per_task["ping"]["task"], "runs": runs}


# ---------------------------------------------------------------- part 3


def build_fleet(cluster, folder, size):
    """``size`` healthy environments, one database each (copied from one seeded template), with stand-in apps."""
    import generate_db
    from fleet import Fleet

    template = generate_db.postgres_database(cluster, "bench_template")
    template.seed(HEALTHY)
    fleet = Fleet(folder)
    tiers = ("dev", "test", "prod")
    for number in range(1, size + 1):
        name = "env%03d" % number
        cluster.psql('CREATE DATABASE "%s" TEMPLATE "bench_template"' % name)
        options = dict(template.options, database=name)
        database = generate_db.GenerateDatabase(cluster.connection_string(name), "App", "postgresql", options)
        database.name = name
        fleet.add(name, tiers[(number - 1) * len(tiers) // size], database)
    return fleet


def write_fleet_inventory(fleet, environments, path):
    """The fleet's inventory limited to ``environments``, as AWX hands a slice to ansible-playbook."""
    import yaml

    tiers = {}
    for environment in environments:
        tiers.setdefault(environment.tier, {"hosts": {}})["hosts"][environment.name] = (
            environment.inventory_variables())
    inventory = {"generate": {
        "vars": dict(fleet.group_variables, ansible_connection="local", ansible_python_interpreter=sys.executable),
        "children": tiers,
    }}
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(inventory, handle, sort_keys=False)
    return path


def fleet_runner(ansible, playbook, inventory, size, forks, env=None):
    """A contender for ``alternate``: one run over ``size`` environments, returning (wall time, task records)."""
    def run():
        wall, rc, records, output = ansible.run(playbook, inventory, ["--forks", str(forks)], env=env)
        if rc != 0:
            raise RuntimeError("%s over %d environments failed (rc %d):\n%s"
                               % (os.path.basename(playbook), size, rc, output[-3000:]))
        hosts = set(record["host"] for record in records)
        if len(hosts) < size:
            raise RuntimeError("%s reached %d of %d environments" % (playbook, len(hosts), size))
        return wall, records
    return run


def fleet_playbooks(ansible):
    """The playbooks part 3 compares: ping, one module task per environment, and migration_status.yml."""
    ping = ansible.playbook("fleet_ping.yml", single_task_play("ping", "ansible.builtin.ping", {}, hosts="generate"))
    module_only = ansible.playbook("fleet_module.yml", [{
        "name": "status", "hosts": "generate", "gather_facts": False,
        "tasks": [{"name": "status", "ceds.generate.data_migrations": {
            "state": "status", "server": "{{ generate_db_server }}", "port": "{{ generate_db_port }}",
            "database": "{{ generate_db_name }}", "username": "{{ generate_db_username }}",
            "password": "{{ generate_db_password }}", "driver": "{{ generate_db_driver }}"}}]}])
    return ping, module_only, os.path.join(ROOT, "playbooks", "migration_status.yml")


def task_breakdown(records, size):
    """Per task name of one run: how many hosts ran or skipped it and the worker seconds per environment."""
    tasks = {}
    for record in records:
        entry = tasks.setdefault(record["task"], {"task": record["task"], "action": record["action"], "ran": 0,
                                                  "skipped": 0, "seconds": 0.0})
        entry["skipped" if record["status"] == "skipped" else "ran"] += 1
        entry["seconds"] += record["seconds"]
    for entry in tasks.values():
        entry["per_environment"] = entry["seconds"] / size
    return list(tasks.values())


def part_fleet(ansible, fleet, sizes, forks, runs):
    """migration_status.yml over growing fleets versus ping and a single module task, with the same inventory."""
    ping, module_only, status_playbook = fleet_playbooks(ansible)
    rows = []
    for size in sizes:
        inventory = write_fleet_inventory(fleet, fleet.environments[:size],
                                          os.path.join(ansible.workdir, "fleet-%d.yml" % size))
        results = alternate(runs, [("ping", fleet_runner(ansible, ping, inventory, size, forks)),
                                   ("module", fleet_runner(ansible, module_only, inventory, size, forks)),
                                   ("status", fleet_runner(ansible, status_playbook, inventory, size, forks))])
        row = {"size": size}
        for name, values in results.items():
            row[name] = median([v[0] for v in values])
            row[name + "_tasks"] = len(values[0][1])
            row[name + "_skipped"] = sum(1 for record in values[0][1] if record["status"] == "skipped")
        row["ratio"] = row["status"] / row["ping"]
        row["ratio_module"] = row["module"] / row["ping"]
        row["status_breakdown"] = task_breakdown(results["status"][0][1], size)
        rows.append(row)
        print("    %d environments: ping %.1f s, module %.1f s, migration_status.yml %.1f s (%.2fx)"
              % (size, row["ping"], row["module"], row["status"], row["ratio"]), flush=True)
    return rows


def part_pipelining(ansible, fleet, size, forks, runs):
    """Ping and migration_status.yml with and without pipelining, alternating, on ``size`` environments."""
    ping, _module_only, status_playbook = fleet_playbooks(ansible)
    inventory = write_fleet_inventory(fleet, fleet.environments[:size],
                                      os.path.join(ansible.workdir, "fleet-%d.yml" % size))
    on = {"ANSIBLE_PIPELINING": "True"}
    results = alternate(runs, [
        ("ping", fleet_runner(ansible, ping, inventory, size, forks)),
        ("status", fleet_runner(ansible, status_playbook, inventory, size, forks)),
        ("ping_pipelining", fleet_runner(ansible, ping, inventory, size, forks, env=on)),
        ("status_pipelining", fleet_runner(ansible, status_playbook, inventory, size, forks, env=on)),
    ])
    row = dict((name, median([v[0] for v in values])) for name, values in results.items())
    row["size"] = size
    row["runs"] = runs
    return row


def linear_growth(rows, key):
    """Per-environment time at the largest fleet over the per-environment time at the second smallest."""
    if len(rows) < 2:
        return None
    base = rows[1] if len(rows) > 2 else rows[0]
    return (rows[-1][key] / rows[-1]["size"]) / (base[key] / base["size"])


# ---------------------------------------------------------------- job slicing


def awx_slices(names, count):
    """AWX's slicing: hosts sorted by name, slice k (1-based) takes every count-th host from the (k-1)-th."""
    ordered = sorted(names)
    return [ordered[number::count] for number in range(count)]


def part_slicing(ansible, fleet, size, count, forks):
    """Run migration_status.yml once per slice (an inventory holding only the slice, as AWX does) and check."""
    status_playbook = os.path.join(ROOT, "playbooks", "migration_status.yml")
    environments = dict((environment.name, environment) for environment in fleet.environments[:size])
    slices = awx_slices(environments, count)
    results = []
    processes = []
    for number, names in enumerate(slices, start=1):
        folder = os.path.join(ansible.workdir, "slice-%d" % number)
        os.makedirs(folder, exist_ok=True)
        inventory = write_fleet_inventory(fleet, [environments[name] for name in names],
                                          os.path.join(folder, "inventory.yml"))
        command = [os.path.join(ansible.bin, "ansible-playbook"), "-i", inventory, status_playbook,
                   "--forks", str(forks), "-e", "awx_job_id=%d" % (1000 + number)]
        # Slices run at the same time, as AWX starts them, on one shared reports folder.
        processes.append((number, names, subprocess.Popen(
            command, env=ansible.env, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            stdin=subprocess.DEVNULL)))
    started = time.perf_counter()
    for number, names, process in processes:
        output = process.communicate(timeout=900)[0]
        summary_hosts = sorted(set(re.findall(r"\b(env\d{3})\b", _summary_text(output))))
        results.append({"slice": number, "hosts": names, "rc": process.returncode,
                        "summary_hosts": summary_hosts})
    wall = time.perf_counter() - started
    handled = [name for result in results for name in result["hosts"]]
    reports_dir = fleet.reports_dir
    report_files = sorted(os.listdir(reports_dir)) if os.path.isdir(reports_dir) else []
    json_reports = []
    for name in report_files:
        if name.endswith(".json"):
            with open(os.path.join(reports_dir, name), encoding="utf-8") as handle:
                data = json.load(handle)
            json_reports.append((name, sorted(row["environment"] for row in data.get("environments", []))))
    return {
        "size": size, "count": count, "wall": wall, "slices": results,
        "each_once": sorted(handled) == sorted(environments) and len(handled) == len(set(handled)),
        "summary_per_slice": all(result["summary_hosts"] == sorted(result["hosts"]) for result in results),
        "all_ok": all(result["rc"] == 0 for result in results),
        "report_files": json_reports,
    }


def _summary_text(output):
    """The part of ansible-playbook's output that the summary task printed."""
    start = output.find("TASK [Show the summary]")
    if start < 0:
        return ""
    end = output.find("TASK [", start + 10)
    return output[start:end if end > 0 else len(output)]


# ---------------------------------------------------------------- report


def machine_line(load_before, load_after):
    return "%s, %d cores, Python %s; load average %s at the start, %s at the end" % (
        platform.platform(terse=True), os.cpu_count() or 0, platform.python_version(),
        " / ".join("%.2f" % value for value in load_before), " / ".join("%.2f" % value for value in load_after))


def versions():
    found = {}
    for name in ("ansible-core", "ansible", "pyodbc", "psycopg2-binary"):
        try:
            from importlib.metadata import version
            found[name] = version(name)
        except Exception:  # noqa: BLE001 - a missing package is reported as missing
            found[name] = "missing"
    try:
        found["psqlODBC"] = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "odbc-postgresql"],
                                           capture_output=True, text=True, check=False).stdout.strip() or "unknown"
    except OSError:
        found["psqlODBC"] = "unknown"
    found["PostgreSQL"] = ""
    return found


def markdown(report):
    lines = []
    add = lines.append
    add("# Benchmarks")
    add("")
    add("Generated by `./dev bench` (`.venv/bin/python bench/run.py` after `./dev setup`) on %s; "
        "do not edit by hand." % report["date"])
    add("")
    add("- Machine: %s." % report["machine"])
    add("- Software: %s." % ", ".join("%s %s" % item for item in report["versions"].items() if item[1]))
    add("- Every speed figure is a ratio against a baseline measured in the same run, the two alternating, so a "
        "busy machine slows both sides alike. Times are medians. The database is a throwaway PostgreSQL cluster "
        "on 127.0.0.1 reached through psqlODBC (`PostgreSQL Unicode`); Ansible is the real `ansible-playbook`.")
    add("")
    add("## Results")
    add("")
    add("| part | measured | baseline | ratio | target | verdict |")
    add("|---|---|---|---|---|---|")
    for row in report["summary"]:
        add("| %s |" % " | ".join(row))
    per_task = report.get("per_task")
    if per_task:
        add("")
        add("## 1. Per-task cost versus the floor")
        add("")
        add("`ceds.generate.data_migrations` (`state: status`, one environment, nothing failed) against "
            "`ansible.builtin.ping`, both on the local host, %d runs of each, alternating. The task time is the "
            "executor's, from the worker's start to the result (callback `bench/callback_plugins/task_times.py`); "
            "the run time is the whole `ansible-playbook` command." % per_task["runs"])
        add("")
        lines.extend(timing_table([("`ansible.builtin.ping`", per_task["ping"]),
                                   ("`data_migrations` status", per_task["status"])],
                                  ("ratio, status / ping", per_task)))
        payload = per_task["payload"]
        add("")
        add("On this local connection the action plugin runs the module's code in the worker, so the status task "
            "starts no module process, where `ping` starts one. Where `data_migrations` does start one (with "
            "`become`, `async` or another connection), that process, as Ansible starts it (the kept AnsiballZ "
            "payload of each task run directly, %d times each, alternating), costs: `ping` %s, `data_migrations` "
            "status %s, ratio %.2fx." % (
                payload["runs"], ms(payload["medians"]["ping"]), ms(payload["medians"]["status"]),
                payload["ratio"]))
    versus = report.get("versus_tool")
    if versus:
        add("")
        add("## 2. Versus the tool an operator would otherwise use")
        add("")
        add("The seed's `%s` through `community.postgresql.postgresql_query` against the module's `state: reset` "
            "on the same failed database (ods `error`, rds and report `pending`), put back before every run; %d "
            "runs of each, alternating. The module also reads the status codes, plans, checks that nothing is "
            "running, resets only the failed rows with a compare-and-set and writes one audit line per step."
            % (SEED_UPDATE, versus["runs"]))
        add("")
        lines.extend(timing_table([("`postgresql_query` (seed UPDATE)", versus["postgresql_query"]),
                                   ("`data_migrations` reset", versus["reset"]),
                                   ("`data_migrations` reset, psqlODBC defaults (before)", versus["reset_defaults"])],
                                  ("ratio, reset / postgresql_query", versus)))
    fleet = report.get("fleet")
    if fleet:
        add("")
        add("## 3. Fleet scaling")
        add("")
        add("`playbooks/migration_status.yml` over N environments (one database each in the same cluster, healthy; "
            "web and background checks against one stand-in app per environment, `tests/support/standin_app.py`), "
            "`--forks %d`, against the same inventory running only `ansible.builtin.ping`, and against one "
            "`data_migrations` status task per environment (what the module itself costs in a play). %d run(s) of "
            "each per size, alternating." % (report["forks"], report["fleet_runs"]))
        add("")
        add("| environments | ping | one module task | migration_status.yml | per environment | marginal per "
            "environment | host tasks (skipped), status / ping | ratio to ping | module task ratio |")
        add("|---|---|---|---|---|---|---|---|---|")
        previous = None
        for row in fleet:
            marginal = ms((row["status"] - previous["status"]) / (row["size"] - previous["size"])) if previous else ""
            add("| %d | %.1f s | %.1f s | %.1f s | %s | %s | %d (%d) / %d | %.2fx | %.2fx |" % (
                row["size"], row["ping"], row["module"], row["status"], ms(row["status"] / row["size"]), marginal,
                row["status_tasks"], row["status_skipped"], row["ping_tasks"], row["ratio"], row["ratio_module"]))
            previous = row
        growth = report.get("fleet_growth")
        if growth:
            add("")
            add("Growth: the time per environment at %d environments is %.2fx the time per environment at %d "
                "(1.00x or less is linear or better); ping: %.2fx." % (
                    fleet[-1]["size"], growth["status"], growth["base"], growth["ping"]))
        last = fleet[-1]
        add("")
        add("Where `migration_status.yml` spends its time at %d environments: each task's worker time per "
            "environment (from the worker's start to its result; with %d forks several run at once)."
            % (last["size"], report["forks"]))
        add("")
        add("| task | action | hosts ran | hosts skipped | per environment |")
        add("|---|---|---|---|---|")
        for entry in last["status_breakdown"]:
            row = (entry["task"], entry["action"], entry["ran"], entry["skipped"], ms(entry["per_environment"]))
            add("| %s | `%s` | %d | %d | %s |" % row)
        pipelining = report.get("pipelining")
        if pipelining:
            add("")
            add("Pipelining (`ANSIBLE_PIPELINING=True`, or `pipelining = True` in ansible.cfg) at %d environments, "
                "%d run(s) of each, alternating:" % (pipelining["size"], pipelining["runs"]))
            add("")
            add("| | ping | migration_status.yml | ratio |")
            add("|---|---|---|---|")
            add("| without | %.1f s | %.1f s | %.2fx |" % (
                pipelining["ping"], pipelining["status"], pipelining["status"] / pipelining["ping"]))
            add("| with | %.1f s | %.1f s | %.2fx |" % (
                pipelining["ping_pipelining"], pipelining["status_pipelining"],
                pipelining["status_pipelining"] / pipelining["ping_pipelining"]))
            add("| with / without | %.2fx | %.2fx | |" % (
                pipelining["ping_pipelining"] / pipelining["ping"], pipelining["status_pipelining"] / pipelining["status"]))
    round_trips = report.get("round_trips")
    if round_trips:
        add("")
        add("## 4. Round trips, counted on the server")
        add("")
        add("`log_statement = all` on the benchmark's databases; each line of the server log is one message the "
            "server received. Statements are the module's own SQL; the driver adds its session set-up (once per "
            "connection) and a catalog lookup per table a result's columns come from (psqlODBC asks PostgreSQL "
            "for column nullability; SQL Server's driver gets it with the result).")
        add("")
        add("| run | messages | statements | transaction control | driver set-up | driver catalog |")
        add("|---|---|---|---|---|---|")
        for row in round_trips["rows"]:
            counts = row["counts"]
            statement_text = ", ".join("%d %s" % (n, kind.split(": ", 1)[1]) for kind, n in sorted(counts.items())
                                       if kind.startswith("statement"))
            add("| %s | %d | %s | %d | %d | %d |" % (
                row["case"], row["messages"], statement_text or "0", counts.get("transaction control", 0),
                counts.get("driver: session set-up", 0) + counts.get("tool: session set-up", 0),
                counts.get("driver: column catalog", 0)))
        add("")
        for title, ok in round_trips["verdicts"]:
            add("- %s: %s" % (title, "met" if ok else "MISSED"))
        for row in round_trips["rows"]:
            add("")
            add("<details><summary>%s: the server log</summary>" % row["case"])
            add("")
            add("```")
            lines.extend(row["log"])
            add("```")
            add("</details>")
    breakdown = report.get("breakdown")
    if breakdown:
        add("")
        add("## 5. Where one module run spends its time")
        add("")
        add("`bench/module_profile.py` runs the module's `main()` in a fresh Python process as Ansible does "
            "(arguments through `AnsibleModule`, result through `exit_json`), with timers around each phase; "
            "medians of %d runs, `state: status` against one healthy environment." % breakdown["runs"])
        add("")
        add("| phase | time | share of the process |")
        add("|---|---|---|")
        for name, value in breakdown["rows"]:
            add("| %s | %s | %.0f%% |" % (name, "%.1f ms" % (value * 1000), 100 * value / breakdown["process"]))
        add("| **the module's process, start to exit** | **%.1f ms** | |" % (breakdown["process"] * 1000))
        add("")
        add("This is the module process that runs where `data_migrations` cannot run in the worker (`become`, "
            "`async`, another connection). On a local connection the action plugin runs the same code from "
            "\"import pyodbc\" on in the worker, without the interpreter start-up, `ansible.module_utils.basic` or "
            "the AnsiballZ payload: the task then costs %s in the executor (part 1), `ansible.builtin.ping` %s."
            % (ms(breakdown["task"]), ms(breakdown["ping_task"])))
    optimisations = report.get("optimisations")
    if optimisations:
        add("")
        add("## Optimisations, before and after")
        add("")
        lines.extend(optimisations)
    slicing = report.get("slicing")
    if slicing:
        add("")
        add("## Several controllers: AWX job slicing and execution nodes")
        add("")
        lines.extend(slicing_markdown(slicing))
    add("")
    return "\n".join(lines)


def timing_table(rows, ratio):
    """A Markdown table of task and run times (medians, and the best task time), with the ratio row last."""
    lines = ["| | task (median) | task (best) | whole run (median) |", "|---|---|---|---|"]
    for label, values in rows:
        lines.append("| %s | %s | %s | %s |" % (label, ms(values["task"]), ms(values["task_min"]), ms(values["wall"])))
    label, values = ratio
    lines.append("| %s | %.2fx | | %.2fx |" % (label, values["ratio_task"], values["ratio_wall"]))
    lines.extend(["", "A ratio is the median, over the rounds, of the two runs' ratio within a round, so a load that "
                  "changes from one round to the next cancels out; the ratio of the medians above is %.2fx."
                  % values["ratio_task_medians"]])
    return lines


def optimisations_markdown(report):
    """Before and after of what was changed for speed, from this run's own measurements."""
    lines = []
    round_trips = report.get("round_trips")
    versus = report.get("versus_tool")
    if round_trips:
        by_case = dict((row["case"], row) for row in round_trips["rows"])
        before, after = by_case["reset of 3 steps, psqlODBC defaults"], by_case["reset of 3 steps"]
        status_before = by_case["status, a step failed, psqlODBC defaults"]
        status_after = by_case["status, a step failed"]
        lines.extend([
            "**psqlODBC options** (`plugins/module_utils/database.py`). With its defaults psqlODBC prepares each "
            "parameterised statement on the server and wraps it in a savepoint: three messages per statement "
            "(`SAVEPOINT`, the statement, `DEALLOCATE`/`RELEASE`). The module now asks for "
            "`UseServerSidePrepare=0;Protocol=7.4-1` (values sent inline, and on an error the whole transaction "
            "rolls back, which the module does anyway), so a statement is one message.",
            "",
            "| run | messages before (psqlODBC defaults) | after |",
            "|---|---|---|",
            "| reset of 3 steps | %d | %d |" % (before["messages"], after["messages"]),
            "| status, a step failed | %d | %d |" % (status_before["messages"], status_after["messages"]),
        ])
        if versus:
            lines.extend(["", "Time of the reset task, after / before: %.2fx (%s vs %s, medians of %d runs, "
                          "alternating)." % (versus["ratio_options"], ms(versus["reset"]["task"]),
                                             ms(versus["reset_defaults"]["task"]), versus["runs"])])
    fleet = report.get("fleet")
    if fleet:
        last = fleet[-1]
        by_action = {}
        for entry in last["status_breakdown"]:
            by_action[entry["action"]] = by_action.get(entry["action"], 0.0) + entry["per_environment"]
        total = sum(by_action.values()) or 1.0
        shares = ", ".join("`%s` %.0f%%" % (action, 100 * value / total)
                           for action, value in sorted(by_action.items(), key=lambda item: -item[1]))
        lines.extend([
            "",
            "**Where the fleet's time goes.** At %d environments one `data_migrations` status task per "
            "environment costs %.2fx ping, and `migration_status.yml` %.2fx: it runs %d host tasks (%.1f per "
            "environment, %d of them skipped) where ping runs %d. Shares of the worker time per environment, by "
            "action: %s." % (
                last["size"], last["ratio_module"], last["ratio"], last["status_tasks"],
                last["status_tasks"] / float(last["size"]), last["status_skipped"], last["ping_tasks"], shares),
        ])
        first = fleet[0]
        if first is not last:
            smallest = dict((entry["task"], entry["per_environment"]) for entry in first["status_breakdown"])
            growing = []
            for entry in last["status_breakdown"]:
                before = smallest.get(entry["task"])
                if before and entry["ran"] + entry["skipped"] == last["size"] and entry["per_environment"] > 5 * before:
                    growing.append("%s (%s per environment at %d, %s at %d)" % (
                        entry["task"], ms(entry["per_environment"]), last["size"], ms(before), first["size"]))
            if growing:
                lines.extend([
                    "",
                    "**What grows faster than the fleet.** A task whose cost per environment grows with the fleet "
                    "makes the whole run grow with its square: %s. Such a task typically walks every environment's "
                    "variables (`hostvars`) for each environment, even when it is skipped." % "; ".join(growing),
                ])
    lines.extend(earlier_markdown(report))
    return lines


def earlier_markdown(report):
    """This run's ratios next to those the same script measured on the code before the last optimisations."""
    now = {}
    if report.get("per_task"):
        now["per_task"] = report["per_task"]["ratio_task"]
    if report.get("versus_tool"):
        now["versus_tool"] = report["versus_tool"]["ratio_task"]
    fleet = dict((row["size"], row) for row in report.get("fleet") or [])
    if EARLIER["fleet_size"] in fleet:
        row = fleet[EARLIER["fleet_size"]]
        now["fleet"] = row["ratio"]
        now["tasks"] = "%.1f (%.1f skipped)" % (row["status_tasks"] / float(row["size"]),
                                                row["status_skipped"] / float(row["size"]))
    if report.get("fleet_growth", {}).get("base") == EARLIER["growth_base"] and EARLIER["fleet_size"] in fleet:
        now["growth"] = report["fleet_growth"]["status"]
    if not now:
        return []
    lines = [
        "",
        "**Against the code before these changes** (commit %s, measured by this script on %s on this machine):"
        % (EARLIER["commit"], EARLIER["date"]),
        "",
        "| figure | before | now |",
        "|---|---|---|",
    ]
    sizes = (EARLIER["fleet_size"], EARLIER["growth_base"])
    for key, title in (("per_task", "1. status task / ping"), ("versus_tool", "2. reset / postgresql_query"),
                       ("fleet", "3. migration_status.yml / ping, %d environments" % sizes[0]),
                       ("growth", "3. per-environment time, %d vs %d environments" % sizes),
                       ("tasks", "3. host tasks per environment")):
        if key in now:
            before, after = EARLIER[key], now[key]
            lines.append("| %s | %s | %s |" % (title, before if isinstance(before, str) else "%.2fx" % before,
                                               after if isinstance(after, str) else "%.2fx" % after))
    lines.extend([
        "",
        "What changed:",
        "",
        "- `data_migrations` has an action plugin: on a local connection (every environment is a host with "
        "`ansible_connection=local`) it runs the module's code in Ansible's worker, so a task starts no Python "
        "process of its own, where `ping` does.",
        "- `app_status` shares one TLS context per process, built when Ansible loads the plugin before it forks "
        "its workers; `open_url` built one for every request, loading the CA bundle (about 22 ms of CPU) even for "
        "an http URL.",
        "- The playbooks run one `data_migrations` task per environment (`state: reset` or `status`) instead of "
        "a status and a reset task, and check the report pages in one `app_status` task (`database_report_status`, "
        "`after_reset`) instead of a second probe and an `assert`; the summary rows are built once in the summary "
        "play (`ceds.generate.summary_rows`) instead of by a `set_fact` per environment; and the stop-before-prod "
        "check reads the other hosts' variables only when it is on.",
        "- The benchmark's stand-in web app pools its database connections, as Generate's ADO.NET pool does, "
        "instead of logging in to PostgreSQL for every request.",
    ])
    return lines


def slicing_markdown(slicing):
    lines = [
        "AWX slices a job by sorting the inventory's hosts by name and giving slice k of n every n-th host "
        "starting from the k-th; each slice is a separate `ansible-playbook` run, possibly on another execution "
        "node, with an inventory that holds only its hosts (the groups and their variables stay). The benchmark "
        "does the same with the fleet's inventory: %d environments in %d slices, run at the same time with a "
        "shared reports folder, `-e awx_job_id=<n>` as AWX passes it." % (slicing["size"], slicing["count"]),
        "",
        "| slice | environments | exit code | environments in its summary |",
        "|---|---|---|---|",
    ]
    for result in slicing["slices"]:
        lines.append("| %d | %d (%s ... %s) | %d | %d, %s |" % (
            result["slice"], len(result["hosts"]), result["hosts"][0], result["hosts"][-1], result["rc"],
            len(result["summary_hosts"]), "exactly its own" if result["summary_hosts"] == sorted(result["hosts"])
            else "NOT its own"))
    lines.append("")
    lines.append("- Every environment handled by exactly one slice: %s." % ("yes" if slicing["each_once"] else "NO"))
    lines.append("- Each slice's summary lists exactly its environments: %s."
                 % ("yes" if slicing["summary_per_slice"] else "NO"))
    lines.append("- All slices exited 0 (all environments healthy): %s; the %d slices took %.1f s together."
                 % ("yes" if slicing["all_ok"] else "NO", slicing["count"], slicing["wall"]))
    files = slicing["report_files"]
    if files:
        lines.append("- Report files in the shared reports folder afterwards: %s." % ", ".join(
            "`%s` (%d environments)" % (name, len(hosts)) for name, hosts in files))
        if len(files) < slicing["count"]:
            lines.append("  The slices write the same file name, so on a shared folder the last slice to finish "
                         "wins; the `set_stats` summary (per slice job, gathered by the AWX workflow) and each "
                         "job's output stay complete.")
    lines.extend([
        "",
        "What follows for an operator:",
        "",
        "- Nothing in the playbooks ties one environment to another (`serial` batches and the stop before prod "
        "act within one slice only), so slicing needs no change to them; the stop before prod across tiers holds "
        "only when a run sees every tier, that is without slicing.",
        "- The summary, its exit code and `set_stats` describe the slice's environments; an AWX workflow sees one "
        "`generate_summary` per slice job.",
        "- With several execution nodes each slice connects from its own node: every node needs the ODBC driver "
        "and network access to the environments' SQL Servers and apps.",
    ])
    return lines


def summary_rows(report):
    rows = []
    per_task = report.get("per_task")
    if per_task:
        rows.append(["1. per task, status vs ping", ms(per_task["status"]["task"]), ms(per_task["ping"]["task"]),
                     "%.2fx" % per_task["ratio_task"], "<= %.2fx" % TARGETS["per_task"],
                     "met" if per_task["ratio_task"] <= TARGETS["per_task"] else "MISSED"])
    versus = report.get("versus_tool")
    if versus:
        rows.append(["2. reset vs postgresql_query", ms(versus["reset"]["task"]),
                     ms(versus["postgresql_query"]["task"]), "%.2fx" % versus["ratio_task"],
                     "<= %.2fx" % TARGETS["versus_tool"],
                     "met" if versus["ratio_task"] <= TARGETS["versus_tool"] else "MISSED"])
    fleet = report.get("fleet")
    if fleet:
        last = fleet[-1]
        rows.append(["3. migration_status.yml, %d environments" % last["size"], "%.1f s" % last["status"],
                     "%.1f s (ping)" % last["ping"], "%.2fx" % last["ratio"], "<= %.2fx" % TARGETS["fleet"],
                     "met" if last["ratio"] <= TARGETS["fleet"] else "MISSED"])
        growth = report.get("fleet_growth")
        if growth:
            rows.append(["3. growth per environment, %d vs %d" % (last["size"], growth["base"]),
                         "%.2fx" % growth["status"], "%.2fx (ping)" % growth["ping"], "", "<= 1.00x (linear)",
                         "met" if growth["status"] <= 1.0 else "MISSED"])
    round_trips = report.get("round_trips")
    if round_trips:
        for title, ok in round_trips["verdicts"]:
            rows.append(["4. " + title, "", "", "", "", "met" if ok else "MISSED"])
    breakdown = report.get("breakdown")
    if breakdown:
        top = sorted(breakdown["rows"], key=lambda item: -item[1])[:2]
        rows.append(["5. module process", "%.0f ms" % (breakdown["process"] * 1000), "", "",
                     "", "largest: %s" % ", ".join("%s %.0f ms" % (name, value * 1000) for name, value in top)])
    return rows


def print_table(rows):
    header = ["part", "measured", "baseline", "ratio", "target", "verdict"]
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)))


# ---------------------------------------------------------------- main


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--quick", action="store_true", help="few runs and small fleets, for trying changes")
    parser.add_argument("--runs", type=int, help="runs of each contender in parts 1, 2 and 5 (default 15)")
    parser.add_argument("--sizes", help="fleet sizes, comma-separated (default 10,50,100,200)")
    parser.add_argument("--fleet-runs", type=int, help="runs of each playbook per fleet size (default 1)")
    parser.add_argument("--forks", type=int, default=20)
    parser.add_argument("--parts", default="1,2,3,4,5", help="parts to run, comma-separated")
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "benchmarks.md"),
                        help="where to write the report ('-' for nowhere)")
    options = parser.parse_args()
    options.runs = options.runs or (3 if options.quick else 15)
    options.sizes = [int(size) for size in (options.sizes or ("5,10" if options.quick else "10,50,100,200")).split(",")]
    options.fleet_runs = options.fleet_runs or 1
    options.parts = set(part.strip() for part in options.parts.split(","))
    return options


def main():
    options = parse_arguments()
    ensure_requirements()
    import generate_db
    from postgres_cluster import PostgresCluster

    load_before = os.getloadavg()
    workdir = tempfile.mkdtemp(prefix="ceds-bench-")
    # Every environment's stand-in web app keeps a pooled connection, beside the module's own.
    cluster = PostgresCluster(max_connections=800)
    fleet = None
    report = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "forks": options.forks, "fleet_runs": options.fleet_runs, "versions": versions()}
    started = time.perf_counter()
    try:
        print("==> starting a throwaway PostgreSQL cluster", flush=True)
        cluster.start()
        cluster.psql("ALTER SYSTEM SET log_line_prefix = '%m [%p] db=%d app=%a '")
        cluster.psql("SELECT pg_reload_conf()")
        report["versions"]["PostgreSQL"] = cluster.psql("SHOW server_version").strip()
        ansible = Ansible(workdir)
        healthy = generate_db.postgres_database(cluster, "bench_healthy")
        healthy.seed(HEALTHY)
        failed = generate_db.postgres_database(cluster, "bench_failed")
        failed.seed(FAILED, history=FAILED_HISTORY)
        if "1" in options.parts or "5" in options.parts:
            print("==> 1. per-task cost: data_migrations status vs ping, %d runs each" % options.runs, flush=True)
            report["per_task"] = part_per_task(ansible, healthy, options.runs)
        if "2" in options.parts:
            print("==> 2. reset vs postgresql_query, %d runs each" % options.runs, flush=True)
            report["versus_tool"] = part_versus_tool(ansible, cluster, failed, options.runs)
        if "4" in options.parts:
            print("==> 4. round trips, counted on the server", flush=True)
            rows = part_round_trips(ansible, cluster, (healthy, failed))
            report["round_trips"] = {"rows": rows, "verdicts": round_trip_verdicts(rows)}
        if "5" in options.parts:
            print("==> 5. module overhead breakdown, %d runs" % options.runs, flush=True)
            report["breakdown"] = part_breakdown(ansible, healthy, options.runs, report["per_task"])
        if "3" in options.parts:
            if not os.path.exists(os.path.join(ROOT, "playbooks", "migration_status.yml")):
                print("==> 3. skipped: playbooks/migration_status.yml is not there", flush=True)
            else:
                largest = max(options.sizes)
                print("==> 3. fleet: creating %d environments" % largest, flush=True)
                fleet = build_fleet(cluster, os.path.join(workdir, "fleet"), largest)
                report["fleet"] = part_fleet(ansible, fleet, options.sizes, options.forks, options.fleet_runs)
                growth = {}
                if len(report["fleet"]) >= 2:
                    base = report["fleet"][1] if len(report["fleet"]) > 2 else report["fleet"][0]
                    growth = {"base": base["size"], "status": linear_growth(report["fleet"], "status"),
                              "ping": linear_growth(report["fleet"], "ping")}
                    report["fleet_growth"] = growth
                pipelining_size = min(options.sizes)
                print("==> 3. pipelining at %d environments" % pipelining_size, flush=True)
                report["pipelining"] = part_pipelining(ansible, fleet, pipelining_size, options.forks,
                                                       max(2, options.fleet_runs))
                slice_size = min(largest, 40)
                print("==> job slicing: %d environments in 4 slices" % slice_size, flush=True)
                shutil.rmtree(fleet.reports_dir, ignore_errors=True)
                report["slicing"] = part_slicing(ansible, fleet, slice_size, 4, options.forks)
    finally:
        if fleet is not None:
            fleet.stop()
        cluster.destroy()
        shutil.rmtree(workdir, ignore_errors=True)
    report["machine"] = machine_line(load_before, os.getloadavg())
    report["summary"] = summary_rows(report)
    report["optimisations"] = optimisations_markdown(report)
    print()
    print_table(report["summary"])
    print("\n%s; %.0f s in all" % (report["machine"], time.perf_counter() - started))
    if options.output != "-":
        os.makedirs(os.path.dirname(options.output), exist_ok=True)
        with open(options.output, "w", encoding="utf-8") as handle:
            handle.write(markdown(report))
        print("wrote %s" % os.path.relpath(options.output, ROOT))


if __name__ == "__main__":
    main()
