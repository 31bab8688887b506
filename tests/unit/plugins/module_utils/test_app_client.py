"""The read-only app probes against real HTTP servers on 127.0.0.1: answers, failures, and the one-line messages."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.standin_app import HANGFIRE_PAGE, StandinApp

from ansible_collections.ceds.generate.plugins.module_utils import app_client

REPORT_STATUS = {"reportMigrationStatusCode": "pending", "reportLastMigrationTriggerDate": None,
                 "odsMigrationStatusCode": None, "rdsMigrationStatusCode": None}


def params(**given):
    base = dict(web_url=None, background_url=None, report_status=False, timeout=5, validate_certs=True)
    base.update(given)
    return base


@pytest.fixture
def web():
    """A web app answering getvers and currentmigrationstatus as Generate does."""
    app = StandinApp("web", {
        ("GET", "/api/app/about/getvers"): lambda: (200, {"successMessage": "13.1"}),
        ("GET", "/api/app/datamigrations/currentmigrationstatus"): lambda: (200, REPORT_STATUS),
    }).start()
    yield app
    app.stop()


@pytest.fixture
def background():
    """A background app serving the Hangfire dashboard at its root."""
    app = StandinApp("background", {("GET", "/"): lambda: (200, HANGFIRE_PAGE)}).start()
    yield app
    app.stop()


def web_failure(routes, **given):
    """Probe a web app serving ``routes``; return the failure message and the app's URL."""
    app = StandinApp("web", routes).start()
    try:
        return str(failure(web_url=app.url, **given)), app.url
    finally:
        app.stop()


def closed_port_url():
    """The URL of a port of 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return "http://127.0.0.1:%d" % probe.getsockname()[1]


def failure(**given):
    with pytest.raises(app_client.RequestFailed) as caught:
        app_client.probe(params(**given))
    return caught.value


def test_both_apps_answer(web, background):
    assert app_client.probe(params(web_url=web.url + "/", background_url=background.url)) == {
        "web": {"url": web.url, "status": 200, "ok": True, "database_version": "13.1"},
        "background": {"url": background.url, "status": 200, "ok": True},
    }
    assert web.requests == [("GET", "/api/app/about/getvers")]
    assert background.requests == [("GET", "/")]


def test_report_status_reads_what_the_report_pages_see(web):
    result = app_client.probe(params(web_url=web.url, report_status=True))
    assert result["report_migration_status"] == "pending"
    assert web.requests == [("GET", "/api/app/about/getvers"), ("GET", "/api/app/datamigrations/currentmigrationstatus")]


def test_report_status_that_agrees_with_the_database_passes(web):
    result = app_client.probe(params(web_url=web.url, report_status=True, database_report_status="pending"))
    assert result["report_migration_status"] == "pending"


def test_report_status_that_disagrees_with_the_database_fails_with_what_both_say(web):
    caught = failure(web_url=web.url, report_status=True, database_report_status="success")
    assert str(caught) == "the report pages see the report step as pending but the database says success"
    assert caught.result["report_migration_status"] == "pending" and caught.result["web"]["ok"] is True


def test_after_a_reset_the_report_pages_must_show_success_even_when_the_database_agrees(web):
    caught = failure(web_url=web.url, report_status=True, database_report_status="pending", after_reset=True)
    assert str(caught) == ("the report pages see the report step as pending but the database says pending; "
                           "after a reset both must say success")


def test_comparing_needs_report_status(web):
    for given in ({"database_report_status": "success"}, {"after_reset": True}):
        assert str(failure(web_url=web.url, **given)) == (
            "database_report_status and after_reset need report_status: true, which reads what the report pages see")
    assert web.requests == []


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):
    """A server-side TLS context with a certificate for 127.0.0.1 that no CA signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(folder / "cert.pem"), str(folder / "key.pem"))
    return context


def test_https_app_with_a_self_signed_certificate_passes_only_without_validation(self_signed):
    app = StandinApp("web", {("GET", "/api/app/about/getvers"): lambda: (200, {"successMessage": "13.1"})},
                     tls=self_signed).start()
    try:
        # Unverified first: the context shared by later requests must still verify when asked to.
        assert app_client.probe(params(web_url=app.url, validate_certs=False))["web"]["ok"] is True
        refused = str(failure(web_url=app.url, validate_certs=True))
        assert refused.startswith("web app %s: cannot connect for /api/app/about/getvers: " % app.url)
        assert "CERTIFICATE_VERIFY_FAILED" in refused and "\n" not in refused
        assert app_client.probe(params(web_url=app.url, validate_certs=False))["web"]["ok"] is True
    finally:
        app.stop()
    assert app.requests == [("GET", "/api/app/about/getvers")] * 2


