"""Connection options: environment fallbacks, the connection string for each driver, escaping, no secret leaks."""

from __future__ import annotations

import pytest

from ansible_collections.ceds.generate.plugins.module_utils import connection, connection_string, migration_options

from tests.support.task_options import OptionsRefused, resolved, validated

SECRET = "p;{a}=b' \"c é"


def resolve(environ=None, **given):
    return resolved(environ, **given)


def test_microsoft_driver_gets_host_comma_port_and_encryption_keywords():
    options = resolve(server="sql01", username="u", password="pw", driver="ODBC Driver 18 for SQL Server")
    assert connection_string.build_connection_string(options) == (
        "DRIVER={ODBC Driver 18 for SQL Server};SERVER=sql01,1433;DATABASE=generate;UID=u;PWD=pw;"
        "Encrypt=yes;TrustServerCertificate=no;APP=ceds.generate;")


def test_default_driver_is_odbc_driver_18():
    options = resolve(server="sql01")
    assert options["driver"] == "ODBC Driver 18 for SQL Server"
    assert connection_string.build_connection_string(options).startswith("DRIVER={ODBC Driver 18 for SQL Server};SERVER=sql01,1433;")


def test_microsoft_driver_17_with_explicit_port_and_trust():
    options = resolve(server="sql01", port=14330, driver="ODBC Driver 17 for SQL Server", encrypt=False,
                      trust_server_certificate=True)
    text = connection_string.build_connection_string(options)
    assert "SERVER=sql01,14330;" in text and "Encrypt=no;" in text and "TrustServerCertificate=yes;" in text


def test_named_instance_is_left_to_sql_browser_unless_a_port_is_given():
    assert "SERVER=sql01\\GEN;" in connection_string.build_connection_string(resolve(server="sql01\\GEN"))
    assert "SERVER=sql01\\GEN,1500;" in connection_string.build_connection_string(resolve(server="sql01\\GEN", port=1500))


def test_server_with_port_is_kept_as_given():
    assert "SERVER=sql01,2000;" in connection_string.build_connection_string(resolve(server="sql01,2000"))


def test_freetds_gets_separate_port_tds_version_and_encryption():
    text = connection_string.build_connection_string(resolve(server="sql01", driver="FreeTDS", encrypt=True))
    assert text == "DRIVER={FreeTDS};SERVER=sql01;PORT=1433;DATABASE=generate;TDS_Version=7.4;Encryption=require;APP=ceds.generate;"
    assert "Encryption=off;" in connection_string.build_connection_string(resolve(server="sql01", driver="FreeTDS", encrypt=False))


def test_generic_driver_gets_generic_keywords_only():
    text = connection_string.build_connection_string(resolve(server="db", port=5000, driver="Other", username="u", password="p"))
    assert text == "DRIVER={Other};SERVER=db;PORT=5000;DATABASE=generate;UID=u;PWD=p;"


def test_connect_params_add_the_driver_s_own_keywords_quoted():
    text = connection_string.build_connection_string(resolve(
        server="db", port=5432, driver="PostgreSQL Unicode",
        connect_params={"pqopt": "application_name=x options='-c statement_timeout=7000'", "UseServerSidePrepare": 0}))
    assert text == ("DRIVER={PostgreSQL Unicode};SERVER=db;PORT=5432;DATABASE=generate;"
                    "UseServerSidePrepare=0;pqopt={application_name=x options='-c statement_timeout=7000'};")


def test_connect_params_turn_booleans_into_yes_and_no():
    text = connection_string.build_connection_string(resolve(server="ag-listener", connect_params={
        "MultiSubnetFailover": True, "ApplicationIntent": "ReadOnly"}))
    assert text.endswith(";APP=ceds.generate;ApplicationIntent=ReadOnly;MultiSubnetFailover=yes;")


@pytest.mark.parametrize("key", ["SERVER", "pwd", "Encrypt", "APP", "bad;key", "x=y"])
def test_connect_params_refuse_keywords_that_options_set(key):
    with pytest.raises(connection_string.OptionsError) as refused:
        resolve(server="db", connect_params={key: "other"})
    assert "connect_params key %r is not one the module leaves to you" % key in str(refused.value)


def test_connect_params_and_a_connection_string_are_refused_together():
    with pytest.raises(OptionsRefused, match="connection_string|connect_params"):
        resolve(connection_string="DRIVER={x};SERVER=a", connect_params={"MultiSubnetFailover": True})


