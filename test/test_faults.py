"""The client against servers that stall, reset, trickle, flood or send unreadable responses.
No test sleeps for a retry: an autouse fixture records the delays instead."""

import email.utils
import json
import logging
import time
import tracemalloc
import types
from typing import Any, Callable, List, Optional

import pydantic
import pytest
import urllib3.exceptions
from faultservers import (
    ScriptedServer,
    close_without_response,
    closed_port,
    gzip_bomb,
    half_body_then_reset,
    huge_body,
    json_response,
    raw,
    reset,
    respond,
    response_head,
    silent,
    trickle,
    trickle_head,
)

import litepolis_client._retry
from litepolis_client import (
    ApiClient,
    ApiConnectionError,
    APIKeysApi,
    Configuration,
    ConversationModel,
    ConversationsApi,
    DefaultApi,
    InvalidResponseError,
    LitePolisError,
    ReadTimeoutError,
    RenewalOutcomeUnknownError,
    ResponseTooLargeError,
    RetryEvent,
    RetryPolicy,
    ServiceException,
    Timeout,
    TooManyRequestsException,
    TransportError,
    UserApi,
    UserProfile,
)

OLD_KEY = "0f3c2b9e-6a51-4d7c-9f0e-1b2a3c4d5e6f"
MIB = 1024 * 1024
HUGE_BODY_BYTES = 200 * MIB
DEFAULT_MAX_RESPONSE_BYTES = 16 * MIB
PEAK_MEMORY_LIMIT_BYTES = 64 * MIB
FAST_TIMEOUT = Timeout(connect=1.0, read=1.0)
# Fixed "now" for Retry-After dates: 2023-11-14 22:13:20 UTC.
FROZEN_NOW = 1_700_000_000.0

HTML_TAG_START = "<"
RENEWAL_REQUEST_LINE = "PUT /api/v1/secure/users/renew HTTP/1.1"
OK_DOCUMENT = {"detail": "ok"}
JSON = "application/json"

MULTI_LINE_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
SINGLE_LINE_HTML = b"<html><body><h1>500 Internal Server Error</h1></body></html>"


# Operations, each sent through the real generated API classes.


def get_public(client: ApiClient) -> Any:
    """GET /api/v1/public/: replay-safe, schema {} (any JSON)."""
    return DefaultApi(client).get_testroute_api_v1_public_get_with_http_info()


def get_message(client: ApiClient) -> Any:
    """GET /api/v1/secure/: replay-safe, returns a ResponseMessage."""
    return UserApi(client).get_testroute_api_v1_secure_get_with_http_info()


def delete_conversation(client: ApiClient) -> Any:
    """DELETE /api/v1/secure/conversations/7: replay-safe, schema {}."""
    return ConversationsApi(client).delete_conversation_api_v1_secure_conversations_cid_delete_with_http_info(7)


def renew_key(client: ApiClient) -> Any:
    """PUT /api/v1/secure/users/renew: never replayed, replaces the caller's key."""
    return APIKeysApi(client).update_usertoken_api_v1_secure_users_renew_put()


def create_profile(client: ApiClient) -> Any:
    """POST /api/v1/secure/users/profile: never replayed, replaces the caller's key."""
    profile = UserProfile(email="ada@example.org", password="correct horse battery")
    return UserApi(client).create_userprofile_api_v1_secure_users_profile_post(profile)


def create_conversation(client: ApiClient) -> Any:
    """POST /api/v1/secure/conversations: never replayed, keeps the caller's key."""
    conversation = ConversationModel(title="Fault test", description="Created by test_faults")
    return ConversationsApi(client).create_conversation_api_v1_secure_conversations_post(conversation)


Operation = Callable[[ApiClient], Any]


# Helpers.


@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch) -> List[float]:
    """Record every retry delay instead of sleeping, so no test here waits for a backoff."""
    delays: List[float] = []
    monkeypatch.setattr(litepolis_client._retry, "sleep", delays.append)
    return delays


def make_client(
    server_url: str,
    *,
    retry: Optional[RetryPolicy] = None,
    timeout: Timeout = FAST_TIMEOUT,
    **settings: Any,
) -> ApiClient:
    configuration = Configuration(
        host=server_url,
        api_key={"APIKeyHeader": OLD_KEY},
        timeout=timeout,
        retry=retry if retry is not None else RetryPolicy(),
        **settings,
    )
    return ApiClient(configuration)


