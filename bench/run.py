# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark: what a status check and a reset cost against Ansible's own floor, from one environment to a fleet.

Run it with ``./dev bench`` (or ``.venv/bin/python bench/run.py`` after
``./dev setup``; ``--quick`` for a short run while changing it). It starts
its own PostgreSQL cluster in a temporary folder, reached through psqlODBC,
runs the real ansible-playbook, prints a table and writes docs/benchmarks.md.
Everything it starts (the cluster, the stand-in apps, ansible-playbook and
its workers) is stopped however it ends: at the end, at an error, or on
SIGTERM or SIGINT.

Every speed figure is a ratio against a baseline measured in the same run,
alternating with it, so a busy or slow machine shifts both sides alike.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
# Started as a script, this folder comes first on sys.path; the parts are the package ``bench`` instead, beside
# the test support package (tests.support) they share with the tests.
sys.path[:] = [ROOT] + [path for path in sys.path if path != BENCH]

# At least three runs of each playbook per fleet size, for a median with a least and a greatest.
MIN_FLEET_ROUNDS = 3
# The cluster's connections beside the stand-ins' and one per fork: the benchmark's own psql and seeding.
SPARE_CONNECTIONS = 50
# Pipelining and slicing are compared on a small fleet, whatever the largest size.
PIPELINING_MAX_SIZE = 50
SLICING_MAX_SIZE = 40
SLICES = 4


class Stopped(BaseException):
    """SIGTERM or SIGINT arrived: unwind, stopping everything started."""


def stop_on_signals():
    """Turn SIGTERM and SIGINT into Stopped, once: a second signal does not cut the clean-up short."""
    def handler(number, _frame):
        for name in (signal.SIGTERM, signal.SIGINT):
            signal.signal(name, signal.SIG_IGN)
        raise Stopped("stopped by %s" % signal.Signals(number).name)
    for name in (signal.SIGTERM, signal.SIGINT):
        signal.signal(name, handler)


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


def raise_open_files_limit():
    """Each environment of a fleet holds two listening sockets: allow as many open files as the system lets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def versions():
    """The versions of what the figures depend on."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("ansible-core", "ansible", "pyodbc", "psycopg2-binary"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "missing"
    query = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "odbc-postgresql"], capture_output=True, text=True,
                           check=False)
    found["psqlODBC"] = query.stdout.strip() or "unknown"
    return found


def machine_line(load_before, load_after):
    """The machine, and how busy it was at the start and at the end."""
    return "%s, %d cores, Python %s; load average %s at the start, %s at the end" % (
        platform.platform(terse=True), os.cpu_count() or 0, platform.python_version(),
        " / ".join("%.2f" % value for value in load_before), " / ".join("%.2f" % value for value in load_after))


def parse_arguments():
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--quick", action="store_true", help="few runs and small fleets, for trying changes")
    parser.add_argument("--runs", type=int, help="rounds of parts 1 and 2, runs of part 5 (default 15)")
    parser.add_argument("--sizes", help="fleet sizes, comma-separated (default 10,100,200; add 1000 for the fleet "
                                        "targets' largest size, about 45 minutes more on 2 cores)")
    parser.add_argument("--fleet-runs", type=int, default=MIN_FLEET_ROUNDS,
                        help="runs of each playbook at the largest fleet size; a smaller one runs as many as take "
                             "about as long, at most 3 times as many (default and least %d)" % MIN_FLEET_ROUNDS)
    parser.add_argument("--forks", type=int, default=20)
    parser.add_argument("--parts", default="1,2,3,4,5", help="parts to run, comma-separated")
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "benchmarks.md"),
                        help="where to write the report ('-' for nowhere)")
    options = parser.parse_args()
    if options.fleet_runs < MIN_FLEET_ROUNDS:
        parser.error("--fleet-runs: at least %d, for a median with a least and a greatest" % MIN_FLEET_ROUNDS)
    options.runs = options.runs or (3 if options.quick else 15)
    options.sizes = sorted(int(size) for size in (options.sizes or ("5,10" if options.quick
                                                                    else "10,100,200")).split(","))
    options.parts = set(part.strip() for part in options.parts.split(","))
    return options


def say(text):
    """A progress line."""
    print(text, flush=True)