@pytest.mark.parametrize("value, quoted", [
    ("plain", "plain"),
    ("a;b", "{a;b}"),
    ("a}b", "{a}}b}"),
    ("{a}", "{{a}}}"),
    ("a=b", "{a=b}"),
    (" lead", "{ lead}"),
    ("", "{}"),
    ("quote'\"é", "quote'\"é"),
])
def test_values_are_brace_escaped_when_needed(value, quoted):
    assert connection_string.escape_value(value) == quoted


def test_password_round_trips_through_the_connection_string_parser():
    options = resolve(server="db", driver="Other", username="u", password=SECRET)
    parsed = connection_string.parse_connection_string(connection_string.build_connection_string(options))
    assert parsed["pwd"] == SECRET


@pytest.mark.parametrize("text, problem", [
    ("   ", "connection_string is empty"),
    ("garbage", "malformed"),
    ("DRIVER={x;SERVER=a", "never closed"),
    ("SERVER=a;DATABASE=b", "names no DRIVER or DSN"),
])
def test_bad_connection_strings_are_named(text, problem):
    with pytest.raises(connection_string.OptionsError) as raised:
        resolve(connection_string=text)
    assert problem in str(raised.value)


def test_connection_string_with_separate_options_is_refused_by_the_argument_spec():
    with pytest.raises(OptionsRefused) as raised:
        resolve(connection_string="DRIVER={x};SERVER=a", server="b", password="pw-secret")
    assert str(raised.value) == ("parameters are mutually exclusive: connection_string|server, "
                                 "connection_string|password")


def test_environment_fallbacks_fill_unset_options():
    env = {"GENERATE_DB_SERVER": "envhost", "GENERATE_DB_PORT": "1500", "GENERATE_DB_NAME": "gen2",
           "GENERATE_DB_USERNAME": "envuser", "GENERATE_DB_PASSWORD": "envpw", "GENERATE_DB_DRIVER": "FreeTDS"}
    options = resolve(env)
    assert (options["server"], options["port"], options["database"], options["username"], options["password"],
            options["driver"]) == ("envhost", 1500, "gen2", "envuser", "envpw", "FreeTDS")


def test_explicit_options_win_over_the_environment():
    options = resolve({"GENERATE_DB_SERVER": "envhost", "GENERATE_DB_PASSWORD": "envpw"}, server="given")
    assert options["server"] == "given" and options["password"] == "envpw"


def test_environment_connection_string_is_used_when_no_option_is_given():
    options = resolve({"GENERATE_DB_CONNECTION_STRING": "DRIVER={x};SERVER=s;DATABASE=d;PWD=secret",
                       "GENERATE_DB_SERVER": "ignored"})
    assert options["connection_string"].startswith("DRIVER={x}")
    assert options["database"] == "d"
    assert "secret" in connection_string.secrets_of(options)


def test_environment_connection_string_is_ignored_when_discrete_options_are_given():
    options = resolve({"GENERATE_DB_CONNECTION_STRING": "DRIVER={x};SERVER=s"}, server="given")
    assert options["connection_string"] is None and options["server"] == "given"


def test_bad_environment_port_is_named():
    with pytest.raises(connection_string.OptionsError, match="GENERATE_DB_PORT is not a number"):
        resolve({"GENERATE_DB_SERVER": "s", "GENERATE_DB_PORT": "fourteen"})


def test_no_server_is_named():
    with pytest.raises(connection_string.OptionsError, match="no database server given"):
        resolve()


