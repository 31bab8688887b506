"""A stand-in for one CEDS Generate install's web and background apps, for the tests and the demo.

It is not Generate. It serves the few read-only endpoints the playbooks probe,
with Generate's JSON shapes, reading the same database the module writes (so
a reset is visible through it), plus a Hangfire-like page at the background
app's root, and while the background app is up its Hangfire server beats in
the database as Hangfire's does. Its background app's MigrateData URLs start
and cancel migrations as Generate's do (``MigrationRunner``); every request is
recorded, so tests can prove which were sent, and that the probes send none.

Each app can be told to fail: ``up`` answers normally, ``error`` answers
every request with HTTP 500, ``down`` closes the port (connection refused).
The web app also knows ``stale``: it keeps showing the report step's status
as it was when the mode was set, like a web app reading another database.

Run it by hand with ``python tests/support/standin_app.py --connection-string ... --schema App``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import selectors
import socket
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

import pyodbc

from hangfire_jobs import HangfireTables, utc_now

MODES = ("up", "error", "down")
WEB_MODES = MODES + ("stale",)
# The background app's URLs that start or cancel migrations (Generate's DataMigrationController).
MIGRATION_CONTROL_PREFIX = "/api/datamigration/"

HANGFIRE_PAGE = """<!DOCTYPE html>
<html><head><title>Overview - Hangfire Dashboard</title></head>
<body><h1>Dashboard</h1><p>Stand-in for the Generate background app (Hangfire 1.8).</p></body>
</html>
"""
# Hangfire's servers beat every 30 s (ServerHeartbeatInterval).
HEARTBEAT_SECONDS = 30.0
# Every stand-in app of this process is answered by one pool of this many request threads, so a fleet of a
# thousand environments (two thousand ports) runs a fixed number of threads, not two or three per environment.
REQUEST_THREADS = 32
# A request whose client sends nothing for this long is dropped, so that it cannot hold a request thread.
REQUEST_SECONDS = 30
# Idle database connections kept between requests, for all the stand-ins of this process together (the least
# recently used closed first): enough for the environments a playbook's forks probe at once, never one per
# environment of a large fleet.
IDLE_CONNECTIONS = 64
# The most database connections the stand-ins of this process hold at once: one per busy request thread, the
# idle ones and the heartbeats' writer. A cluster serving a fleet needs this many beside the module's own.
MAX_CONNECTIONS = REQUEST_THREADS + IDLE_CONNECTIONS + 1


class _Beats:
    """One thread that beats every running Heartbeat of this process, each every ``interval`` seconds.

    It runs while at least one heartbeat does; one beat at a time, so a fleet's
    heartbeats hold at most one database connection between them.
    """

    def __init__(self):
        self._changed = threading.Condition()
        self._due = {}
        self._thread = None

    def add(self, heartbeat):
        """Beat ``heartbeat`` from now on, its first beat one interval from now."""
        with self._changed:
            self._due[heartbeat] = time.monotonic() + heartbeat.interval
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="standin-heartbeats", daemon=True)
                self._thread.start()
            self._changed.notify()

    def remove(self, heartbeat):
        """Beat ``heartbeat`` no more; the last one removed ends the thread, waited for."""
        with self._changed:
            self._due.pop(heartbeat, None)
            thread = None
            if not self._due:
                # A heartbeat added from now on starts a thread of its own; this one ends at its next look.
                thread, self._thread = self._thread, None
            self._changed.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self):
        this = threading.current_thread()
        with self._changed:
            while self._thread is this:
                heartbeat, when = min(self._due.items(), key=lambda item: item[1])
                wait = when - time.monotonic()
                if wait > 0:
                    self._changed.wait(wait)
                    continue
                self._due[heartbeat] = time.monotonic() + heartbeat.interval
                # The beat writes to the database: let add() and remove() go on meanwhile.
                self._changed.release()
                try:
                    heartbeat.beat_while_running()
                finally:
                    self._changed.acquire()


BEATS = _Beats()


class Heartbeat:
    """The background app's Hangfire server: a Server row that beats while the app is up.

    Each beat opens a connection, writes and closes it, so a fleet of stand-ins
    holds no database connection between beats; the beats of every stand-in
    of the process come from one thread (``BEATS``). A graceful stop removes
    the row, as Hangfire does; ``crash()`` leaves it to go stale.
    """

    def __init__(self, connection_string, hangfire_schema, interval=HEARTBEAT_SECONDS):
        self.connection_string = connection_string
        self.tables = HangfireTables(lambda name: '"%s"."%s"' % (hangfire_schema, name))
        self.server_id = "generate-background:%d:%s" % (os.getpid(), uuid.uuid4().hex[:8])
        self.interval = interval
        # Held while beating, so that no beat lands after crash() or stop() returned.
        self._beating = threading.Lock()
        self._running = False

    def _write(self, action):
        connection = pyodbc.connect(self.connection_string, autocommit=True, timeout=5)
        try:
            action(connection.cursor())
        finally:
            connection.close()

    def beat(self):
        """One heartbeat now."""
        self._write(lambda cursor: self.tables.beat(cursor, self.server_id))

    def beat_while_running(self):
        """One heartbeat now, unless stopped meanwhile; a failed beat waits for the next, as Hangfire's does."""
        with self._beating:
            if self._running:
                try:
                    self.beat()
                except pyodbc.Error:
                    pass

    def start(self):
        """Beat now, then every ``interval`` seconds until stopped."""
        with self._beating:
            if self._running:
                return
            self.beat()
            self._running = True
        BEATS.add(self)

    def crash(self):
        """Stop beating and leave the row behind, as a process that died does."""
        with self._beating:
            running, self._running = self._running, False
        BEATS.remove(self)
        return running

    def stop(self):
        """Stop beating and remove the row, as a graceful shutdown does."""
        if self.crash():
            try:
                self._write(lambda cursor: self.tables.remove_server(cursor, self.server_id))
            except pyodbc.Error:
                pass


