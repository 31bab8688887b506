"""Generate databases for tests and the demo: the App tables on PostgreSQL, SQLite or SQL Server, seeded with scenarios.

Everything here goes through pyodbc, the same path the module uses, so a
database built here is read back exactly as the module sees it.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import uuid

import pyodbc

from .hangfire_jobs import HangfireTables

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")

STATUSES = (
    (1, "initial", "Initial"),
    (2, "pending", "Pending"),
    (3, "processing", "Processing"),
    (4, "error", "Error"),
    (5, "success", "Success"),
)
TYPES = (
    (1, "ods", "Operational Data Store"),
    (2, "rds", "Reporting Data Store"),
    (3, "report", "Report Warehouse"),
)
# Every App table of the fixtures, dependents first, so they can be dropped in this order.
TABLES = ("DataMigrationHistories", "DataMigrations", "GenerateConfigurations",
          "DataMigrationTypes", "DataMigrationStatuses", "GenerateReports")
HANGFIRE_TABLES = ("JobQueue", "State", "JobParameter", "Job", "Server")
# The variable that points the integration suite at a database of the user's (see docs/release.md).
EXTERNAL_ENV = "GENERATE_TEST_CONNECTION_STRING"


def utc_now():
    """Naive UTC now, as Generate stores dates."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)


def fixture_statements(name, schema="App", hangfire_schema="HangFire"):
    """The statements of a fixture file in tests/fixtures, split on semicolons, with the schemas renamed."""
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        text = "\n".join(line for line in handle.read().splitlines() if not line.strip().startswith("--"))
    text = text.replace('"App"', '"%s"' % schema).replace('"HangFire"', '"%s"' % hangfire_schema)
    return [statement.strip() for statement in text.split(";") if statement.strip()]


