"""The password from a file: GENERATE_DB_PASSWORD_FILE, as an AWX file injector hands it over."""

from __future__ import annotations

import os

import pytest

from ansible_collections.ceds.generate.plugins.module_utils import database

PASSWORD_ENV = dict(database.DISCRETE_OPTIONS)["password"]
FILE_ENV = database.PASSWORD_FILE_ENV
SECRET = "Fi;le {pw}} = x"


def resolve(environ, **given):
    params = dict((name, None) for name in database.connection_argument_spec())
    params.update(connect_timeout=15, query_timeout=60, schema="App")
    params.update(given)
    return database.resolve_connection(params, environ)


def password_file(tmp_path, content):
    path = tmp_path / "password"
    path.write_bytes(content.encode("utf-8"))
    return str(path)


def refusal(environ, **given):
    """The message of the ConnectionOptionsError that resolving gives; it must be one line."""
    with pytest.raises(database.ConnectionOptionsError) as caught:
        resolve(environ, **given)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize("ending", ["", "\n", "\r\n"])
def test_the_file_gives_the_password_without_one_trailing_newline(tmp_path, ending):
    options = resolve({"GENERATE_DB_SERVER": "sql01", FILE_ENV: password_file(tmp_path, SECRET + ending)})

    assert options["password"] == SECRET
    assert "PWD=" + database.escape_value(SECRET) + ";" in database.build_connection_string(options)


def test_only_one_trailing_newline_is_removed(tmp_path):
    options = resolve({"GENERATE_DB_SERVER": "sql01", FILE_ENV: password_file(tmp_path, " pw \n\n")})

    assert options["password"] == " pw \n"


@pytest.mark.parametrize("password", ["  spaces around  ", "{in braces}", "semi;colon;pw", "x;PWD=other;UID=sa",
                                      "two }} closing", "\ttab and nön-ÄSCII 密码"])
def test_the_password_is_kept_exactly(tmp_path, password):
    options = resolve({"GENERATE_DB_SERVER": "sql01", FILE_ENV: password_file(tmp_path, password + "\n")})

    assert options["password"] == password
    assert database.parse_connection_string(database.build_connection_string(options))["pwd"] == password


def test_the_password_option_wins_over_the_file_and_over_both_variables(tmp_path):
    environ = {"GENERATE_DB_SERVER": "sql01", PASSWORD_ENV: "from-env", FILE_ENV: password_file(tmp_path, SECRET)}

    assert resolve(environ, password="given")["password"] == "given"
    assert resolve(dict(environ, **{FILE_ENV: str(tmp_path / "missing")}), password="given")["password"] == "given"


def test_both_variables_set_is_refused(tmp_path):
    message = refusal({"GENERATE_DB_SERVER": "sql01", PASSWORD_ENV: SECRET,
                       FILE_ENV: password_file(tmp_path, SECRET)})

    assert PASSWORD_ENV in message and FILE_ENV in message and "only one" in message
    assert SECRET not in message


def test_an_empty_variable_counts_as_unset(tmp_path):
    path = password_file(tmp_path, SECRET)

    assert resolve({"GENERATE_DB_SERVER": "sql01", PASSWORD_ENV: "", FILE_ENV: path})["password"] == SECRET
    assert resolve({"GENERATE_DB_SERVER": "sql01", PASSWORD_ENV: SECRET, FILE_ENV: ""})["password"] == SECRET
    assert resolve({"GENERATE_DB_SERVER": "sql01", FILE_ENV: ""})["password"] is None


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "only a newline", "unreadable", "not UTF-8"])
def test_a_file_that_gives_no_password_is_refused_naming_the_variable_and_the_path(tmp_path, case):
    path = str(tmp_path / "password")
    if case == "directory":
        os.mkdir(path)
    elif case in ("empty", "only a newline"):
        password_file(tmp_path, "" if case == "empty" else "\n")
    elif case == "unreadable":
        password_file(tmp_path, SECRET)
        os.chmod(path, 0)
        if os.access(path, os.R_OK):
            pytest.skip("the tests run as a user who reads every file (root)")
    elif case == "not UTF-8":
        (tmp_path / "password").write_bytes(SECRET.encode("utf-8") + b"\xff")

    message = refusal({"GENERATE_DB_SERVER": "sql01", FILE_ENV: path})

    assert message.startswith(FILE_ENV + " names " + repr(path))
    assert SECRET not in message and "Fi;le" not in message
    assert ": " in message.split(path, 1)[1], "the message must say what to do: " + message


def test_the_file_is_not_read_when_a_connection_string_is_used(tmp_path):
    text = "DRIVER={PostgreSQL Unicode};SERVER=db;DATABASE=generate;UID=u;PWD=pw;"
    missing = str(tmp_path / "missing")

    assert resolve({FILE_ENV: missing}, connection_string=text)["password"] is None
    assert resolve({FILE_ENV: missing, database.CONNECTION_STRING_ENV: text})["connection_string"] == text


def test_the_password_from_the_file_is_a_secret_kept_out_of_messages(tmp_path):
    options = resolve({"GENERATE_DB_SERVER": "sql01", FILE_ENV: password_file(tmp_path, SECRET)})

    assert SECRET in database.secrets_of(options)
    assert SECRET not in database.scrub("login failed for PWD=%s" % database.escape_value(SECRET),
                                        database.secrets_of(options))