def run_parts(options, report, cluster, workdir, running):
    """Seed the databases and run the chosen parts, filling ``report``; ``running`` stops what they start."""
    from tests.support import generate_db
    from tests.support import scenarios
    from bench import (fleet_scaling, job_slicing, module_process, per_task_cost, reset_vs_postgresql_query,
                       statements_count)
    from bench.playbook_runs import Ansible

    ansible = Ansible(workdir)
    running.callback(shutil.rmtree, ansible.collections, ignore_errors=True)
    healthy = generate_db.postgres_database(cluster, "bench_healthy")
    healthy.seed(scenarios.HEALTHY)
    failed = generate_db.postgres_database(cluster, "bench_failed")
    failed.seed(scenarios.FAILED, history=scenarios.FAILED_HISTORY)
    if "1" in options.parts:
        say("==> 1. per-task cost: data_migrations status (worker, module process) vs ping, %d rounds" % options.runs)
        report["per_task"] = per_task_cost.measure(ansible, healthy, options.runs)
    if "2" in options.parts:
        say("==> 2. reset vs postgresql_query, %d rounds" % options.runs)
        report["versus_tool"] = reset_vs_postgresql_query.measure(ansible, cluster, failed, options.runs)
    if "4" in options.parts:
        say("==> 4. statements, counted on the server")
        report["statements_count"] = statements_count.measure(ansible, cluster, healthy, failed)
    if "5" in options.parts:
        say("==> 5. module process, phase by phase, %d runs" % options.runs)
        report["module_process"] = module_process.measure(ansible, healthy, options.runs)
    if "3" in options.parts:
        largest = max(options.sizes)
        say("==> 3. fleet: creating %d environments" % largest)
        started = time.perf_counter()
        fleet = running.enter_context(fleet_scaling.build_fleet(cluster, os.path.join(workdir, "fleet"), largest))
        say("    created in %.0f s" % (time.perf_counter() - started))
        say("==> 3. fleet sizes %s, %d runs at the largest, --forks %d" % (
            ", ".join(map(str, options.sizes)), options.fleet_runs, options.forks))
        report["fleet"] = fleet_scaling.measure(ansible, fleet, options.sizes, options.forks, options.fleet_runs, say)
        size = min(*options.sizes, PIPELINING_MAX_SIZE)
        say("==> 3. pipelining at %d environments" % size)
        report["pipelining"] = fleet_scaling.measure_pipelining(ansible, fleet, size, options.forks,
                                                                options.fleet_runs)
        size = min(largest, SLICING_MAX_SIZE)
        say("==> 3. job slicing: %d environments in %d slices" % (size, SLICES))
        report["slicing"] = job_slicing.measure(ansible, fleet, size, SLICES, options.forks)


def main():
    """Run the benchmark; return the exit status."""
    options = parse_arguments()
    stop_on_signals()
    ensure_requirements()
    raise_open_files_limit()
    from tests.support import standin_app
    from bench import report as writer
    from bench.playbook_runs import PlaybookFailed
    from tests.support.postgres_cluster import PostgresCluster

    load_before = os.getloadavg()
    report = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "versions": versions(), "command": " ".join(["./dev bench"] + sys.argv[1:])}
    started = time.perf_counter()
    try:
        with contextlib.ExitStack() as running:
            workdir = tempfile.mkdtemp(prefix="ceds-bench-")
            running.callback(shutil.rmtree, workdir, ignore_errors=True)
            # Enough connections for the module in every fork and the stand-ins, whatever the fleet's size.
            cluster = PostgresCluster(max_connections=options.forks + standin_app.MAX_CONNECTIONS + SPARE_CONNECTIONS)
            running.callback(cluster.destroy)
            say("==> starting a throwaway PostgreSQL cluster")
            cluster.start()
            cluster.psql("ALTER SYSTEM SET log_line_prefix = '%m [%p] db=%d app=%a '")
            cluster.psql("SELECT pg_reload_conf()")
            report["versions"]["PostgreSQL"] = cluster.psql("SHOW server_version").strip()
            run_parts(options, report, cluster, workdir, running)
    except Stopped as exc:
        print("\nbench: %s; everything it started is stopped" % exc, file=sys.stderr)
        return 130
    except PlaybookFailed as exc:
        print("\nbench: %s" % exc, file=sys.stderr)
        return 1
    report["machine"] = machine_line(load_before, os.getloadavg())
    report["summary"] = writer.summary_rows(report)
    print()
    writer.print_table(report["summary"])
    print("\n%s; %.0f s in all" % (report["machine"], time.perf_counter() - started))
    if options.output != "-":
        os.makedirs(os.path.dirname(options.output), exist_ok=True)
        with open(options.output, "w", encoding="utf-8") as handle:
            handle.write(writer.markdown(report))
        print("wrote %s" % os.path.relpath(options.output, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