def json_date(value):
    """A database date as ASP.NET serializes a DateTime: ISO 8601 without a zone, or None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.replace(" ", "T")
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None).isoformat()
    return "%s" % value


class IdleConnections:
    """Database connections kept between two requests, shared by every stand-in of the process.

    As ADO.NET pools them for the real web app, a request takes an idle
    connection to its database (or opens one) and gives it back after; at
    most ``limit`` are kept idle in all, the least recently used closed
    first, so a fleet's stand-ins never hold a connection per environment.
    """

    def __init__(self, limit):
        self.limit = limit
        self._idle = []
        self._lock = threading.Lock()

    def take(self, connection_string):
        """The most recently used idle connection to ``connection_string``, or None."""
        with self._lock:
            for index in range(len(self._idle) - 1, -1, -1):
                if self._idle[index][0] == connection_string:
                    return self._idle.pop(index)[1]
        return None

    def give(self, connection_string, connection):
        """Keep ``connection`` for the next request, closing the least recently used beyond the limit."""
        with self._lock:
            self._idle.append((connection_string, connection))
            surplus, self._idle = self._idle[:-self.limit], self._idle[-self.limit:]
        for _string, old in surplus:
            old.close()

    def close(self, connection_string):
        """Close the idle connections to ``connection_string``, so that its database can be dropped."""
        with self._lock:
            closing = [connection for string, connection in self._idle if string == connection_string]
            self._idle = [entry for entry in self._idle if entry[0] != connection_string]
        for connection in closing:
            connection.close()


IDLE = IdleConnections(IDLE_CONNECTIONS)


class GenerateReader:
    """Reads what the web app shows from a Generate database.

    Each statement runs in autocommit on a connection from the shared
    ``IDLE`` connections (or a new one), so it sees every committed change;
    a connection that failed is dropped.
    """

    def __init__(self, connection_string, schema):
        self.connection_string = connection_string
        self.schema = schema

    def _table(self, name):
        return '"%s"."%s"' % (self.schema, name)

    def _rows(self, sql, *params):
        connection = IDLE.take(self.connection_string)
        if connection is None:
            connection = pyodbc.connect(self.connection_string, autocommit=True, timeout=5)
        try:
            cursor = connection.cursor()
            cursor.execute(sql, *params)
            names = [column[0] for column in cursor.description]
            rows = [dict(zip(names, row)) for row in cursor.fetchall()]
            cursor.close()
        except pyodbc.Error:
            connection.close()
            raise
        IDLE.give(self.connection_string, connection)
        return rows

    def close(self):
        """Close the idle connections to this database, so that it can be dropped."""
        IDLE.close(self.connection_string)

    def configuration(self, category, key):
        """One value of GenerateConfigurations, or None."""
        rows = self._rows(
            'SELECT "GenerateConfigurationValue" AS value FROM %s '
            'WHERE "GenerateConfigurationCategory" = ? AND "GenerateConfigurationKey" = ?'
            % self._table("GenerateConfigurations"), category, key)
        return rows[0]["value"] if rows else None

    def migrations(self):
        """Every DataMigrations row with its type and status codes, camelCase like Generate's API."""
        rows = self._rows(
            'SELECT m."DataMigrationId" AS id, m."DataMigrationTypeId" AS type_id, '
            't."DataMigrationTypeCode" AS type_code, m."DataMigrationStatusId" AS status_id, '
            's."DataMigrationStatusCode" AS status_code, m."LastDurationInSeconds" AS duration, '
            'm."LastTriggerDate" AS trigger_date, m."UserName" AS user_name '
            "FROM %s m LEFT JOIN %s t ON t.\"DataMigrationTypeId\" = m.\"DataMigrationTypeId\" "
            "LEFT JOIN %s s ON s.\"DataMigrationStatusId\" = m.\"DataMigrationStatusId\" "
            'ORDER BY m."DataMigrationId"'
            % (self._table("DataMigrations"), self._table("DataMigrationTypes"),
               self._table("DataMigrationStatuses")))
        return [{
            "dataMigrationId": row["id"],
            "dataMigrationTypeId": row["type_id"],
            "dataMigrationTypeCode": row["type_code"],
            "dataMigrationStatusId": row["status_id"],
            "dataMigrationStatusCode": row["status_code"],
            "lastDurationInSeconds": row["duration"],
            "lastTriggerDate": json_date(row["trigger_date"]),
            "userName": row["user_name"],
        } for row in rows]

    def current_migration_status(self):
        """What the report pages read: only the report step is filled, as in Generate."""
        report = [row for row in self.migrations() if row["dataMigrationTypeCode"] == "report"]
        report = report[0] if report else {}
        history = []
        if report:
            history = self._rows(
                'SELECT "DataMigrationHistoryDate" AS date, "DataMigrationHistoryMessage" AS message FROM %s '
                'WHERE "DataMigrationTypeId" = ? ORDER BY "DataMigrationHistoryDate" DESC, '
                '"DataMigrationHistoryId" DESC' % self._table("DataMigrationHistories"),
                report["dataMigrationTypeId"])
        latest = history[0] if history else {}
        status = {
            "reportMigrationStatusCode": report.get("dataMigrationStatusCode"),
            "reportLastMigrationTriggerDate": report.get("lastTriggerDate"),
            "reportLastMigrationDurationInSeconds": report.get("lastDurationInSeconds"),
            "reportLastMigrationHistoryDate": json_date(latest.get("date")),
            "reportLastMigrationHistoryMessage": latest.get("message"),
            "userName": report.get("userName"),
        }
        for code in ("ods", "rds"):
            for field in ("MigrationStatusCode", "LastMigrationTriggerDate", "LastMigrationDurationInSeconds",
                          "LastMigrationHistoryDate", "LastMigrationHistoryMessage"):
                status[code + field] = None
        return status

    def metadata_status(self):
        """The Metadata rows of GenerateConfigurations."""
        rows = self._rows(
            'SELECT "GenerateConfigurationCategory" AS category, "GenerateConfigurationKey" AS key_name, '
            '"GenerateConfigurationValue" AS value FROM %s WHERE "GenerateConfigurationCategory" = ?'
            % self._table("GenerateConfigurations"), "Metadata")
        return [{"generateConfigurationCategory": row["category"], "generateConfigurationKey": row["key_name"],
                 "generateConfigurationValue": row["value"]} for row in rows]