def call_failing(operation: Operation, client: ApiClient) -> "tuple[LitePolisError, float]":
    """Run `operation`, expecting a LitePolisError, and return it with the seconds the call took.

    Any other exception propagates and fails the test.
    """
    started = time.monotonic()
    with pytest.raises(LitePolisError) as info:
        operation(client)
    return info.value, time.monotonic() - started


def json_head(body_length: int, status: int = 200) -> bytes:
    """Return a JSON response head that declares `body_length` body bytes."""
    return response_head(status, {"Content-Type": "application/json"}, content_length=body_length)


# Silent server.


@pytest.mark.parametrize(
    ("operation", "retry", "expected"),
    [
        pytest.param(get_public, RetryPolicy.disabled(), ReadTimeoutError, id="get-no-retries"),
        # Default policies: these two are never sent twice anyway.
        pytest.param(renew_key, None, RenewalOutcomeUnknownError, id="renewal"),
        pytest.param(create_conversation, None, ReadTimeoutError, id="create-conversation"),
    ],
)
def test_silent_server_times_out(operation: Operation, retry: Optional[RetryPolicy], expected: type) -> None:
    with ScriptedServer(silent()) as server, make_client(server.url, retry=retry, timeout=Timeout(1.0, 0.5)) as client:
        error, elapsed = call_failing(operation, client)

    assert type(error) is expected
    assert elapsed < 3.0
    assert server.request_count == 1
    timeout_error = error if expected is ReadTimeoutError else error.__cause__
    assert type(timeout_error) is ReadTimeoutError
    assert isinstance(timeout_error.__cause__, urllib3.exceptions.ReadTimeoutError)
    assert timeout_error.request_sent is True


def test_silent_server_get_retried(sleeps: List[float]) -> None:
    with ScriptedServer(silent()) as server, make_client(server.url, timeout=Timeout(1.0, 0.5)) as client:
        error, elapsed = call_failing(get_public, client)

    assert type(error) is ReadTimeoutError
    assert server.request_count == 3
    assert len(sleeps) == 2
    assert elapsed < 5.0


# Connection reset or closed without a complete response.


def test_reset_get_retried_then_raises(sleeps: List[float]) -> None:
    with ScriptedServer(reset()) as server, make_client(server.url) as client:
        error, _ = call_failing(get_public, client)

    assert type(error) is ApiConnectionError
    assert isinstance(error.__cause__, urllib3.exceptions.ProtocolError)
    assert error.request_sent is True
    assert server.request_count == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        pytest.param(renew_key, RenewalOutcomeUnknownError, id="renewal"),
        # Registration returns the caller's next key, so it is a renewal too.
        pytest.param(create_profile, RenewalOutcomeUnknownError, id="create-profile"),
        pytest.param(create_conversation, ApiConnectionError, id="create-conversation"),
    ],
)
def test_reset_never_replayed(operation: Operation, expected: type, sleeps: List[float]) -> None:
    with ScriptedServer(reset()) as server, make_client(server.url) as client:
        error, _ = call_failing(operation, client)

    assert type(error) is expected
    assert server.request_count == 1
    assert sleeps == []
    connection_error = error if expected is ApiConnectionError else error.__cause__
    assert type(connection_error) is ApiConnectionError
    assert connection_error.request_sent is True


@pytest.mark.parametrize(
    "action",
    [
        pytest.param(half_body_then_reset(200, json.dumps(OK_DOCUMENT).encode()), id="half-body-reset"),
        pytest.param(close_without_response(), id="close-without-response"),
        # Content-Length promises more than arrives before the FIN.
        pytest.param(raw(json_head(40) + b'{"detail": "o'), id="short-content-length"),
    ],
)
def test_broken_response_get_retried(action: Callable, sleeps: List[float]) -> None:
    with ScriptedServer(action) as server, make_client(server.url) as client:
        error, _ = call_failing(get_public, client)

    assert type(error) is ApiConnectionError
    assert error.__cause__ is not None
    assert error.request_sent is True
    assert server.request_count == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    "action",
    [
        pytest.param(half_body_then_reset(200, json.dumps(OK_DOCUMENT).encode()), id="half-body-reset"),
        pytest.param(close_without_response(), id="close-without-response"),
    ],
)
def test_broken_response_post_sent_once(action: Callable, sleeps: List[float]) -> None:
    with ScriptedServer(action) as server, make_client(server.url) as client:
        error, _ = call_failing(create_conversation, client)

    assert type(error) is ApiConnectionError
    assert error.__cause__ is not None
    assert server.request_count == 1
    assert sleeps == []


