# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection options every module shares, and how they fall back to the environment.

The argument spec states the defaults and the rules Ansible can check itself;
``resolve_connection`` applies the environment rules it cannot (see there).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible.module_utils.basic import AnsibleFallbackNotFound

from ansible_collections.ceds.generate.plugins.module_utils import statements
from ansible_collections.ceds.generate.plugins.module_utils.connection_string import (
    ConnectionOptionsError,
    build_connection_string,
    parse_connection_string,
)

# Generate's own defaults: Microsoft's ODBC driver, its database's name, SQL Server's port and timeouts.
DEFAULT_DRIVER = "ODBC Driver 18 for SQL Server"
DEFAULT_DATABASE = "generate"
DEFAULT_CONNECT_TIMEOUT = 15
DEFAULT_QUERY_TIMEOUT = 60
SERVER_ENV = "GENERATE_DB_SERVER"
PORT_ENV = "GENERATE_DB_PORT"
DATABASE_ENV = "GENERATE_DB_NAME"
USERNAME_ENV = "GENERATE_DB_USERNAME"
PASSWORD_ENV = "GENERATE_DB_PASSWORD"
DRIVER_ENV = "GENERATE_DB_DRIVER"
CONNECTION_STRING_ENV = "GENERATE_DB_CONNECTION_STRING"
# The other fallback of the password: the path of a file that holds it (as an AWX file injector writes it).
PASSWORD_FILE_ENV = "GENERATE_DB_PASSWORD_FILE"
# The other fallback of the connection string: the path of a file that holds it, as for the password.
CONNECTION_STRING_FILE_ENV = "GENERATE_DB_CONNECTION_STRING_FILE"
# The separate options that fall back to the environment by hand: one of them given means the
# separate options are meant, and the connection string's variables are ignored.
FALLBACK_OPTIONS = ("server", "port", "username", "password")
# The options that describe one server piece by piece, which connection_string replaces as a whole.
SEPARATE_OPTIONS = FALLBACK_OPTIONS + ("encrypt", "trust_server_certificate", "connect_params")


def environment_fallback(*names):
    """Ansible's env_fallback, except that an empty variable counts as unset (AWX injects empty inputs so)."""
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    raise AnsibleFallbackNotFound


def connection_argument_spec():
    """The argument spec shared by every module that talks to a Generate database.

    database and driver fall back to their variables through the spec itself.
    server, port, username, password and connection_string fall back in
    ``resolve_connection`` instead, because Ansible's fallbacks run before its
    mutually_exclusive check and cannot see the other options: a variable of one
    kind (GENERATE_DB_SERVER) must not count against an option of the other
    (connection_string), the secrets may come from a file (the *_FILE
    variables), and port's default depends on the driver (1433 for SQL Server's
    drivers, none for a named instance found by SQL Browser).
    """
    return dict(
        server=dict(type="str"),
        port=dict(type="int"),
        database=dict(type="str", default=DEFAULT_DATABASE, fallback=(environment_fallback, [DATABASE_ENV])),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        driver=dict(type="str", default=DEFAULT_DRIVER, fallback=(environment_fallback, [DRIVER_ENV])),
        encrypt=dict(type="bool", default=True),
        trust_server_certificate=dict(type="bool", default=False),
        connect_timeout=dict(type="int", default=DEFAULT_CONNECT_TIMEOUT),
        query_timeout=dict(type="int", default=DEFAULT_QUERY_TIMEOUT),
        connection_string=dict(type="str", no_log=True),
        connect_params=dict(type="dict", default={}),
        schema=dict(type="str", default=statements.GENERATE_SCHEMA),
    )


def argument_rules():
    """The rules between the connection options, for AnsibleModule and ArgumentSpecValidator alike."""
    return dict(mutually_exclusive=[("connection_string", name) for name in SEPARATE_OPTIONS])


def _in_range(name, value, low, high, hint):
    if value is not None and not low <= value <= high:
        raise ConnectionOptionsError("%s must be between %d and %d, got %d: %s" % (name, low, high, value, hint))


def _env_port(environ):
    text = environ.get(PORT_ENV)
    if text in (None, ""):
        return None
    try:
        return int(text)
    except ValueError:
        raise ConnectionOptionsError("GENERATE_DB_PORT is not a number: set it to the SQL Server port, e.g. 1433")


