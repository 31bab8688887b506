"""Watch and hold up the module's sessions on a test PostgreSQL server, to place faults and races exactly."""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor

import pyodbc

APPLICATION = "ceds.generate"


def module_sessions(cluster, database):
    """The server's sessions of the module in ``database``: (pid, state, wait event type)."""
    text = cluster.psql(
        "SELECT pid, state, coalesce(wait_event_type, '') FROM pg_stat_activity "
        "WHERE application_name = '%s' AND datname = '%s'" % (APPLICATION, database))
    return [tuple(line.split("|")) for line in text.splitlines() if line.strip()]


def sessions_left(cluster, database, wait=5.0):
    """How many sessions of the module remain in ``database`` once the server has seen every disconnect."""
    deadline = time.monotonic() + wait
    while True:
        left = module_sessions(cluster, database)
        if not left or time.monotonic() > deadline:
            return len(left)
        time.sleep(0.1)


def blocked_module_pids(cluster, database, count=1, timeout=120):
    """The pids of ``count`` module sessions waiting on a lock; AssertionError if they never all wait."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [int(pid) for pid, _state, wait_type in module_sessions(cluster, database) if wait_type == "Lock"]
        if len(pids) >= count:
            return pids
        time.sleep(0.05)
    raise AssertionError("%d module sessions never waited on the row lock" % count)


@contextlib.contextmanager
def row_lock(database, step_id):
    """Hold a lock on one DataMigrations row, as a running Generate job would; yields the holding connection.

    The lock ends with the block (rolled back) or earlier, when the test commits on the connection.
    """
    connection = pyodbc.connect(database.connection_string, autocommit=False)
    try:
        connection.cursor().execute(
            'SELECT "DataMigrationId" FROM %s WHERE "DataMigrationId" = ? FOR UPDATE'
            % database.table("DataMigrations"), step_id).fetchall()
        yield connection
    finally:
        with contextlib.suppress(pyodbc.Error):
            connection.rollback()
        with contextlib.suppress(pyodbc.Error):
            connection.close()


def in_background(function, *args, **kwargs):
    """Start ``function`` in a thread; return a future for its result."""
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(function, *args, **kwargs)
    pool.shutdown(wait=False)
    return future
