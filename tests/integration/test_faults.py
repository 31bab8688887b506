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

import figures
import generate_db
from postgres_cluster import PostgresCluster
from server_sessions import blocked_module_pids, in_background, row_lock, sessions_left
from silent_host import silent_host

TROUBLESHOOTING = [("ods", "error", 7200), ("rds", "pending", 7100), ("report", "pending", 7100)]
# The task's time includes Ansible's own work for the task and the module's start, a second
# on an idle machine and several on a busy one: a generous bound, the figures say the rest.
MARGIN = 15


def assert_clean_failure(run, *texts):
    """Failed in one line holding ``texts``, with no traceback."""
    assert run.failed, run.output[-3000:]
    message = run.result["msg"]
    assert "\n" not in message, message
    for text in texts:
        assert text in message, message
    assert "Traceback" not in run.output
    assert run.result.get("exception") in (None, "(traceback unavailable)")


def fault_survived(request):
    """Count one fault that the module came through cleanly."""
    figures.record("faults injected", 1, request.node.nodeid)
    figures.record("faults survived (one-line failure, database unchanged)", 1, request.node.nodeid)


@pytest.fixture
def no_lingering_sessions(postgres, pg_db, request):
    """After the test, the module has no session left on the server: no open transaction, no idle connection."""
    yield
    left = sessions_left(postgres, pg_db.name)
    figures.record("sessions left open after a fault", left, request.node.nodeid)
    assert left == 0


def test_connection_killed_while_resetting_writes_nothing_and_the_next_run_succeeds(
        postgres, pg_db, run_module, no_lingering_sessions, request):
    pg_db.seed(TROUBLESHOOTING)
    before = pg_db.snapshot()
    # The module resets ods, then waits on rds: killed there, it holds one uncommitted update.
    with row_lock(pg_db, step_id=2):
        running = in_background(run_module, pg_db.module_args(state="reset"))
        pid = blocked_module_pids(postgres, pg_db.name)[0]
        postgres.psql("SELECT pg_terminate_backend(%d)" % pid)
        run = running.result(timeout=120)
    assert_clean_failure(run, "resetting migration steps on 127.0.0.1/%s failed: the connection was lost" % pg_db.name,
                         "nothing was committed; run again")
    assert pg_db.snapshot() == before
    assert sessions_left(postgres, pg_db.name) == 0
    again = run_module(pg_db.module_args(state="reset")).result
    assert again["changed"] is True
    assert pg_db.statuses() == {"ods": "success", "rds": "success", "report": "success"}
    assert len(pg_db.history_messages()) == 3
    fault_survived(request)


def test_lock_held_past_query_timeout_fails_after_the_timeout_and_writes_nothing(
        postgres, pg_db, run_module, no_lingering_sessions, request):
    pg_db.seed(TROUBLESHOOTING)
    before = pg_db.snapshot()
    with row_lock(pg_db, step_id=2):
        run = run_module(pg_db.module_args(state="reset", query_timeout=2))
    assert_clean_failure(run, "resetting migration steps on 127.0.0.1/%s timed out after 2 s" % pg_db.name,
                         "raise query_timeout")
    assert 2 <= run.record["duration"] < 2 + MARGIN, run.record["duration"]
    figures.record("seconds to fail on a lock with query_timeout 2", run.record["duration"], request.node.nodeid)
    assert pg_db.snapshot() == before
    assert run_module(pg_db.module_args(state="reset")).result["changed"] is True
    fault_survived(request)


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
    database.seed(TROUBLESHOOTING)
    before = database.snapshot()
    with row_lock(database, step_id=2):
        running = in_background(run_module, database.module_args(state="reset"))
        blocked_module_pids(own_cluster, name)
        own_cluster.stop(mode="fast")
        run = running.result(timeout=120)
    assert_clean_failure(run, "on 127.0.0.1/%s failed: the connection was lost" % name, "nothing was committed; run again")

    down = run_module(database.module_args(state="reset", connect_timeout=3))
    assert_clean_failure(down, "cannot connect to 127.0.0.1/%s" % name, "Check server, port and network")
    assert down.record["duration"] < 3 + MARGIN
    figures.record("seconds to fail on a stopped server", down.record["duration"], request.node.nodeid)

    own_cluster.restart()
    assert database.snapshot() == before
    assert sessions_left(own_cluster, name) == 0
    again = run_module(database.module_args(state="reset")).result
    assert again["changed"] is True
    assert database.statuses() == {"ods": "success", "rds": "success", "report": "success"}
    assert sessions_left(own_cluster, name) == 0
    # Two faults: the server went away under a reset, then refused a run while down.
    fault_survived(request)
    fault_survived(request)


@pytest.mark.parametrize("connect_timeout", [2, 5])
def test_silent_host_fails_within_connect_timeout(pg_db, run_module, connect_timeout, request):
    with silent_host() as port:
        run = run_module(pg_db.module_args(state="reset", port=port, connect_timeout=connect_timeout))
    assert_clean_failure(run, "connecting to 127.0.0.1/%s timed out after %d s" % (pg_db.name, connect_timeout),
                         "check server, port and firewall")
    assert connect_timeout <= run.record["duration"] < connect_timeout + MARGIN, run.record["duration"]
    figures.record("seconds to fail on a silent host with connect_timeout %d" % connect_timeout,
                   run.record["duration"], request.node.nodeid)
    fault_survived(request)


def test_closed_port_fails_at_once(pg_db, run_module, request):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = run_module(pg_db.module_args(state="reset", port=port, connect_timeout=10))
    assert_clean_failure(run, "cannot connect to 127.0.0.1/%s" % pg_db.name, "Connection refused")
    assert run.record["duration"] < MARGIN, run.record["duration"]
    figures.record("seconds to fail on a closed port", run.record["duration"], request.node.nodeid)
    fault_survived(request)


def test_an_unforeseen_error_rolls_back_and_leaves_no_session(postgres, pg_db, monkeypatch):
    from ansible_collections.ceds.generate.plugins.module_utils import migration_table
    pg_db.seed([("ods", "error", 7200), ("rds", "success", 7200), ("report", "success", 7200)])
    before = pg_db.snapshot()

    def unforeseen(*_args, **_kwargs):
        raise RuntimeError("an error nobody foresaw")
    # The reset's UPDATE has been sent when the audit lines are written: the error strikes inside the transaction.
    monkeypatch.setattr(migration_table.MigrationTable, "_write_audit", unforeseen)
    params = dict((name, spec.get("default")) for name, spec in migration_table.argument_spec().items())
    params.update(pg_db.module_args(state="reset"))
    with pytest.raises(RuntimeError) as raised:
        migration_table.execute(params, False, {})
    # ``raised`` keeps the failed run's frames, and so its objects, alive: only a close in the run itself ends
    # the session (an UPDATE not committed, idle in its transaction) here.
    assert "nobody foresaw" in str(raised.value)
    assert sessions_left(postgres, pg_db.name, wait=2) == 0
    assert pg_db.snapshot() == before
