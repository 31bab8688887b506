# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP GETs to a Generate install's web and background apps: read-only probes, and run and cancel requests.

The probes here (``probe``, ``probe_web``, ``probe_background``) serve the
action plugin ``app_status`` (which probes from the controller's worker
process, starting no module process) and the module of the same name. They
request only read-only pages: the web app's version and report status pages
and the background app's root page.

``AppClient`` itself sends a GET of whatever path it is given. migration_run
(behind ceds.generate.migration_run) uses it to request the background app's
``/api/DataMigration/MigrateData/{type}`` and ``.../MigrateData/Cancel/{type}``
URLs, which start or cancel a migration.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import socket

from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit, urlunsplit

from ansible.module_utils.urls import Request, make_context

VERSION_PATH = "/api/app/about/getvers"
BACKGROUND_PATH = "/"
REPORT_STATUS_PATH = "/api/app/datamigrations/currentmigrationstatus"
# Longest part of an app's own error text kept in a message, so a reason stays one readable line.
SERVER_TEXT_LIMIT = 200


MODULE_NAME = "ceds.generate.app_status"


def argument_rules():
    """The module's mutually_exclusive, required_together, ... rules: none."""
    return {}


def argument_spec():
    """The options of ceds.generate.app_status, shared by the action plugin and the module."""
    return dict(
        web_url=dict(type="str"),
        background_url=dict(type="str"),
        report_status=dict(type="bool", default=False),
        database_report_status=dict(type="str"),
        after_reset=dict(type="bool", default=False),
        timeout=dict(type="int", default=10),
        validate_certs=dict(type="bool", default=True),
    )


# One TLS context per process and validate_certs setting (see tls_context).
_TLS_CONTEXTS = {}


def tls_context(validate_certs=True):
    """The TLS context of the probes' requests, built once per process and setting.

    Building one loads the CA bundle, which costs more CPU than a probe's requests;
    open_url would build one for every request, even to an http URL.
    """
    context = _TLS_CONTEXTS.get(validate_certs)
    if context is None:
        context = _TLS_CONTEXTS[validate_certs] = make_context(validate_certs=validate_certs)
    return context


def open_url(url, method="GET", validate_certs=True, **kwargs):
    """ansible.module_utils.urls.open_url, with the process's shared TLS context."""
    return Request().open(method, url, validate_certs=validate_certs, context=tls_context(validate_certs), **kwargs)


class RequestFailed(Exception):
    """A request got no usable answer; the message is one line naming the app, the URL and what went wrong.

    ``result`` holds what was learned before the failure, for the task's result.
    """

    def __init__(self, message, result=None):
        super(RequestFailed, self).__init__(message)
        self.result = result or {}