class GenerateDatabase:
    """One Generate database reached through an ODBC connection string."""

    def __init__(self, connection_string, schema, kind, options=None, hangfire_schema="HangFire"):
        self.connection_string = connection_string
        self.schema = schema
        self.kind = kind
        self.options = options
        self.hangfire_schema = hangfire_schema
        self.hangfire = HangfireTables(lambda name: '"%s"."%s"' % (self.hangfire_schema, name))

    def module_args(self, **extra):
        """Module arguments that reach this database: the separate options where known, else the string."""
        args = dict(self.options) if self.options else {"connection_string": self.connection_string}
        args["schema"] = self.schema
        if self.hangfire_schema != "HangFire":
            args["hangfire_schema"] = self.hangfire_schema
        args.update(extra)
        if self.kind == "postgresql" and self.options and "connection_string" not in extra:
            args.setdefault("connect_params", psqlodbc_params(args.get("query_timeout"), args.get("connect_timeout")))
        return args

    def connect(self):
        """A new connection (autocommit on), separate from the module's."""
        return pyodbc.connect(self.connection_string, autocommit=True)

    def table(self, name):
        """The quoted, schema-qualified name of a table."""
        return '"%s"."%s"' % (self.schema, name)

    def execute(self, sql, *params):
        """Run one statement on a fresh connection; return fetched rows for a SELECT."""
        connection = self.connect()
        try:
            cursor = connection.cursor()
            cursor.execute(sql, *params)
            rows = cursor.fetchall() if cursor.description else None
            return rows
        finally:
            connection.close()

    def create_tables(self):
        """Create the App tables from the fixture of this database kind."""
        connection = self.connect()
        try:
            for statement in fixture_statements("%s.sql" % self.kind, self.schema, self.hangfire_schema):
                connection.cursor().execute(statement)
        finally:
            connection.close()

    def drop(self):
        """Drop the App tables and their schema (for a database that outlives the test)."""
        for name in TABLES:
            self.execute("DROP TABLE IF EXISTS %s" % self.table(name))
        for name in HANGFIRE_TABLES:
            self.execute('DROP TABLE IF EXISTS "%s"."%s"' % (self.hangfire_schema, name))
        self.execute('DROP SCHEMA IF EXISTS "%s"' % self.hangfire_schema)
        self.execute('DROP SCHEMA IF EXISTS "%s"' % self.schema)

    def drop_hangfire(self):
        """Drop Hangfire's tables, as in an install whose Hangfire lives elsewhere."""
        for name in HANGFIRE_TABLES:
            self.execute('DROP TABLE "%s"."%s"' % (self.hangfire_schema, name))

    def beat(self, server_id="generate-background:1", age=0):
        """A Hangfire server that beat ``age`` seconds ago (a live one by default)."""
        connection = self.connect()
        try:
            self.hangfire.beat(connection.cursor(), server_id, utc_now() - datetime.timedelta(seconds=age))
        finally:
            connection.close()

    def add_job(self, method="ExecuteSqlBasedMigration", type_code=None, state="Enqueued", age=0, server_id=None,
                layout="long"):
        """A Hangfire job of Generate's, in ``state`` since ``age`` seconds; return its id."""
        connection = self.connect()
        try:
            return self.hangfire.add_job(connection.cursor(), method, type_code, state,
                                         utc_now() - datetime.timedelta(seconds=age), server_id, layout)
        finally:
            connection.close()

    def lock_reports(self, *codes):
        """Reports saved in the report selection (IsLocked = 1), as the web app's migrate-report does."""
        for code in codes:
            self.add_report(code, locked=True)

    def add_report(self, code, locked=False, active=True, legacy=False):
        """A GenerateReports row: ``legacy`` is UseLegacyReportMigration (migrated by the SQL pipeline alone)."""
        self.execute('INSERT INTO %s ("ReportCode", "IsLocked", "IsActive", "UseLegacyReportMigration") '
                     "VALUES (?, ?, ?, ?)" % self.table("GenerateReports"), code, int(locked), int(active), int(legacy))

    def reports(self):
        """``{report_code: (locked, active, legacy)}`` of every GenerateReports row."""
        rows = self.execute('SELECT "ReportCode", "IsLocked", "IsActive", "UseLegacyReportMigration" FROM %s '
                            'ORDER BY "GenerateReportId"' % self.table("GenerateReports"))
        return dict((row[0], (bool(row[1]), bool(row[2]), bool(row[3]))) for row in rows)

    @contextlib.contextmanager
    def explicit_ids(self, cursor, name):
        """Let inserts into table ``name`` (App's or Hangfire's) give its identity column, as SQL Server requires
        it to be asked."""
        if self.kind != "sqlserver":
            yield
            return
        cursor.execute("SET IDENTITY_INSERT %s ON" % self.qualified(name))
        try:
            yield
        finally:
            cursor.execute("SET IDENTITY_INSERT %s OFF" % self.qualified(name))

    def seed(self, steps, statuses=STATUSES, types=TYPES, version="13.1", metadata="OK", history=()):
        """Fill the tables.

        steps: (type_code, status_code, age_seconds) per row, ids 1..n in order;
        age None means LastTriggerDate is NULL; a status_code that is an int is
        written as that raw status id.  history: (type_code, age_seconds, message).
        """
        now = utc_now()
        type_ids = dict((code, type_id) for type_id, code, _name in types)
        status_ids = dict((code, status_id) for status_id, code, _name in statuses)
        connection = self.connect()
        try:
            cursor = connection.cursor()
            with self.explicit_ids(cursor, "DataMigrationStatuses"):
                for status in statuses:
                    cursor.execute(
                        'INSERT INTO %s ("DataMigrationStatusId", "DataMigrationStatusCode", "DataMigrationStatusName") '
                        "VALUES (?, ?, ?)" % self.table("DataMigrationStatuses"), *status)
            with self.explicit_ids(cursor, "DataMigrationTypes"):
                for kind in types:
                    cursor.execute(
                        'INSERT INTO %s ("DataMigrationTypeId", "DataMigrationTypeCode", "DataMigrationTypeName") '
                        "VALUES (?, ?, ?)" % self.table("DataMigrationTypes"), *kind)
            with self.explicit_ids(cursor, "DataMigrations"):
                for number, (type_code, status, age) in enumerate(steps, start=1):
                    type_id = type_ids.get(type_code, type_code)
                    status_id = status if not isinstance(status, str) else status_ids[status]
                    trigger = None if age is None else now - datetime.timedelta(seconds=age)
                    cursor.execute(
                        'INSERT INTO %s ("DataMigrationId", "DataMigrationTypeId", "DataMigrationStatusId", '
                        '"LastDurationInSeconds", "LastTriggerDate", "UserName") VALUES (?, ?, ?, ?, ?, ?)'
                        % self.table("DataMigrations"),
                        number, type_id, status_id, 120 * number, trigger, "admin",
                    )
            for type_code, age, message in history:
                cursor.execute(
                    'INSERT INTO %s ("DataMigrationTypeId", "DataMigrationHistoryDate", "DataMigrationHistoryMessage") '
                    "VALUES (?, ?, ?)" % self.table("DataMigrationHistories"),
                    type_ids[type_code], now - datetime.timedelta(seconds=age), message,
                )
            if version is not None:
                for category, key, value in (("Database", "DatabaseVersion", version), ("Metadata", "metaStatus", metadata)):
                    cursor.execute(
                        'INSERT INTO %s ("GenerateConfigurationCategory", "GenerateConfigurationKey", '
                        '"GenerateConfigurationValue") VALUES (?, ?, ?)' % self.table("GenerateConfigurations"),
                        category, key, value,
                    )
        finally:
            connection.close()

    def statuses(self):
        """``{type_code: status_code}`` of every step, read back over a separate connection."""
        rows = self.execute(
            'SELECT t."DataMigrationTypeCode", s."DataMigrationStatusCode", m."DataMigrationStatusId" '
            "FROM %s m LEFT JOIN %s t ON t.\"DataMigrationTypeId\" = m.\"DataMigrationTypeId\" "
            "LEFT JOIN %s s ON s.\"DataMigrationStatusId\" = m.\"DataMigrationStatusId\" "
            'ORDER BY m."DataMigrationId"'
            % (self.table("DataMigrations"), self.table("DataMigrationTypes"), self.table("DataMigrationStatuses"))
        )
        return dict((row[0], row[1] if row[1] is not None else row[2]) for row in rows)

    def snapshot(self):
        """Every row of DataMigrations and DataMigrationHistories, to compare before and after."""
        migrations = self.execute('SELECT * FROM %s ORDER BY "DataMigrationId"' % self.table("DataMigrations"))
        history = self.execute(
            'SELECT * FROM %s ORDER BY "DataMigrationHistoryId"' % self.table("DataMigrationHistories"))
        return [tuple(row) for row in migrations], [tuple(row) for row in history]

    def history_messages(self):
        """Every history message, oldest first."""
        rows = self.execute(
            'SELECT "DataMigrationHistoryMessage" FROM %s ORDER BY "DataMigrationHistoryId"'
            % self.table("DataMigrationHistories"))
        return [row[0] for row in rows]

    def qualified(self, name):
        """The quoted, schema-qualified name of any table of the fixtures, App's or Hangfire's."""
        return '"%s"."%s"' % (self.hangfire_schema if name in HANGFIRE_TABLES else self.schema, name)

    def dump(self):
        """Every row of every App and Hangfire table there is, and where each identity counter stands.

        ``{"rows": {table: [{column: value}, ...] in key order}, "counters": {table: counter}}``; a table
        the test dropped is left out. ``restore`` puts exactly this back, so that a run can be repeated
        from the same state and its ids and job ids come out the same.
        """
        connection = self.connect()
        try:
            dumped = {"rows": {}, "counters": {}}
            for name in TABLES + HANGFIRE_TABLES:
                if not self._exists(connection, name):
                    continue
                cursor = connection.cursor()
                cursor.execute("SELECT * FROM %s ORDER BY 1" % self.qualified(name))
                columns = [column[0] for column in cursor.description]
                dumped["rows"][name] = [dict(zip(columns, row)) for row in cursor.fetchall()]
                dumped["counters"][name] = self._counter(connection.cursor(), name, columns[0])
            return dumped
        finally:
            connection.close()

    def restore(self, dumped):
        """Put back what ``dump`` returned: each dumped table's rows with their own ids, and its identity counter.

        Plain DELETE and INSERT with ``?`` parameters; only the counters are set in each database's own way.
        """
        connection = self.connect()
        try:
            cursor = connection.cursor()
            for name in dumped["rows"]:
                cursor.execute("DELETE FROM %s" % self.qualified(name))
            for name, rows in dumped["rows"].items():
                counter = dumped["counters"][name]
                # SQL Server refuses IDENTITY_INSERT on a table without an identity column (Hangfire's Server).
                with self.explicit_ids(cursor, name) if counter is not None else contextlib.nullcontext():
                    for row in rows:
                        cursor.execute("INSERT INTO %s (%s) VALUES (%s)" % (
                            self.qualified(name), ", ".join('"%s"' % column for column in row),
                            ", ".join("?" * len(row))), *row.values())
                # Inserting given ids moves some databases' counters; only a counter that moved is set back.
                if self._counter(cursor, name, next(iter(rows[0])) if rows else None) != counter:
                    self._set_counter(cursor, name, counter)
        finally:
            connection.close()

    def _exists(self, connection, name):
        """Whether the table is there (ODBC's catalog; SQLite's driver knows no schemas)."""
        schema = None if self.kind == "sqlite" else (self.hangfire_schema if name in HANGFIRE_TABLES else self.schema)
        return connection.cursor().tables(table=name, schema=schema).fetchone() is not None

    def _bracketed(self, name):
        """A table's name as SQL Server's OBJECT_ID and DBCC read it."""
        return "[%s].[%s]" % (self.hangfire_schema if name in HANGFIRE_TABLES else self.schema, name)

    def _counter(self, cursor, name, key_column):
        """Where the identity counter of a table stands (None when it has none), in the database's own terms."""
        if self.kind == "sqlite":
            row = cursor.execute('SELECT "seq" FROM "%s"."sqlite_sequence" WHERE "name" = ?' % self.schema,
                                 name).fetchone()
            return None if row is None else int(row[0])
        if self.kind == "sqlserver":
            row = cursor.execute("SELECT CAST(last_value AS bigint), CAST(seed_value AS bigint), "
                                 "CAST(increment_value AS bigint) FROM sys.identity_columns "
                                 "WHERE object_id = OBJECT_ID(?)", self._bracketed(name)).fetchone()
            return None if row is None else tuple(row)
        if key_column is None:
            key_column = cursor.execute("SELECT * FROM %s WHERE 1 = 0" % self.qualified(name)).description[0][0]
        sequence = cursor.execute("SELECT pg_get_serial_sequence(?, ?)", self.qualified(name), key_column).fetchone()[0]
        if sequence is None:
            return None
        last, called = cursor.execute(
            "SELECT last_value, CASE WHEN is_called THEN 1 ELSE 0 END FROM %s" % sequence).fetchone()
        return sequence, int(last), bool(int(called))

    def _set_counter(self, cursor, name, counter):
        """Set a table's identity counter back to what ``_counter`` read."""
        if self.kind == "sqlite":
            cursor.execute('DELETE FROM "%s"."sqlite_sequence" WHERE "name" = ?' % self.schema, name)
            if counter is not None:
                cursor.execute('INSERT INTO "%s"."sqlite_sequence" ("name", "seq") VALUES (?, ?)' % self.schema,
                               name, counter)
        elif self.kind == "sqlserver":
            last, seed, increment = counter
            # RESEED to n makes the next id n + increment once the table has held rows, as it has here.
            cursor.execute("DBCC CHECKIDENT ('%s', RESEED, %d)" % (
                self._bracketed(name), last if last is not None else seed - increment))
        else:
            sequence, last, called = counter
            cursor.execute("SELECT setval(CAST(? AS regclass), CAST(? AS bigint), %s)"
                           % ("true" if called else "false"), sequence, last).fetchall()


