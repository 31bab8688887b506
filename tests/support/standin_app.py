"""A stand-in for one CEDS Generate install's web and background apps, for the tests and the demo.

Its web app serves the few read-only endpoints the playbooks probe, with
Generate's JSON shapes, reading the same database the module writes (so a reset
is visible through it), and the report migration page's PUT migratereport. Its
background app serves a Hangfire-like page at its root and Generate's
MigrateData URLs, answered by a replica of Generate's background app and its
Hangfire server (``generate_replica.GenerateReplica``: copied from Generate's and
Hangfire's source), which beats and runs the migrations in the database while
the app is up. Every request is recorded, so tests can prove which were sent,
and that the probes send none.

Each app can be told to fail: ``up`` answers normally, ``error`` answers
every request with HTTP 500, ``down`` closes the port (connection refused).
The web app also knows ``stale``: it keeps showing the report step's status
as it was when the mode was set, like a web app reading another database.

Run it by hand from the checkout with ``python -m tests.support.standin_app --connection-string ... --schema App``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import selectors
import socket
import threading
import time
import traceback
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

import pyodbc

from . import generate_replica
from .generate_replica import GenerateReplica

MODES = ("up", "error", "down")
WEB_MODES = MODES + ("stale",)
# The background app's URLs that start or cancel migrations (Generate's DataMigrationController).
MIGRATION_CONTROL_PREFIX = "/api/datamigration/"

HANGFIRE_PAGE = """<!DOCTYPE html>
<html><head><title>Overview - Hangfire Dashboard</title></head>
<body><h1>Dashboard</h1><p>Stand-in for the Generate background app (Hangfire 1.8).</p></body>
</html>
"""
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
# idle ones and the replicas' units of work (heartbeats and jobs together). A cluster serving a fleet needs this
# many beside the module's own.
MAX_CONNECTIONS = REQUEST_THREADS + IDLE_CONNECTIONS + generate_replica.CONNECTIONS
# How long the web app waits for the background app's answer (RestSharp's default timeout is 100 s).
BACKGROUND_CALL_SECONDS = 100


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
        # Answers the background app's MigrateData URLs: a function of (method, path) -> (HTTP status, body).
        self.control = None
        # Routes that read the request's body: (method, path) -> function of the body's bytes -> (status, body).
        self.body_routes = {}
        self._listening = None
        # While down: the port, bound but not listening, so that connections are refused and no other app of the
        # machine (another test run's) is given the port meanwhile.
        self._reserved = None

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
        if self._reserved is not None:
            reserved, self._reserved = self._reserved, None
            reserved.close()

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
            reserved = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            reserved.bind(("127.0.0.1", self.port))
            self.port = reserved.getsockname()[1]
            self._reserved = reserved
        elif self._listening is None:
            self.stop()
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
            status, body = self.control(request.command, path)
            return self._send(request, status, body)
        key = (request.command, path.rstrip("/").lower() or "/")
        if key in self.body_routes:
            length = int(request.headers.get("Content-Length") or 0)
            return self._send(request, *self.body_routes[key](request.rfile.read(length) if length else b""))
        route = self.routes.get(key)
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
        """Answer with ``body``: HTML for a string, JSON otherwise, nothing for None (ASP.NET's Ok())."""
        if body is None:
            request.send_response(status)
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
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
    """A stand-in Generate install: a web app and a background app over one Generate database.

    ``replica`` is the background app's Generate and Hangfire server
    (generate_replica.GenerateReplica); ``version`` picks its version line (None:
    the database's). ``beats`` False: the background app runs no Hangfire server
    (nothing beats, nothing runs the jobs), as in an install whose background
    process is not started.
    """

    def __init__(self, connection_string, schema="App", hangfire_schema="HangFire", version=None, beats=True):
        self.reader = GenerateReader(connection_string, schema)
        self.replica = GenerateReplica(connection_string, schema, hangfire_schema, version)
        self.beats = beats
        # Seconds the background app holds its MigrateData answers back (a fault to make a client time out).
        self.answer_delay = 0.0
        self._stale_status = None
        self.web = StandinApp("web", {
            ("GET", "/api/app/about/getvers"): self._version,
            ("GET", "/api/app/datamigrations/currentmigrationstatus"): self._current_status,
            ("GET", "/api/app/datamigrations"): lambda: (200, self.reader.migrations()),
            ("GET", "/api/app/fsmetadata/getmetadatastatus"): lambda: (200, self.reader.metadata_status()),
        })
        self.web.body_routes[("PUT", "/api/app/datamigrations/migratereport")] = self._migrate_report
        self.background = StandinApp("background", {("GET", "/"): lambda: (200, HANGFIRE_PAGE)})
        self.background.control = self._migration_control

    @classmethod
    def for_database(cls, database, beats=True, version=None):
        """A stand-in over a test database of tests/support/generate_db.py; its background app beats unless told."""
        return cls(database.connection_string, database.schema, database.hangfire_schema, version, beats)

    @property
    def heartbeat(self):
        """The background app's Hangfire server (its ``server_id``), or None when it runs none."""
        return self.replica if self.beats else None

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
        if self.beats:
            self.replica.start()
        return self

    def stop(self):
        """Stop both apps and close their database connections, each step even when an earlier one failed."""
        try:
            self.replica.stop()
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
        """Make the background app ``up``, ``error`` or ``down``: down is its process dying (replica.crash()), up
        after down a new process (a new Hangfire server id)."""
        if mode not in MODES:
            raise ValueError("background mode must be one of %s" % ", ".join(MODES))
        self.background.set_mode(mode)
        if self.beats:
            if mode == "down":
                self.replica.crash()
            else:
                self.replica.start()

    def _version(self):
        version = self.reader.configuration("Database", "DatabaseVersion")
        return 200, {"successMessage": version}

    def _current_status(self):
        return 200, self._stale_status or self.reader.current_migration_status()

    def _migration_control(self, method, path):
        """generate.background/Controllers/DataMigrationController.cs: [Route("api/[controller]")] with
        HttpGet("MigrateData/{migrationType}") and HttpGet("MigrateData/Cancel/{migrationType}"), literals matched
        case-insensitively, the type passed as sent; Ok() (200, no body), or BadRequest(ex) when the service
        throws."""
        parts = [part for part in path.split("/") if part]
        if len(parts) not in (4, 5) or parts[1].lower() != "datamigration" or parts[2].lower() != "migratedata" or (
                len(parts) == 5 and parts[3].lower() != "cancel"):
            return 404, {"message": "not found"}
        if method != "GET":
            return 405, {"message": "method not allowed"}
        try:
            if len(parts) == 5:
                self.replica.cancel_migration(parts[4])
            else:
                self.replica.migrate_data(parts[3])
        except Exception as exc:  # pylint: disable=broad-except
            # The controller's catch: return BadRequest(ex).
            return 400, {"message": "%s" % exc}
        if self.answer_delay:
            time.sleep(self.answer_delay)
        return 200, None

    def _migrate_report(self, body):
        """generate.web/Controllers/Api/App/DataMigrationController.cs MigrateReport (V13.3): the body the report
        migration page sends (ReportMigrationConfigurationDto: dimSchoolYearDataMigrationTypes,
        generateReportLists, userName); UserName saved on the DataMigrations row of type id 3, the school years, and
        every report posted saved as posted (EF UpdateRange: IsLocked is the selection), then the background app's
        MigrateData/report; Ok(), or BadRequest(ex) on any exception (the background app's included)."""
        try:
            posted = json.loads(body.decode("utf-8") or "null") or {}

            def save_years():
                # The RDS DimSchoolYearDataMigrationTypes rows: the replica keeps the selected years of type 3
                # (report) as its ``years``, from each row's schoolYear (the stand-in has no RDS.DimSchoolYears).
                years = [("%s" % row["schoolYear"]) for row in posted.get("dimSchoolYearDataMigrationTypes") or []
                         if row.get("isSelected") and row.get("dataMigrationTypeId") == 3 and row.get("schoolYear")]
                if years:
                    self.replica.years = years
            save_report_selection(self.reader.connection_string, self.reader.schema, posted, save_years)
            with urllib.request.urlopen(self.background_url + "/api/DataMigration/MigrateData/report",
                                        timeout=BACKGROUND_CALL_SECONDS) as answer:
                answer.read()
        except Exception as exc:  # pylint: disable=broad-except
            # The controller's catch: return BadRequest(ex).
            return 400, {"message": "%s" % exc}
        return 200, None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def save_report_selection(connection_string, schema, posted, save_years):
    """MigrateReport's saves: the DataMigrations row with DataMigrationTypeId 3 is looked up (a
    NullReferenceException when there is none), the years saved (``save_years``), then that row's UserName and each
    posted report row, every column as posted, a missing bool being false and a missing code null (C# defaults),
    in one transaction (EF SaveChanges) that fails when a row is not found."""
    def table(name):
        return '"%s"."%s"' % (schema, name)
    connection = pyodbc.connect(connection_string, autocommit=False, timeout=5)
    try:
        cursor = connection.cursor()
        row = cursor.execute('SELECT "DataMigrationId" FROM %s WHERE "DataMigrationTypeId" = 3 ORDER BY '
                             '"DataMigrationId"' % table("DataMigrations")).fetchone()
        if row is None:
            raise ValueError("Object reference not set to an instance of an object.")
        save_years()
        cursor.execute('UPDATE %s SET "UserName" = ? WHERE "DataMigrationId" = ?' % table("DataMigrations"),
                       posted.get("userName"), row[0])
        for report in posted.get("generateReportLists") or []:
            cursor.execute(
                'UPDATE %s SET "ReportCode" = ?, "IsActive" = ?, "IsLocked" = ?, "UseLegacyReportMigration" = ? '
                'WHERE "GenerateReportId" = ?' % table("GenerateReports"), report.get("reportCode"),
                int(bool(report.get("isActive"))), int(bool(report.get("isLocked"))),
                int(bool(report.get("useLegacyReportMigration"))), report.get("generateReportId"))
            if cursor.rowcount != 1:
                raise ValueError("The database operation was expected to affect 1 row(s), but actually affected "
                                 "%d row(s)" % max(cursor.rowcount, 0))
        connection.commit()
    except Exception:
        connection.rollback()
        raise
    finally:
        connection.close()


def report_selection(database, codes, user_name="admin", years=("2025",)):
    """The body the report migration page PUTs to migratereport to migrate ``codes``: every active report as
    reportLists lists it (AppRepository.GetReports(0, 0)), the chosen ones locked, and the years selected."""
    rows = database.execute('SELECT "GenerateReportId", "ReportCode", "IsActive", "UseLegacyReportMigration" FROM %s '
                            'WHERE "IsActive" = 1 ORDER BY "ReportCode"' % database.table("GenerateReports"))
    return {
        "dimSchoolYearDataMigrationTypes": [{"dimSchoolYearId": number, "dataMigrationTypeId": 3, "isSelected": True,
                                             "schoolYear": year} for number, year in enumerate(years, start=1)],
        "generateReportLists": [{"generateReportId": row[0], "reportCode": row[1], "isActive": bool(row[2]),
                                 "isLocked": row[1] in codes, "useLegacyReportMigration": bool(row[3])}
                                for row in rows],
        "userName": user_name,
    }


def main():
    """Serve a stand-in over a database until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connection-string", required=True, help="ODBC connection string of the database")
    parser.add_argument("--schema", default="App", help="schema of Generate's App tables")
    parser.add_argument("--hangfire-schema", help="schema of Hangfire's tables, where the background app beats "
                        "and runs its jobs (without it, it runs no Hangfire server)")
    parser.add_argument("--version", help="Generate version or version line (%s); default: the database's"
                        % ", ".join(generate_replica.VERSION_LINES))
    parser.add_argument("--web-port", type=int, default=0)
    parser.add_argument("--background-port", type=int, default=0)
    options = parser.parse_args()
    standin = StandinGenerate(options.connection_string, options.schema, options.hangfire_schema or "HangFire",
                              options.version, beats=bool(options.hangfire_schema))
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
