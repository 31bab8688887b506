# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the collection reaches a Generate database: options, connection string, connection, errors.

No module builds a connection string or reads a driver error itself; they all
come through here, so that secrets are handled in one place.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import traceback

PYODBC_IMPORT_ERROR = None
try:
    import pyodbc
except ImportError:  # pragma: no cover - depends on the machine
    pyodbc = None
    PYODBC_IMPORT_ERROR = traceback.format_exc()

APPLICATION_NAME = "ceds.generate"
DEFAULT_DRIVER = "ODBC Driver 18 for SQL Server"
DEFAULT_PORT = 1433
DEFAULT_DATABASE = "generate"
PYODBC_HINT = "pyodbc needs the unixODBC library: install unixodbc (Debian/Ubuntu) or unixODBC (RHEL) first"

# Options that build a connection string, with the environment variable each falls back to.
DISCRETE_OPTIONS = (
    ("server", "GENERATE_DB_SERVER"),
    ("port", "GENERATE_DB_PORT"),
    ("database", "GENERATE_DB_NAME"),
    ("username", "GENERATE_DB_USERNAME"),
    ("password", "GENERATE_DB_PASSWORD"),
    ("driver", "GENERATE_DB_DRIVER"),
    ("encrypt", None),
    ("trust_server_certificate", None),
)
CONNECTION_STRING_ENV = "GENERATE_DB_CONNECTION_STRING"
# The other fallback of the password: the path of a file that holds it (as an AWX file injector writes it).
PASSWORD_FILE_ENV = "GENERATE_DB_PASSWORD_FILE"
# The other fallback of the connection string: the path of a file that holds it, as for the password.
CONNECTION_STRING_FILE_ENV = "GENERATE_DB_CONNECTION_STRING_FILE"


class ConnectionOptionsError(Exception):
    """The connection options cannot be used as given; the text says what to change."""


class DatabaseError(Exception):
    """A database operation failed; the text is one line, free of secrets."""

    def __init__(self, message, sqlstate=None):
        super(DatabaseError, self).__init__(message)
        self.sqlstate = sqlstate


class TableRefused(DatabaseError):
    """A statement named a table that cannot be used; ``driver_text`` is the driver's words."""

    def __init__(self, message, driver_text, sqlstate=None):
        super(TableRefused, self).__init__(message, sqlstate)
        self.driver_text = driver_text

    def names(self, table):
        """True when the driver's message names ``table``."""
        return re.search(r"\b%s\b" % re.escape(table), self.driver_text, re.IGNORECASE) is not None

    def first_named(self, candidates):
        """The first of ``candidates`` that the message names, or the first candidate."""
        for table in candidates:
            if self.names(table):
                return table
        return candidates[0]


class MissingTable(TableRefused):
    """A statement named a table that does not exist."""

    def __init__(self, message, driver_text):
        super(MissingTable, self).__init__(message, driver_text, "42S02")


class AccessDenied(TableRefused):
    """The login may not read or write an object the statement names."""

    def __init__(self, message, driver_text):
        super(AccessDenied, self).__init__(message, driver_text, "42501")


def connection_argument_spec():
    """The argument spec shared by every module that talks to a Generate database.

    Defaults that depend on whether an option was given (port, database,
    driver, encrypt) are None here and applied by ``resolve_connection`` after
    the environment fallbacks, so that an explicit option can be told apart
    from a default.
    """
    return dict(
        server=dict(type="str"),
        port=dict(type="int"),
        database=dict(type="str"),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        driver=dict(type="str"),
        encrypt=dict(type="bool"),
        trust_server_certificate=dict(type="bool"),
        connect_timeout=dict(type="int", default=15),
        query_timeout=dict(type="int", default=60),
        connection_string=dict(type="str", no_log=True),
        schema=dict(type="str", default="App"),
    )


def _in_range(name, value, low, high, hint):
    if value is not None and not low <= value <= high:
        raise ConnectionOptionsError("%s must be between %d and %d, got %d: %s" % (name, low, high, value, hint))


def _env_port(environ):
    text = environ.get("GENERATE_DB_PORT")
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
    return _env_secret(environ, "GENERATE_DB_PASSWORD", PASSWORD_FILE_ENV, "password")


def _env_connection_string(environ):
    """GENERATE_DB_CONNECTION_STRING, or the content of the file GENERATE_DB_CONNECTION_STRING_FILE names."""
    return _env_secret(environ, CONNECTION_STRING_ENV, CONNECTION_STRING_FILE_ENV, "ODBC connection string")


