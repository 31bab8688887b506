"""The SQL Server path: the T-SQL fixture, and the integration suite on a database named by a connection string.

The workflow in .github/workflows/sqlserver.yml runs the suite on a real SQL
Server. Here the same path runs on a PostgreSQL database of the throwaway
cluster, reached through GENERATE_TEST_CONNECTION_STRING exactly as a user's
SQL Server would be.
"""

from __future__ import annotations

import re
import sys

import pytest
import sqlglot
from sqlglot import exp

from tests.support import figures
from tests.support import generate_db
from release_run import ROOT, run

# A few scenarios that read, reset, check and fail; -k selects their runs on the external database.
SCENARIOS = "external and (troubleshooting_case or check_mode_writes_nothing or missing_table)"


def tables_of(name, dialect):
    """``{table: {column: type as written}}`` of a fixture file, parsed with sqlglot."""
    tables = {}
    for statement in generate_db.fixture_statements(name):
        parsed = sqlglot.parse_one(statement, read=dialect, error_level=sqlglot.ErrorLevel.RAISE)
        schema = parsed.this
        if isinstance(schema, exp.Schema):
            columns = schema.expressions
            tables[schema.this.name] = dict((column.name, column) for column in columns)
    return tables


def sql_type(column, dialect="tsql"):
    return column.args["kind"].sql(dialect=dialect).lower()


def test_every_sqlserver_fixture_statement_parses_as_tsql():
    statements = generate_db.fixture_statements("sqlserver.sql")
    assert statements[0] == 'CREATE SCHEMA "App"'
    for statement in statements:
        assert sqlglot.parse_one(statement, read="tsql", error_level=sqlglot.ErrorLevel.RAISE) is not None


def test_sqlserver_fixture_has_the_tables_and_columns_of_the_postgresql_fixture():
    sqlserver = tables_of("sqlserver.sql", "tsql")
    postgresql = tables_of("postgresql.sql", "postgres")
    assert sorted(sqlserver) == sorted(postgresql) == sorted(generate_db.TABLES + generate_db.HANGFIRE_TABLES)
    for table, columns in postgresql.items():
        assert list(sqlserver[table]) == list(columns), table


def test_sqlserver_fixture_uses_the_types_of_a_generate_install():
    tables = tables_of("sqlserver.sql", "tsql")
    assert sql_type(tables["DataMigrations"]["LastTriggerDate"]) == "datetime2(7)"
    assert sql_type(tables["DataMigrationHistories"]["DataMigrationHistoryDate"]) == "datetime"
    assert sql_type(tables["DataMigrationHistories"]["DataMigrationHistoryMessage"]) == "nvarchar(max)"
    assert sql_type(tables["DataMigrations"]["UserName"]) == "nvarchar(100)"
    for table, columns in tables.items():
        key = next(iter(columns.values()))
        if table in ("Server", "JobParameter"):
            # Hangfire's servers are keyed by their name, a job's parameters by the job and the name (schema 7 on),
            # not by an identity.
            continue
        assert key.find(exp.GeneratedAsIdentityColumnConstraint) is not None, "%s has no IDENTITY key" % table
        text = [name for name, column in columns.items() if "char" in sql_type(column)]
        assert all(sql_type(columns[name]).startswith("nvarchar") for name in text), table


@pytest.mark.parametrize("connection_string,kind", [
    ("DRIVER={ODBC Driver 18 for SQL Server};SERVER=sql01,1433;DATABASE=generate", "sqlserver"),
    ("Driver={ODBC Driver 17 for SQL Server};Server=sql01", "sqlserver"),
    ("DRIVER=FreeTDS;SERVER=sql01;PORT=1433", "sqlserver"),
    ("DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;DATABASE=x", "postgresql"),
])
def test_external_database_kind_follows_the_driver(connection_string, kind):
    assert generate_db.external_kind(connection_string) == kind


def test_external_database_without_a_known_driver_is_refused():
    with pytest.raises(ValueError, match="GENERATE_TEST_CONNECTION_STRING names no SQL Server"):
        generate_db.external_kind("DSN=generate")


def test_integration_suite_runs_in_a_schema_of_its_own_and_drops_it(postgres):
    postgres.psql('DROP DATABASE IF EXISTS "users_generate"')
    postgres.psql('CREATE DATABASE "users_generate"')
    postgres.psql('CREATE TABLE "users_table" ("id" integer)', database="users_generate")
    environment = {generate_db.EXTERNAL_ENV: postgres.connection_string("users_generate")}
    recorded = len(figures.lines())
    completed = run([sys.executable, "-m", "pytest", "tests/integration", "-k", SCENARIOS, "-q", "-rA"],
                    cwd=ROOT, env=environment, timeout=600)
    assert completed.returncode == 0, completed.stdout[-6000:]
    # A run started by a test records no figures: they would stand for this page's run in docs/reliability.md.
    nested = [line for line in figures.lines()[recorded:] if "external" in (line.get("test") or "")]
    assert nested == [], nested[:3]
    ran = re.findall(r"^PASSED (\S+\[[^\]]*external[^\]]*\])", completed.stdout, re.MULTILINE)
    assert len(ran) >= 4, completed.stdout[-6000:]
    schemas = postgres.psql("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'ceds_test_%'",
                            database="users_generate")
    assert schemas.strip() == ""
    assert postgres.psql('SELECT count(*) FROM "users_table"', database="users_generate").strip() == "0"
    postgres.psql('DROP DATABASE "users_generate" WITH (FORCE)')


def test_without_the_variable_the_suite_runs_as_before():
    completed = run([sys.executable, "-m", "pytest", "tests/integration", "--collect-only", "-q"], cwd=ROOT,
                    env={generate_db.EXTERNAL_ENV: ""})
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert "[postgresql]" in completed.stdout and "[sqlite]" in completed.stdout
    assert "external" not in completed.stdout
