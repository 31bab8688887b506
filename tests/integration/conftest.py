"""Integration fixtures: every module run happens at -vvvv and is scanned for secrets, and runs on both paths.

The ``run_module`` and ``run_tasks`` fixtures here replace the one of
tests/conftest.py for the integration tests, so that every scenario, old and
new, proves that no password or connection string shows in any output,
result, warning or ``executed_queries``, at the highest verbosity.

In a test file marked ``both_paths`` they also run every scenario on both of
the module's paths: first in Ansible's worker (a local connection with this
Python), then, from the same database, as a module process (the host's
interpreter is a wrapper around this same Python, which the action plugin does
not take for its own). The two runs must return the same records, whole, and
leave the same database; the test then goes on with the worker's run (and the
database as both left it). A test of such a file that must run one way only
says why with ``one_path(reason)``.
"""

from __future__ import annotations

import pytest

from tests.support import ansible_run
from tests.support import secret_scan

SCAN_VERBOSITY = 4
# The fixtures of tests/conftest.py that give a test its Generate databases: these are restored between the paths.
DATABASE_FIXTURES = ("any_db", "pg_db", "sqlite_db", "external_db")
# The values written at the moment of a run, which two runs seconds apart cannot share: the date of each audit
# line the run adds, and the FetchedAt of a job that Generate's Hangfire fetched while the run went on (a live
# worker keeps it fresh; the module never reads JobQueue).
MOMENT_COLUMNS = (("DataMigrationHistories", "DataMigrationHistoryDate"), ("JobQueue", "FetchedAt"))


def audit_dates_aside(end, start):
    """A database ``dump`` taken at the end of a run, with the moments of the rows added during it left out."""
    for table, column in MOMENT_COLUMNS:
        if table not in end["rows"]:
            continue
        earlier = start["rows"].get(table, [])
        rows = [row if row in earlier else dict(row, **{column: "<written at the run's moment>"})
                for row in end["rows"][table]]
        end = dict(end, rows=dict(end["rows"], **{table: rows}))
    return end


class Paths:
    """What a both_paths test's runs go through: each scenario once per path, compared, the worker's run kept."""

    def __init__(self, run_once, databases, interpreter):
        self.run_once = run_once
        self.databases = databases
        self.interpreter = interpreter

    def __call__(self, *args, **kwargs):
        """Run once per path with these arguments; return the worker's run."""
        return self.scenario(lambda run: run(*args, **kwargs))

    def scenario(self, act):
        """Call ``act(run)`` once per path, ``run`` taking the arguments of the fixture and running on that path.

        ``act`` returns the run to compare; it may do more than run the module (hold a lock, write as Generate
        would), as long as it does the same both times: each path starts from the databases as they were.
        """
        if self.interpreter is None:
            return act(self.run_once)
        start = [database.dump() for database in self.databases]
        worker = act(self.run_once)
        worker_end = [database.dump() for database in self.databases]
        for database, dumped in zip(self.databases, start):
            database.restore(dumped)
        assert [database.dump() for database in self.databases] == start, "the databases were not restored"
        process = act(lambda *args, **kwargs: self.run_once(*args, interpreter=self.interpreter, **kwargs))
        process_end = [database.dump() for database in self.databases]
        differences = ansible_run.path_differences(worker.records, process.records)
        assert not differences, "the worker and the module process differ:\n" + "\n".join(differences)
        for number, begin in enumerate(start):
            differences = ansible_run.differences(audit_dates_aside(worker_end[number], begin),
                                                  audit_dates_aside(process_end[number], begin), "database")
            assert not differences, "the worker and the module process left different databases:\n" + "\n".join(
                differences)
        worker.module_process = process
        return worker


def paths(request, tmp_path, run_once):
    """``run_once`` on the paths the test is marked for: both (``both_paths``), or the one it chooses."""
    if request.node.get_closest_marker("both_paths") is None:
        return Paths(run_once, [], None)
    one_path = request.node.get_closest_marker("one_path")
    if one_path is not None:
        assert one_path.args, "one_path needs the reason why the test runs one way only"
        return Paths(run_once, [], None)
    databases = []
    for name in DATABASE_FIXTURES:
        if name in request.fixturenames:
            database = request.getfixturevalue(name)
            if all(database is not known for known in databases):
                databases.append(database)
    return Paths(run_once, databases, ansible_run.python_wrapper(str(tmp_path)))


@pytest.fixture
def run_module(tmp_path, request):
    """Run the module through ansible-playbook at -vvvv (at least) and check the run for secrets.

    On both paths in a ``both_paths`` file; ``run_module.scenario(act)`` repeats a whole scenario per path.
    """
    def run(module_args, **kwargs):
        kwargs.setdefault("workdir", str(tmp_path))
        kwargs["verbosity"] = max(kwargs.get("verbosity") or 0, SCAN_VERBOSITY)
        result = ansible_run.run_module(module_args, **kwargs)
        secrets = secret_scan.secrets_of(module_args, kwargs.get("env"))
        return secret_scan.check(result, secrets, request.node.nodeid)
    return paths(request, tmp_path, run)


@pytest.fixture
def run_tasks(tmp_path, request):
    """Run several module tasks in one ansible-playbook at -vvvv and check the run for secrets.

    ``secrets`` names further secrets to look for, beyond those in the tasks' arguments. On both paths in a
    ``both_paths`` file, the whole playbook once per path.
    """
    def run(tasks, secrets=(), **kwargs):
        kwargs.setdefault("workdir", str(tmp_path))
        kwargs["verbosity"] = max(kwargs.get("verbosity") or 0, SCAN_VERBOSITY)
        result = ansible_run.run_tasks(tasks, **kwargs)
        return secret_scan.check(result, secret_scan.secrets_of_tasks(tasks, kwargs.get("env"), secrets),
                                 request.node.nodeid)
    return paths(request, tmp_path, run)
