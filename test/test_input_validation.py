"""Invalid input raises ApiValueError or ApiTypeError before any request is sent.

Each message names what is wrong and never repeats the API key.
"""

import dataclasses
import math
from collections.abc import Iterator
from typing import Any

import pytest
from recording import RecordingServer

from litepolis_client import (
    ApiClient,
    ApiTypeError,
    ApiValueError,
    CommentsApi,
    Configuration,
    ConversationModel,
    ConversationsApi,
    RetryPolicy,
    Timeout,
    UserApi,
)

CANARY_KEY = "sk-LEAKCANARY-qzx9w"
INVALID_INPUT = (ApiValueError, ApiTypeError)


@pytest.fixture(scope="module")
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as recording_server:
        yield recording_server


@pytest.fixture
def client(server: RecordingServer) -> Iterator[ApiClient]:
    """Yield a client of the recording server that sends the canary key, after clearing earlier requests."""
    server.clear()
    with ApiClient(Configuration(host=server.url, api_key={"APIKeyHeader": CANARY_KEY})) as api_client:
        yield api_client


def read_caller(client: ApiClient, **options: Any) -> Any:
    return UserApi(client).get_testroute_api_v1_secure_get(**options)


def assert_message(exc: BaseException, *words: str, secret: str = CANARY_KEY) -> None:
    """Assert that the message of `exc` contains every word and neither it nor the repr shows `secret`."""
    message = str(exc)
    for word in words:
        assert word in message, f"{word!r} missing from {message!r}"
    assert secret not in message
    assert secret not in repr(exc)


# The API key.

INVALID_KEYS = [
    # (key, exception class, words the message must contain)
    pytest.param("", ApiValueError, ["API key", "APIKeyHeader", "empty"], id="empty"),
    pytest.param("   ", ApiValueError, ["API key", "APIKeyHeader", "empty"], id="whitespace"),
    pytest.param(12345, ApiTypeError, ["API key", "str", "int"], id="int"),
    pytest.param(CANARY_KEY.encode(), ApiTypeError, ["API key", "str", "bytes"], id="bytes"),
    pytest.param(CANARY_KEY + "\r", ApiValueError, ["API key", "CR, LF or NUL"], id="CR"),
    pytest.param(CANARY_KEY + "\n", ApiValueError, ["API key", "CR, LF or NUL"], id="LF"),
    pytest.param(
        CANARY_KEY + "\r\nX-Injected: 1", ApiValueError, ["API key", "CR, LF or NUL"], id="CRLF-injection"
    ),
    pytest.param(CANARY_KEY + "\0", ApiValueError, ["API key", "CR, LF or NUL"], id="NUL"),
    pytest.param(CANARY_KEY + "\u00e9", ApiValueError, ["API key", "printable ASCII"], id="non-ASCII"),
    pytest.param(CANARY_KEY + "\u2603", ApiValueError, ["API key", "printable ASCII"], id="non-Latin-1"),
    # A tab is ASCII but not printable.
    pytest.param(CANARY_KEY + "\t", ApiValueError, ["API key", "printable ASCII"], id="tab"),
]


@pytest.mark.parametrize("key, exception_class, words", INVALID_KEYS)
def test_invalid_key_not_sent(client, server, key, exception_class, words):
    client.configuration.api_key["APIKeyHeader"] = key
    with pytest.raises(exception_class) as excinfo:
        read_caller(client)

    assert server.requests == []
    assert_message(excinfo.value, *words)


@pytest.mark.parametrize("key, exception_class, words", INVALID_KEYS)
def test_invalid_key_in_constructor(server, key, exception_class, words):
    server.clear()
    configuration = Configuration(host=server.url, api_key={"APIKeyHeader": key})
    with ApiClient(configuration) as api_client, pytest.raises(exception_class) as excinfo:
        read_caller(api_client)

    assert server.requests == []
    assert_message(excinfo.value, *words)


def test_none_key_sends_no_header(client, server):
    client.configuration.api_key["APIKeyHeader"] = None
    read_caller(client)

    assert len(server.requests) == 1
    assert server.requests[0].values_of("X-API-Key") == []


# Header values and names.