def test_broken_response_recovers_on_retry() -> None:
    script = (half_body_then_reset(200, b'{"detail": "lost"}'), json_response(OK_DOCUMENT))
    with ScriptedServer(*script) as server, make_client(server.url) as client:
        response = get_public(client)

    assert response.data == OK_DOCUMENT
    assert server.request_count == 2


# Connection refused.


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(get_public, id="get"),
        # Nothing reached the server, so even the never-replayed ones are retried.
        pytest.param(renew_key, id="renewal"),
        pytest.param(create_conversation, id="create-conversation"),
    ],
)
def test_refused_connection_retried(operation: Operation, sleeps: List[float]) -> None:
    events: List[RetryEvent] = []
    policy = RetryPolicy(on_retry=events.append)
    with make_client(f"http://127.0.0.1:{closed_port()}", retry=policy) as client:
        error, elapsed = call_failing(operation, client)

    assert type(error) is ApiConnectionError
    assert error.request_sent is False
    assert isinstance(error.__cause__, urllib3.exceptions.NewConnectionError)
    assert [event.attempt for event in events] == [1, 2]
    assert len(sleeps) == 2
    assert elapsed < 3.0


# Responses the client cannot read.

HTML_PAGE = b"<!doctype html><html><body>Welcome</body></html>"
DEEP_NESTING = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    ("operation", "status", "body", "content_type", "cause"),
    [
        pytest.param(get_public, 200, HTML_PAGE, "text/html", None, id="html-page"),
        pytest.param(get_public, 200, HTML_PAGE, JSON, json.JSONDecodeError, id="html-as-json"),
        pytest.param(get_message, 200, HTML_PAGE, JSON, pydantic.ValidationError, id="html-as-json-model"),
        # Complete by Content-Length, but the document itself stops early.
        pytest.param(get_public, 200, b'{"detail": "ab', JSON, json.JSONDecodeError, id="cut-document"),
        pytest.param(get_message, 200, b'{"detail": "ab', JSON, pydantic.ValidationError, id="cut-document-model"),
        pytest.param(get_message, 200, b"[]", JSON, pydantic.ValidationError, id="model-from-list"),
        pytest.param(get_message, 200, b'"x"', JSON, pydantic.ValidationError, id="model-from-string"),
        pytest.param(get_message, 200, b'{"detail": 5}', JSON, pydantic.ValidationError, id="model-detail-number"),
        pytest.param(get_message, 200, b"{}", JSON, pydantic.ValidationError, id="model-detail-missing"),
        pytest.param(get_message, 200, b"", JSON, None, id="model-empty-json"),
        pytest.param(get_message, 200, b"", None, None, id="model-empty-untyped"),
        pytest.param(
            get_message,
            204,
            b"",
            JSON,
            None,
            id="model-204",
        ),
        pytest.param(get_public, 200, b"{}", JSON + "; charset=foo", LookupError, id="unknown-charset"),
        pytest.param(get_message, 200, b"{}", JSON + "; charset=foo", LookupError, id="unknown-charset-model"),
        # Three bytes cannot be UTF-16, which needs pairs.
        pytest.param(get_public, 200, b"{}x", JSON + "; charset=utf-16", UnicodeDecodeError, id="odd-utf16"),
        pytest.param(get_public, 200, b'{"detail": "\xff"}', JSON, UnicodeDecodeError, id="bad-utf8"),
        pytest.param(get_message, 200, b'{"detail": "\xff"}', JSON, pydantic.ValidationError, id="bad-utf8-model"),
        pytest.param(get_public, 200, DEEP_NESTING, JSON, RecursionError, id="deep-nesting"),
        pytest.param(get_message, 200, DEEP_NESTING, JSON, pydantic.ValidationError, id="deep-nesting-model"),
    ],
)
def test_unreadable_response_invalid(
    operation: Operation, status: int, body: bytes, content_type: Optional[str], cause: Optional[type]
) -> None:
    with ScriptedServer(respond(status, body, content_type=content_type)) as server, make_client(server.url) as client:
        error, _ = call_failing(operation, client)

    assert type(error) is InvalidResponseError
    assert error.status == status
    assert error.body == body
    assert error.headers.get("Content-Type") == content_type
    assert server.request_count == 1
    if cause is not None:
        assert isinstance(error.__cause__, cause)


