"""Secrets and transport: awkward passwords authenticate for real and never show; ODBC Driver 18 takes our keywords.

Every run here is at -vvvv and scanned for each password and connection
string (see conftest.py); the scan is also what every other integration test
goes through.
"""

from __future__ import annotations

import glob
import os
import socket
import uuid

import pytest

import figures
from ansible_collections.ceds.generate.plugins.module_utils import database as connection

# Each holds what a connection string or a shell treats specially.
PASSWORDS = [
    "semi;colon;pw",
    "{in braces}",
    "}leading brace",
    "{opening only",
    "trailing brace}",
    "two }} closing",
    "equals=sign=pw",
    "single'quote'pw",
    'double"quote"pw',
    "  spaces around  ",
    "nön-ÄSCII ✓ 密码",
    "x;PWD=other;UID=postgres",
    "p;{a}=b' \"c é all of it",
]
HEALTHY = [("ods", "success", 9000), ("rds", "error", 8000), ("report", "success", 7000)]
DRIVER_18 = "ODBC Driver 18 for SQL Server"


@pytest.fixture
def awkward_roles(postgres, pg_db):
    """One login role per awkward password, each allowed to read the test database's App tables."""
    suffix = uuid.uuid4().hex[:6]
    roles = []
    for number, password in enumerate(PASSWORDS):
        role = "awkward_%s_%d" % (suffix, number)
        postgres.psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (role, password.replace("'", "''")))
        postgres.psql('GRANT USAGE ON SCHEMA "App" TO %s; GRANT SELECT ON ALL TABLES IN SCHEMA "App" TO %s'
                      % (role, role), database=pg_db.name)
        roles.append((role, password))
    yield roles
    # A role with rights in a database cannot be dropped while that database exists.
    postgres.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % pg_db.name)
    for role, _password in roles:
        postgres.psql("DROP ROLE IF EXISTS %s" % role)


def test_passwords_with_special_characters_authenticate(pg_db, awkward_roles, run_tasks, request):
    pg_db.seed(HEALTHY)
    tasks = [(role, pg_db.module_args(username=role, password=password)) for role, password in awkward_roles]
    run = run_tasks(tasks, env={"ANSIBLE_PIPELINING": "1"})
    records = run.by_task()
    for role, password in awkward_roles:
        record = records[role]
        assert record["status"] == "ok", "%s: %s" % (role, record["result"]["msg"])
        assert record["result"]["ansible_facts"]["generate_migrations"]["failed_steps"] == ["rds"]
    figures.record("passwords with special characters that authenticated", len(awkward_roles), request.node.nodeid)


def test_password_in_a_connection_string_authenticates_and_never_shows(pg_db, awkward_roles, run_tasks):
    pg_db.seed(HEALTHY)
    role, password = awkward_roles[-1]
    text = "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=%d;DATABASE=%s;UID=%s;PWD=%s" % (
        pg_db.options["port"], pg_db.name, role, connection.escape_value(password))
    tasks = [
        ("connection string", {"connection_string": text, "schema": "App"}),
        ("connection string to a missing database",
         {"connection_string": text.replace(pg_db.name, "missing_db"), "schema": "App"}),
    ]
    records = run_tasks(tasks).by_task()
    assert records["connection string"]["status"] == "ok", records["connection string"]["result"]["msg"]
    failed = records["connection string to a missing database"]
    assert failed["status"] == "failed"
    assert 'database "missing_db" does not exist' in failed["result"]["msg"]


def test_password_from_the_environment_authenticates_and_never_shows(pg_db, awkward_roles, run_tasks):
    pg_db.seed(HEALTHY)
    role, password = awkward_roles[-1]
    # As an AWX credential injects it: in the environment of ansible-playbook, not in the play.
    environment = {
        "GENERATE_DB_SERVER": "127.0.0.1", "GENERATE_DB_PORT": str(pg_db.options["port"]),
        "GENERATE_DB_NAME": pg_db.name, "GENERATE_DB_USERNAME": role, "GENERATE_DB_PASSWORD": password,
        "GENERATE_DB_DRIVER": "PostgreSQL Unicode",
    }
    tasks = [
        ("from the environment", {"schema": "App"}),
        ("from the environment, wrong schema", {"schema": "Staging"}),
    ]
    records = run_tasks(tasks, env=environment).by_task()
    assert records["from the environment"]["status"] == "ok", records["from the environment"]["result"]["msg"]
    assert records["from the environment, wrong schema"]["status"] == "failed"