INVALID_HEADER_VALUES = [
    # (value, exception class, words the message must contain)
    pytest.param("a\rb", ApiValueError, ["CR, LF or NUL"], id="CR"),
    pytest.param("a\nb", ApiValueError, ["CR, LF or NUL"], id="LF"),
    pytest.param("a\r\nX-Injected: 1", ApiValueError, ["CR, LF or NUL"], id="CRLF-injection"),
    pytest.param("a\0b", ApiValueError, ["CR, LF or NUL"], id="NUL"),
    pytest.param("snow \u2603", ApiValueError, ["Latin-1"], id="non-Latin-1"),
    pytest.param(42, ApiTypeError, ["str", "int"], id="int"),
    pytest.param(b"bytes", ApiTypeError, ["str", "bytes"], id="bytes"),
]


@pytest.mark.parametrize("value, exception_class, words", INVALID_HEADER_VALUES)
def test_call_header_value_rejected(client, server, value, exception_class, words):
    with pytest.raises(exception_class) as excinfo:
        read_caller(client, _headers={"X-Trace": value})

    assert server.requests == []
    assert_message(excinfo.value, "X-Trace", *words)


@pytest.mark.parametrize("value, exception_class, words", INVALID_HEADER_VALUES)
def test_default_header_value_rejected(client, server, value, exception_class, words):
    headers_before = dict(client.default_headers)
    with pytest.raises(exception_class) as excinfo:
        client.set_default_header("X-Trace", value)
    read_caller(client)

    assert client.default_headers == headers_before
    assert server.requests[0].values_of("X-Trace") == []
    assert_message(excinfo.value, "X-Trace", *words)


@pytest.mark.parametrize("header", ["X-API-Key", "Authorization", "Proxy-Authorization", "Cookie"])
@pytest.mark.parametrize("suffix", ["\r\n", "\0", "\u2603"], ids=["CRLF", "NUL", "non-Latin-1"])
def test_call_secret_header_hidden(client, server, header, suffix):
    with pytest.raises(ApiValueError) as excinfo:
        read_caller(client, _headers={header: f"Bearer {CANARY_KEY}{suffix}"})

    assert server.requests == []
    assert_message(excinfo.value, header)


@pytest.mark.parametrize("header", ["X-API-Key", "Authorization", "Cookie"])
def test_default_secret_header_hidden(client, header):
    with pytest.raises(ApiValueError) as excinfo:
        client.set_default_header(header, f"Bearer {CANARY_KEY}\r\n")

    assert_message(excinfo.value, header)


def test_user_agent_value_rejected(client):
    with pytest.raises(ApiValueError) as excinfo:
        client.user_agent = "agent/1.0\r\nX-Injected: 1"

    assert client.user_agent == ApiClient.default_user_agent
    assert_message(excinfo.value, "User-Agent", "CR, LF or NUL")


INVALID_HEADER_NAMES = [
    pytest.param("", id="empty"),
    pytest.param("X Trace", id="space"),
    pytest.param("X:Trace", id="colon"),
    pytest.param("X-Trace\r\nX-Injected", id="CRLF"),
    pytest.param("X-Trace\n", id="LF"),
    pytest.param("X\0Trace", id="NUL"),
    pytest.param(42, id="int"),
    pytest.param(None, id="None"),
    pytest.param(b"X-Trace", id="bytes"),
]

INVALID_TOKEN_NAMES = [
    pytest.param("X\tTrace", id="tab"),
    pytest.param("X(Trace)", id="parenthesis"),
    pytest.param("X-Tr\u00e4ce", id="non-ASCII"),
]


CALL_INVALID_HEADER_NAMES = INVALID_HEADER_NAMES


@pytest.mark.parametrize("name", CALL_INVALID_HEADER_NAMES + INVALID_TOKEN_NAMES)
def test_call_header_name_rejected(client, server, name):
    with pytest.raises(ApiValueError) as excinfo:
        read_caller(client, _headers={name: "value"})

    assert server.requests == []
    assert_message(excinfo.value, "header name")


@pytest.mark.parametrize("name", INVALID_HEADER_NAMES + INVALID_TOKEN_NAMES)
def test_default_header_name_rejected(client, server, name):
    with pytest.raises(ApiValueError) as excinfo:
        client.set_default_header(name, "value")

    assert server.requests == []
    assert_message(excinfo.value, "header name")


# Timeouts, in the three places that take one.