def resolve_connection(params, environ=None):
    """Apply environment fallbacks and defaults; return the effective connection options.

    An option given to the module always wins.  A connection string and the
    discrete options are alternatives: giving both is refused, and when only
    one kind is given, the environment variables of the other kind are ignored.
    """
    environ = os.environ if environ is None else environ
    explicit = [name for name, _env in DISCRETE_OPTIONS if params.get(name) is not None]
    if params.get("connection_string") is not None and explicit:
        raise ConnectionOptionsError(
            "connection_string cannot be combined with %s: give either a full ODBC connection string "
            "or the separate connection options" % ", ".join(explicit)
        )
    options = dict(params)
    # Either variable of the connection string counts only when no option of either kind is given.
    use_string = params.get("connection_string") is not None or (
        not explicit and any(environ.get(env) for env in (CONNECTION_STRING_ENV, CONNECTION_STRING_FILE_ENV))
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
    else:
        readers = {"port": _env_port, "password": _env_password}
        for name, env in DISCRETE_OPTIONS:
            if options.get(name) is None and env:
                options[name] = readers[name](environ) if name in readers else (environ.get(env) or None)
        options["connection_string"] = None
        # Only an absent value gets the default: an empty one is refused below, since it
        # usually comes from an unset variable and would silently reach another database.
        for name, default in (("database", DEFAULT_DATABASE), ("driver", DEFAULT_DRIVER)):
            if options.get(name) is None:
                options[name] = default
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


def driver_kind(driver):
    """Which connection-string dialect a driver speaks: microsoft, freetds, postgresql or generic."""
    name = (driver or "").lower()
    if re.search(r"odbc driver \d+ for sql server", name):
        return "microsoft"
    if "freetds" in name or "tds" == name:
        return "freetds"
    if "postgres" in name or "psqlodbc" in name:
        return "postgresql"
    return "generic"


def escape_value(value):
    """Quote an ODBC connection-string value when it needs it: braces, with } doubled.

    Values with ; { } = or surrounding spaces are wrapped in braces, the one
    quoting every ODBC driver manager understands.
    """
    text = "%s" % value
    if re.search(r"[;{}=]", text) or text != text.strip() or text == "":
        return "{" + text.replace("}", "}}") + "}"
    return text


def build_connection_string(options):
    """The ODBC connection string for the discrete options, in the dialect of the driver."""
    kind = driver_kind(options.get("driver"))
    server = options["server"]
    port = options.get("port")
    encrypt = True if options.get("encrypt") is None else options["encrypt"]
    trust = bool(options.get("trust_server_certificate"))
    pairs = [("DRIVER", "{" + options["driver"].replace("}", "}}") + "}")]
    if kind == "microsoft":
        # host,port; a named instance (host\name) is found by SQL Browser unless a port is given.
        if "," not in server and (port is not None or "\\" not in server):
            server = "%s,%d" % (server, port or DEFAULT_PORT)
        pairs.append(("SERVER", escape_value(server)))
    else:
        pairs.append(("SERVER", escape_value(server)))
        # Other drivers keep their own default port unless one is given.
        if port or kind == "freetds":
            pairs.append(("PORT", "%d" % (port or DEFAULT_PORT)))
    pairs.append(("DATABASE", escape_value(options["database"])))
    if options.get("username"):
        pairs.append(("UID", escape_value(options["username"])))
    if options.get("password") is not None:
        pairs.append(("PWD", escape_value(options["password"])))
    if kind == "microsoft":
        pairs.append(("Encrypt", "yes" if encrypt else "no"))
        pairs.append(("TrustServerCertificate", "yes" if trust else "no"))
        pairs.append(("APP", APPLICATION_NAME))
    elif kind == "freetds":
        pairs.append(("TDS_Version", "7.4"))
        pairs.append(("Encryption", "require" if encrypt else "off"))
        pairs.append(("APP", APPLICATION_NAME))
    elif kind == "postgresql":
        # psqlODBC takes libpq options here: the application name shows in
        # pg_stat_activity, and statement_timeout stands in for the ODBC query
        # timeout attribute, which psqlODBC does not support.
        pairs.append((
            "pqopt",
            "{application_name=%s connect_timeout=%d options='-c statement_timeout=%d'}"
            % (APPLICATION_NAME, options.get("connect_timeout") or 15, (options.get("query_timeout") or 60) * 1000),
        ))
        # By default psqlODBC wraps each statement in a savepoint and prepares
        # it on the server: three round trips per statement instead of one.
        # The module never continues a transaction after an error, so a
        # failed statement may as well roll the whole transaction back (-1).
        pairs.append(("UseServerSidePrepare", "0"))
        pairs.append(("Protocol", "7.4-1"))
    return ";".join("%s=%s" % pair for pair in pairs) + ";"


def parse_connection_string(text):
    """Split an ODBC connection string into lower-case keys and values (braces removed)."""
    result = {}
    position = 0
    length = len(text)
    while position < length:
        equals = text.find("=", position)
        if equals < 0:
            if text[position:].strip():
                raise ConnectionOptionsError(
                    "connection_string is malformed: expected KEY=VALUE pairs separated by ';'"
                )
            break
        key = text[position:equals].strip().lower()
        position = equals + 1
        if position < length and text[position] == "{":
            value_chars = []
            position += 1
            while True:
                if position >= length:
                    raise ConnectionOptionsError(
                        "connection_string is malformed: a value opened with '{' is never closed with '}'"
                    )
                if text[position] == "}":
                    if position + 1 < length and text[position + 1] == "}":
                        value_chars.append("}")
                        position += 2
                        continue
                    position += 1
                    break
                value_chars.append(text[position])
                position += 1
            value = "".join(value_chars)
            end = text.find(";", position)
            position = length if end < 0 else end + 1
        else:
            end = text.find(";", position)
            end = length if end < 0 else end
            value = text[position:end].strip()
            position = end + 1
        if not key or ";" in key:
            raise ConnectionOptionsError("connection_string is malformed: expected KEY=VALUE pairs separated by ';'")
        result[key] = value
    if not result:
        raise ConnectionOptionsError("connection_string is malformed: expected KEY=VALUE pairs separated by ';'")
    if not any(key in result for key in ("driver", "dsn", "filedsn")):
        raise ConnectionOptionsError("connection_string names no DRIVER or DSN: add DRIVER={...} or DSN=...")
    return result


def secrets_of(options):
    """Every text that must never appear in output: the password and the connection string's secrets."""
    found = []
    if options.get("password"):
        found.append(options["password"])
    text = options.get("connection_string")
    if text:
        found.append(text)
        try:
            parsed = parse_connection_string(text)
        except ConnectionOptionsError:
            parsed = {}
        for key in ("pwd", "password"):
            if parsed.get(key):
                found.append(parsed[key])
    return found


def scrub(message, secrets):
    """Remove secrets from a message and fold it onto one line."""
    text = "%s" % message
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "********")
            text = text.replace(escape_value(secret), "********")
    return " ".join(text.split())


