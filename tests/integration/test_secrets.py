"""Secrets and transport: awkward passwords authenticate for real and never show; ODBC Driver 18 parses the
module's connection strings and connects where they say.

Every run here is at -vvvv and scanned for each password and connection
string (see conftest.py); the scan is also what every other integration test
goes through.
"""

from __future__ import annotations

import contextlib
import glob
import os
import socket
import struct
import threading
import uuid

import pytest

from tests.support import figures
from ansible_collections.ceds.generate.plugins.module_utils.connection_options import PASSWORD_FILE_ENV
from ansible_collections.ceds.generate.plugins.module_utils.connection_string import escape_value
from tests.support.scenarios import FAILED

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
SEEDED_STEPS = [(type_code, status_code) for type_code, status_code, _age in FAILED]
DRIVER_18 = "ODBC Driver 18 for SQL Server"
# TDS: the packet type of a PRELOGIN, its ENCRYPTION option, and that option's values.
PRELOGIN, ENCRYPTION_OPTION, ENCRYPT_OFF, ENCRYPT_ON = 0x12, 0x01, 0x00, 0x01


def steps_read(record):
    """``[(type code, status code)]`` of the steps a status task read, empty when it read none."""
    facts = record["result"].get("ansible_facts", {}).get("generate_migrations", {})
    return [(step["type_code"], step["status_code"]) for step in facts.get("steps", [])]


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
    pg_db.seed(FAILED)
    tasks = [(role, pg_db.module_args(username=role, password=password)) for role, password in awkward_roles]
    run = run_tasks(tasks, env={"ANSIBLE_PIPELINING": "1"})
    records = run.by_task()
    # A password counts when its login read the seeded steps back: it authenticated for real.
    read = [role for role, _password in awkward_roles
            if role in records and records[role]["status"] == "ok" and steps_read(records[role]) == SEEDED_STEPS]
    figures.record("passwords with special characters tried", len(records), request.node.nodeid)
    figures.record("passwords with special characters that authenticated and read the steps", len(read),
                   request.node.nodeid)
    for role, _password in awkward_roles:
        record = records[role]
        assert record["status"] == "ok", "%s: %s" % (role, record["result"]["msg"])
        assert steps_read(record) == SEEDED_STEPS


@pytest.mark.every_release
def test_password_in_a_connection_string_authenticates_and_never_shows(pg_db, awkward_roles, run_tasks):
    pg_db.seed(FAILED)
    role, password = awkward_roles[-1]
    text = "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=%d;DATABASE=%s;UID=%s;PWD=%s" % (
        pg_db.options["port"], pg_db.name, role, escape_value(password))
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


@pytest.mark.every_release
def test_password_from_the_environment_authenticates_and_never_shows(pg_db, awkward_roles, run_tasks):
    pg_db.seed(FAILED)
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
    pg_db.seed(FAILED)
    role, password = awkward_roles[-1]
    # As the AWX credential type injects it: a file holding the password, named in the environment.
    password_file = tmp_path / "password"
    password_file.write_bytes((password + "\n").encode("utf-8"))
    password_file.chmod(0o600)
    environment = {
        "GENERATE_DB_SERVER": "127.0.0.1", "GENERATE_DB_PORT": str(pg_db.options["port"]),
        "GENERATE_DB_NAME": pg_db.name, "GENERATE_DB_USERNAME": role,
        PASSWORD_FILE_ENV: str(password_file), "GENERATE_DB_DRIVER": "PostgreSQL Unicode",
    }
    records = run_tasks([("from a password file", {"schema": "App"})], secrets=[password],
                        env=environment).by_task()
    record = records["from a password file"]
    assert record["status"] == "ok", record["result"]["msg"]
    assert steps_read(record) == SEEDED_STEPS


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