INVALID_TIMEOUTS = [
    pytest.param(0, id="zero"),
    pytest.param(-1, id="negative"),
    pytest.param(math.nan, id="nan"),
    pytest.param(math.inf, id="inf"),
    pytest.param(-math.inf, id="minus-inf"),
    pytest.param("5", id="str"),
    pytest.param(True, id="bool"),
    pytest.param([1, 2], id="list"),
    pytest.param((1, 2, 3), id="3-tuple"),
    pytest.param((5,), id="1-tuple"),
    pytest.param((-1, 5), id="negative-connect"),
    pytest.param((5, -1), id="negative-read"),
    pytest.param((0, 5), id="zero-connect"),
    pytest.param((5, math.nan), id="nan-read"),
    pytest.param(("5", 5), id="str-connect"),
    pytest.param((5, True), id="bool-read"),
]


@pytest.mark.parametrize("timeout", INVALID_TIMEOUTS)
def test_constructor_timeout_rejected(server, timeout):
    with pytest.raises(INVALID_INPUT) as excinfo:
        Configuration(host=server.url, api_key={"APIKeyHeader": CANARY_KEY}, timeout=timeout)

    assert "timeout" in str(excinfo.value).lower()
    assert_message(excinfo.value)


@pytest.mark.parametrize("timeout", INVALID_TIMEOUTS)
def test_timeout_setter_rejected(client, timeout):
    timeout_before = client.configuration.timeout
    with pytest.raises(INVALID_INPUT) as excinfo:
        client.configuration.timeout = timeout

    assert client.configuration.timeout == timeout_before
    assert "timeout" in str(excinfo.value).lower()
    assert_message(excinfo.value)


@pytest.mark.parametrize("timeout", INVALID_TIMEOUTS)
def test_call_timeout_rejected(client, server, timeout):
    with pytest.raises(INVALID_INPUT) as excinfo:
        read_caller(client, _request_timeout=timeout)

    assert server.requests == []
    assert "timeout" in str(excinfo.value).lower()
    assert_message(excinfo.value)


@pytest.mark.parametrize(
    "fields",
    [
        {"connect": 0},
        {"read": -0.5},
        {"connect": math.nan},
        {"read": "60"},
        {"connect": False},
    ],
    ids=["zero-connect", "negative-read", "nan-connect", "str-read", "bool-connect"],
)
def test_timeout_class_rejected(fields):
    (name,) = fields
    with pytest.raises(INVALID_INPUT) as excinfo:
        Timeout(**fields)

    assert_message(excinfo.value, f"Timeout.{name}")


@pytest.mark.parametrize(
    "timeout",
    [None, 5, 2.5, (1, 2), (1, None), (None, 3.0), Timeout(connect=1.0, read=None)],
    ids=["none", "int", "float", "pair", "no-read", "no-connect", "Timeout"],
)
def test_valid_timeout_accepted(client, server, timeout):
    client.configuration.timeout = timeout
    read_caller(client, _request_timeout=timeout)

    assert len(server.requests) == 1


# Arguments of the API methods.


@pytest.mark.parametrize(
    "cid, words",
    [
        pytest.param("1", ["'cid'", "int", "str"], id="str"),
        pytest.param(True, ["'cid'", "int", "bool"], id="bool"),
        pytest.param(1.0, ["'cid'", "int", "float"], id="float"),
        pytest.param([1], ["'cid'", "int", "list"], id="list"),
    ],
)
def test_cid_type_rejected(client, server, cid, words):
    with pytest.raises(ApiTypeError) as excinfo:
        ConversationsApi(client).get_conversation_api_v1_secure_conversations_cid_get(cid)

    assert server.requests == []
    assert_message(excinfo.value, "get_conversation", *words)


def test_missing_cid_rejected(client, server):
    with pytest.raises(ApiValueError) as excinfo:
        ConversationsApi(client).get_conversation_api_v1_secure_conversations_cid_get(None)

    assert server.requests == []
    assert_message(excinfo.value, "missing required argument 'cid'")


@pytest.mark.parametrize(
    "arguments, words",
    [
        pytest.param({"random": 1}, ["'random'", "bool", "int"], id="random-int"),
        pytest.param({"random": "true"}, ["'random'", "bool", "str"], id="random-str"),
        pytest.param({"moderated": 0}, ["'moderated'", "bool", "int"], id="moderated-int"),
    ],
)
def test_query_flag_type_rejected(client, server, arguments, words):
    with pytest.raises(ApiTypeError) as excinfo:
        CommentsApi(client).get_comments_api_v1_secure_comments_cid_get(1, **arguments)

    assert server.requests == []
    assert_message(excinfo.value, *words)


