"""Faults: a killed connection, a lock held past query_timeout, a server stopped mid-run, hosts that never answer.

Each fault must end in a clean one-line failure, leave the database exactly
as it was, leave no session of the module on the server, and the next run
must succeed.  A test holds a row lock on a step so that the module's
compare-and-set UPDATE waits, which makes the moment of each fault exact.
"""

from __future__ import annotations

import socket
import uuid

import pytest

from tests.support import figures
from tests.support import generate_db
from tests.support.postgres_cluster import PostgresCluster
from tests.support.scenarios import FAILED
from tests.support.server_sessions import blocked_module_pids, in_background, row_lock, sessions_left
from tests.support.silent_host import silent_host

# The task's time includes Ansible's own work for the task and the module's start, a second
# on an idle machine and several on a busy one: a generous bound, the figures say the rest.
MARGIN = 15
FIXED = {"ods": "success", "rds": "success", "report": "success"}
SESSIONS = "sessions of the module left on the server after a fault"
SURVIVED = ("faults survived (one-line failure, no traceback, in the time allowed; after a reset struck midway: "
            "table unchanged, no session left, next run resets)")


class Fault:
    """One fault: counted as injected when the test injects it, as survived from what shows afterwards.

    Create it right where the fault is injected; ``expect`` notes what was observed after it;
    ``settle`` records whether everything observed was as it must be, then fails the test if not.
    """

    def __init__(self, request, name):
        self.test = "%s (%s)" % (request.node.nodeid, name)
        self.problems = []
        figures.record("faults injected", 1, self.test)

    def expect(self, observed_ok, problem):
        """Note ``problem`` unless ``observed_ok``."""
        if not observed_ok:
            self.problems.append(problem)

    def expect_clean_failure(self, run, *texts):
        """The run failed in one line holding ``texts``, with no traceback in its output or result."""
        message = run.result.get("msg", "")
        self.expect(run.failed, "the run did not fail: %s" % run.output[-2000:])
        self.expect("\n" not in message, "the message is not one line: %r" % message)
        for text in texts:
            self.expect(text in message, "the message %r does not say %r" % (message, text))
        self.expect("Traceback" not in run.output, "a traceback shows in the output")
        self.expect(run.result.get("exception") in (None, "(traceback unavailable)"), "the result holds a traceback")

    def expect_within(self, run, low, high):
        """The task took between ``low`` and ``high`` seconds."""
        duration = run.record["duration"]
        self.expect(low <= duration < high, "the task took %.1f s, not %s to %s" % (duration, low, high))

    def expect_reset(self, run, database):
        """A reset after the fault reset every failed step, with one audit line each."""
        self.expect(run.result.get("changed") is True, "the next run changed nothing: %s" % run.result.get("msg"))
        statuses = database.statuses()
        self.expect(statuses == FIXED, "after the next run the steps are %s" % statuses)
        audit = len(database.history_messages())
        self.expect(audit == 3, "the next run wrote %d audit lines, not 3" % audit)

    def settle(self):
        """Record the fault as survived or not, from what was observed; fail the test if it was not."""
        figures.record(SURVIVED, 0 if self.problems else 1, self.test)
        assert not self.problems, "%s: %s" % (self.test, "; ".join(self.problems))


def expect_no_sessions(request, cluster, database_name, *faults):
    """Read the server's sessions of the module, record how many are left, and hold ``faults`` to none."""
    left = sessions_left(cluster, database_name)
    figures.record(SESSIONS, left, request.node.nodeid)
    for fault in faults:
        fault.expect(left == 0, "%d sessions of the module left on the server" % left)


def test_connection_killed_while_resetting_writes_nothing_and_the_next_run_succeeds(
        postgres, pg_db, run_module, request):
    pg_db.seed(FAILED)
    before = pg_db.snapshot()
    # The module resets ods, then waits on rds: killed there, it holds one uncommitted update.
    with row_lock(pg_db, step_id=2):
        running = in_background(run_module, pg_db.module_args(state="reset"))
        pid = blocked_module_pids(postgres, pg_db.name)[0]
        fault = Fault(request, "connection killed")
        postgres.psql("SELECT pg_terminate_backend(%d)" % pid)
        run = running.result(timeout=120)
    fault.expect_clean_failure(run, "resetting migration steps on 127.0.0.1/%s failed: the connection was lost"
                               % pg_db.name, "nothing was committed; run again")
    fault.expect(pg_db.snapshot() == before, "the table changed")
    expect_no_sessions(request, postgres, pg_db.name, fault)
    fault.expect_reset(run_module(pg_db.module_args(state="reset")), pg_db)
    fault.settle()