def _driver_text(exc):
    """The SQLSTATE and the driver's message of a pyodbc error, without the ODBC prefixes."""
    args = getattr(exc, "args", ())
    sqlstate = args[0] if len(args) > 1 and isinstance(args[0], str) else None
    text = args[1] if len(args) > 1 else (args[0] if args else "%s" % exc)
    text = re.sub(r"\[[^\]]*\]", "", "%s" % text)
    text = re.sub(r"\(\d+\)\s*\(SQL\w+\)\s*$", "", text.strip())
    text = re.sub(r"\s*\(\d+\)\s*$", "", text.strip())
    text = re.sub(r"Error while executing the query\s*$", "", text.strip())
    return sqlstate, text.strip().rstrip(";").strip()


def _driver_in_string(text):
    """The DRIVER (or DSN) a connection string names, for messages; never a secret."""
    try:
        parsed = parse_connection_string(text)
    except ConnectionOptionsError:
        return "?"
    return parsed.get("driver") or parsed.get("dsn") or parsed.get("filedsn") or "?"


def describe_error(exc, action, options):
    """Turn a driver error into one line that says what failed and what to do about it."""
    sqlstate, text = _driver_text(exc)
    # The driver's sentence is quoted inside ours: its closing period would double ours.
    text = text.rstrip(" .")
    lowered = text.lower()
    where = "%s/%s" % (options.get("server") or "the server", options.get("database") or DEFAULT_DATABASE)
    if sqlstate in ("IM002",) or "can't open lib" in lowered or "data source name not found" in lowered:
        if options.get("connection_string"):
            return ("ODBC driver '%s' named in connection_string is not installed: install it or change "
                    "DRIVER= to one that 'odbcinst -q -d' lists" % _driver_in_string(options["connection_string"]))
        hint = "install it or set driver (GENERATE_DB_DRIVER) to one that 'odbcinst -q -d' lists"
        return "ODBC driver '%s' is not installed: %s" % (options.get("driver"), hint)
    if sqlstate in ("28000", "28P01") or "password authentication failed" in lowered or "login failed" in lowered:
        return "login to %s failed for user '%s': check username and password" % (
            where, options.get("username") or "given in connection_string")
    if sqlstate in ("HYT00", "HYT01", "57014") or "timeout" in lowered or "timed out" in lowered:
        limit = options.get("connect_timeout") if action == "connect" else options.get("query_timeout")
        if action == "connect":
            return ("connecting to %s timed out after %s s: check server, port and firewall, "
                    "or raise connect_timeout" % (where, limit))
        return ("%s on %s timed out after %s s: a lock or a long statement held it up; "
                "retry later or raise query_timeout" % (action, where, limit))
    if is_access_denied(exc):
        return ("%s on %s was refused: %s. Grant the login the rights in docs/least-privilege.md "
                "of the ceds.generate collection" % (action, where, text))
    if sqlstate == "25006" or "read-only" in lowered:
        return ("%s on %s was refused: %s. The login or the database is read-only: "
                "use a login that may write, or state=status" % (action, where, text))
    if action != "connect" and (sqlstate in ("57P01", "57P02", "57P03", "08S01", "08003", "08006")
                                or "connection has been lost" in lowered or "link failure" in lowered):
        # The server rolls back whatever was not committed when a session ends;
        # only a loss during the commit itself leaves the outcome unknown.
        outcome = ("whether the reset was committed is unknown: run state=status to see, or run again"
                   if action == "committing the reset" else "nothing was committed; run again")
        return "%s on %s failed: the connection was lost (%s); %s" % (action, where, text, outcome)
    if action == "connect" and re.search(r"certificate|\bssl\b|\btls\b|handshake", lowered):
        # ODBC Driver 18 encrypts by default, so an untrusted certificate is the likeliest first error.
        return ("cannot connect to %s: the server's certificate is not trusted (%s): install the CA that signed it "
                "on the controller or in the execution environment, or set trust_server_certificate "
                "(generate_db_trust_server_certificate) to true" % (where, text))
    if action == "connect" or (sqlstate or "").startswith("08"):
        return "cannot connect to %s: %s. Check server, port and network" % (where, text)
    return "%s on %s failed: %s%s" % (action, where, text, " (SQLSTATE %s)" % sqlstate if sqlstate else "")