def test_missing_body_rejected(client, server):
    with pytest.raises(ApiValueError) as excinfo:
        CommentsApi(client).create_comment_api_v1_secure_comments_post(None)

    assert server.requests == []
    assert_message(excinfo.value, "missing required argument 'comment_model'")


@pytest.mark.parametrize(
    "body, words",
    [
        pytest.param({"comment": 5}, ["comment_model", "CommentModel", "comment"], id="int-comment"),
        pytest.param({"conversation_id": "abc"}, ["CommentModel", "conversation_id"], id="str-id"),
        pytest.param({"conversation_id": True}, ["CommentModel", "conversation_id"], id="bool-id"),
        pytest.param({"vote": [1]}, ["CommentModel", "vote"], id="list-vote"),
    ],
)
def test_dict_body_mismatch_rejected(client, server, body, words):
    with pytest.raises(ApiValueError) as excinfo:
        CommentsApi(client).create_comment_api_v1_secure_comments_post(body)

    assert server.requests == []
    assert_message(excinfo.value, *words)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"email": "someone@example.org", "password": [CANARY_KEY]}, id="password-in-list"),
        pytest.param({"email": {"key": CANARY_KEY}, "password": "x"}, id="email-object"),
    ],
)
def test_dict_body_error_hides_values(client, server, body):
    with pytest.raises(ApiValueError) as excinfo:
        UserApi(client).update_userprofile_api_v1_secure_users_profile_put(body)

    assert server.requests == []
    assert_message(excinfo.value, "UserProfile")
    assert excinfo.value.__cause__ is not None
    assert CANARY_KEY not in str(excinfo.value.__cause__)


def test_dict_body_unknown_field_rejected(client, server):
    with pytest.raises(ApiValueError):
        CommentsApi(client).create_comment_api_v1_secure_comments_post({"coment": "Along the river."})

    assert server.requests == []


@pytest.mark.parametrize(
    "body, words",
    [
        pytest.param(ConversationModel(title="Parks"), ["CommentModel", "ConversationModel"], id="other-model"),
        pytest.param("Along the river.", ["CommentModel", "str"], id="str"),
        pytest.param([{"comment": "x"}], ["CommentModel", "list"], id="list"),
    ],
)
def test_body_type_rejected(client, server, body, words):
    with pytest.raises(ApiTypeError) as excinfo:
        CommentsApi(client).create_comment_api_v1_secure_comments_post(body)

    assert server.requests == []
    assert_message(excinfo.value, "comment_model", *words)


# Host.


@pytest.mark.parametrize(
    "make_host",
    [
        pytest.param(lambda url: url.removeprefix("http://"), id="no-scheme"),
        pytest.param(lambda url: url.replace("http://", "ftp://"), id="ftp"),
        pytest.param(lambda url: "", id="empty"),
        pytest.param(lambda url: url.replace("http://", "http:/"), id="one-slash"),
        pytest.param(lambda url: 8080, id="int"),
    ],
)
def test_invalid_host_scheme_rejected(client, server, make_host):
    host = make_host(server.url)
    client.configuration.host = host
    with pytest.raises(INVALID_INPUT) as excinfo:
        read_caller(client)

    assert server.requests == []
    assert_message(excinfo.value, "host", repr(host))


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("http://", id="no-host"),
        pytest.param("http://127.0.0.1:99999", id="port-too-large"),
        pytest.param("http://127.0.0.1:port", id="port-not-number"),
        pytest.param("http://127.0.0.1:1\r\nX-Injected: 1", id="CRLF"),
        pytest.param("http://[::1", id="unclosed-bracket"),
    ],
)
def test_invalid_host_url_rejected(client, server, host):
    client.configuration.host = host
    with pytest.raises(ApiValueError) as excinfo:
        read_caller(client)

    assert server.requests == []
    assert_message(excinfo.value, "host")


# Limits of the configuration.

INVALID_POSITIVE_INTS = [
    pytest.param(0, id="zero"),
    pytest.param(-1, id="negative"),
    pytest.param(True, id="bool"),
    pytest.param(1.5, id="float"),
    pytest.param("10", id="str"),
]


@pytest.mark.parametrize("value", INVALID_POSITIVE_INTS)
@pytest.mark.parametrize("field", ["max_response_bytes", "connection_pool_maxsize"])
def test_limit_in_constructor_rejected(field, value):
    with pytest.raises(ApiValueError) as excinfo:
        Configuration(host="http://127.0.0.1:9", api_key={"APIKeyHeader": CANARY_KEY}, **{field: value})

    assert_message(excinfo.value, field, repr(value))