def test_no_url_probes_nothing():
    assert app_client.probe(params()) == {}


def test_web_app_error_names_the_app_the_url_the_status_and_the_page(web, background):
    web.set_mode("error")
    exc = failure(web_url=web.url, background_url=background.url)
    assert str(exc) == "web app %s: HTTP 500 from /api/app/about/getvers: stand-in web app told to fail" % web.url
    assert exc.result == {"web": {"url": web.url, "status": 500, "ok": False}}
    assert background.requests == []


def test_generate_version_failure_message_is_kept_on_one_line():
    message, url = web_failure({("GET", "/api/app/about/getvers"): lambda: (
        500, {"successMessage": "Database connection failed:\nlogin timeout\r\n" + "x" * 500})})
    assert message.startswith("web app %s: HTTP 500 from /api/app/about/getvers: Database connection failed: login "
                              "timeout x" % url)
    assert "\n" not in message and message.endswith("...") and len(message) < 300


def test_web_app_down_names_the_connection_error():
    url = closed_port_url()
    exc = failure(web_url=url)
    assert str(exc) == "web app %s: cannot connect for /api/app/about/getvers: Connection refused" % url
    assert exc.result == {"web": {"url": url, "status": None, "ok": False}}


def test_background_app_down_keeps_the_web_app_answer(web):
    url = closed_port_url()
    exc = failure(web_url=web.url, background_url=url)
    assert str(exc) == "background app %s: cannot connect for /: Connection refused" % url
    assert exc.result["web"]["ok"] is True
    assert exc.result["background"] == {"url": url, "status": None, "ok": False}


def test_background_app_error(background):
    background.set_mode("error")
    assert str(failure(background_url=background.url)) == (
        "background app %s: HTTP 500 from /: stand-in background app told to fail" % background.url)


def test_version_without_a_database_version_fails():
    message, url = web_failure({("GET", "/api/app/about/getvers"): lambda: (200, {"successMessage": ""})})
    assert message == "web app %s: /api/app/about/getvers answered without a database version" % url


def test_html_where_json_is_expected_fails():
    message, url = web_failure({("GET", "/api/app/about/getvers"): lambda: (200, "<html>sign in</html>")})
    assert message == "web app %s: /api/app/about/getvers answered HTTP 200 without JSON" % url


def test_missing_page_is_named_with_its_status():
    message, url = web_failure({})
    assert message == "web app %s: HTTP 404 from /api/app/about/getvers: not found" % url


def test_report_status_without_report_code_fails():
    message, url = web_failure({
        ("GET", "/api/app/about/getvers"): lambda: (200, {"successMessage": "13.1"}),
        ("GET", "/api/app/datamigrations/currentmigrationstatus"): lambda: (200, ["unexpected"]),
    }, report_status=True)
    assert message == ("web app %s: /api/app/datamigrations/currentmigrationstatus answered without "
                       "reportMigrationStatusCode" % url)


def test_slow_app_times_out_with_one_line():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    url = "http://127.0.0.1:%d" % listener.getsockname()[1]
    try:
        message = str(failure(web_url=url, timeout=1))
    finally:
        listener.close()
    assert message == "web app %s: cannot connect for /api/app/about/getvers: timed out" % url


def test_url_without_a_scheme_fails_with_one_line():
    message = str(failure(web_url="generate.example.org"))
    assert message.startswith("web app generate.example.org: cannot request /api/app/about/getvers: ")
    assert "\n" not in message


def test_report_status_needs_the_web_url(background):
    assert str(failure(background_url=background.url, report_status=True)) == (
        "report_status needs web_url: the report pages' status comes from the web app")
    assert background.requests == []


def test_timeout_must_be_positive():
    assert str(failure(web_url="http://127.0.0.1:1", timeout=0)) == (
        "timeout must be a positive number of seconds, not 0")


def test_probes_never_request_urls_that_start_or_cancel_migrations(web, background):
    app_client.probe(params(web_url=web.url, background_url=background.url, report_status=True))
    for _method, path in web.requests + background.requests:
        assert not path.lower().startswith("/api/datamigration/")
