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
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


class Heartbeat:
    """The background app's Hangfire server: a Server row that beats while the app is up.

    Each beat opens a connection, writes and closes it, so a fleet of stand-ins
    holds no database connection between beats. A graceful stop removes the
    row, as Hangfire does; ``crash()`` leaves it to go stale.
    """

    def __init__(self, connection_string, hangfire_schema, interval=HEARTBEAT_SECONDS):
        self.connection_string = connection_string
        self.tables = HangfireTables(lambda name: '"%s"."%s"' % (hangfire_schema, name))
        self.server_id = "generate-background:%d:%s" % (os.getpid(), uuid.uuid4().hex[:8])
        self.interval = interval
        self._stop = threading.Event()
        self._thread = None

    def _write(self, action):
        connection = pyodbc.connect(self.connection_string, autocommit=True, timeout=5)
        try:
            action(connection.cursor())
        finally:
            connection.close()

    def beat(self):
        """One heartbeat now."""
        self._write(lambda cursor: self.tables.beat(cursor, self.server_id))

    def start(self):
        """Beat now, then every ``interval`` seconds until stopped."""
        if self._thread is not None:
            return
        self.beat()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="standin-heartbeat", daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except pyodbc.Error:
                pass

    def crash(self):
        """Stop beating and leave the row behind, as a process that died does."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def stop(self):
        """Stop beating and remove the row, as a graceful shutdown does."""
        running = self._thread is not None
        self.crash()
        if running:
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


class GenerateReader:
    """Reads what the web app shows from a Generate database.

    Connections are pooled, as ADO.NET pools them for the real web app: each
    statement runs in autocommit on an idle connection (or a new one), so it
    sees every committed change, and a connection that failed is dropped.
    """

    def __init__(self, connection_string, schema):
        self.connection_string = connection_string
        self.schema = schema
        self._idle = []
        self._lock = threading.Lock()

    def _table(self, name):
        return '"%s"."%s"' % (self.schema, name)

    def _rows(self, sql, *params):
        with self._lock:
            connection = self._idle.pop() if self._idle else None
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
        with self._lock:
            self._idle.append(connection)
        return rows

    def close(self):
        """Close the idle connections, so that the database can be dropped."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

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
        self._server = None
        self._thread = None

    @property
    def url(self):
        """The app's base URL."""
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    def start(self):
        """Listen and serve in a background thread; return self."""
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                app.answer(self)

            do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

            def log_message(self, *_args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="standin-%s" % self.kind,
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop serving and close the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    def set_mode(self, mode):
        """Switch to ``up``, ``error`` or ``down`` (web app: also ``stale``), keeping the port."""
        self.mode = mode
        if mode == "down":
            self.stop()
        elif self._server is None:
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
        """Stop both apps and close their database connections."""
        self.migrations.stop()
        if self.heartbeat is not None:
            self.heartbeat.stop()
        self.web.stop()
        self.background.stop()
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