def _env_secret(environ, env, file_env, what):
    """``env``, or the content of the file ``file_env`` names, one trailing newline off; None if neither is set.

    An empty variable counts as unset. Both set, or a file that cannot be read,
    is not UTF-8 or is empty, is refused with a message naming the variable and
    the path, never the content.
    """
    value = environ.get(env) or None
    path = environ.get(file_env)
    if not path:
        return value
    if value is not None:
        raise ConnectionOptionsError("%s and %s are both set: set only one of them" % (env, file_env))
    try:
        with open(path, "rb") as handle:
            value = re.sub(r"\r?\n\Z", "", handle.read().decode("utf-8"))
    except (IOError, OSError) as exc:
        raise ConnectionOptionsError("%s names %r, which cannot be read (%s): point it at a readable file "
                                     "that holds the %s" % (file_env, path, exc.strerror or exc, what))
    except UnicodeDecodeError:
        raise ConnectionOptionsError("%s names %r, which is not UTF-8 text: save the %s in it as UTF-8"
                                     % (file_env, path, what))
    if not value:
        raise ConnectionOptionsError("%s names %r, which is empty: put the %s in it, or unset %s"
                                     % (file_env, path, what, file_env))
    return value


def _env_password(environ):
    """GENERATE_DB_PASSWORD, or the content of the file GENERATE_DB_PASSWORD_FILE names."""
    return _env_secret(environ, PASSWORD_ENV, PASSWORD_FILE_ENV, "password")


def _env_connection_string(environ):
    """GENERATE_DB_CONNECTION_STRING, or the content of the file GENERATE_DB_CONNECTION_STRING_FILE names."""
    return _env_secret(environ, CONNECTION_STRING_ENV, CONNECTION_STRING_FILE_ENV, "ODBC connection string")


def resolve_connection(params, environ=None):
    """Apply the environment fallbacks the argument spec cannot express; return the effective connection options.

    An option given to the module always wins.  A connection string and the
    separate options are alternatives (the spec refuses both given): when only
    one kind is given, the environment variables of the other kind are ignored,
    and database and driver are then taken from the connection string.
    """
    environ = os.environ if environ is None else environ
    given = [name for name in FALLBACK_OPTIONS if params.get(name) is not None]
    options = dict(params)
    # Either variable of the connection string counts only when no separate option is given.
    use_string = params.get("connection_string") is not None or (
        not given and any(environ.get(env) for env in (CONNECTION_STRING_ENV, CONNECTION_STRING_FILE_ENV))
    )
    if use_string:
        if options.get("connection_string") is None:
            options["connection_string"] = _env_connection_string(environ)
        if not options["connection_string"].strip():
            raise ConnectionOptionsError(
                "connection_string is empty: give an ODBC connection string such as "
                "'DRIVER={ODBC Driver 18 for SQL Server};SERVER=host,1433;DATABASE=generate;...'"
            )
        parsed = parse_connection_string(options["connection_string"])
        options["database"] = parsed.get("database") or parsed.get("dbq") or DEFAULT_DATABASE
        options["server"] = parsed.get("server") or parsed.get("dsn") or parsed.get("database") or "the database"
        options["driver"] = parsed.get("driver") or parsed.get("dsn") or parsed.get("filedsn")
    else:
        if options.get("server") is None:
            options["server"] = environ.get(SERVER_ENV) or None
        if options.get("username") is None:
            options["username"] = environ.get(USERNAME_ENV) or None
        if options.get("port") is None:
            options["port"] = _env_port(environ)
        if options.get("password") is None:
            options["password"] = _env_password(environ)
        options["connection_string"] = None
        if not options.get("server"):
            raise ConnectionOptionsError(
                "no database server given: set server (or GENERATE_DB_SERVER) or connection_string"
            )
    check_connection_values(options)
    return options


def check_connection_values(options):
    """Refuse values no driver can use, with a message that says what to change."""
    _in_range("port", options.get("port"), 1, 65535, "use the TCP port SQL Server listens on (1433 by default)")
    _in_range("connect_timeout", options.get("connect_timeout"), 1, 600, "give the seconds to wait for a connection")
    _in_range("query_timeout", options.get("query_timeout"), 1, 3600, "give the seconds one statement may take")
    for name in ("server", "database", "username", "driver"):
        value = options.get(name)
        if value is not None and (not value.strip() or re.search(r"[\x00-\x1f]", value)):
            raise ConnectionOptionsError("%s is empty or holds control characters: give a plain name" % name)
    if not options.get("connection_string"):
        # Built once here so that a keyword connect_params may not give is refused before connecting.
        build_connection_string(options)