def test_lock_held_past_query_timeout_fails_after_the_timeout_and_writes_nothing(
        postgres, pg_db, run_module, request):
    pg_db.seed(FAILED)
    before = pg_db.snapshot()
    with row_lock(pg_db, step_id=2):
        fault = Fault(request, "lock held past query_timeout")
        run = run_module(pg_db.module_args(state="reset", query_timeout=2))
    figures.record("seconds to fail on a lock with query_timeout 2", run.record["duration"], request.node.nodeid)
    fault.expect_clean_failure(run, "resetting migration steps on 127.0.0.1/%s timed out after 2 s" % pg_db.name,
                               "raise query_timeout")
    fault.expect_within(run, 2, 2 + MARGIN)
    fault.expect(pg_db.snapshot() == before, "the table changed")
    expect_no_sessions(request, postgres, pg_db.name, fault)
    fault.expect_reset(run_module(pg_db.module_args(state="reset")), pg_db)
    fault.settle()


@pytest.fixture
def own_cluster():
    """A PostgreSQL cluster of this test alone, since the test stops and restarts it."""
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.destroy()


def test_server_stopped_mid_run_then_restarted(own_cluster, run_module, request):
    name = "stopped_%s" % uuid.uuid4().hex[:8]
    database = generate_db.postgres_database(own_cluster, name)
    database.seed(FAILED)
    before = database.snapshot()
    with row_lock(database, step_id=2):
        running = in_background(run_module, database.module_args(state="reset"))
        blocked_module_pids(own_cluster, name)
        stopped = Fault(request, "server stopped under a reset")
        own_cluster.stop(mode="fast")
        run = running.result(timeout=120)
    stopped.expect_clean_failure(run, "on 127.0.0.1/%s failed: the connection was lost" % name,
                                 "nothing was committed; run again")

    down = Fault(request, "run while the server is down")
    refused = run_module(database.module_args(state="reset", connect_timeout=3))
    figures.record("seconds to fail on a stopped server", refused.record["duration"], request.node.nodeid)
    down.expect_clean_failure(refused, "cannot connect to 127.0.0.1/%s" % name, "Check server, port and network")
    down.expect_within(refused, 0, 3 + MARGIN)

    own_cluster.restart()
    unchanged = database.snapshot() == before
    expect_no_sessions(request, own_cluster, name, stopped, down)
    again = run_module(database.module_args(state="reset"))
    for fault in (stopped, down):
        fault.expect(unchanged, "the table changed")
        fault.expect_reset(again, database)
    stopped.settle()
    down.settle()
    assert sessions_left(own_cluster, name) == 0


@pytest.mark.parametrize("connect_timeout", [2, 5])
def test_silent_host_fails_within_connect_timeout(pg_db, run_module, connect_timeout, request):
    with silent_host() as port:
        fault = Fault(request, "silent host")
        run = run_module(pg_db.module_args(state="reset", port=port, connect_timeout=connect_timeout))
    figures.record("seconds to fail on a silent host with connect_timeout %d" % connect_timeout,
                   run.record["duration"], request.node.nodeid)
    fault.expect_clean_failure(run, "connecting to 127.0.0.1/%s timed out after %d s" % (pg_db.name, connect_timeout),
                               "check server, port and firewall")
    fault.expect_within(run, connect_timeout, connect_timeout + MARGIN)
    fault.settle()


def test_closed_port_fails_at_once(pg_db, run_module, request):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fault = Fault(request, "closed port")
    run = run_module(pg_db.module_args(state="reset", port=port, connect_timeout=10))
    figures.record("seconds to fail on a closed port", run.record["duration"], request.node.nodeid)
    fault.expect_clean_failure(run, "cannot connect to 127.0.0.1/%s" % pg_db.name, "Connection refused")
    fault.expect_within(run, 0, MARGIN)
    fault.settle()


def test_an_unforeseen_error_rolls_back_and_leaves_no_session(postgres, pg_db, monkeypatch):
    from ansible_collections.ceds.generate.plugins.module_utils import data_migrations, migration_tables
    pg_db.seed([("ods", "error", 7200), ("rds", "success", 7200), ("report", "success", 7200)])
    before = pg_db.snapshot()

    def unforeseen(*_args, **_kwargs):
        raise RuntimeError("an error nobody foresaw")
    # The reset's UPDATE has been sent when the audit lines are written: the error strikes inside the transaction.
    monkeypatch.setattr(migration_tables.MigrationTable, "_write_audit", unforeseen)
    params = dict((name, spec.get("default")) for name, spec in data_migrations.argument_spec().items())
    params.update(pg_db.module_args(state="reset"))
    with pytest.raises(RuntimeError) as raised:
        data_migrations.execute(params, False, {})
    # ``raised`` keeps the failed run's frames, and so its objects, alive: only a close in the run itself ends
    # the session (an UPDATE not committed, idle in its transaction) here.
    assert "nobody foresaw" in str(raised.value)
    assert sessions_left(postgres, pg_db.name, wait=2) == 0
    assert pg_db.snapshot() == before
