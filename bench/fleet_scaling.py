# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Part 3: the playbooks over growing fleets, against ping and one module task per environment.

migration_status.yml, and reset_migrations.yml with nothing to reset (every environment is healthy).

Each environment has a database of its own in the benchmark's cluster
(healthy, copied from one seeded template) and a stand-in web and
background app (tests/support/standin_app.py); every fleet size is a prefix
of one fleet, with the same inventory for the three playbooks.
"""

from __future__ import annotations

import os

from tests.support import generate_db
from tests.support import scenarios
from bench.playbook_runs import DATA_MIGRATIONS, PING, ROOT, alternate, median, paired_ratios, single_task_play, spread
from tests.support.fleet import Fleet

STATUS_PLAYBOOK = os.path.join(ROOT, "playbooks", "migration_status.yml")
RESET_PLAYBOOK = os.path.join(ROOT, "playbooks", "reset_migrations.yml")
TIERS = ("dev", "test", "prod")
TEMPLATE = "bench_template"
# A smaller fleet runs at most this many times as often as the largest.
SMALLER_FLEET_FACTOR = 3
# A fleet run may take this long plus this much per environment before it counts as hung.
TIMEOUT_SECONDS = 300
TIMEOUT_PER_ENVIRONMENT = 3


def build_fleet(cluster, folder, size):
    """``size`` healthy environments named env0001..., one database each, with their stand-in apps running.

    The environments take the tiers in turn (dev, test, prod, dev...), so that every fleet size, a prefix of the
    fleet, has environments in each tier: reset_migrations.yml then runs the same plays (a batch and its summary per
    tier) at every size, and its time per environment compares like with like.

    Returns the Fleet, whose stand-ins the caller stops (``Fleet`` is a context manager); the stand-ins
    started before a failure here are stopped before it is raised.
    """
    template = generate_db.postgres_database(cluster, TEMPLATE)
    template.seed(scenarios.HEALTHY)
    fleet = Fleet(folder)
    try:
        for number in range(1, size + 1):
            name = "env%04d" % number
            cluster.psql('CREATE DATABASE "%s" TEMPLATE "%s"' % (name, TEMPLATE))
            database = generate_db.GenerateDatabase(cluster.connection_string(name), "App", "postgresql",
                                                    dict(template.options, database=name))
            database.name = name
            fleet.add(name, TIERS[(number - 1) % len(TIERS)], database)
    except BaseException:
        fleet.stop()
        raise
    return fleet


def playbooks(ansible):
    """The playbooks compared: ping, one data_migrations status task per environment, migration_status.yml and
    reset_migrations.yml."""
    ping = ansible.playbook("fleet_ping.yml", single_task_play("ping", PING, {}, hosts="generate"))
    module = ansible.playbook("fleet_module.yml", single_task_play("status", DATA_MIGRATIONS, {
        "state": "status", "server": "{{ generate_db_server }}", "port": "{{ generate_db_port }}",
        "database": "{{ generate_db_database }}", "username": "{{ generate_db_username }}",
        "password": "{{ generate_db_password }}", "driver": "{{ generate_db_driver }}",
        "connect_params": "{{ generate_db_connect_params | default(omit) }}"}, hosts="generate"))
    return {"ping": ping, "module": module, "status": STATUS_PLAYBOOK, "reset": RESET_PLAYBOOK}


def inventory(ansible, fleet, size):
    """The inventory of the fleet's first ``size`` environments; return its path."""
    return fleet.write_inventory(fleet.environments[:size], os.path.join(ansible.workdir, "fleet-%d.yml" % size))


def runner(ansible, playbook, inventory_path, size, forks, env=None):
    """A contender for ``alternate``: one run over ``size`` environments, returning (wall time, task records).

    A run stops at its first failed environment, raising with that environment's message."""
    def run():
        finished = ansible.run(playbook, inventory_path, ["--forks", str(forks)], env=env,
                               timeout=TIMEOUT_SECONDS + TIMEOUT_PER_ENVIRONMENT * size)
        return finished.wall, finished.records
    return run


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


