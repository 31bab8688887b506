"""The demo: the main job of the collection, run on three Generate environments built on the spot.

Run it with ./dev demo. It builds three SQLite Generate databases in a
temporary folder - demo-healthy (dev), demo-failed (test: failed as on
Generate's troubleshooting page, recovered with generate_rerun: reset, then
one report run over reports c002 and c089, as Generate 13.3's Migrate button
does, waited for and verified) and demo-stuck (prod: a report
run whose background process died, its Hangfire job orphaned) - each with a
stand-in web and background app on 127.0.0.1, and writes their inventory.
Then it runs

    ansible-playbook playbooks/reset_migrations.yml -i <demo inventory> --check --diff
    ansible-playbook playbooks/reset_migrations.yml -i <demo inventory> --diff
    ansible-playbook playbooks/migration_status.yml -i <demo inventory>

shows the summary the reset wrote, and stops the apps and removes the folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The demo shares the tests' support package (tests.support) with them.
sys.path.insert(0, ROOT)

from tests.support import ansible_run  # noqa: E402
from tests.support import generate_db  # noqa: E402
from tests.support.fleet import PLAYBOOKS, Fleet  # noqa: E402
from tests.support.scenarios import FAILED, FAILED_HISTORY, HEALTHY, SERVER, STUCK  # noqa: E402

# demo-stuck: a report run whose background process died 11 hours ago; its Hangfire job is still
# Processing on a server that stopped beating, and no background app runs now, so the job is orphaned.
DEAD_SERVER = SERVER
# The reports of the demo's report migration page, and whether Generate migrates each the old way (by the SQL
# pipeline alone) rather than by jobs of its own: demo-failed's recovery migrates them again.
REPORTS = (("c002", False), ("c089", True))


def build(folder):
    """The demo fleet: three SQLite environments, one per tier, with their stand-in apps running."""
    fleet = Fleet(folder)
    for name, tier, steps, history in (
        ("demo-healthy", "dev", HEALTHY, ()),
        ("demo-failed", "test", FAILED, FAILED_HISTORY),
        ("demo-stuck", "prod", STUCK, ()),
    ):
        database = generate_db.sqlite_database(os.path.join(folder, "%s.db" % name))
        # Generate 13.3: the background apps are replicas of 13.3's, built from its source.
        database.seed(steps, history=history, version="13.3")
        for code, legacy in REPORTS:
            database.add_report(code, legacy=legacy)
        stuck = name == "demo-stuck"
        if stuck:
            database.beat(DEAD_SERVER, age=39990)
            database.add_job(type_code="report", state="Processing", age=40000, server_id=DEAD_SERVER)
        # demo-stuck's background app is down: only its web app answers, and no Hangfire server beats.
        environment = fleet.add(name, tier, database, background=not stuck)
        if name == "demo-failed":
            # The full recovery: after the reset, what Generate's Migrate button does (one report run over the
            # selection, which Generate unlocked when the run failed), waited for and verified.
            environment.variables.update(generate_rerun=True, generate_rerun_poll=1,
                                         generate_rerun_reports=[code for code, _legacy in REPORTS])
            environment.standin.replica.pipeline_seconds = 2
    return fleet


def run(title, command, env, folder):
    """Show and run one ansible-playbook command; return its exit status and wall time."""
    shown = " ".join(os.path.relpath(part, ROOT) if part.startswith(ROOT) else part for part in command)
    print("\n#### %s\n$ %s" % (title, shown.replace(folder, "<demo>")), flush=True)
    started = time.monotonic()
    completed = subprocess.run([os.path.join(ansible_run.BIN, command[0])] + command[1:], env=env,
                               stdin=subprocess.DEVNULL, cwd=ROOT, check=False)
    return completed.returncode, time.monotonic() - started


def main():
    """Build the demo fleet, run the playbooks on it, show the summary; return the exit status."""
    folder = tempfile.mkdtemp(prefix="ceds-demo-")
    fleet = None
    try:
        fleet = build(folder)
        inventory = fleet.write_inventory()
        env = ansible_run.ansible_env(workdir=folder)
        env.pop("ANSIBLE_CALLBACKS_ENABLED")
        print("Demo environments (SQLite, stand-in apps on 127.0.0.1):")
        for environment in fleet.environments:
            print("  %-13s %-5s %s" % (environment.name, environment.tier, environment.database.statuses()))
        reset = os.path.join(PLAYBOOKS, "reset_migrations.yml")
        status = os.path.join(PLAYBOOKS, "migration_status.yml")
        steps = [
            ("Dry run: what a reset would do (nothing is written)",
             ["ansible-playbook", reset, "-i", inventory, "--check", "--diff"]),
            ("The reset, and the recovery of demo-failed", ["ansible-playbook", reset, "-i", inventory, "--diff"]),
            ("The monitoring report after the reset", ["ansible-playbook", status, "-i", inventory]),
        ]
        timings = []
        for title, command in steps:
            code, seconds = run(title, command, env, folder)
            timings.append((title, code, seconds))
            if code != 0:
                print("\n%s ended with exit status %d" % (title, code))
                return code
        print("\n#### The summary the reset wrote to %s\n" % "<demo>/reports/reset_migrations.md")
        with open(os.path.join(fleet.reports_dir, "reset_migrations.md"), encoding="utf-8") as handle:
            print(handle.read())
        print("Demo environments now:")
        for environment in fleet.environments:
            print("  %-13s %s" % (environment.name, environment.database.statuses()))
        print("\nRequests that started or cancelled a migration, per environment (the dry run sent none):")
        for environment in fleet.environments:
            sent = [path for app, _method, path in environment.standin.requests
                    if app == "background" and path.lower().startswith("/api/datamigration/")]
            print("  %-13s %d %s" % (environment.name, len(sent), " ".join(sent)))
        print("\nWall time:")
        for title, _code, seconds in timings:
            print("  %5.1f s  %s" % (seconds, title))
        return 0
    finally:
        if fleet is not None:
            fleet.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