def is_missing_table(exc):
    """True when a driver error says a table does not exist."""
    sqlstate, text = _driver_text(exc)
    lowered = text.lower()
    return sqlstate in ("42S02", "42P01") or "no such table" in lowered or "invalid object name" in lowered or (
        "does not exist" in lowered and "relation" in lowered)


def is_access_denied(exc):
    """True when a driver error says the login lacks a permission."""
    sqlstate, text = _driver_text(exc)
    lowered = text.lower()
    return sqlstate == "42501" or "permission" in lowered or "denied" in lowered


def translate(exc, action, options):
    """A DatabaseError (or MissingTable) with a clean one-line message for a pyodbc error."""
    message = scrub(describe_error(exc, action, options), secrets_of(options))
    sqlstate, text = _driver_text(exc)
    if is_missing_table(exc):
        return MissingTable(message, scrub(text, secrets_of(options)))
    if is_access_denied(exc):
        return AccessDenied(message, scrub(text, secrets_of(options)))
    return DatabaseError(message, sqlstate)


def connect(options):
    """Open a connection with autocommit off; raise DatabaseError with a clean message on failure."""
    text = options.get("connection_string") or build_connection_string(options)
    try:
        connection = pyodbc.connect(text, autocommit=False, timeout=options.get("connect_timeout") or 15)
    except pyodbc.Error as exc:
        raise translate(exc, "connect", options)
    try:
        connection.timeout = options.get("query_timeout") or 60
    except pyodbc.Error:
        # psqlODBC and some others refuse the query-timeout attribute; for
        # PostgreSQL the connection string sets statement_timeout instead.
        pass
    return connection
