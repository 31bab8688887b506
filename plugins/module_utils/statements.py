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

# A schema is an ordinary identifier: letters, digits and underscores, not
# starting with a digit.  Anything else (quotes, dots, semicolons, spaces) is
# refused rather than escaped, so no user text is ever spliced into SQL.
SCHEMA_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")

# Tables named in error messages, in the order a missing one is reported.
STEPS_TABLE = "DataMigrations"
STATUSES_TABLE = "DataMigrationStatuses"
TYPES_TABLE = "DataMigrationTypes"
HISTORY_TABLE = "DataMigrationHistories"
CONFIGURATIONS_TABLE = "GenerateConfigurations"


def is_valid_schema(schema):
    """Return True when ``schema`` is a plain identifier that may be quoted into SQL."""
    return isinstance(schema, str) and SCHEMA_PATTERN.fullmatch(schema) is not None


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
    # A full outer join returns every status code (so the ids of all five
    # codes are known even when no step uses them) and every step (even one
    # whose status id matches no status row), in one round trip.  m.* keeps
    # the read working on versions that lack the newer columns.
    return (
        'SELECT s."DataMigrationStatusId" AS "StatusRowId", s."DataMigrationStatusCode" AS "StatusRowCode",\n'
        '  s."DataMigrationStatusName" AS "StatusRowName", t."DataMigrationTypeCode" AS "TypeCode",\n'
        '  t."DataMigrationTypeName" AS "TypeName", m.*' + configuration + "\n"
        'FROM {s}."DataMigrationStatuses" s\n'
        'FULL OUTER JOIN {s}."DataMigrations" m ON m."DataMigrationStatusId" = s."DataMigrationStatusId"\n'
        'LEFT JOIN {s}."DataMigrationTypes" t ON t."DataMigrationTypeId" = m."DataMigrationTypeId"\n'
        'ORDER BY m."DataMigrationId", s."DataMigrationStatusId"'
    ).format(s=quoted)


def read_steps(schema):
    """The one SELECT that reads steps, status codes and Generate's version and metadata status."""
    return _steps_select(schema, with_configuration=True)


def read_steps_without_configuration(schema):
    """The same read for installs without GenerateConfigurations (older versions, bare test databases)."""
    return _steps_select(schema, with_configuration=False)


def read_recent_history(schema, step_count, bounded):
    """Newest history lines of ``step_count`` migration types, at most ``?`` lines per type.

    ``bounded`` holds one flag per type: True when the type's lines are limited
    to those written since a date (its last trigger), which adds a parameter.
    Parameters, in order: for each type its id (and date when bounded), then
    the number of lines per type.
    """
    if step_count < 1 or len(bounded) != step_count:
        raise ValueError("one bound flag per step is required")
    conditions = []
    for has_date in bounded:
        if has_date:
            conditions.append('(h."DataMigrationTypeId" = ? AND h."DataMigrationHistoryDate" >= ?)')
        else:
            conditions.append('h."DataMigrationTypeId" = ?')
    return (
        'SELECT r."DataMigrationTypeId", r."DataMigrationHistoryDate", r."DataMigrationHistoryMessage"\n'
        "FROM (\n"
        '  SELECT h."DataMigrationTypeId", h."DataMigrationHistoryDate", h."DataMigrationHistoryMessage",\n'
        '    ROW_NUMBER() OVER (PARTITION BY h."DataMigrationTypeId"\n'
        '      ORDER BY h."DataMigrationHistoryDate" DESC, h."DataMigrationHistoryId" DESC) AS "LineNumber"\n'
        '  FROM {s}."DataMigrationHistories" h\n'
        "  WHERE {conditions}\n"
        ") r\n"
        'WHERE r."LineNumber" <= ?\n'
        'ORDER BY r."DataMigrationHistoryDate" DESC, r."DataMigrationTypeId"'
    ).format(s=quote_schema(schema), conditions="\n    OR ".join(conditions))


def reset_step(schema):
    """Compare-and-set of one step's status: parameters new status id, step id, status id read."""
    return (
        'UPDATE {s}."DataMigrations" SET "DataMigrationStatusId" = ?\n'
        'WHERE "DataMigrationId" = ? AND "DataMigrationStatusId" = ?'
    ).format(s=quote_schema(schema))


def write_audit(schema, line_count):
    """One INSERT of ``line_count`` history lines: parameters type id, date, message per line."""
    if line_count < 1:
        raise ValueError("at least one audit line is required")
    return (
        'INSERT INTO {s}."DataMigrationHistories"\n'
        '  ("DataMigrationTypeId", "DataMigrationHistoryDate", "DataMigrationHistoryMessage")\n'
        "VALUES {rows}"
    ).format(s=quote_schema(schema), rows=", ".join(["(?, ?, ?)"] * line_count))


def every_statement(schema="App", max_steps=3):
    """Every statement text the collection can send for ``schema`` (for grammar checks and review)."""
    texts = [read_steps(schema), read_steps_without_configuration(schema), reset_step(schema)]
    for count in range(1, max_steps + 1):
        texts.append(write_audit(schema, count))
        texts.append(read_recent_history(schema, count, [True] * count))
        texts.append(read_recent_history(schema, count, [False] * count))
    return texts
