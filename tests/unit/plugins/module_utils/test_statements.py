"""Every statement the module can send is portable SQL: it parses as T-SQL, PostgreSQL and SQLite."""

from __future__ import annotations

import re

import pytest
import sqlglot

from ansible_collections.ceds.generate.plugins.module_utils import statements

EVERY_STATEMENT = statements.every_statement("App", max_steps=7)


@pytest.mark.parametrize("dialect", ["tsql", "postgres", "sqlite"])
@pytest.mark.parametrize("number", range(len(EVERY_STATEMENT)))
def test_statement_parses_in_dialect(dialect, number):
    parsed = sqlglot.parse(EVERY_STATEMENT[number], read=dialect, error_level=sqlglot.ErrorLevel.RAISE)
    assert len(parsed) == 1 and parsed[0] is not None


@pytest.mark.parametrize("number", range(len(EVERY_STATEMENT)))
def test_statement_uses_only_portable_syntax(number):
    text = EVERY_STATEMENT[number]
    assert not re.search(r"\b(TOP|LIMIT|OFFSET|GETDATE|GETUTCDATE|ISNULL|NOW)\b", text, re.IGNORECASE)
    # SQLite has FULL and RIGHT joins only from 3.39 (Ubuntu 22.04 ships 3.37, RHEL 9 3.34).
    assert not re.search(r"\b(FULL|RIGHT)\s+(OUTER\s+)?JOIN\b", text, re.IGNORECASE)
    assert "[" not in text and "]" not in text
    # Every App table is schema-qualified and quoted in exact case.
    for table in re.findall(r'"App"\."(\w+)"', text):
        assert table in ("DataMigrations", "DataMigrationStatuses", "DataMigrationTypes",
                         "DataMigrationHistories", "GenerateConfigurations", "GenerateReports")
    # Hangfire's tables are read, never written, and only the three the least-privilege grants name.
    for table in re.findall(r'"HangFire"\."(\w+)"', text):
        assert table in statements.HANGFIRE_TABLES
    assert not ('"HangFire"' in text and re.match(r"\s*(UPDATE|INSERT|DELETE)", text))
    assert not re.search(r"\b(App|HangFire)\.", text)


@pytest.mark.parametrize("dbms, dialect", [("Microsoft SQL Server", "tsql"), ("PostgreSQL", "postgres"),
                                           ("SQLite", "sqlite")])
def test_every_statement_with_the_database_clock_of_a_dbms_parses_in_its_dialect(dbms, dialect):
    # The clock is the one expression that differs by DBMS (SQL Server's CURRENT_TIMESTAMP is local time); the
    # rest of each statement is the portable text above.
    clock = statements.database_clock(dbms)
    texts = statements.every_statement("App", max_steps=2, clock=clock)
    assert sum(clock in text for text in texts) > 10
    for text in texts:
        parsed = sqlglot.parse(text, read=dialect, error_level=sqlglot.ErrorLevel.RAISE)
        assert len(parsed) == 1 and parsed[0] is not None


def test_a_driver_that_names_no_known_dbms_gets_sql_servers_clock():
    assert statements.database_clock("Microsoft SQL Server") == "SYSUTCDATETIME()"
    assert statements.database_clock(None) == statements.database_clock("Sybase") == "SYSUTCDATETIME()"
    assert statements.database_clock("PostgreSQL") != statements.database_clock("SQLite")


def test_the_state_of_a_job_is_joined_on_its_key_and_jobs_with_no_state_yet_are_read():
    sql = statements.read_state("App", "HangFire")
    # HangFire.State's primary key is (JobId, Id) since schema 6 (Hangfire.SqlServer Install.sql).
    assert 'LEFT JOIN "HangFire"."State" x ON x."JobId" = j."Id" AND x."Id" = j."StateId"' in sql
    assert 'j."StateName" IS NULL OR j."StateName" NOT IN (' in sql


def test_reading_the_steps_is_one_statement():
    assert len(sqlglot.parse(statements.read_steps("App"), read="tsql")) == 1


def test_history_part_has_one_parameter_per_type_and_bound_and_no_other_part_has_any():
    sql = statements.read_state("App", "HangFire", [True, False, True], locked_reports=True)
    assert sql.count("?") == 2 + 1 + 2 + 1


def test_evidence_read_is_one_statement_of_the_parts_asked_for():
    sql = statements.read_state("App", "HangFire", None, locked_reports=False, steps=True)
    assert len(sqlglot.parse(sql, read="tsql")) == 1
    assert re.findall(r"SELECT '(\w+)' AS", sql) == ["clock", "step", "server", "job"]
    # The database's clock alone is a read too: the time of a request, at the database.
    assert re.findall(r"SELECT '(\w+)' AS", statements.read_state("App")) == ["clock"]
    with pytest.raises(ValueError):
        statements.read_state("App", clock="CURRENT_TIMESTAMP")


@pytest.mark.parametrize("schema", ["App", "HangFire"])
def test_hangfire_schema_is_refused_unless_plain(schema):
    with pytest.raises(ValueError):
        statements.read_state(schema, 'HangFire"; DROP TABLE x; --', None)


def test_audit_insert_writes_one_row_per_line():
    assert statements.write_audit("App", 3).count("(?, ?, ?)") == 3


@pytest.mark.parametrize("schema", [
    'App"; DROP TABLE x; --', "App.Other", "App;", "", "1App", "App Space", "App'", "[App]", "App\n", "Åpp",
])
def test_schema_names_outside_the_strict_pattern_are_refused(schema):
    assert not statements.is_valid_schema(schema)
    with pytest.raises(ValueError):
        statements.read_steps(schema)


@pytest.mark.parametrize("schema", ["App", "main", "generate_app", "_x1"])
def test_plain_schema_names_are_quoted(schema):
    assert statements.quote_schema(schema) == '"%s"' % schema