def sqlite_database(path):
    """A Generate database in a new SQLite file (schema ``main``), tables created."""
    if os.path.exists(path):
        os.remove(path)
    database = GenerateDatabase("DRIVER={SQLite3};DATABASE=%s;Timeout=5000" % path, "main", "sqlite",
                                hangfire_schema="main")
    database.create_tables()
    return database


def psqlodbc_params(query_timeout=None, connect_timeout=None):
    """The keywords that make psqlODBC behave as Microsoft's driver does for the module (its connect_params).

    The application name marks the module's sessions in pg_stat_activity (as APP does
    on SQL Server); statement_timeout stands in for the ODBC query timeout, which
    psqlODBC refuses; and without server-side prepares and per-statement savepoints
    a statement is one round trip, as on SQL Server.
    """
    return {
        "pqopt": "application_name=ceds.generate connect_timeout=%d options='-c statement_timeout=%d'" % (
            connect_timeout or 15, (query_timeout or 60) * 1000),
        "UseServerSidePrepare": "0",
        "Protocol": "7.4-1",
    }


def postgres_database(cluster, name, user=None, password=None):
    """A Generate database named ``name`` on a PostgreSQL cluster, tables created (schema ``App``)."""
    cluster.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
    cluster.psql('CREATE DATABASE "%s"' % name)
    options = {
        "server": cluster.host,
        "port": cluster.port,
        "database": name,
        "username": user or cluster.user,
        "password": password or cluster.password,
        "driver": "PostgreSQL Unicode",
    }
    database = GenerateDatabase(cluster.connection_string(name, user, password), "App", "postgresql", options)
    database.create_tables()
    database.name = name
    return database


def external_kind(connection_string):
    """Which fixture fits the database of a connection string, told by its ODBC driver's name."""
    match = re.search(r"(?:^|;)\s*driver\s*=\s*\{?([^;}]*)", connection_string, re.IGNORECASE)
    driver = (match.group(1) if match else "").lower()
    if "sql server" in driver or "freetds" in driver:
        return "sqlserver"
    if "postgres" in driver:
        return "postgresql"
    raise ValueError(
        "%s names no SQL Server or PostgreSQL ODBC driver: give DRIVER={ODBC Driver 18 for SQL Server} "
        "(or FreeTDS, or PostgreSQL Unicode) in it" % EXTERNAL_ENV)


def external_database(connection_string):
    """A Generate database in a new schema of the user's database, tables created; ``drop()`` removes it."""
    schema = "ceds_test_%s" % uuid.uuid4().hex[:10]
    database = GenerateDatabase(connection_string, schema, external_kind(connection_string),
                                hangfire_schema=schema + "_hangfire")
    try:
        database.create_tables()
    except pyodbc.Error:
        database.drop()
        raise
    return database
