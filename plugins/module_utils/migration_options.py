# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of the migration modules beyond the connection: how to read Hangfire's state, and limits."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ceds.generate.plugins.module_utils import hangfire_state, migration_plan, statements
from ansible_collections.ceds.generate.plugins.module_utils.connection_options import resolve_connection
from ansible_collections.ceds.generate.plugins.module_utils.connection_string import OptionsError

MAX_STUCK_AFTER = 30 * 24 * 3600


MAX_HISTORY_LINES = 100


MAX_AUDIT_NOTE = 500


MIN_SERVER_TIMEOUT = 30


MAX_SERVER_TIMEOUT = 24 * 3600


HANGFIRE_CHOICES = ("auto", "required", "ignore")
# Generate's own value: the history lines reported per failed step.
DEFAULT_HISTORY_LINES = 5


def reading_argument_spec():
    """The options both migration modules take on how to read Generate's and Hangfire's state.

    ``stuck_after`` has no default here: without it the module takes Generate's own
    timeout for the installed version, which only the database can tell.
    """
    return dict(
        hangfire=dict(type="str", default="auto", choices=list(HANGFIRE_CHOICES)),
        hangfire_schema=dict(type="str", default=statements.HANGFIRE_SCHEMA),
        # Named server_timeout in 1.0.0, next to the connection option server: kept as a deprecated alias.
        hangfire_server_timeout=dict(type="int", default=hangfire_state.HANGFIRE_SERVER_TIMEOUT,
                                     aliases=["server_timeout"], deprecated_aliases=[dict(
                                         name="server_timeout", version="2.0.0", collection_name="ceds.generate")]),
        history_lines=dict(type="int", default=DEFAULT_HISTORY_LINES),
        stuck_after=dict(type="int"),
    )


def check_options(params, environ=None):
    """Validate the module's options and resolve the connection; return the effective options.

    ``environ`` is the environment the fallbacks read (the process's by default).
    Raises OptionsError with a one-line message naming the option and the fix.
    """
    if not statements.is_valid_schema(params.get("schema")):
        raise OptionsError(
            "schema %r is not a plain identifier: use letters, digits and underscores only "
            "(Generate's schema is App)" % (params.get("schema"),))
    if not statements.is_valid_schema(params.get("hangfire_schema")):
        raise OptionsError(
            "hangfire_schema %r is not a plain identifier: use letters, digits and underscores only "
            "(Hangfire's schema is HangFire)" % (params.get("hangfire_schema"),))
    stuck_after = params.get("stuck_after")
    if stuck_after is not None and not 0 <= stuck_after <= MAX_STUCK_AFTER:
        raise OptionsError(
            "stuck_after must be between 0 (no stuck detection) and %d seconds, got %d: "
            "Generate's own limit is %d (%d before 13.2)" % (
                MAX_STUCK_AFTER, stuck_after, migration_plan.STUCK_AFTER_FROM_13_2,
                migration_plan.STUCK_AFTER_BEFORE_13_2))
    timeout = params.get("hangfire_server_timeout")
    if timeout is not None and not MIN_SERVER_TIMEOUT <= timeout <= MAX_SERVER_TIMEOUT:
        raise OptionsError(
            "hangfire_server_timeout must be between %d and %d seconds, got %d: Hangfire's own is %d" % (
                MIN_SERVER_TIMEOUT, MAX_SERVER_TIMEOUT, timeout, hangfire_state.HANGFIRE_SERVER_TIMEOUT))
    lines = params.get("history_lines")
    if lines is not None and not 0 <= lines <= MAX_HISTORY_LINES:
        raise OptionsError(
            "history_lines must be between 0 and %d, got %d" % (MAX_HISTORY_LINES, lines))
    note = params.get("audit_note")
    if note is not None and len(note) > MAX_AUDIT_NOTE:
        raise OptionsError(
            "audit_note must be text of at most %d characters, got %d: shorten it" % (MAX_AUDIT_NOTE, len(note)))
    if note is not None and "\x00" in note:
        raise OptionsError("audit_note holds a NUL character, which no database stores: remove it")
    return resolve_connection(params, environ)