@pytest.mark.parametrize("value", INVALID_POSITIVE_INTS)
@pytest.mark.parametrize("field", ["max_response_bytes", "connection_pool_maxsize"])
def test_limit_setter_rejected(client, field, value):
    value_before = getattr(client.configuration, field)
    with pytest.raises(ApiValueError) as excinfo:
        setattr(client.configuration, field, value)

    assert getattr(client.configuration, field) == value_before
    assert_message(excinfo.value, field, repr(value))


def test_pool_maxsize_none_rejected():
    with pytest.raises(ApiValueError) as excinfo:
        Configuration(host="http://127.0.0.1:9", connection_pool_maxsize=None)

    assert_message(excinfo.value, "connection_pool_maxsize", "None")


def test_max_response_bytes_none_allowed():
    configuration = Configuration(host="http://127.0.0.1:9", max_response_bytes=None)

    assert configuration.max_response_bytes is None


# RetryPolicy.

INVALID_SECONDS = [
    pytest.param(-1, id="negative"),
    pytest.param(math.nan, id="nan"),
    pytest.param(math.inf, id="inf"),
    pytest.param(True, id="bool"),
    pytest.param("1", id="str"),
    pytest.param(None, id="None"),
]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(0, id="zero"),
        pytest.param(-1, id="negative"),
        pytest.param(True, id="bool"),
        pytest.param(1.5, id="float"),
        pytest.param("3", id="str"),
        pytest.param(None, id="None"),
    ],
)
def test_retry_max_attempts_rejected(value):
    with pytest.raises(INVALID_INPUT) as excinfo:
        RetryPolicy(max_attempts=value)

    assert_message(excinfo.value, "RetryPolicy.max_attempts", repr(value))


@pytest.mark.parametrize("value", INVALID_SECONDS)
@pytest.mark.parametrize("field", ["backoff_initial", "backoff_max", "retry_after_max"])
def test_retry_seconds_rejected(field, value):
    with pytest.raises(INVALID_INPUT) as excinfo:
        RetryPolicy(**{field: value})

    assert_message(excinfo.value, f"RetryPolicy.{field}", repr(value))


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(-0.1, id="negative"),
        pytest.param(1.5, id="above-one"),
        pytest.param(math.nan, id="nan"),
        pytest.param(True, id="bool"),
        pytest.param("0.5", id="str"),
    ],
)
def test_retry_jitter_rejected(value):
    with pytest.raises(INVALID_INPUT) as excinfo:
        RetryPolicy(jitter=value)

    assert_message(excinfo.value, "RetryPolicy.jitter", repr(value))


@pytest.mark.parametrize(
    "fields, name",
    [
        pytest.param({"retry_statuses": 503}, "retry_statuses", id="statuses-int"),
        pytest.param({"retry_statuses": {"503"}}, "retry_statuses", id="statuses-str"),
        pytest.param({"retry_statuses": {99}}, "retry_statuses", id="statuses-99"),
        pytest.param({"on_retry": "log"}, "on_retry", id="on-retry-str"),
    ],
)
def test_retry_field_rejected(fields, name):
    with pytest.raises(INVALID_INPUT) as excinfo:
        RetryPolicy(**fields)

    assert_message(excinfo.value, f"RetryPolicy.{name}")


@pytest.mark.parametrize("value", ["3", 3, {"max_attempts": 3}], ids=["str", "int", "dict"])
def test_configuration_retry_rejected(client, value):
    with pytest.raises(ApiTypeError) as excinfo:
        client.configuration.retry = value

    assert_message(excinfo.value, "retry", "RetryPolicy", type(value).__name__)


def test_retry_policy_frozen():
    policy = RetryPolicy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.max_attempts = 0  # type: ignore[misc]

    assert policy.max_attempts == 3


def test_unvalidated_body_not_sent(client, server):
    # model_construct() skips validation, so the wrong type reaches the client.
    body = ConversationModel.model_construct(title=["Bike lanes"], description="d")

    with pytest.raises(ApiValueError) as excinfo:
        ConversationsApi(client).create_conversation_api_v1_secure_conversations_post(body)

    assert_message(excinfo.value, "conversation_model", "title contains a value")
    assert server.requests == []
