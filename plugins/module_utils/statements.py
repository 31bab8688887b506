# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every SQL statement the collection sends, in one place.

The text must run unchanged on SQL Server, PostgreSQL and SQLite: identifiers
are double-quoted in their exact case (SQL Server's ODBC connections run with
QUOTED_IDENTIFIER ON), values are ``?`` parameters, and nothing here uses
TOP, LIMIT, brackets or functions of one dialect only.  The only text not
written literally is the schema name, which must first pass ``quote_schema``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.ceds.generate.plugins.module_utils.hangfire_state import MIGRATION_JOB_TYPES

# A schema is an ordinary identifier: letters, digits and underscores, not
# starting with a digit.  Anything else (quotes, dots, semicolons, spaces) is
# refused rather than escaped, so no user text is ever spliced into SQL.
SCHEMA_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")

# Generate's schema, and Hangfire's (Hangfire.SqlServer's default).
GENERATE_SCHEMA = "App"
HANGFIRE_SCHEMA = "HangFire"
# Tables named in error messages, in the order a missing one is reported.
STEPS_TABLE = "DataMigrations"
STATUSES_TABLE = "DataMigrationStatuses"
TYPES_TABLE = "DataMigrationTypes"
HISTORY_TABLE = "DataMigrationHistories"
CONFIGURATIONS_TABLE = "GenerateConfigurations"
# The tables without which there are no steps to read.
STEP_TABLES = (STEPS_TABLE, STATUSES_TABLE, TYPES_TABLE)
REPORTS_TABLE = "GenerateReports"
# Hangfire.SqlServer's tables that the module reads (never writes), in its schema (HangFire by default).
HANGFIRE_TABLES = ("Job", "State", "Server")
# Hangfire states after which a job never runs again.
FINISHED_JOB_STATES = ("Succeeded", "Failed", "Deleted")
# Only jobs whose InvocationData names one of Generate's migration methods are read.
MIGRATION_JOB_METHODS = tuple(sorted(MIGRATION_JOB_TYPES))
# The parts the state read can hold; each is a SELECT of the same eight columns, joined by UNION ALL. Detail is
# the text of a part (a job's InvocationData, a history line's message, a step's last duration); Arguments and
# StateData are a job's.
STATE_COLUMNS = ("Kind", "Id", "Number", "Name", "Date", "Detail", "Arguments", "StateData")
# The database's own UTC clock, by the DBMS name its ODBC driver reports (SQL_DBMS_NAME). Every age is taken
# against it, read in the same SELECT as the dates it is compared with: Hangfire 1.8 writes its heartbeats
# with SYSUTCDATETIME() (Hangfire.SqlServer/SqlServerConnection.cs, v1.8.23), and Generate's C# writes
# DateTime.UtcNow of the app server, which sits next to the database, never next to the controller.
# No expression is common to the three: SQL Server's CURRENT_TIMESTAMP is the server's local time.
DATABASE_CLOCKS = {
    "microsoft sql server": "SYSUTCDATETIME()",
    "postgresql": "(statement_timestamp() AT TIME ZONE 'UTC')",
    "sqlite": "strftime('%Y-%m-%d %H:%M:%f', 'now')",
}
# Generate runs on SQL Server: a driver that names no DBMS we know is taken for one.
DEFAULT_DATABASE_CLOCK = DATABASE_CLOCKS["microsoft sql server"]


def is_valid_schema(schema):
    """Return True when ``schema`` is a plain identifier that may be quoted into SQL."""
    return isinstance(schema, str) and SCHEMA_PATTERN.fullmatch(schema) is not None


def database_clock(dbms_name):
    """The expression of the database's current UTC time, for the DBMS its driver names."""
    return DATABASE_CLOCKS.get(("%s" % (dbms_name or "")).strip().lower(), DEFAULT_DATABASE_CLOCK)


def quote_schema(schema):
    """Return the schema as a double-quoted identifier, refusing anything but a plain name."""
    if not is_valid_schema(schema):
        raise ValueError("invalid schema name")
    return '"%s"' % schema