def test_bad_gzip_invalid() -> None:
    action = respond(200, b"this is not gzip", {"Content-Encoding": "gzip"})
    with ScriptedServer(action) as server, make_client(server.url) as client:
        error, _ = call_failing(get_public, client)

    assert type(error) is InvalidResponseError
    assert isinstance(error.__cause__, urllib3.exceptions.DecodeError)
    assert error.status == 200
    assert error.headers.get("Content-Encoding") == "gzip"
    assert server.request_count == 1


def test_unreadable_renewal_outcome_unknown() -> None:
    with ScriptedServer(respond(200, b"[]")) as server, make_client(server.url) as client:
        error, _ = call_failing(renew_key, client)

    assert type(error) is RenewalOutcomeUnknownError
    assert type(error.__cause__) is InvalidResponseError
    assert server.request_count == 1
    assert client.configuration.api_key["APIKeyHeader"] == OLD_KEY


def test_latin1_charset_decoded() -> None:
    body = '{"detail": "café"}'.encode("latin-1")
    action = respond(200, body, content_type="application/json; charset=latin-1")
    with ScriptedServer(action) as server, make_client(server.url) as client:
        response = get_message(client)

    assert response.data.detail == "café"
    assert response.raw_data == body


@pytest.mark.parametrize(
    ("operation", "status", "content_type"),
    [
        pytest.param(get_public, 204, None, id="get-204"),
        pytest.param(get_public, 200, "application/json", id="get-empty-json"),
        pytest.param(get_public, 200, None, id="get-empty-untyped"),
        pytest.param(delete_conversation, 204, None, id="delete-204"),
        pytest.param(delete_conversation, 200, "application/json", id="delete-empty-json"),
    ],
)
def test_empty_body_any_json_none(operation: Operation, status: int, content_type: Optional[str]) -> None:
    with ScriptedServer(respond(status, b"", content_type=content_type)) as server, make_client(server.url) as client:
        response = operation(client)

    assert response.status_code == status
    assert response.data is None
    assert response.raw_data == b""
    assert server.request_count == 1


# Retry-After on 429 and 503.


def retry_after_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(FROZEN_NOW + seconds_from_now, usegmt=True)


@pytest.fixture
def frozen_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(litepolis_client._retry, "wall_clock", lambda: FROZEN_NOW)


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(
    "retry_after",
    [
        pytest.param("7", id="seconds"),
        pytest.param(retry_after_date(7), id="http-date"),
    ],
)
@pytest.mark.usefixtures("frozen_wall_clock")
def test_retry_after_honoured(status: int, retry_after: str, sleeps: List[float]) -> None:
    script = (respond(status, b"", {"Retry-After": retry_after}), json_response(OK_DOCUMENT))
    with ScriptedServer(*script) as server, make_client(server.url) as client:
        response = get_public(client)

    assert sleeps == [7.0]
    assert response.data == OK_DOCUMENT
    assert server.request_count == 2


@pytest.mark.parametrize(
    ("status", "expected"),
    [(429, TooManyRequestsException), (503, ServiceException)],
)
@pytest.mark.parametrize(
    "retry_after",
    [
        # retry_after_max defaults to 30 s.
        pytest.param("31", id="seconds"),
        pytest.param(retry_after_date(120), id="http-date"),
    ],
)
@pytest.mark.usefixtures("frozen_wall_clock")
def test_retry_after_too_long_raises(status: int, expected: type, retry_after: str, sleeps: List[float]) -> None:
    script = (respond(status, b'{"detail": "slow down"}', {"Retry-After": retry_after}), json_response(OK_DOCUMENT))
    with ScriptedServer(*script) as server, make_client(server.url) as client:
        error, _ = call_failing(get_public, client)

    assert type(error) is expected
    assert error.status == status
    assert error.headers.get("Retry-After") == retry_after
    assert sleeps == []
    assert server.request_count == 1


def test_retry_after_superscript_digit_ignored(sleeps: List[float]) -> None:
    # The byte 0xB2 is "²" in Latin-1, the charset http.client decodes headers with.
    script = (respond(503, b"", {"Retry-After": "\u00b2"}), json_response(OK_DOCUMENT))
    with ScriptedServer(*script) as server, make_client(server.url, retry=RetryPolicy(jitter=0)) as client:
        response = get_public(client)

    # An unreadable Retry-After falls back to the backoff, as "abc" does.
    assert sleeps == [0.5]
    assert response.data == OK_DOCUMENT
    assert server.request_count == 2


