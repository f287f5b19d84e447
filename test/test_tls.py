"""Certificate verification against a real HTTPS server on 127.0.0.1 with trustme certificates."""

import ssl
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
import urllib3
from recording import RecordingServer, Reply, Request

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


CANNED_BODIES = {("GET", HEALTH_PATH): HEALTH_BODY, ("PUT", RENEWAL_PATH): RENEWAL_BODY}


def canned_reply(request: Request) -> Reply:
    """Respond to the health check and the key renewal with fixed LitePolis bodies, to anything else with 404."""
    body = CANNED_BODIES.get((request.method, request.path))
    return Reply(404, b'{"detail": "Not Found"}') if body is None else Reply(body=body)


def request_lines(server: RecordingServer) -> list[str]:
    return [request.line for request in server.requests]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_pem_path(ca, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def tls_server(ca: trustme.CA, host_name: str) -> RecordingServer:
    """Return an HTTPS server on 127.0.0.1 whose certificate, issued by `ca`, names `host_name`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(host_name).configure_cert(context)
    return RecordingServer(canned_reply, tls=context)


@pytest.fixture
def server(ca) -> Iterator[RecordingServer]:
    """An HTTPS server whose certificate is valid for 127.0.0.1."""
    with tls_server(ca, "127.0.0.1") as server:
        yield server


@pytest.fixture
def other_host_server(ca) -> Iterator[RecordingServer]:
    """An HTTPS server on 127.0.0.1 whose certificate names another host."""
    with tls_server(ca, "other.example") as server:
        yield server


@pytest.fixture
def retry_events(monkeypatch) -> list[Any]:
    """Record each retry and each backoff sleep instead of waiting."""
    events: list[Any] = []
    monkeypatch.setattr(litepolis_client._retry, "sleep", events.append)
    return events


def configure(server: RecordingServer, events: list[Any], **tls: Any) -> Configuration:
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
    assert request_lines(server) == [f"PUT {RENEWAL_PATH} HTTP/1.1"]


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
    assert request_lines(server) == []


@pytest.mark.parametrize("call", CALLS)
def test_tls_failure_not_retried(server, retry_events, call):
    configuration = configure(server, retry_events)

    with pytest.raises(TLSError):
        call(configuration)

    assert server.accepted == 1
    assert retry_events == []


def test_other_host_cert_rejected(other_host_server, ca_pem_path, retry_events):
    configuration = configure(other_host_server, retry_events, ssl_ca_cert=ca_pem_path)

    with pytest.raises(TLSError) as excinfo:
        check_health(configuration)

    assert isinstance(excinfo.value.__cause__, urllib3.exceptions.SSLError)
    assert "127.0.0.1" in str(excinfo.value)
    assert other_host_server.accepted == 1
    assert request_lines(other_host_server) == []


def test_other_ca_rejected(server, retry_events):
    other_ca_pem = trustme.CA().cert_pem.bytes().decode("ascii")
    configuration = configure(server, retry_events, ca_cert_data=other_ca_pem)

    with pytest.raises(TLSError):
        check_health(configuration)

    assert request_lines(server) == []


def test_hostname_check_off_keeps_chain_check(server, retry_events):
    # assert_hostname=False skips only the name match; the CA must still be trusted.
    configuration = configure(server, retry_events, assert_hostname=False)

    with pytest.raises(TLSError):
        check_health(configuration)

    assert request_lines(server) == []


# Turning verification off.


@pytest.mark.parametrize("call", CALLS)
def test_verify_off_skips_verification(server, retry_events, call):
    configuration = configure(server, retry_events, verify_ssl=False)

    with pytest.warns(urllib3.exceptions.InsecureRequestWarning):
        call(configuration)

    assert len(request_lines(server)) == 1


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
