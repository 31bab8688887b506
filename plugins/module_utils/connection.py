# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connecting to a Generate database, and a driver's error turned into one line that says what to do."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.ceds.generate.plugins.module_utils.connection_options import DEFAULT_DATABASE
from ansible_collections.ceds.generate.plugins.module_utils.connection_string import (
    ConnectionOptionsError,
    build_connection_string,
    mask_everywhere,
    parse_connection_string,
    scrub,
    secrets_of,
)

PYODBC_IMPORT_ERROR = None
try:
    import pyodbc
except ImportError:  # pragma: no cover - depends on the machine
    pyodbc = None
    PYODBC_IMPORT_ERROR = traceback.format_exc()

PYODBC_HINT = "pyodbc needs the unixODBC library: install unixodbc (Debian/Ubuntu) or unixODBC (RHEL) first"


def missing_libs():
    """What a run needs and this Python lacks, as one line (ansible-core's missing_required_lib), or None."""
    if pyodbc is not None:
        return None
    return missing_required_lib("pyodbc", reason=PYODBC_HINT)


def ensure_required_libs(module):
    """Fail the module, with nothing done, when the Python that runs it lacks pyodbc."""
    missing = missing_libs()
    if missing:
        module.fail_json(msg=missing, exception=PYODBC_IMPORT_ERROR)


def finish(module, result, secrets):
    """End a module process with ``result``: ``secrets`` kept out of all it returns, its warnings warned, its diff
    only in diff mode, failed or not as the result says."""
    module.no_log_values.update(secrets)
    mask_everywhere(secrets)
    for warning in result.pop("warnings", []):
        module.warn(warning)
    if not module._diff:  # pylint: disable=protected-access
        result.pop("diff", None)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


class DatabaseError(Exception):
    """A database operation failed; the text is one line, free of secrets."""

    def __init__(self, message, sqlstate=None):
        super(DatabaseError, self).__init__(message)
        self.sqlstate = sqlstate


class TableRefused(DatabaseError):
    """A statement named a table that cannot be used; ``driver_text`` is the driver's words."""

    def __init__(self, message, driver_text, sqlstate=None, tables=()):
        super(TableRefused, self).__init__(message, sqlstate)
        self.driver_text = driver_text
        self.tables = [table.lower() for table in tables]

    def names(self, table):
        """True when ``table`` is one of the tables found refused, or the driver's message names it."""
        return table.lower() in self.tables or re.search(
            r"\b%s\b" % re.escape(table), self.driver_text, re.IGNORECASE) is not None

    def first_named(self, candidates):
        """The first of ``candidates`` that the refusal names, or the first candidate."""
        for table in candidates:
            if self.names(table):
                return table
        return candidates[0]


class MissingTable(TableRefused):
    """A statement named a table that does not exist (``tables``: those found missing by probing them)."""

    def __init__(self, message, driver_text, tables=()):
        super(MissingTable, self).__init__(message, driver_text, "42S02", tables)


class AccessDenied(TableRefused):
    """The login may not read or write an object the statement names."""

    def __init__(self, message, driver_text):
        super(AccessDenied, self).__init__(message, driver_text, "42501")


def _driver_text(exc):
    """The SQLSTATE and the driver's message of a pyodbc error, without the ODBC prefixes."""
    args = getattr(exc, "args", ())
    sqlstate = args[0] if len(args) > 1 and isinstance(args[0], str) else None
    text = args[1] if len(args) > 1 else (args[0] if args else "%s" % exc)
    text = re.sub(r"\[[^\]]*\]", "", "%s" % text)
    text = re.sub(r"\(\d+\)\s*\(SQL\w+\)\s*$", "", text.strip())
    text = re.sub(r"\s*\(\d+\)\s*$", "", text.strip())
    # A driver may add a line of its own after the server's message: the server's says what happened.
    text = text.strip().split("\n")[0]
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
    if (sqlstate or "").startswith("28") or "login failed" in lowered or "authentication failed" in lowered:
        return "login to %s failed for user '%s': check username and password" % (
            where, options.get("username") or "given in connection_string")
    if sqlstate in ("HYT00", "HYT01") or "timeout" in lowered or "timed out" in lowered:
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
    if action != "connect" and ((sqlstate or "").startswith("08") or "link failure" in lowered
                                or re.search(r"connection (has been |was )?(lost|closed|terminated)|terminating "
                                             r"(the )?connection", lowered)):
        # The server rolls back whatever was not committed when a session ends;
        # only a loss during the commit itself leaves the outcome unknown.
        outcome = ("whether the reset was committed is unknown: run state=status to see, or run again"
                   if action == "committing the reset" else "nothing was committed; run again")
        return "%s on %s failed: the connection was lost (%s); %s" % (action, where, text, outcome)
    if action == "connect" and re.search(r"certificate|\bssl\b|\btls\b|handshake", lowered):
        # ODBC Driver 18 encrypts by default, so an untrusted certificate is the likeliest first error.
        return ("cannot connect to %s: the server's certificate is not trusted (%s): install the CA that signed it "
                "on the controller or in the execution environment, or set the option trust_server_certificate to "
                "true" % (where, text))
    if action == "connect" or (sqlstate or "").startswith("08"):
        return "cannot connect to %s: %s. Check server, port and network" % (where, text)
    return "%s on %s failed: %s%s" % (action, where, text, " (SQLSTATE %s)" % sqlstate if sqlstate else "")


def is_missing_table(exc):
    """True when a driver error says, by ODBC's own SQLSTATE, that a table does not exist.

    For drivers that say it only in words of their own, the tables a failed statement
    names are probed instead (``MigrationTable.missing_tables``).
    """
    return _driver_text(exc)[0] == "42S02"


def sqlstate_of(exc):
    """The SQLSTATE of a pyodbc error, or None."""
    return _driver_text(exc)[0]


def may_be_missing_table(sqlstate):
    """Whether an error of this SQLSTATE may be a missing table told in a driver's own words.

    Class 42 (syntax error or access rule violation) and the general HY000 may be;
    a lost connection, a timeout or a login may not, and probing then would mislead.
    """
    return sqlstate is not None and (sqlstate.startswith("42") or sqlstate == "HY000")


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
        # Some drivers (psqlODBC among them) refuse the query-timeout attribute;
        # their own keyword for it can be given in connect_params.
        pass
    return connection