@pytest.mark.parametrize(
    ("status", "expected", "expected_cause"),
    [
        (429, TooManyRequestsException, None),
        (503, RenewalOutcomeUnknownError, ServiceException),
    ],
)
def test_renewal_busy_sent_once(
    status: int, expected: type, expected_cause: Optional[type], sleeps: List[float]
) -> None:
    script = (respond(status, b"", {"Retry-After": "1"}), json_response({"detail": "new-key"}))
    with ScriptedServer(*script) as server, make_client(server.url) as client:
        error, _ = call_failing(renew_key, client)

    assert type(error) is expected
    assert server.request_count == 1
    assert sleeps == []
    if expected_cause is not None:
        assert type(error.__cause__) is expected_cause
        assert error.__cause__.status == status


# Backoff, logging and on_retry.


def test_backoff_doubles_up_to_cap(sleeps: List[float]) -> None:
    policy = RetryPolicy(max_attempts=6, backoff_initial=0.5, backoff_max=3.0, jitter=0)
    with ScriptedServer(respond(503)) as server, make_client(server.url, retry=policy) as client:
        error, _ = call_failing(get_public, client)

    assert type(error) is ServiceException
    assert sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert server.request_count == 6


def test_backoff_jitter_shortens_delay(monkeypatch: pytest.MonkeyPatch, sleeps: List[float]) -> None:
    monkeypatch.setattr(litepolis_client._retry, "random", types.SimpleNamespace(random=lambda: 0.25))
    policy = RetryPolicy(max_attempts=3, backoff_initial=1.0, jitter=0.5)
    with ScriptedServer(respond(502)) as server, make_client(server.url, retry=policy) as client:
        error, _ = call_failing(get_public, client)

    assert type(error) is ServiceException
    # Each delay is reduced by jitter * random() = 0.5 * 0.25 of itself.
    assert sleeps == [0.875, 1.75]
    assert server.request_count == 3


def test_retries_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="litepolis_client")
    policy = RetryPolicy(max_attempts=3, jitter=0)
    with ScriptedServer(respond(504)) as server, make_client(server.url, retry=policy) as client:
        call_failing(get_public, client)

    records = [record for record in caplog.records if record.name == "litepolis_client._transport"]
    assert [record.levelno for record in records] == [logging.INFO, logging.INFO]
    for attempt, record in enumerate(records, start=1):
        message = record.getMessage()
        assert "get_testroute_api_v1_public_get" in message
        assert f"attempt {attempt} of 3" in message
        assert "HTTP 504" in message
    assert OLD_KEY not in caplog.text


def test_on_retry_receives_events() -> None:
    events: List[RetryEvent] = []
    policy = RetryPolicy(max_attempts=3, jitter=0, on_retry=events.append)
    script = (respond(503), respond(429), json_response(OK_DOCUMENT))
    with ScriptedServer(*script) as server, make_client(server.url, retry=policy) as client:
        response = get_public(client)

    assert response.data == OK_DOCUMENT
    assert events == [
        RetryEvent("get_testroute_api_v1_public_get", 1, "HTTP 503", 0.5),
        RetryEvent("get_testroute_api_v1_public_get", 2, "HTTP 429", 1.0),
    ]


# Error pages from a proxy or a crashed server.


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(500, MULTI_LINE_HTML, id="500-multi-line"),
        pytest.param(502, MULTI_LINE_HTML, id="502-multi-line"),
        pytest.param(
            500,
            SINGLE_LINE_HTML,
            id="500-single-line",
        ),
    ],
)
def test_html_error_page_service_exception(status: int, body: bytes) -> None:
    action = respond(status, body, {"Server": "nginx"}, content_type="text/html")
    with ScriptedServer(action) as server, make_client(server.url, retry=RetryPolicy.disabled()) as client:
        error, _ = call_failing(get_public, client)

    assert type(error) is ServiceException
    assert error.status == status
    assert error.headers.get("Server") == "nginx"
    assert error.body == body
    assert len(str(error)) < 200
    assert HTML_TAG_START not in str(error)


# Bodies that are too large or too slow.