class MigrationRunner:
    """The background app's MigrateData/{type} and MigrateData/Cancel/{type}, as Generate's MigrationService does.

    A run writes what Generate writes: a Hangfire job Processing on the app's beating server, the step
    ``pending`` with a new LastTriggerDate and "<TYPE> Migration Started", then ``processing``; after
    ``run_seconds`` the step is ``success`` with LastDurationInSeconds, or ``error`` with history lines, as
    ``outcomes[type]`` says (``success``, ``error``, or ``hang``: until cancelled). A cancel logs "Canceling
    migration", deletes every Processing job and sets the type to ``error`` (never over an existing error).
    ``answer_delay`` holds the HTTP answer back after the run started, to make a client time out.
    """

    def __init__(self, connection_string, schema, heartbeat):
        self.connection_string = connection_string
        self.schema = schema
        self.heartbeat = heartbeat
        self.run_seconds = 2.0
        self.outcomes = {}
        self.answer_delay = 0.0
        self.error_message = "Error in App.Migrate_Data: Transaction was deadlocked and has been chosen as the deadlock victim"
        self._cancels = []
        self._threads = []

    def _table(self, name):
        return '"%s"."%s"' % (self.schema, name)

    def _write(self, action):
        connection = pyodbc.connect(self.connection_string, autocommit=True, timeout=5)
        try:
            return action(connection.cursor())
        finally:
            connection.close()

    def _status_id(self, cursor, code):
        return cursor.execute('SELECT "DataMigrationStatusId" FROM %s WHERE "DataMigrationStatusCode" = ?'
                              % self._table("DataMigrationStatuses"), code).fetchone()[0]

    def _type_id(self, cursor, code):
        row = cursor.execute('SELECT "DataMigrationTypeId" FROM %s WHERE "DataMigrationTypeCode" = ?'
                             % self._table("DataMigrationTypes"), code).fetchone()
        return row[0] if row else None

    def _history(self, cursor, type_id, message):
        cursor.execute('INSERT INTO %s ("DataMigrationTypeId", "DataMigrationHistoryDate", '
                       '"DataMigrationHistoryMessage") VALUES (?, ?, ?)' % self._table("DataMigrationHistories"),
                       type_id, datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None), message)

    def _set_step(self, cursor, type_id, code, trigger=None, duration=None):
        sets, values = ['"DataMigrationStatusId" = ?'], [self._status_id(cursor, code)]
        if trigger is not None:
            sets.append('"LastTriggerDate" = ?')
            values.append(trigger)
        if duration is not None:
            sets.append('"LastDurationInSeconds" = ?')
            values.append(duration)
        sql = 'UPDATE %s SET %s WHERE "DataMigrationTypeId" = ?' % (self._table("DataMigrations"), ", ".join(sets))
        cursor.execute(sql, *(values + [type_id]))

    def answer(self, path):
        """Answer one MigrateData request as Generate does: 200 at once, the run going on in the background."""
        parts = [part for part in path.split("/") if part]
        if len(parts) == 5 and parts[3].lower() == "cancel":
            self._write(lambda cursor: self.cancel(cursor, parts[4]))
            return 200, {}
        if len(parts) != 4:
            return 404, {"message": "not found"}
        type_code = parts[3]
        started, cancelled = threading.Event(), threading.Event()
        self._cancels.append(cancelled)
        thread = threading.Thread(target=self._run, args=(type_code, started, cancelled), name="standin-run",
                                  daemon=True)
        self._threads.append(thread)
        thread.start()
        started.wait(10)
        if self.answer_delay:
            time.sleep(self.answer_delay)
        return 200, {}

    def _run(self, type_code, started, cancelled):
        begun = time.monotonic()
        server_id = self.heartbeat.server_id if self.heartbeat is not None else "generate-background:none"
        tables = HangfireTables(self.heartbeat.tables.table if self.heartbeat is not None
                                else lambda name: '"HangFire"."%s"' % name)

        def start(cursor):
            type_id = self._type_id(cursor, type_code)
            job = tables.add_job(cursor, "ExecuteSqlBasedMigration", type_code, "Processing", utc_now(), server_id)
            self._set_step(cursor, type_id, "pending", trigger=utc_now())
            self._history(cursor, type_id, "%s Migration Started" % type_code.upper())
            self._set_step(cursor, type_id, "processing")
            return type_id, job
        type_id, job = self._write(start)
        started.set()
        outcome = self.outcomes.get(type_code, "success")
        if cancelled.wait(None if outcome == "hang" else self.run_seconds):
            return

        def finish(cursor):
            if outcome == "error":
                self._history(cursor, type_id, self.error_message)
                time.sleep(0.01)
                self._history(cursor, type_id, "%s Migration Complete - either due to error or cancellation"
                              % type_code.upper())
                self._set_step(cursor, type_id, "error")
            else:
                self._history(cursor, type_id, "%s Migration Complete" % type_code.upper())
                self._set_step(cursor, type_id, "success", duration=max(1, int(round(time.monotonic() - begun))))
            tables.set_state(cursor, job, "Succeeded")
        self._write(finish)

    def cancel(self, cursor, type_code):
        """MigrationService.CancelMigration: delete every Processing job, then CompleteMigration(type, error)."""
        type_id = self._type_id(cursor, type_code)
        self._history(cursor, type_id, "Canceling migration")
        tables = self.heartbeat.tables if self.heartbeat is not None else HangfireTables(
            lambda name: '"HangFire"."%s"' % name)
        jobs = cursor.execute('SELECT "Id" FROM %s WHERE "StateName" = ?' % tables.table("Job"),
                              "Processing").fetchall()
        for (job_id,) in jobs:
            tables.set_state(cursor, job_id, "Deleted")
        self._set_step(cursor, type_id, "error")
        for cancelled in self._cancels:
            cancelled.set()

    def stop(self):
        """End the runs still going, without writing their outcome."""
        for cancelled in self._cancels:
            cancelled.set()
        for thread in self._threads:
            thread.join(5)