def measure_size(ansible, fleet, size, forks, rounds, say):
    """The playbooks over ``size`` environments, alternating, ``rounds`` runs each: walls and paired ratios."""
    path = inventory(ansible, fleet, size)
    results = alternate(rounds, [(name, runner(ansible, playbook, path, size, forks))
                                 for name, playbook in playbooks(ansible).items()])
    row = {"size": size, "rounds": rounds}
    for name, values in results.items():
        row[name] = spread([wall for wall, _records in values])
        row[name + "_tasks"] = len(values[0][1])
        row[name + "_skipped"] = sum(1 for record in values[0][1] if record["status"] == "skipped")
    row["ratio"] = spread(paired_ratios(results, "status", "ping", 0))
    row["ratio_reset"] = spread(paired_ratios(results, "reset", "ping", 0))
    row["ratio_module"] = spread(paired_ratios(results, "module", "ping", 0))
    # The breakdown of the run whose time is the median one.
    walls = [wall for wall, _records in results["status"]]
    typical = sorted(range(len(walls)), key=walls.__getitem__)[len(walls) // 2]
    row["status_breakdown"] = task_breakdown(results["status"][typical][1], size)
    say("    %d environments, %d runs: ping %.1f s, module %.1f s, migration_status.yml %.1f s (%.2fx, %.2fx to "
        "%.2fx), reset_migrations.yml %.1f s (%.2fx)"
        % (size, rounds, row["ping"]["median"], row["module"]["median"], row["status"]["median"],
           row["ratio"]["median"], row["ratio"]["min"], row["ratio"]["max"], row["reset"]["median"],
           row["ratio_reset"]["median"]))
    return row


def measure_single(ansible, fleet, forks):
    """The host tasks of one run of each playbook over a single environment: what a fleet of one pays."""
    path = inventory(ansible, fleet, 1)
    single = {}
    for name, playbook in playbooks(ansible).items():
        if name == "module":
            continue
        _wall, records = runner(ansible, playbook, path, 1, forks)()
        single[name] = {"tasks": len(records), "skipped": sum(1 for record in records if record["status"] == "skipped"),
                        "names": [record["task"] for record in records]}
    return single


def measure(ansible, fleet, sizes, forks, rounds, say):
    """Every fleet size in turn, and the host tasks of a single environment; return the rows and how the time per
    environment grows."""
    single = measure_single(ansible, fleet, forks)
    say("    1 environment: host tasks migration_status.yml %d (%d skipped), reset_migrations.yml %d (%d skipped), "
        "ping %d" % (single["status"]["tasks"], single["status"]["skipped"], single["reset"]["tasks"],
                     single["reset"]["skipped"], single["ping"]["tasks"]))
    rows = [measure_size(ansible, fleet, size, forks, rounds_at(size, sizes, rounds), say) for size in sizes]
    growth = None
    if len(rows) >= 2:
        base = rows[1] if len(rows) > 2 else rows[0]
        growth = {"base": base["size"], "size": rows[-1]["size"], "status": linear_growth(base, rows[-1], "status"),
                  "reset": linear_growth(base, rows[-1], "reset"), "ping": linear_growth(base, rows[-1], "ping")}
    return {"rows": rows, "growth": growth, "forks": forks, "single": single}


def rounds_at(size, sizes, rounds):
    """The runs at ``size``: ``rounds`` at the largest of ``sizes``; a smaller fleet, whose runs are shorter, as
    many as take about as long, at most SMALLER_FLEET_FACTOR times ``rounds``. The growth figure divides by the time
    at a small size, and a median of a few short runs is the noisy part of it."""
    return min(SMALLER_FLEET_FACTOR * rounds, max(rounds, rounds * max(sizes) // size))


def linear_growth(base, last, key):
    """The (median) time per environment at ``last`` over the time per environment at ``base``."""
    return (last[key]["median"] / last["size"]) / (base[key]["median"] / base["size"])


def measure_pipelining(ansible, fleet, size, forks, rounds):
    """Ping and migration_status.yml with and without pipelining, alternating, on ``size`` environments."""
    found = playbooks(ansible)
    path = inventory(ansible, fleet, size)
    on = {"ANSIBLE_PIPELINING": "True"}
    results = alternate(rounds, [
        ("ping", runner(ansible, found["ping"], path, size, forks)),
        ("status", runner(ansible, found["status"], path, size, forks)),
        ("ping_pipelining", runner(ansible, found["ping"], path, size, forks, env=on)),
        ("status_pipelining", runner(ansible, found["status"], path, size, forks, env=on)),
    ])
    row = dict((name, median([wall for wall, _records in values])) for name, values in results.items())
    row.update(size=size, rounds=rounds,
               ratio=median(paired_ratios(results, "status", "ping", 0)),
               ratio_pipelining=median(paired_ratios(results, "status_pipelining", "ping_pipelining", 0)))
    return row