def one_line(text, limit=SERVER_TEXT_LIMIT):
    """Text on one line, shortened to ``limit`` characters."""
    text = " ".join(("%s" % text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def base_url(url):
    """The app's base URL without trailing slashes."""
    return url.rstrip("/")


def without_credentials(url):
    """The URL as it may be shown: without a user or password written into it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "the URL given"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = "[%s]" % host
    netloc = host + (":%d" % parts.port if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def connection_error(exc):
    """What stopped a request from getting an HTTP answer, in a few words."""
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, (socket.timeout, TimeoutError)) or "timed out" in ("%s" % reason):
        return "timed out"
    text = getattr(reason, "strerror", None) or "%s" % reason
    return one_line(text) or type(reason).__name__


def server_text(body):
    """The message an app put in an error answer, when it is JSON with one; else an empty string."""
    try:
        document = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return ""
    if isinstance(document, dict):
        for key in ("successMessage", "message", "title"):
            if document.get(key):
                return one_line(document[key])
    return ""


class AppClient:
    """GETs of one app's pages, each failure worded with the app's name and URL.

    The probes in this file ask it for read-only pages only; migration_run asks it
    for the background app's MigrateData URLs, which start or cancel a migration.
    """

    def __init__(self, app, url, timeout=10, validate_certs=True, opener=open_url):
        self.app = app
        self.url = base_url(url)
        # What messages and results show; the request itself uses the URL as given.
        self.shown_url = without_credentials(self.url)
        self.timeout = timeout
        self.validate_certs = validate_certs
        self.opener = opener

    def fail(self, text, status=None):
        """Raise RequestFailed with ``text`` prefixed by the app and its URL."""
        raise RequestFailed("%s app %s: %s" % (self.app, self.shown_url, text),
                            {"url": self.shown_url, "status": status, "ok": False})

    def get(self, path):
        """GET ``path``: ``(HTTP status, body bytes)``; anything but HTTP 200 raises RequestFailed."""
        failure = None
        try:
            response = self.opener(self.url + path, method="GET", timeout=self.timeout,
                                   validate_certs=self.validate_certs, follow_redirects="safe",
                                   headers={"Accept": "application/json, text/html"})
            status = response.getcode()
            body = response.read()
        except HTTPError as exc:
            body = b""
            try:
                body = exc.read()
            except Exception:  # pylint: disable=broad-except
                pass
            detail = server_text(body)
            failure = ("HTTP %s from %s%s" % (exc.code, path, (": " + detail) if detail else ""), exc.code)
        except (URLError, socket.error, socket.timeout) as exc:
            failure = ("cannot connect for %s: %s" % (path, connection_error(exc)), None)
        except Exception as exc:  # pylint: disable=broad-except
            # open_url raises ValueError and others for a URL it cannot use; the user needs one line, not a traceback.
            failure = ("cannot request %s: %s" % (path, one_line(exc) or type(exc).__name__), None)
        # Raised outside the except blocks, so the failure carries no chained traceback.
        if failure is not None:
            self.fail(*failure)
        if status != 200:
            self.fail("HTTP %s from %s" % (status, path), status)
        return status, body

    def get_json(self, path):
        """GET ``path`` and parse its JSON: ``(HTTP status, document)``."""
        status, body = self.get(path)
        parsed = True
        try:
            document = json.loads(body.decode("utf-8"))
        except ValueError:
            parsed, document = False, None
        if not parsed:
            self.fail("%s answered HTTP %s without JSON" % (path, status), status)
        return status, document


def probe_web(url, report_status=False, timeout=10, validate_certs=True, opener=open_url):
    """Probe the web app: its database version, and with ``report_status`` what the report pages see.

    Returns ``{url, status, ok, database_version}`` (plus ``report_migration_status`` when asked).
    """
    web = AppClient("web", url, timeout, validate_certs, opener)
    status, document = web.get_json(VERSION_PATH)
    version = document.get("successMessage") if isinstance(document, dict) else None
    if version is None or "%s" % version == "":
        web.fail("%s answered without a database version" % VERSION_PATH, status)
    result = {"url": web.shown_url, "status": status, "ok": True, "database_version": "%s" % version}
    if report_status:
        status, document = web.get_json(REPORT_STATUS_PATH)
        if not isinstance(document, dict) or "reportMigrationStatusCode" not in document:
            web.fail("%s answered without reportMigrationStatusCode" % REPORT_STATUS_PATH, status)
        result["report_migration_status"] = document["reportMigrationStatusCode"]
    return result


def probe_background(url, timeout=10, validate_certs=True, opener=open_url):
    """Probe the background app (Hangfire) at its root page: ``{url, status, ok}``."""
    background = AppClient("background", url, timeout, validate_certs, opener)
    status, _body = background.get(BACKGROUND_PATH)
    return {"url": background.shown_url, "status": status, "ok": True}


def check_report_status(result, database_status, after_reset):
    """Fail unless the report pages see the report step as the database has it, and as success after a reset."""
    seen = result["report_migration_status"]
    if seen != database_status or (after_reset and seen != "success"):
        raise RequestFailed("the report pages see the report step as %s but the database says %s%s"
                            % (seen, database_status, "; after a reset both must say success" if after_reset else ""),
                            result)


def probe(params, opener=open_url):
    """Probe the apps that ``params`` (the options of ceds.generate.app_status) name.

    The web app first, then the background app. Returns the task result:
    ``web`` and ``background`` (each only when its URL is given) and, with
    ``report_status``, ``report_migration_status``. Raises RequestFailed, whose
    ``result`` holds the apps probed so far, at the first app that fails.
    """
    if params.get("report_status") and not params.get("web_url"):
        raise RequestFailed("report_status needs web_url: the report pages' status comes from the web app")
    compare = params.get("database_report_status") is not None or params.get("after_reset")
    if compare and not params.get("report_status"):
        raise RequestFailed("database_report_status and after_reset need report_status: true, which reads what "
                            "the report pages see")
    if params.get("timeout") is not None and params["timeout"] <= 0:
        raise RequestFailed("timeout must be a positive number of seconds, not %s" % params["timeout"])
    timeout = params.get("timeout") or 10
    validate_certs = params.get("validate_certs", True)
    result = {}
    if params.get("web_url"):
        try:
            web = probe_web(params["web_url"], params.get("report_status"), timeout, validate_certs, opener)
        except RequestFailed as exc:
            exc.result = {"web": exc.result}
            raise
        if "report_migration_status" in web:
            result["report_migration_status"] = web.pop("report_migration_status")
        result["web"] = web
        if compare:
            check_report_status(result, params.get("database_report_status"), params.get("after_reset"))
    if params.get("background_url"):
        try:
            result["background"] = probe_background(params["background_url"], timeout, validate_certs, opener)
        except RequestFailed as exc:
            exc.result = dict(result, background=exc.result)
            raise
    return result