@pytest.mark.parametrize("given, problem", [
    (dict(port=0), "port must be between 1 and 65535, got 0"),
    (dict(port=70000), "port must be between 1 and 65535, got 70000"),
    (dict(connect_timeout=0), "connect_timeout must be between 1 and 600"),
    (dict(query_timeout=-5), "query_timeout must be between 1 and 3600"),
    (dict(query_timeout=10 ** 6), "query_timeout must be between 1 and 3600"),
    (dict(stuck_after=-1), "stuck_after must be between 0"),
    (dict(stuck_after=10 ** 9), "stuck_after must be between 0"),
    (dict(history_lines=-1), "history_lines must be between 0 and 100"),
    (dict(history_lines=101), "history_lines must be between 0 and 100"),
    (dict(audit_note="x" * 501), "audit_note must be text of at most 500"),
    (dict(schema='App"; DROP TABLE x; --'), "is not a plain identifier"),
    (dict(server="  "), "server is empty"),
    (dict(database="gen\nerate"), "database is empty or holds control characters"),
    (dict(database=""), "database is empty or holds control characters"),
    (dict(driver=""), "driver is empty or holds control characters"),
    (dict(audit_note="job\x0042"), "audit_note holds a NUL character"),
])
def test_out_of_range_options_are_refused_with_the_option_named(given, problem):
    given.setdefault("server", "sql01")
    with pytest.raises(connection_string.OptionsError) as raised:
        migration_options.check_options(validated(**given), {})
    assert problem in str(raised.value)
    assert "\n" not in str(raised.value)


class FakeOdbcError(Exception):
    pass


@pytest.mark.parametrize("args, action, expected", [
    (("28000", "[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Login failed for user 'u'. (18456) (SQLDriverConnect)"),
     "connect", "login to sql01/generate failed for user 'u': check username and password"),
    (("01000", "[unixODBC][Driver Manager]Can't open lib 'Nope' : file not found (0) (SQLDriverConnect)"),
     "connect", "ODBC driver 'Nope' is not installed"),
    (("HYT00", "[Microsoft][ODBC Driver 18 for SQL Server]Login timeout expired (0) (SQLDriverConnect)"),
     "connect", "connecting to sql01/generate timed out after 15 s"),
    (("42000", "[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]The UPDATE permission was denied on the object 'DataMigrations' (229) (SQLExecDirectW)"),
     "resetting migration steps", "resetting migration steps on sql01/generate was refused"),
    (("08001", "[08001] could not connect: Connection refused (101) (SQLDriverConnect)"),
     "connect", "cannot connect to sql01/generate: could not connect: Connection refused. Check server, port"),
    (("HYT00", "[Microsoft][ODBC Driver 18 for SQL Server]Query timeout expired (0) (SQLExecDirectW)"),
     "resetting migration steps", "resetting migration steps on sql01/generate timed out after 60 s: a lock"),
    (("08S01", "[Microsoft][ODBC Driver 18 for SQL Server]Communication link failure (0) (SQLExecDirectW)"),
     "resetting migration steps", "resetting migration steps on sql01/generate failed: the connection was lost "
     "(Communication link failure); nothing was committed; run again"),
    (("08S01", "[Microsoft][ODBC Driver 18 for SQL Server]Communication link failure (0) (SQLEndTran)"),
     "committing the reset", "committing the reset on sql01/generate failed: the connection was lost "
     "(Communication link failure); whether the reset was committed is unknown: run state=status to see"),
    (("42000", "[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Failed to update database \"generate\" "
               "because the database is read-only. (3906) (SQLExecDirectW)"),
     "resetting migration steps", "resetting migration steps on sql01/generate was refused: Failed to update"),
])
def test_driver_errors_become_one_clear_line(args, action, expected):
    options = resolve(server="sql01", username="u", password="pw", driver="Nope")
    message = connection.describe_error(FakeOdbcError(*args), action, options)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_scrub_removes_password_and_its_escaped_form():
    text = connection_string.scrub("failed: PWD={p;x}}y} and p;x}y\nnext line", ["p;x}y"])
    assert "p;x}y" not in text and "\n" not in text
    assert text == "failed: PWD=******** and ******** next line"


def test_before_ansible_core_2_22_secrets_are_replaced_in_the_result_as_a_module_does(monkeypatch):
    monkeypatch.setattr(connection_string, "register_secrets", None)
    hidden = connection_string.hide_secrets({"msg": "login %s refused" % SECRET, "warnings": [SECRET]}, {SECRET})
    assert SECRET not in repr(hidden) and hidden["msg"].startswith("login ") and hidden["msg"].endswith(" refused")


def test_from_ansible_core_2_22_secrets_go_to_the_secret_masker_and_the_result_is_left_as_it_is(monkeypatch):
    registered = []
    monkeypatch.setattr(connection_string, "register_secrets", registered.extend)
    result = {"msg": "login %s refused" % SECRET}
    assert connection_string.hide_secrets(result, {SECRET, ""}) == {"msg": "login %s refused" % SECRET}
    assert registered == [SECRET]