def _steps_select(schema, with_configuration):
    quoted = quote_schema(schema)
    configuration = ""
    if with_configuration:
        value = (
            '(SELECT MAX(c."GenerateConfigurationValue") FROM {s}."GenerateConfigurations" c'
            " WHERE c.\"GenerateConfigurationCategory\" = '{category}'"
            " AND c.\"GenerateConfigurationKey\" = '{key}')"
        )
        configuration = (
            ",\n  " + value.format(s=quoted, category="Database", key="DatabaseVersion") + ' AS "DatabaseVersion"'
            ",\n  " + value.format(s=quoted, category="Metadata", key="metaStatus") + ' AS "MetadataStatus"'
        )
    # Every status code (so the ids of all five codes are known even when no
    # step uses them) with the steps that have it, then every step whose status
    # id matches no status row, in one round trip: a full outer join written as
    # a UNION ALL, since SQLite has FULL OUTER JOIN only from 3.39.  m.* keeps
    # the read working on versions that lack the newer columns.
    return (
        'SELECT s."DataMigrationStatusId" AS "StatusRowId", s."DataMigrationStatusCode" AS "StatusRowCode",\n'
        '  s."DataMigrationStatusName" AS "StatusRowName", t."DataMigrationTypeCode" AS "TypeCode",\n'
        '  t."DataMigrationTypeName" AS "TypeName", m.*' + configuration + "\n"
        'FROM {s}."DataMigrationStatuses" s\n'
        'LEFT JOIN {s}."DataMigrations" m ON m."DataMigrationStatusId" = s."DataMigrationStatusId"\n'
        'LEFT JOIN {s}."DataMigrationTypes" t ON t."DataMigrationTypeId" = m."DataMigrationTypeId"\n'
        "UNION ALL\n"
        'SELECT NULL, NULL, NULL, t."DataMigrationTypeCode", t."DataMigrationTypeName", m.*' + configuration + "\n"
        'FROM {s}."DataMigrations" m\n'
        'LEFT JOIN {s}."DataMigrationTypes" t ON t."DataMigrationTypeId" = m."DataMigrationTypeId"\n'
        'WHERE m."DataMigrationStatusId" IS NULL\n'
        '  OR m."DataMigrationStatusId" NOT IN (SELECT o."DataMigrationStatusId" FROM {s}."DataMigrationStatuses" o)\n'
        'ORDER BY "DataMigrationId", "StatusRowId"'
    ).format(s=quoted)


def read_steps(schema):
    """The one SELECT that reads steps, status codes and Generate's version and metadata status."""
    return _steps_select(schema, with_configuration=True)


def read_steps_without_configuration(schema):
    """The same read for installs without GenerateConfigurations (older versions, bare test databases)."""
    return _steps_select(schema, with_configuration=False)


def _history_source(schema, bounded):
    """The newest history lines of ``len(bounded)`` migration types, at most ``?`` lines per type.

    ``bounded`` holds one flag per type: True when the type's lines are limited
    to those written since a date (its last trigger), which adds a parameter.
    Parameters, in order: for each type its id (and date when bounded), then
    the number of lines per type.
    """
    if not bounded:
        raise ValueError("one bound flag per step is required")
    conditions = []
    for has_date in bounded:
        if has_date:
            conditions.append('(h."DataMigrationTypeId" = ? AND h."DataMigrationHistoryDate" >= ?)')
        else:
            conditions.append('h."DataMigrationTypeId" = ?')
    return (
        "FROM (\n"
        '  SELECT h."DataMigrationHistoryId", h."DataMigrationTypeId", h."DataMigrationHistoryDate",\n'
        '    h."DataMigrationHistoryMessage",\n'
        '    ROW_NUMBER() OVER (PARTITION BY h."DataMigrationTypeId"\n'
        '      ORDER BY h."DataMigrationHistoryDate" DESC, h."DataMigrationHistoryId" DESC) AS "LineNumber"\n'
        '  FROM {s}."DataMigrationHistories" h\n'
        "  WHERE {conditions}\n"
        ") r\n"
        'WHERE r."LineNumber" <= ?'
    ).format(s=quote_schema(schema), conditions="\n    OR ".join(conditions))


def reset_step(schema):
    """Compare-and-set of one step's status: parameters new status id, step id, status id read."""
    return (
        'UPDATE {s}."DataMigrations" SET "DataMigrationStatusId" = ?\n'
        'WHERE "DataMigrationId" = ? AND "DataMigrationStatusId" = ?'
    ).format(s=quote_schema(schema))


