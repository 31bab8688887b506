# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ODBC connection strings: built for a driver's dialect, parsed, and kept out of every message.

No module builds a connection string or quotes a value itself; they all come
through here, so that secrets are found and removed in one place.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.common.parameters import remove_values

try:
    from ansible.module_utils.secrets import register_secrets
except ImportError:  # ansible-core before 2.22: no secret masker; a module's no_log values are replaced in its result
    register_secrets = None

APPLICATION_NAME = "ceds.generate"


DEFAULT_PORT = 1433
# A keyword of connect_params: a plain name, as every driver's keywords are.
CONNECT_PARAM_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_ ]{0,63}")
# Keywords that carry a password, which only password (or connection_string) may give.
SECRET_KEYS = ("pwd", "password")


class OptionsError(Exception):
    """A module's options cannot be used as given; the text says which one and what to change."""


class ConnectionOptionsError(OptionsError):
    """The connection options cannot be used as given; the text says what to change."""


def driver_kind(driver):
    """Which connection-string dialect a driver speaks: microsoft, freetds or generic."""
    name = (driver or "").lower()
    if re.search(r"odbc driver \d+ for sql server", name):
        return "microsoft"
    if "freetds" in name or "tds" == name:
        return "freetds"
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
    taken = set(key.lower() for key, _value in pairs)
    for key, value in sorted((options.get("connect_params") or {}).items()):
        if not CONNECT_PARAM_KEY.fullmatch(key) or key.lower() in taken or key.lower() in SECRET_KEYS:
            raise ConnectionOptionsError(
                "connect_params key %r is not one the module leaves to you: give another keyword of the driver, such "
                "as MultiSubnetFailover; DRIVER, SERVER, PORT, DATABASE, UID, PWD and %s are set by their options"
                % (key, ", ".join(sorted(taken - set(("driver", "server", "port", "database", "uid", "pwd"))))))
        if isinstance(value, bool):
            value = "yes" if value else "no"
        pairs.append((key, escape_value(value)))
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


def mask_everywhere(secrets):
    """Register the secrets with ansible-core's secret masker, which hides them wherever a result or message is
    shown (2.22 and later, which no longer replaces a module's no_log values in its result); whether it did."""
    if register_secrets is None:
        return False
    register_secrets(["%s" % secret for secret in secrets if secret])
    return True


def hide_secrets(value, secrets):
    """``value`` with the secrets hidden as this ansible-core hides a module's no_log values in its result.

    Before 2.22 each secret is replaced in the value, as AnsibleModule replaces
    them (remove_values); from 2.22 they are registered with the secret masker
    and the value is returned as it is, as a module process returns it.
    """
    if mask_everywhere(secrets):
        return value
    return remove_values(value, secrets)


def scrub(message, secrets):
    """Remove secrets from a message and fold it onto one line."""
    text = "%s" % message
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "********")
            text = text.replace(escape_value(secret), "********")
    return " ".join(text.split())
