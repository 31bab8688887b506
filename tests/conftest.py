"""Fixtures shared by every test: the collection on sys.path, databases, and the module runner.

The test support is the package tests.support: pytest puts the checkout first on sys.path for this file, the
conftest of the package ``tests``.
"""

from __future__ import annotations

import os
import sys
import uuid

import pytest

from tests.support import ansible_run, generate_db, pythons
from tests.support.postgres_cluster import PostgresCluster

# The collection, for the unit tests that import its plugins as ansible_collections.ceds.generate.
sys.path.insert(0, ansible_run.collections_path())


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL cluster for the whole test session."""
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def pg_db(postgres):
    """A fresh Generate database on the PostgreSQL cluster (schema App), dropped afterwards."""
    name = "generate_%s" % uuid.uuid4().hex[:10]
    database = generate_db.postgres_database(postgres, name)
    yield database
    postgres.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


@pytest.fixture
def sqlite_db(tmp_path):
    """A fresh Generate database in a SQLite file (schema main)."""
    return generate_db.sqlite_database(str(tmp_path / "generate.db"))


@pytest.fixture
def external_db():
    """A fresh Generate database in a new schema of the database named by GENERATE_TEST_CONNECTION_STRING.

    The schema (``ceds_test_<random>``) and its tables are dropped afterwards;
    nothing else in that database is touched.
    """
    connection_string = os.environ.get(generate_db.EXTERNAL_ENV)
    if not connection_string:
        pytest.fail("%s is not set" % generate_db.EXTERNAL_ENV)
    database = generate_db.external_database(connection_string)
    yield database
    database.drop()


# With GENERATE_TEST_CONNECTION_STRING set, each test also runs on that database (select them with -k external).
# A run of the controller matrix takes SQLite only: the databases are the same on every ansible-core.
ANY_DB = {"sqlite": "sqlite_db"} if pythons.in_matrix_run() else {"postgresql": "pg_db", "sqlite": "sqlite_db"}
if os.environ.get(generate_db.EXTERNAL_ENV):
    ANY_DB["external"] = "external_db"


@pytest.fixture(params=list(ANY_DB))
def any_db(request):
    """Each test using this runs once on PostgreSQL, once on SQLite, and once on the external database if any."""
    return request.getfixturevalue(ANY_DB[request.param])


@pytest.fixture
def run_module(tmp_path):
    """Run the module through ansible-playbook with the given arguments."""
    def run(module_args, **kwargs):
        kwargs.setdefault("workdir", str(tmp_path))
        return ansible_run.run_module(module_args, **kwargs)
    return run