def probe_table(schema, table):
    """A SELECT that reads no row of ``table`` and fails only when the table cannot be used (absent or refused)."""
    return 'SELECT 1 AS "Found" FROM {s}.{t} WHERE 1 = 0'.format(s=quote_schema(schema), t=quote_schema(table))


def unlock_reports(schema):
    """Unlock every locked report, as Generate's error path (MarkReportsAsComplete) does; no parameters."""
    return 'UPDATE {s}."GenerateReports" SET "IsLocked" = 0\nWHERE "IsLocked" = 1'.format(s=quote_schema(schema))


def _placeholders(count):
    if count < 1:
        raise ValueError("at least one report code is required")
    return ", ".join(["?"] * count)


def read_reports(schema, count):
    """The rows of ``count`` report codes (parameters): whether each is active, locked, and migrated the old way."""
    return (
        'SELECT g."ReportCode", CAST(g."IsActive" AS int) AS "IsActive", CAST(g."IsLocked" AS int) AS "IsLocked",\n'
        '  CAST(g."UseLegacyReportMigration" AS int) AS "UseLegacyReportMigration"\n'
        'FROM {s}."GenerateReports" g\nWHERE g."ReportCode" IN ({codes})'
    ).format(s=quote_schema(schema), codes=_placeholders(count))


def lock_reports(schema, count):
    """Lock ``count`` active report codes (parameters) for a report run, as the web app's migratereport saves the
    selection (generate.web/Controllers/Api/App/DataMigrationController.cs)."""
    return (
        'UPDATE {s}."GenerateReports" SET "IsLocked" = 1\n'
        'WHERE "ReportCode" IN ({codes}) AND "IsActive" = 1 AND "IsLocked" = 0'
    ).format(s=quote_schema(schema), codes=_placeholders(count))


def write_audit(schema, line_count):
    """One INSERT of ``line_count`` history lines: parameters type id, date, message per line."""
    if line_count < 1:
        raise ValueError("at least one audit line is required")
    return (
        'INSERT INTO {s}."DataMigrationHistories"\n'
        '  ("DataMigrationTypeId", "DataMigrationHistoryDate", "DataMigrationHistoryMessage")\n'
        "VALUES {rows}"
    ).format(s=quote_schema(schema), rows=", ".join(["(?, ?, ?)"] * line_count))


def _state_part(kind, columns, source):
    """One SELECT of the state read: ``columns`` maps a column of STATE_COLUMNS to its expression (NULL if absent)."""
    # PostgreSQL types the columns of a UNION pair by pair, and two bare NULLs become text, which
    # no later integer matches: the one integer column gets a typed NULL.  Every part but
    # locked_report (always last) has a date, so "Date" is typed by the first part.
    absent = {"Number": "CAST(NULL AS int)"}
    values = ", ".join('%s AS "%s"' % (columns.get(name, absent.get(name, "NULL")), name)
                       for name in STATE_COLUMNS[1:])
    return "SELECT '%s' AS \"Kind\", %s\n%s" % (kind, values, source)


def _literals(values):
    return ", ".join("'%s'" % value for value in values)


