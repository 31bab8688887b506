"""Secrets from files: GENERATE_DB_PASSWORD_FILE and GENERATE_DB_CONNECTION_STRING_FILE, as AWX file injectors hand them over."""

from __future__ import annotations

import collections
import os

import pytest

from ansible_collections.ceds.generate.plugins.module_utils import connection_options, connection_string
from tests.support.task_options import resolved

PASSWORD_ENV = connection_options.PASSWORD_ENV
FILE_ENV = connection_options.PASSWORD_FILE_ENV
SECRET = "Fi;le {pw}} = x"
CONNECTION_STRING = "DRIVER={PostgreSQL Unicode};SERVER=db;DATABASE=generate;UID=u;PWD=%s;" % (
    connection_string.escape_value(SECRET))

# One secret that may come from a file: its variable, the file's variable, the option it fills, a value of it,
# and options of the other kind, given which the file is never read.
Kind = collections.namedtuple("Kind", "env file_env option value other")
KINDS = {
    "password": Kind(PASSWORD_ENV, FILE_ENV, "password", SECRET, {"connection_string": CONNECTION_STRING}),
    "connection string": Kind(connection_options.CONNECTION_STRING_ENV, connection_options.CONNECTION_STRING_FILE_ENV,
                              "connection_string", CONNECTION_STRING, {"server": "sql01"}),
}
# GENERATE_DB_SERVER is set throughout: the connection string's variables win over it, as over every discrete one.
BASE = {"GENERATE_DB_SERVER": "sql01"}


@pytest.fixture(params=sorted(KINDS))
def kind(request):
    return KINDS[request.param]


def resolve(environ, **given):
    return resolved(environ, **given)


def secret_file(tmp_path, content, name="secret"):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8"))
    return str(path)


def refusal(environ, **given):
    """The message of the ConnectionOptionsError that resolving gives; it must be one line."""
    with pytest.raises(connection_string.ConnectionOptionsError) as caught:
        resolve(environ, **given)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize("ending", ["", "\n", "\r\n"])
def test_the_file_gives_the_value_without_one_trailing_newline(tmp_path, kind, ending):
    options = resolve(dict(BASE, **{kind.file_env: secret_file(tmp_path, kind.value + ending)}))

    assert options[kind.option] == kind.value
    assert SECRET in connection_string.secrets_of(options)


def test_only_one_trailing_newline_is_removed(tmp_path, kind):
    options = resolve(dict(BASE, **{kind.file_env: secret_file(tmp_path, kind.value + "\n\n")}))

    assert options[kind.option] == kind.value + "\n"


@pytest.mark.parametrize("password", ["  spaces around  ", "{in braces}", "semi;colon;pw", "x;PWD=other;UID=sa",
                                      "two }} closing", "\ttab and nön-ÄSCII 密码"])
def test_the_password_is_kept_exactly(tmp_path, password):
    options = resolve(dict(BASE, **{FILE_ENV: secret_file(tmp_path, password + "\n")}))

    assert options["password"] == password
    assert connection_string.parse_connection_string(connection_string.build_connection_string(options))["pwd"] == password


def test_the_option_wins_over_the_file_and_over_both_variables(tmp_path, kind):
    environ = dict(BASE, **{kind.env: "from-env", kind.file_env: secret_file(tmp_path, kind.value)})
    given = {kind.option: "DSN=given" if kind.option == "connection_string" else "given"}

    assert resolve(environ, **given)[kind.option] == given[kind.option]
    assert resolve(dict(environ, **{kind.file_env: str(tmp_path / "missing")}), **given)[kind.option] == (
        given[kind.option])


def test_both_variables_set_is_refused(tmp_path, kind):
    message = refusal(dict(BASE, **{kind.env: kind.value, kind.file_env: secret_file(tmp_path, kind.value)}))

    assert kind.env in message and kind.file_env in message and "only one" in message
    assert SECRET not in message and "Fi;le" not in message


def test_an_empty_variable_counts_as_unset(tmp_path, kind):
    path = secret_file(tmp_path, kind.value)

    assert resolve(dict(BASE, **{kind.env: "", kind.file_env: path}))[kind.option] == kind.value
    assert resolve(dict(BASE, **{kind.env: kind.value, kind.file_env: ""}))[kind.option] == kind.value
    assert resolve(dict(BASE, **{kind.file_env: ""}))[kind.option] is None


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "only a newline", "under a regular file",
                                  "not UTF-8"])
def test_a_file_that_gives_no_value_is_refused_naming_the_variable_and_the_path(tmp_path, kind, case):
    path = str(tmp_path / "secret")
    if case == "directory":
        os.mkdir(path)
    elif case in ("empty", "only a newline"):
        secret_file(tmp_path, "" if case == "empty" else "\n")
    elif case == "under a regular file":
        # Unreadable even for root, who reads a file of mode 0: its parent is not a directory.
        path = os.path.join(secret_file(tmp_path, kind.value, "file.txt"), "secret")
    elif case == "not UTF-8":
        (tmp_path / "secret").write_bytes(kind.value.encode("utf-8") + b"\xff")

    message = refusal(dict(BASE, **{kind.file_env: path}))

    assert message.startswith(kind.file_env + " names " + repr(path))
    assert SECRET not in message and "Fi;le" not in message
    assert ": " in message.split(path, 1)[1], "the message must say what to do: " + message
    if case == "under a regular file":
        assert "cannot be read (Not a directory): point it at a readable file" in message


def test_the_file_is_not_read_when_options_of_the_other_kind_are_given(tmp_path, kind):
    missing = str(tmp_path / "missing")

    assert resolve({kind.file_env: missing}, **kind.other)[kind.option] is None


def test_the_password_file_is_not_read_when_a_connection_string_variable_is_set(tmp_path):
    missing = str(tmp_path / "missing")
    path = secret_file(tmp_path, CONNECTION_STRING)

    assert resolve({FILE_ENV: missing, connection_options.CONNECTION_STRING_ENV: CONNECTION_STRING})["connection_string"] == (
        CONNECTION_STRING)
    assert resolve({FILE_ENV: missing, connection_options.CONNECTION_STRING_FILE_ENV: path})["connection_string"] == (
        CONNECTION_STRING)


def test_the_connection_string_file_wins_over_the_separate_variables_as_its_variable_does(tmp_path):
    options = resolve(dict(BASE, **{PASSWORD_ENV: "separate", connection_options.CONNECTION_STRING_FILE_ENV:
                                    secret_file(tmp_path, CONNECTION_STRING)}))

    assert options["connection_string"] == CONNECTION_STRING
    assert (options["server"], options["database"], options["password"]) == ("db", "generate", None)


def test_the_value_from_the_file_is_a_secret_kept_out_of_messages(tmp_path, kind):
    options = resolve(dict(BASE, **{kind.file_env: secret_file(tmp_path, kind.value)}))

    assert SECRET in connection_string.secrets_of(options)
    assert SECRET not in connection_string.scrub("login failed for PWD=%s" % connection_string.escape_value(SECRET),
                                                 connection_string.secrets_of(options))