@pytest.mark.parametrize(
    ("action", "kept_bytes"),
    [
        # A declared length over the limit is rejected before any body byte is read.
        pytest.param(huge_body(HUGE_BODY_BYTES), 0, id="content-length"),
        pytest.param(huge_body(HUGE_BODY_BYTES, framing="chunked"), DEFAULT_MAX_RESPONSE_BYTES, id="chunked"),
        pytest.param(huge_body(HUGE_BODY_BYTES, framing="close"), DEFAULT_MAX_RESPONSE_BYTES, id="until-close"),
        pytest.param(gzip_bomb(HUGE_BODY_BYTES), DEFAULT_MAX_RESPONSE_BYTES, id="gzip-bomb"),
    ],
)
def test_huge_body_too_large(action: Callable, kept_bytes: int) -> None:
    with ScriptedServer(action) as server, make_client(server.url, timeout=Timeout(1.0, 10.0)) as client:
        tracemalloc.start()
        try:
            error, elapsed = call_failing(get_public, client)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    assert type(error) is ResponseTooLargeError
    assert error.status == 200
    assert len(error.body) == kept_bytes
    assert peak < PEAK_MEMORY_LIMIT_BYTES
    assert elapsed < 5.0
    assert server.request_count == 1


@pytest.mark.parametrize("framing", ["content-length", "chunked", "close"])
def test_trickled_body_times_out(framing: str) -> None:
    action = trickle(json.dumps({"detail": "x" * 40}).encode(), 0.2, framing=framing)
    policy = RetryPolicy.disabled()
    with ScriptedServer(action) as server, make_client(server.url, retry=policy, timeout=Timeout(1.0, 1.0)) as client:
        error, elapsed = call_failing(get_public, client)

    assert type(error) is ReadTimeoutError
    assert elapsed < 2.0
    assert server.request_count == 1


def test_trickled_headers_time_out() -> None:
    # About 2.5 s of headers, one byte every 0.1 s, so no single socket read waits 1 s.
    action = trickle_head(b"X-Padding: " + b"a" * 14, 0.1, prefix=b"HTTP/1.1 200 OK\r\n")
    policy = RetryPolicy.disabled()
    with ScriptedServer(action) as server, make_client(server.url, retry=policy, timeout=Timeout(1.0, 1.0)) as client:
        error, elapsed = call_failing(get_public, client)

    assert type(error) is ReadTimeoutError
    assert elapsed < 2.0


# Renewal response lost at each point of the exchange.

RENEWAL_BODY = json.dumps({"detail": "9a8b7c6d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"}).encode()
RENEWAL_HEAD = json_head(len(RENEWAL_BODY))
RENEWAL_HALF = RENEWAL_HEAD + RENEWAL_BODY[: len(RENEWAL_BODY) // 2]


@pytest.mark.parametrize(
    "action",
    [
        pytest.param(reset(), id="after-request-reset"),
        pytest.param(close_without_response(), id="after-request-close"),
        pytest.param(reset(b"HTTP/1.1 200 OK\r\n"), id="after-status-line-reset"),
        pytest.param(raw(b"HTTP/1.1 200 OK\r\n"), id="after-status-line-close"),
        pytest.param(reset(RENEWAL_HEAD), id="after-headers-reset"),
        pytest.param(raw(RENEWAL_HEAD), id="after-headers-close"),
        pytest.param(reset(RENEWAL_HALF), id="mid-body-reset"),
        pytest.param(raw(RENEWAL_HALF), id="mid-body-close"),
    ],
)
def test_renewal_response_lost(action: Callable, sleeps: List[float]) -> None:
    with ScriptedServer(action) as server, make_client(server.url) as client:
        error, _ = call_failing(renew_key, client)

    assert type(error) is RenewalOutcomeUnknownError
    assert isinstance(error.__cause__, (TransportError, InvalidResponseError))
    assert "old API key may already be invalid" in str(error)
    assert "POST /api/v1/secure/users/auth" in str(error)
    assert server.request_count == 1
    assert server.requests[0].request_line == RENEWAL_REQUEST_LINE
    assert server.requests[0].header("X-API-Key") == OLD_KEY
    assert sleeps == []
    assert client.configuration.api_key["APIKeyHeader"] == OLD_KEY


def test_renewal_complete_response_adopted() -> None:
    """Control case: the same response, sent whole, renews the key."""
    with ScriptedServer(raw(RENEWAL_HEAD + RENEWAL_BODY)) as server, make_client(server.url) as client:
        message = renew_key(client)

    assert message.detail == "9a8b7c6d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
    assert server.request_count == 1