@contextlib.contextmanager
def silent_tds_port():
    """A port on 127.0.0.1 that accepts connections, keeps the first bytes each sends and never answers.

    Yields ``(port, received)``: ``received`` fills with those bytes, one entry per connection.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    received, connections = [], []

    def serve():
        while True:
            try:
                accepted = listener.accept()[0]
            except OSError:
                return
            connections.append(accepted)
            accepted.settimeout(30)
            try:
                received.append(accepted.recv(4096))
            except OSError:
                received.append(b"")
    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1], received
    finally:
        listener.close()
        for accepted in connections:
            accepted.close()


def prelogin_encryption(packet):
    """The ENCRYPTION option of a TDS PRELOGIN packet, or None when the bytes are not a PRELOGIN holding one."""
    if len(packet) < 8 or packet[0] != PRELOGIN:
        return None
    payload = packet[8:]
    position = 0
    # Option headers (token, offset, length), ended by 0xFF; offsets count from the payload's start.
    while position + 5 <= len(payload) and payload[position] != 0xFF:
        token, offset, length = struct.unpack(">BHH", payload[position:position + 5])
        if token == ENCRYPTION_OPTION and length >= 1 and offset < len(payload):
            return payload[offset]
        position += 5
    return None


def test_odbc_driver_18_parses_the_module_connection_strings_and_tries_to_connect(driver_18, run_tasks, request):
    cases = [
        ("encrypted, certificate checked", dict(username="generate_monitor", password="Plain-pw-18"), ENCRYPT_ON),
        ("not encrypted, certificate trusted", dict(encrypt=False, trust_server_certificate=True,
                                                    username="generate_monitor", password="Plain-pw-18"),
         ENCRYPT_OFF),
        ("awkward login and password", dict(encrypt=True, trust_server_certificate=True, database="generate;x",
                                            username="domain\\user;{1}", password=PASSWORDS[-1]), ENCRYPT_ON),
        ("named instance with a port", dict(server="127.0.0.1\\SQLEXPRESS", password="Plain-pw-18"), ENCRYPT_ON),
    ]
    test = request.node.nodeid
    with contextlib.ExitStack() as stack:
        # A port of its own per task, so that what arrives on it is that task's doing.
        ports = [stack.enter_context(silent_tds_port()) for _case in cases]
        tasks = [(name, dict(dict(server="127.0.0.1", port=port, driver=DRIVER_18, connect_timeout=3), **args))
                 for (name, args, _encryption), (port, _received) in zip(cases, ports)]
        records = run_tasks(tasks, env=dict(driver_18, ANSIBLE_PIPELINING="1")).by_task()
        arrived = [list(received) for _port, received in ports]
    figures.record("connection strings of the module given to ODBC Driver 18 (no SQL Server: a port that accepts "
                   "and stays silent)", len(records), test)
    problems = []
    for (name, _args, encryption), packets in zip(cases, arrived):
        record = records[name]
        message = record["result"].get("msg", "")
        figures.record("seconds to fail on a silent host, ODBC Driver 18, connect_timeout 3", record["duration"], test)
        asked = [prelogin_encryption(packet) for packet in packets]
        # The driver parsed every keyword and value, connected to the port named, sent its pre-login with the
        # encryption asked for, and waited for an answer until its login timeout: no refusal at parsing.
        tried = (record["status"] == "failed" and encryption in asked and "\n" not in message
                 and "timed out after 3 s: check server, port and firewall" in message)
        figures.record("connection strings ODBC Driver 18 parsed and tried to connect with (its TDS pre-login reached "
                       "the port, encryption as asked; failed at the login timeout, not at parsing)", int(tried), test)
        if not tried:
            problems.append("%s: %s; pre-login encryption %s, expected %s" % (name, message, asked, encryption))
        if not 3 <= record["duration"] < 3 + 15:
            problems.append("%s: failed after %.1f s" % (name, record["duration"]))
    assert not problems, "; ".join(problems)


def test_odbc_driver_18_refuses_a_keyword_value_it_does_not_know(driver_18, run_tasks, request):
    # The counter-proof of the test above: the driver does check what it is given, before connecting.
    with silent_tds_port() as (port, received):
        text = "DRIVER={%s};SERVER=127.0.0.1,%d;DATABASE=generate;UID=u;PWD=Refused-pw-1;Encrypt=maybe;" % (
            DRIVER_18, port)
        record = run_tasks([("bad Encrypt value", {"connection_string": text})], env=driver_18).by_task()[
            "bad Encrypt value"]
        arrived = list(received)
    message = record["result"].get("msg", "")
    refused = "Invalid value specified for connection string attribute 'Encrypt'" in message
    figures.record("bad keyword values ODBC Driver 18 refused before connecting (counter-proof)",
                   int(record["status"] == "failed" and refused and not arrived), request.node.nodeid)
    assert record["status"] == "failed"
    assert refused, message
    assert arrived == [], "the driver connected despite the refused value"
    assert "Refused-pw-1" not in message