class _Request(BaseHTTPRequestHandler):
    """One HTTP request to a stand-in app (``server``), answered by the app."""

    timeout = REQUEST_SECONDS

    def do_GET(self):  # pylint: disable=invalid-name
        """Let the app answer (http.server looks the method up by this name)."""
        self.server.answer(self)

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def log_message(self, *_args):  # pylint: disable=arguments-differ
        """Log nothing: a stand-in's requests are recorded, not printed."""


class _Listener:
    """Accepts the connections of every listening stand-in app of the process from one thread.

    Each connection is answered by a request thread of one bounded pool
    (``REQUEST_THREADS``), so the threads do not grow with the number of
    apps. The thread and the pool run while at least one app listens; the
    last app to stop waits for both to end.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._selector = None
        self._wake = None
        self._thread = None
        self._pool = None

    def add(self, listening, app):
        """Accept connections on the socket ``listening`` for ``app`` from now on."""
        with self._lock:
            if self._thread is None:
                self._selector = selectors.DefaultSelector()
                # A socket pair to wake the thread from select() when the last app stops.
                self._wake = socket.socketpair()
                self._selector.register(self._wake[0], selectors.EVENT_READ, None)
                self._pool = ThreadPoolExecutor(REQUEST_THREADS, thread_name_prefix="standin-request")
                self._thread = threading.Thread(target=self._serve, args=(self._selector, self._wake, self._pool),
                                                name="standin-listener", daemon=True)
                self._thread.start()
            self._selector.register(listening, selectors.EVENT_READ, app)

    def remove(self, listening):
        """Stop accepting on ``listening`` and close it; after the last app, end the thread and the pool."""
        with self._lock:
            self._selector.unregister(listening)
            listening.close()
            if len(self._selector.get_map()) > 1:
                return
            thread, wake, pool = self._thread, self._wake, self._pool
            self._selector = self._wake = self._thread = self._pool = None
        wake[1].send(b"stop")
        thread.join()
        pool.shutdown(wait=True)

    @staticmethod
    def _serve(selector, wake, pool):
        try:
            while True:
                for key, _events in selector.select():
                    if key.data is None:
                        return
                    try:
                        connection, _address = key.fileobj.accept()
                    except OSError:
                        # Stopped between select() and accept(), or the client gave up: nothing to answer.
                        continue
                    pool.submit(key.data.handle, connection)
        finally:
            selector.close()
            wake[0].close()
            wake[1].close()


LISTENER = _Listener()


class StandinApp:
    """One stand-in app (web or background) on its own port of 127.0.0.1."""

    def __init__(self, kind, routes, port=0, tls=None):
        """``tls``: an ssl.SSLContext for the server side, to serve HTTPS instead of HTTP."""
        self.kind = kind
        self.tls = tls
        self.routes = routes
        self.port = port
        self.mode = "up"
        self.requests = []
        # Answers the background app's MigrateData URLs: a function of the path -> (HTTP status, body).
        self.control = None
        self._listening = None

    @property
    def url(self):
        """The app's base URL."""
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    def start(self):
        """Listen on the app's port (a free one the first time), answered by the shared listener; return self."""
        listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            # As http.server does: the port can be taken again at once after a stop (mode "down", then "up").
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listening.bind(("127.0.0.1", self.port))
            # A playbook's forks connect at once: a short backlog would drop their connections.
            listening.listen(socket.SOMAXCONN)
            listening.setblocking(False)
        except OSError:
            listening.close()
            raise
        self.port = listening.getsockname()[1]
        self._listening = listening
        LISTENER.add(listening, self)
        return self

    def stop(self):
        """Stop serving and close the port."""
        if self._listening is not None:
            listening, self._listening = self._listening, None
            LISTENER.remove(listening)

    def handle(self, connection):
        """Answer the requests of one accepted connection, then close it."""
        try:
            connection.settimeout(REQUEST_SECONDS)
            if self.tls is not None:
                connection = self.tls.wrap_socket(connection, server_side=True)
            _Request(connection, None, self)
        except OSError:
            # The client went away, or refused the certificate: nothing more to answer.
            pass
        except Exception:  # pylint: disable=broad-except
            # As socketserver does: say what failed, keep serving.
            traceback.print_exc()
        finally:
            try:
                connection.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            connection.close()

    def set_mode(self, mode):
        """Switch to ``up``, ``error`` or ``down`` (web app: also ``stale``), keeping the port."""
        self.mode = mode
        if mode == "down":
            self.stop()
        elif self._listening is None:
            self.start()

    def answer(self, request):
        """Record the request, then answer it as the current mode and routes say."""
        path = urlsplit(request.path).path
        self.requests.append((request.command, path))
        if self.mode == "error":
            return self._send(request, 500, {"message": "stand-in %s app told to fail" % self.kind})
        if path.lower().startswith(MIGRATION_CONTROL_PREFIX):
            if self.control is None:
                return self._send(request, 403, {"message": "this stand-in app starts or cancels no migrations"})
            status, body = self.control(path)
            return self._send(request, status, body)
        route = self.routes.get((request.command, path.rstrip("/").lower() or "/"))
        if route is None:
            return self._send(request, 404, {"message": "not found"})
        try:
            status, body = route()
        except pyodbc.Error as exc:
            # Generate's about endpoint answers 500 with a message containing "failed".
            status, body = 500, {"successMessage": "Database connection failed: %s" % exc.args[-1]}
        return self._send(request, status, body)

    @staticmethod
    def _send(request, status, body):
        if isinstance(body, str):
            data, kind = body.encode("utf-8"), "text/html; charset=utf-8"
        else:
            data, kind = json.dumps(body).encode("utf-8"), "application/json; charset=utf-8"
        request.send_response(status)
        request.send_header("Content-Type", kind)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(data)


