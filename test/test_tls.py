"""Certificate verification against a real HTTPS server on 127.0.0.1 with trustme certificates."""

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import trustme
import urllib3

import litepolis_client._retry
from litepolis_client import (
    ApiClient,
    APIKeysApi,
    ApiTypeError,
    Configuration,
    DefaultApi,
    ResponseMessage,
    RetryPolicy,
    TLSError,
)

HEALTH_PATH = "/api/v1/public/"
RENEWAL_PATH = "/api/v1/secure/users/renew"
CALLER_KEY = "5e0c1b7a-2f4d-4c8e-9a6b-3d2e1f0a9b8c"
RENEWED_KEY = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"

HEALTH_BODY = b'{"detail": "OK"}'
RENEWAL_BODY = (
    '{"detail":"%s","error":null,"message":"New API Key","status_code":200}' % RENEWED_KEY
).encode("ascii")


class TLSServer(ThreadingHTTPServer):
    """An HTTPS server that counts TCP connections and records the requests that arrive."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), CannedHandler)
        self.context = context
        # One TLS handshake is attempted per accepted connection.
        self.connections = 0
        self.request_lines: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"

    def get_request(self) -> tuple[ssl.SSLSocket, Any]:
        sock, address = self.socket.accept()
        with self.lock:
            self.connections += 1

        # The handshake runs here. socketserver drops a connection whose
        # get_request raises OSError, and ssl.SSLError is an OSError.
        sock.settimeout(5)
        try:
            return self.context.wrap_socket(sock, server_side=True), address
        except OSError:
            sock.close()
            raise


class CannedHandler(BaseHTTPRequestHandler):
    """Respond to the health check and the key renewal with fixed LitePolis bodies."""

    protocol_version = "HTTP/1.1"
    server: TLSServer

    def do_GET(self) -> None:
        self._answer(HEALTH_PATH, HEALTH_BODY)

    def do_PUT(self) -> None:
        self._answer(RENEWAL_PATH, RENEWAL_BODY)

    def _answer(self, path: str, body: bytes) -> None:
        with self.server.lock:
            self.server.request_lines.append(self.requestline)
        if self.path != path:
            body = b'{"detail": "Not Found"}'
            self.send_response(404)
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # Keep the test output free of access logs.
        pass


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_pem_path(ca, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def start_server(ca: trustme.CA, host_name: str) -> TLSServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(host_name).configure_cert(context)
    server = TLSServer(context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    server.thread = thread
    return server


def stop_server(server: TLSServer) -> None:
    server.shutdown()
    server.server_close()
    server.thread.join()


@pytest.fixture
def server(ca) -> Iterator[TLSServer]:
    """An HTTPS server whose certificate is valid for 127.0.0.1."""
    server = start_server(ca, "127.0.0.1")
    yield server
    stop_server(server)


@pytest.fixture
def other_host_server(ca) -> Iterator[TLSServer]:
    """An HTTPS server on 127.0.0.1 whose certificate names another host."""
    server = start_server(ca, "other.example")
    yield server
    stop_server(server)


@pytest.fixture
def retry_events(monkeypatch) -> list[Any]:
    """Record each retry and each backoff sleep instead of waiting."""
    events: list[Any] = []
    monkeypatch.setattr(litepolis_client._retry, "sleep", events.append)
    return events


def configure(server: TLSServer, events: list[Any], **tls: Any) -> Configuration:
    # Three attempts, so a retry of a TLS failure would be possible and seen.
    retry = RetryPolicy(max_attempts=3, on_retry=events.append)
    return Configuration(host=server.url, api_key={"APIKeyHeader": CALLER_KEY}, retry=retry, **tls)


def check_health(configuration: Configuration) -> Any:
    with ApiClient(configuration) as client:
        return DefaultApi(client).get_testroute_api_v1_public_get()


def renew(configuration: Configuration) -> ResponseMessage:
    with ApiClient(configuration) as client:
        return APIKeysApi(client).update_usertoken_api_v1_secure_users_renew_put()


CALLS = [
    pytest.param(check_health, id="get-health"),
    pytest.param(renew, id="put-renewal"),
]


# Trusted certificates.


def test_ca_file_health_ok(server, ca_pem_path, retry_events):
    configuration = configure(server, retry_events, ssl_ca_cert=ca_pem_path)

    assert check_health(configuration) == {"detail": "OK"}


def test_ca_file_renewal_ok(server, ca_pem_path, retry_events):
    configuration = configure(server, retry_events, ssl_ca_cert=ca_pem_path)

    response = renew(configuration)

    assert response.detail == RENEWED_KEY
    assert server.request_lines == [f"PUT {RENEWAL_PATH} HTTP/1.1"]


def test_ca_text_health_ok(server, ca, retry_events):
    configuration = configure(server, retry_events, ca_cert_data=ca.cert_pem.bytes().decode("ascii"))

    assert check_health(configuration) == {"detail": "OK"}


def test_ca_bytes_health_ok(server, ca, retry_events):
    configuration = configure(server, retry_events, ca_cert_data=ca.cert_pem.bytes())

    assert check_health(configuration) == {"detail": "OK"}


# Untrusted certificates.


def test_verification_on_by_default():
    assert Configuration().verify_ssl is True


@pytest.mark.parametrize("call", CALLS)
def test_unknown_ca_raises_tls_error(server, retry_events, call):
    configuration = configure(server, retry_events)

    with pytest.raises(Exception) as excinfo:
        call(configuration)

    # Exactly TLSError: nothing was sent, so a renewal's outcome is known.
    error = excinfo.value
    assert type(error) is TLSError
    assert error.request_sent is False
    assert isinstance(error.__cause__, urllib3.exceptions.SSLError)
    assert "certificate" in str(error)
    assert "Configuration.ssl_ca_cert" in str(error)
    assert CALLER_KEY not in str(error)
    assert server.request_lines == []


@pytest.mark.parametrize("call", CALLS)
def test_tls_failure_not_retried(server, retry_events, call):
    configuration = configure(server, retry_events)

    with pytest.raises(TLSError):
        call(configuration)

    assert server.connections == 1
    assert retry_events == []


def test_other_host_cert_rejected(other_host_server, ca_pem_path, retry_events):
    configuration = configure(other_host_server, retry_events, ssl_ca_cert=ca_pem_path)

    with pytest.raises(TLSError) as excinfo:
        check_health(configuration)

    assert isinstance(excinfo.value.__cause__, urllib3.exceptions.SSLError)
    assert "127.0.0.1" in str(excinfo.value)
    assert other_host_server.connections == 1
    assert other_host_server.request_lines == []


def test_other_ca_rejected(server, retry_events):
    other_ca_pem = trustme.CA().cert_pem.bytes().decode("ascii")
    configuration = configure(server, retry_events, ca_cert_data=other_ca_pem)

    with pytest.raises(TLSError):
        check_health(configuration)

    assert server.request_lines == []


def test_hostname_check_off_keeps_chain_check(server, retry_events):
    # assert_hostname=False skips only the name match; the CA must still be trusted.
    configuration = configure(server, retry_events, assert_hostname=False)

    with pytest.raises(TLSError):
        check_health(configuration)

    assert server.request_lines == []


# Turning verification off.


@pytest.mark.parametrize("call", CALLS)
def test_verify_off_skips_verification(server, retry_events, call):
    configuration = configure(server, retry_events, verify_ssl=False)

    with pytest.warns(urllib3.exceptions.InsecureRequestWarning):
        call(configuration)

    assert len(server.request_lines) == 1


# None is the easiest value to pass by accident, for example from an unset
# environment variable. It must not turn verification off.
@pytest.mark.parametrize("value", [None, 0, ""])
def test_falsy_verify_ssl_rejected(server, retry_events, value):
    with pytest.raises(ApiTypeError) as excinfo:
        configure(server, retry_events, verify_ssl=value)

    assert "verify_ssl" in str(excinfo.value)


@pytest.mark.parametrize("value", [None, 0, ""])
def test_falsy_verify_ssl_assignment_rejected(value):
    configuration = Configuration(host="https://127.0.0.1:9")

    with pytest.raises(ApiTypeError):
        configuration.verify_ssl = value

    assert configuration.verify_ssl is True