def test_password_from_a_file_authenticates_and_never_shows(pg_db, awkward_roles, run_tasks, tmp_path):
    pg_db.seed(HEALTHY)
    role, password = awkward_roles[-1]
    # As the AWX credential type injects it: a file holding the password, named in the environment.
    password_file = tmp_path / "password"
    password_file.write_bytes((password + "\n").encode("utf-8"))
    password_file.chmod(0o600)
    environment = {
        "GENERATE_DB_SERVER": "127.0.0.1", "GENERATE_DB_PORT": str(pg_db.options["port"]),
        "GENERATE_DB_NAME": pg_db.name, "GENERATE_DB_USERNAME": role,
        connection.PASSWORD_FILE_ENV: str(password_file), "GENERATE_DB_DRIVER": "PostgreSQL Unicode",
    }
    records = run_tasks([("from a password file", {"schema": "App"})], secrets=[password],
                        env=environment).by_task()
    record = records["from a password file"]
    assert record["status"] == "ok", record["result"]["msg"]
    assert record["result"]["ansible_facts"]["generate_migrations"]["failed_steps"] == ["rds"]


def driver_18_library():
    """The Linux library of Microsoft ODBC Driver 18 that the PyPI package mssql-python-odbc ships."""
    try:
        import mssql_python_odbc
    except ImportError:
        pytest.fail("the package mssql-python-odbc is not installed: pip install mssql-python-odbc "
                    "(requirements-dev.txt) to test against the real ODBC Driver 18 for SQL Server")
    found = sorted(glob.glob(os.path.join(mssql_python_odbc.get_libs_dir(), "linux", "debian_ubuntu", "x86_64",
                                          "lib", "libmsodbcsql-18*.so*")))
    assert found, "mssql-python-odbc ships no libmsodbcsql-18 for Debian x86_64"
    return found[-1]


@pytest.fixture
def driver_18(tmp_path):
    """The environment that registers ODBC Driver 18 in a private odbcinst.ini (ODBCSYSINI), for ansible-playbook."""
    folder = tmp_path / "odbc"
    folder.mkdir()
    (folder / "odbcinst.ini").write_text(
        "[%s]\nDescription=Microsoft ODBC Driver 18 for SQL Server\nDriver=%s\nUsageCount=1\n"
        % (DRIVER_18, driver_18_library()), encoding="utf-8")
    (folder / "odbc.ini").write_text("", encoding="utf-8")
    return {"ODBCSYSINI": str(folder)}


def closed_port():
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_odbc_driver_18_accepts_the_module_connection_string_and_times_out_cleanly(driver_18, run_tasks, request):
    port = closed_port()
    base = {"server": "127.0.0.1", "port": port, "driver": DRIVER_18, "connect_timeout": 3}
    tasks = [
        ("encrypted, certificate checked", dict(base, username="generate_monitor", password="Plain-pw-18")),
        ("not encrypted, certificate trusted", dict(base, encrypt=False, trust_server_certificate=True,
                                                    username="generate_monitor", password="Plain-pw-18")),
        ("awkward login and password", dict(base, encrypt=True, trust_server_certificate=True,
                                            database="generate;x", username="domain\\user;{1}",
                                            password=PASSWORDS[-1])),
        ("named instance with a port", dict(base, server="127.0.0.1\\SQLEXPRESS", password="Plain-pw-18")),
    ]
    run = run_tasks(tasks, env=dict(driver_18, ANSIBLE_PIPELINING="1"))
    records = run.by_task()
    for name, _args in tasks:
        record = records[name]
        assert record["status"] == "failed"
        message = record["result"]["msg"]
        # The driver parsed every keyword and value, then waited for the server: its login timeout, not
        # an "Invalid connection string attribute" or "Invalid value specified" refusal.
        assert "timed out after 3 s: check server, port and firewall" in message, "%s: %s" % (name, message)
        assert "\n" not in message
        assert 3 <= record["duration"] < 3 + 15, record["duration"]
        figures.record("seconds to fail on a closed port, ODBC Driver 18, connect_timeout 3", record["duration"],
                       request.node.nodeid)
        figures.record("connection strings accepted by ODBC Driver 18", 1, request.node.nodeid)


def test_odbc_driver_18_refuses_a_keyword_value_it_does_not_know(driver_18, run_tasks):
    # The counter-proof of the test above: the driver does check what it is given.
    text = "DRIVER={%s};SERVER=127.0.0.1,%d;DATABASE=generate;UID=u;PWD=Refused-pw-1;Encrypt=maybe;" % (
        DRIVER_18, closed_port())
    record = run_tasks([("bad Encrypt value", {"connection_string": text})], env=driver_18).by_task()[
        "bad Encrypt value"]
    assert record["status"] == "failed"
    assert "Invalid value specified for connection string attribute 'Encrypt'" in record["result"]["msg"]
    assert "Refused-pw-1" not in record["result"]["msg"]