def read_state(schema, hangfire_schema=None, history_bounded=None, locked_reports=False, steps=False,
               clock=DEFAULT_DATABASE_CLOCK):
    """One SELECT, a UNION ALL of the database's clock and the parts asked for, each row tagged by its "Kind".

    steps: every step's id (Id), status id (Number), trigger date (Date) and last duration (Detail),
    for the guard in the writing transaction and for watching a run.  hangfire_schema: Hangfire's servers (Id, Date = last heartbeat) and
    Generate's unfinished migration jobs (Id, Name = state, Date = the state's CreatedAt,
    Detail = InvocationData, Arguments, StateData = the state's Data).  history_bounded: one
    flag per type as in ``_history_source``, for history lines (Id = history id, Number = type id,
    Date, Detail = message); its parameters come first and are the only ones.  locked_reports: the
    report codes (Id) Generate's report selection holds locked, with UseLegacyReportMigration (Number).
    clock: the database's UTC now (Date), one of DATABASE_CLOCKS; its part is always read, first.
    """
    quoted = quote_schema(schema)
    if clock not in DATABASE_CLOCKS.values():
        raise ValueError("unknown database clock")
    # A one-row table with no column of its own: T-SQL, PostgreSQL and SQLite all take a derived table
    # (a SELECT without FROM is not allowed in every dialect as a UNION member with ORDER BY).
    parts = [_state_part("clock", {"Date": clock}, "FROM (SELECT 1 AS \"One\") o")]
    if steps:
        parts.append(_state_part("step", {
            "Id": 'CAST(m."DataMigrationId" AS varchar(20))',
            "Number": 'm."DataMigrationStatusId"',
            "Date": 'm."LastTriggerDate"',
            "Detail": 'CAST(m."LastDurationInSeconds" AS varchar(20))',
        }, 'FROM {s}."DataMigrations" m'.format(s=quoted)))
    if hangfire_schema is not None:
        hangfire = quote_schema(hangfire_schema)
        parts.append(_state_part("server", {"Id": 'v."Id"', "Date": 'v."LastHeartbeat"'},
                                 'FROM {h}."Server" v'.format(h=hangfire)))
        methods = "\n    OR ".join("j.\"InvocationData\" LIKE '%%%s%%'" % method for method in MIGRATION_JOB_METHODS)
        parts.append(_state_part("job", {
            "Id": 'CAST(j."Id" AS varchar(20))',
            "Name": 'j."StateName"',
            "Date": 'x."CreatedAt"',
            "Detail": 'j."InvocationData"',
            "Arguments": 'j."Arguments"',
            "StateData": 'x."Data"',
        }, 'FROM {h}."Job" j\nLEFT JOIN {h}."State" x ON x."JobId" = j."Id" AND x."Id" = j."StateId"\n'
           # A job just created has no state yet (StateName NULL) until it is Enqueued or Awaiting.
           'WHERE (j."StateName" IS NULL OR j."StateName" NOT IN ({finished}))\n  AND ({methods})'.format(
               h=hangfire, finished=_literals(FINISHED_JOB_STATES), methods=methods)))
    if history_bounded:
        parts.append(_state_part("history", {
            "Id": 'CAST(r."DataMigrationHistoryId" AS varchar(20))',
            "Number": 'r."DataMigrationTypeId"',
            "Date": 'r."DataMigrationHistoryDate"',
            "Detail": 'r."DataMigrationHistoryMessage"',
        }, _history_source(schema, history_bounded)))
    if locked_reports:
        parts.append(_state_part("locked_report", {"Id": 'g."ReportCode"',
                                                   "Number": 'CAST(g."UseLegacyReportMigration" AS int)'},
                                 'FROM {s}."GenerateReports" g\nWHERE g."IsLocked" = 1'.format(s=quoted)))
    return "\nUNION ALL\n".join(parts) + '\nORDER BY "Kind", "Date" DESC, "Id"'


def every_statement(schema=GENERATE_SCHEMA, max_steps=3, hangfire_schema=HANGFIRE_SCHEMA,
                    clock=DEFAULT_DATABASE_CLOCK):
    """Every statement text the collection can send for ``schema`` (for grammar checks and review).

    ``clock`` picks the database clock the state reads use (SQL Server's by default).
    """
    def state(*args, **kwargs):
        return read_state(schema, *args, clock=clock, **kwargs)
    texts = [read_steps(schema), read_steps_without_configuration(schema), reset_step(schema),
             unlock_reports(schema), state(hangfire_schema, steps=True), state(None, [True], steps=True),
             state(hangfire_schema, [True], steps=True), state(None, steps=True), state()]
    for count in range(1, max_steps + 2):
        texts.append(write_audit(schema, count))
        texts.append(read_reports(schema, count))
        texts.append(lock_reports(schema, count))
    for count in range(1, max_steps + 1):
        for hangfire in (hangfire_schema, None):
            for locked in (True, False):
                texts.append(state(hangfire, [True] * count, locked))
                texts.append(state(hangfire, [False] * count, locked))
    texts.append(state(hangfire_schema, None, True))
    texts.append(state(hangfire_schema, None, False))
    texts.append(state(None, None, True))
    generate_tables = STEP_TABLES + (CONFIGURATIONS_TABLE, HISTORY_TABLE, REPORTS_TABLE)
    texts.extend(probe_table(schema, table) for table in generate_tables)
    texts.extend(probe_table(hangfire_schema, table) for table in HANGFIRE_TABLES)
    return texts
