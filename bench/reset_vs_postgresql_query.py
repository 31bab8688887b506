# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Part 2: the module's reset against the seed's UPDATE through community.postgresql.postgresql_query.

Both run on the same failed database, put back to the failed scenario before
every run; the module also reads the status codes and Hangfire's state,
plans, resets only the failed rows with a compare-and-set and writes one
audit line per step.
"""

from __future__ import annotations

from tests.support import scenarios
from bench.playbook_runs import (DATA_MIGRATIONS, PlaybookFailed, alternate, local_inventory, ratios,
                                 single_task_play, single_task_runner, times)

POSTGRESQL_QUERY = "community.postgresql.postgresql_query"
# The tables GenerateDatabase.seed fills, dependents first.
SEEDED_TABLES = ("DataMigrationHistories", "DataMigrations", "GenerateConfigurations", "DataMigrationTypes",
                 "DataMigrationStatuses")


def psqlodbc_defaults(cluster, database):
    """A connection string to ``database`` that sets none of psqlODBC's options."""
    return "DRIVER={PostgreSQL Unicode};SERVER=%s;PORT=%d;DATABASE=%s;UID=%s;PWD={%s}" % (
        cluster.host, cluster.port, database.name, cluster.user, cluster.password)


def seed_update_play(cluster, database):
    """The seed's UPDATE through postgresql_query, as an operator would run it."""
    return single_task_play("seed update", POSTGRESQL_QUERY, {
        "login_host": cluster.host, "login_port": cluster.port, "login_user": cluster.user,
        "login_password": cluster.password, "db": database.name, "query": scenarios.SEED_UPDATE})


def restore_failed(cluster, database):
    """Put the failed scenario back: the seeded rows and history exactly, the reset's audit lines gone."""
    cluster.psql("; ".join('DELETE FROM %s' % database.table(name) for name in SEEDED_TABLES), database=database.name)
    database.seed(scenarios.FAILED, history=scenarios.FAILED_HISTORY)


def measure(ansible, cluster, database, rounds):
    """Alternate postgresql_query, the reset, and the reset with psqlODBC's defaults, ``rounds`` times each."""
    inventory = local_inventory(ansible.workdir, "worker.ini", ansible.python)
    query = ansible.playbook("postgresql_query.yml", seed_update_play(cluster, database))
    reset = ansible.playbook("reset.yml", single_task_play("reset", DATA_MIGRATIONS,
                                                           database.module_args(state="reset")))
    reset_defaults = ansible.playbook("reset_defaults.yml", single_task_play("reset", DATA_MIGRATIONS, {
        "state": "reset", "connection_string": psqlodbc_defaults(cluster, database)}))

    def all_reset(playbook):
        if set(database.statuses().values()) != {"success"}:
            raise PlaybookFailed("%s did not reset the steps" % playbook)

    def runner(playbook, action):
        return single_task_runner(ansible, playbook, inventory, action, check=all_reset)

    results = alternate(rounds, [("postgresql_query", runner(query, POSTGRESQL_QUERY)),
                                 ("reset", runner(reset, DATA_MIGRATIONS)),
                                 ("reset_defaults", runner(reset_defaults, DATA_MIGRATIONS))],
                        before_each=lambda _name: restore_failed(cluster, database))
    return {"rounds": rounds, "times": times(results), "ratio": ratios(results, "reset", "postgresql_query"),
            "ratio_options": ratios(results, "reset", "reset_defaults")}
