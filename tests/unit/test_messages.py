"""The words a user reads: one clear line, what to do about a certificate, no URL credentials, no doubled marks."""

from __future__ import annotations

import ast
import os
import re

import pytest

from ansible.module_utils.six.moves.urllib.error import URLError

from ansible_collections.ceds.generate.plugins.module_utils import app_client, connection

PLUGINS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "plugins")
DOUBLED_PUNCTUATION = re.compile(r"(?<!\.)[.,;:]\s*[.,;:](?!\.)")
OPTIONS = {"server": "sql01", "database": "generate", "username": "ops", "connect_timeout": 15, "query_timeout": 60}


class DriverError(Exception):
    """A pyodbc.Error as the driver raises it: (SQLSTATE, message)."""


def message_templates():
    """Every string literal of plugins/ that is a message: text with a space, rendered with sample values."""
    found = []
    for folder, _dirs, files in os.walk(PLUGINS):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as handle:
                tree = ast.parse(handle.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and " " in node.value:
                    if node.value.lstrip().startswith(("#", "-", "\n")) or "DOCUMENTATION" in node.value:
                        continue
                    rendered = re.sub(r"%(\([a-z_]+\))?[-0-9.]*[sdr]", "value", node.value)
                    found.append(("%s:%d" % (os.path.relpath(path, PLUGINS), node.lineno), rendered))
    return found


MESSAGES = [entry for entry in message_templates() if "\n" not in entry[1].strip()]


def test_there_are_messages_to_scan():
    assert len(MESSAGES) > 100


@pytest.mark.parametrize("where, text", MESSAGES, ids=[where for where, _text in MESSAGES])
def test_no_message_has_doubled_punctuation(where, text):
    # SQL text and JSON are not messages; their punctuation is their own.
    if re.search(r'\bSELECT\b|\bFROM\b|"\w+"\."|\{"', text):
        return
    assert not DOUBLED_PUNCTUATION.search(text), "%s: %r" % (where, text)


@pytest.mark.parametrize("driver_text", [
    "[Microsoft][ODBC Driver 18 for SQL Server]SSL Provider: [error:0A000086:SSL routines::certificate verify "
    "failed:self-signed certificate] (-1) (SQLDriverConnect)",
    "[Microsoft][ODBC Driver 18 for SQL Server]TCP Provider: Error code 0x2746. (10054)",
])
def test_a_certificate_failure_says_what_to_do_about_the_certificate(driver_text):
    message = connection.describe_error(DriverError("08001", driver_text), "connect", OPTIONS)
    if "certificate" in driver_text:
        assert message.startswith("cannot connect to sql01/generate: the server's certificate is not trusted (")
        assert message.endswith("install the CA that signed it on the controller or in the execution environment, "
                                "or set the option trust_server_certificate to true")
    else:
        assert message == ("cannot connect to sql01/generate: TCP Provider: Error code 0x2746. Check server, port "
                           "and network")
    assert not DOUBLED_PUNCTUATION.search(message)


def test_a_driver_sentence_ending_in_a_period_is_not_doubled():
    message = connection.describe_error(DriverError("42000", "The SELECT permission was denied on the object 'Job'."),
                                        "reading Hangfire's state", OPTIONS)
    assert "'Job'. Grant the login" in message and ".." not in message


@pytest.mark.parametrize("url", ["https://admin:s3cret@generate.example.org:8443", "http://admin@generate.example.org"])
def test_probe_messages_and_results_never_show_a_urls_user_or_password(url):
    def refused(*_args, **_kwargs):
        raise URLError(ConnectionRefusedError(111, "Connection refused"))
    with pytest.raises(app_client.RequestFailed) as failed:
        app_client.probe_web(url, opener=refused)
    shown = "%s %s" % (failed.value, failed.value.result)
    assert "admin" not in shown and "s3cret" not in shown
    assert "generate.example.org" in shown