class StandinGenerate:
    """A stand-in Generate install: a web app and a background app over one Generate database."""

    def __init__(self, connection_string, schema="App", hangfire_schema=None):
        """``hangfire_schema``: where the background app's Hangfire server beats (None: it does not beat)."""
        self.reader = GenerateReader(connection_string, schema)
        self.heartbeat = Heartbeat(connection_string, hangfire_schema) if hangfire_schema else None
        self._stale_status = None
        self.web = StandinApp("web", {
            ("GET", "/api/app/about/getvers"): self._version,
            ("GET", "/api/app/datamigrations/currentmigrationstatus"): self._current_status,
            ("GET", "/api/app/datamigrations"): lambda: (200, self.reader.migrations()),
            ("GET", "/api/app/fsmetadata/getmetadatastatus"): lambda: (200, self.reader.metadata_status()),
        })
        self.background = StandinApp("background", {("GET", "/"): lambda: (200, HANGFIRE_PAGE)})
        self.migrations = MigrationRunner(connection_string, schema, self.heartbeat)
        self.background.control = self.migrations.answer

    @classmethod
    def for_database(cls, database, beats=True):
        """A stand-in over a test database of tests/support/generate_db.py; its background app beats unless told."""
        return cls(database.connection_string, database.schema, database.hangfire_schema if beats else None)

    @property
    def web_url(self):
        """Base URL of the web app."""
        return self.web.url

    @property
    def background_url(self):
        """Base URL of the background app."""
        return self.background.url

    @property
    def requests(self):
        """Every request received so far, as (app, method, path)."""
        return ([("web",) + request for request in self.web.requests]
                + [("background",) + request for request in self.background.requests])

    def start(self):
        """Start both apps; return self."""
        self.web.start()
        self.background.start()
        if self.heartbeat is not None:
            self.heartbeat.start()
        return self

    def stop(self):
        """Stop both apps and close their database connections, each step even when an earlier one failed."""
        try:
            self.migrations.stop()
            if self.heartbeat is not None:
                self.heartbeat.stop()
        finally:
            try:
                self.web.stop()
                self.background.stop()
            finally:
                self.reader.close()

    def set_web(self, mode):
        """Make the web app ``up``, ``error``, ``down`` or ``stale``."""
        if mode not in WEB_MODES:
            raise ValueError("web mode must be one of %s" % ", ".join(WEB_MODES))
        self._stale_status = self.reader.current_migration_status() if mode == "stale" else None
        self.web.set_mode("up" if mode == "stale" else mode)

    def set_background(self, mode):
        """Make the background app ``up``, ``error`` or ``down`` (down: its server stops beating, as in a crash)."""
        if mode not in MODES:
            raise ValueError("background mode must be one of %s" % ", ".join(MODES))
        self.background.set_mode(mode)
        if self.heartbeat is not None:
            if mode == "down":
                self.heartbeat.crash()
            else:
                self.heartbeat.start()

    def _version(self):
        version = self.reader.configuration("Database", "DatabaseVersion")
        return 200, {"successMessage": version}

    def _current_status(self):
        return 200, self._stale_status or self.reader.current_migration_status()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main():
    """Serve a stand-in over a database until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connection-string", required=True, help="ODBC connection string of the database")
    parser.add_argument("--schema", default="App", help="schema of Generate's App tables")
    parser.add_argument("--hangfire-schema", help="schema of Hangfire's tables, where the background app beats")
    parser.add_argument("--web-port", type=int, default=0)
    parser.add_argument("--background-port", type=int, default=0)
    options = parser.parse_args()
    standin = StandinGenerate(options.connection_string, options.schema, options.hangfire_schema)
    standin.web.port = options.web_port
    standin.background.port = options.background_port
    with standin:
        print("web app:        %s" % standin.web_url)
        print("background app: %s" % standin.background_url, flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
