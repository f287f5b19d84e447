"""No API key or password reaches a log record, stdout, stderr, an exception or a repr.

Calls run with ``Configuration(debug=True)`` and every logger captured at DEBUG, except where
a test checks an exception alone.
"""

import dataclasses
import hashlib
import http.client
import json
import logging
import socket
import traceback
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Optional

import pytest
import urllib3
from recording import Fault, RecordingServer, Reply

import litepolis_client
from litepolis_client import (
    ApiClient,
    ApiConnectionError,
    ApiException,
    APIKeysApi,
    ApiValueError,
    CommentModel,
    CommentsApi,
    Configuration,
    ConversationModel,
    ConversationsApi,
    DefaultApi,
    ForbiddenException,
    InvalidResponseError,
    ReadTimeoutError,
    RenewalHookError,
    RenewalOutcomeUnknownError,
    RetryPolicy,
    Timeout,
    UnauthorizedException,
    UnprocessableEntityException,
    UserApi,
    UserProfile,
)
from litepolis_client.configuration import ENV_API_KEY, ENV_API_KEY_FILE
from litepolis_client.testing import SeededUser, StandInServer

# The key sent to recording servers. It is not UUID-shaped, so the client's UUID
# scrubbing cannot hide a leak of it by accident.
CANARY_KEY = "sk-LEAKCANARY-qzx9w"
PASSWORD = "pw-LEAKCANARY-kq7vm"
# PUT /users/profile accepts only 32-character passwords (an MD5 hex digest).
PROFILE_PASSWORD = hashlib.md5(b"pw-LEAKCANARY-profile").hexdigest()
# A silent server costs one read timeout per attempt, so keep it short.
SHORT_TIMEOUT = Timeout(connect=2.0, read=0.2)

# Collecting every output of a test.


def secret_forms(secret: str) -> dict[str, str]:
    """Return the spellings of `secret` that count as a leak, by name."""
    forms = {"as given": secret, "without dashes": secret.replace("-", ""), "upper case": secret.upper()}
    # The last dash-separated part alone points to the secret, for example a
    # UUID's last 12 hex digits. Shorter parts could match by chance.
    last_part = secret.rsplit("-", 1)[-1]
    if len(last_part) >= 5 and last_part != secret:
        forms["last part"] = last_part
    return forms


def exception_texts(exc: BaseException) -> dict[str, str]:
    """Return str, repr and the formatted traceback of `exc` and of every exception it chains."""
    texts = {}
    pending = [("exception", exc)]
    seen = set()
    while pending:
        label, current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))

        name = f"{label} {type(current).__name__}"
        texts[f"str({name})"] = str(current)
        texts[f"repr({name})"] = repr(current)
        texts[f"traceback({name})"] = "".join(traceback.format_exception(current))
        # Follow __context__ even where `raise ... from None` hides it from
        # tracebacks, because code that walks the chain still reaches it.
        if current.__context__ is not None:
            pending.append((f"{label}.__context__", current.__context__))
        if current.__cause__ is not None:
            pending.append((f"{label}.__cause__", current.__cause__))
    return texts


class Outputs:
    """Everything a test produced that a user could see: logs, stdout, stderr, errors and reprs."""

    def __init__(self, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture) -> None:
        self._caplog = caplog
        self._capfd = capfd
        self._texts: dict[str, str] = {}

    def add_exception(self, exc: BaseException) -> None:
        self._texts.update(exception_texts(exc))

    def add_repr(self, label: str, value: Any) -> None:
        self._texts[f"repr({label})"] = repr(value)
        self._texts[f"str({label})"] = str(value)

    def log_records(self, logger_prefix: str = "") -> list[logging.LogRecord]:
        return [record for record in self._caplog.records if record.name.startswith(logger_prefix)]

    def all_texts(self) -> dict[str, str]:
        formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
        texts = dict(self._texts)
        for index, record in enumerate(self._caplog.records):
            texts[f"log record {index} ({record.name})"] = formatter.format(record)
            # Structured log handlers serialize every attribute of a record.
            texts[f"attributes of log record {index}"] = repr(vars(record))
        captured = self._capfd.readouterr()
        texts["stdout"] = captured.out
        texts["stderr"] = captured.err
        return texts

    def assert_free_of(self, **secrets: str) -> None:
        """Assert that no spelling of any secret appears in any output collected so far."""
        texts = self.all_texts()
        for source, text in texts.items():
            for secret_name, secret in secrets.items():
                for form_name, form in secret_forms(secret).items():
                    assert form not in text, f"{secret_name} ({form_name}) appears in {source}"


@pytest.fixture
def outputs(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture) -> Outputs:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="litepolis_client")
    return Outputs(caplog, capfd)


@pytest.fixture(autouse=True)
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the retry delays instead of sleeping them."""
    delays: list[float] = []
    monkeypatch.setattr(litepolis_client._retry, "sleep", delays.append)
    return delays


def debug_client(url: str, key: Optional[str], *, debug: bool = True, **options: Any) -> ApiClient:
    """Return a client for `url` that sends `key` as X-API-Key and logs at DEBUG unless `debug` is False."""
    api_key = {} if key is None else {"APIKeyHeader": key}
    return ApiClient(Configuration(host=url, api_key=api_key, debug=debug, **options))


@pytest.fixture
def refused_url() -> Iterator[str]:
    """Yield a URL of 127.0.0.1 whose port is bound but not listening, so connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


# The stand-in, shared: each test seeds its own users.


@dataclasses.dataclass(frozen=True)
class Seed:
    server: StandInServer
    user: SeededUser
    conversation_id: int
    moderated_conversation_id: int
    comment_id: int


@pytest.fixture(scope="module")
def standin() -> Iterator[StandInServer]:
    with StandInServer() as server:
        yield server


@pytest.fixture
def seed(standin: StandInServer) -> Seed:
    """Seed a user with a unique email, a conversation, a moderated conversation and a comment."""
    email = f"{uuid.uuid4().hex[:12]}@example.org"
    user = standin.add_user(email, role="user", password=PASSWORD)
    conversation_id = standin.add_conversation(user.id, "Parks", "Where should trees go?")
    moderated_id = standin.add_conversation(user.id, "Roads", "Which roads need repair?", moderation=True)
    comment_id = standin.add_comment(conversation_id, user.id, "Along the river.")
    return Seed(standin, user, conversation_id, moderated_id, comment_id)


# Successful calls of every API class. Each function returns the results of
# its calls. The delete operations always get 403, which counts as normal use.


def call_default_api(client: ApiClient, seed: Seed, outputs: Outputs) -> list[Any]:
    api = DefaultApi(client)
    return [api.get_testroute_api_v1_public_get(), api.get_testroute_api_v1_public_get_with_http_info()]


def call_user_api(client: ApiClient, seed: Seed, outputs: Outputs) -> list[Any]:
    api = UserApi(client)
    results = [
        api.get_testroute_api_v1_secure_get(),
        api.get_userrole_api_v1_secure_users_role_get(),
        api.get_userprofile_api_v1_secure_users_profile_get_with_http_info(),
        api.update_userprofile_api_v1_secure_users_profile_put(UserProfile(password=PROFILE_PASSWORD)),
    ]
    with pytest.raises(ForbiddenException) as excinfo:
        api.delete_userprofile_api_v1_secure_users_profile_delete()
    outputs.add_exception(excinfo.value)
    return results


def call_conversations_api(client: ApiClient, seed: Seed, outputs: Outputs) -> list[Any]:
    api = ConversationsApi(client)
    results = [
        api.create_conversation_api_v1_secure_conversations_post(
            ConversationModel(title="Bike lanes", description="Which streets need one?")
        ),
        api.get_all_conversations_api_v1_secure_conversations_all_get(),
        api.get_conversation_api_v1_secure_conversations_cid_get_with_http_info(seed.conversation_id),
        api.update_conversation_api_v1_secure_conversations_put(
            ConversationModel(id=seed.conversation_id, title="Parks and gardens")
        ),
    ]
    with pytest.raises(ForbiddenException) as excinfo:
        api.delete_conversation_api_v1_secure_conversations_cid_delete(seed.conversation_id)
    outputs.add_exception(excinfo.value)
    return results


def call_comments_api(client: ApiClient, seed: Seed, outputs: Outputs) -> list[Any]:
    api = CommentsApi(client)
    results = [
        api.create_comment_api_v1_secure_comments_post(
            CommentModel(comment="Near the school.", conversation_id=seed.conversation_id)
        ),
        api.get_comments_api_v1_secure_comments_cid_get(seed.conversation_id, random=False, moderated=False),
        api.get_comments_for_moderation_api_v1_secure_comments_cid_moderate_get_with_http_info(
            seed.moderated_conversation_id
        ),
        api.update_comment_api_v1_secure_comments_put(
            CommentModel(comment_id=seed.comment_id, comment="Along the canal.")
        ),
    ]
    with pytest.raises(ForbiddenException) as excinfo:
        api.delete_comment_api_v1_secure_comments_cid_delete(seed.comment_id)
    outputs.add_exception(excinfo.value)
    return results


API_CALLS: dict[str, Callable[[ApiClient, Seed, Outputs], list[Any]]] = {
    "DefaultApi": call_default_api,
    "UserApi": call_user_api,
    "ConversationsApi": call_conversations_api,
    "CommentsApi": call_comments_api,
}


@pytest.mark.parametrize("api_name", API_CALLS)
def test_debug_calls_hide_key(seed, outputs, api_name):
    client = debug_client(seed.server.url, seed.user.key)
    with client:
        results = API_CALLS[api_name](client, seed, outputs)
    outputs.add_repr("configuration", client.configuration)
    outputs.add_repr("client", client)
    for index, result in enumerate(results):
        outputs.add_repr(f"result {index}", result)

    assert outputs.log_records("litepolis_client._client"), "debug=True logged nothing"
    outputs.assert_free_of(key=seed.user.key, password=PROFILE_PASSWORD)


# Renewal, login and registration: keys in responses, passwords in requests.


@pytest.mark.parametrize("api_class", [APIKeysApi, UserApi])
def test_renewal_hides_old_and_new_key(seed, outputs, api_class):
    old_key = seed.user.key
    with debug_client(seed.server.url, old_key) as client:
        new_key = api_class(client).update_usertoken_api_v1_secure_users_renew_put().detail
        outputs.add_repr("configuration", client.configuration)
        outputs.add_repr("client", client)

    assert seed.server.is_live(new_key)
    assert outputs.log_records("litepolis_client._client"), "debug=True logged nothing"
    outputs.assert_free_of(old_key=old_key, new_key=new_key)


def test_renewal_with_http_info_hides_keys(seed, outputs):
    old_key = seed.user.key
    with debug_client(seed.server.url, old_key) as client:
        response = APIKeysApi(client).update_usertoken_api_v1_secure_users_renew_put_with_http_info()

    assert response.status_code == 200
    outputs.assert_free_of(old_key=old_key, new_key=response.data.detail)


def test_login_hides_password_and_keys(seed, outputs):
    gui = seed.server.add_user(f"gui-{seed.user.id}@example.org", role="GUI")
    profile = UserProfile(email=seed.user.email, password=PASSWORD)
    with debug_client(seed.server.url, gui.key) as client:
        new_key = UserApi(client).get_userauth_api_v1_secure_users_auth_post(profile).detail

    assert seed.server.is_live(new_key)
    outputs.assert_free_of(caller_key=gui.key, new_key=new_key, password=PASSWORD)


def test_login_wrong_password_hidden(seed, outputs):
    gui = seed.server.add_user(f"gui-{seed.user.id}@example.org", role="GUI")
    wrong_password = "pw-WRONGCANARY-vw3xz"
    profile = UserProfile(email=seed.user.email, password=wrong_password)
    with debug_client(seed.server.url, gui.key) as client, pytest.raises(ForbiddenException) as excinfo:
        UserApi(client).get_userauth_api_v1_secure_users_auth_post(profile)
    outputs.add_exception(excinfo.value)

    outputs.assert_free_of(caller_key=gui.key, password=wrong_password)


def test_register_hides_password_and_keys(seed, outputs):
    old_key = seed.user.key
    profile = UserProfile(email=f"new-{seed.user.id}@example.org", password=PASSWORD)
    with debug_client(seed.server.url, old_key) as client:
        new_key = UserApi(client).create_userprofile_api_v1_secure_users_profile_post(profile).detail

    assert seed.server.is_live(new_key)
    outputs.assert_free_of(old_key=old_key, new_key=new_key, password=PASSWORD)


def test_renewal_hook_error_hides_keys(seed, outputs):
    def store_key(key: str) -> None:
        raise OSError("the key store is read-only")

    old_key = seed.user.key
    with debug_client(seed.server.url, old_key, on_api_key_renewed=store_key) as client:
        with pytest.raises(RenewalHookError) as excinfo:
            APIKeysApi(client).update_usertoken_api_v1_secure_users_renew_put()
    outputs.add_exception(excinfo.value)
    outputs.add_repr("configuration", client.configuration)

    new_key = excinfo.value.new_key
    assert seed.server.is_live(new_key)
    outputs.assert_free_of(old_key=old_key, new_key=new_key)


# Keys from the environment and from a key file.


def test_environment_key_hidden(seed, outputs, monkeypatch):
    monkeypatch.setenv(ENV_API_KEY, seed.user.key)
    with ApiClient(Configuration(host=seed.server.url, debug=True)) as client:
        UserApi(client).get_testroute_api_v1_secure_get()
        outputs.add_repr("configuration", client.configuration)

    outputs.assert_free_of(key=seed.user.key)


def test_key_file_hidden(seed, outputs, monkeypatch, tmp_path):
    key_file = tmp_path / "litepolis.key"
    key_file.write_text(seed.user.key + "\n", encoding="utf-8")
    monkeypatch.setenv(ENV_API_KEY_FILE, str(key_file))
    with ApiClient(Configuration(host=seed.server.url, debug=True)) as client:
        UserApi(client).get_testroute_api_v1_secure_get()
        outputs.add_repr("configuration", client.configuration)

    outputs.assert_free_of(key=seed.user.key)


def test_key_file_not_utf8_hidden(outputs, monkeypatch, tmp_path):
    key_file = tmp_path / "litepolis.key"
    key_file.write_bytes(CANARY_KEY.encode() + b"\xff\xfe")
    monkeypatch.setenv(ENV_API_KEY_FILE, str(key_file))
    with pytest.raises(ApiValueError) as excinfo:
        Configuration(host="http://127.0.0.1:9")
    outputs.add_exception(excinfo.value)

    assert "not ASCII" in str(excinfo.value)
    outputs.assert_free_of(key=CANARY_KEY)


def test_key_file_control_character_hidden(outputs, monkeypatch, tmp_path):
    key_file = tmp_path / "litepolis.key"
    key_file.write_bytes(CANARY_KEY.encode() + b"\0\n")
    monkeypatch.setenv(ENV_API_KEY_FILE, str(key_file))
    with RecordingServer() as server, ApiClient(Configuration(host=server.url, debug=True)) as client:
        with pytest.raises(ApiValueError) as excinfo:
            UserApi(client).get_testroute_api_v1_secure_get()
        sent = len(server.requests)
    outputs.add_exception(excinfo.value)

    assert sent == 0
    outputs.assert_free_of(key=CANARY_KEY)


# Error responses of the stand-in.


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(str(uuid.uuid4()), id="unknown-uuid"),
        pytest.param(CANARY_KEY, id="unknown-non-uuid"),
    ],
)
def test_unknown_key_401_hidden(standin, outputs, key):
    with debug_client(standin.url, key) as client, pytest.raises(UnauthorizedException) as excinfo:
        UserApi(client).get_testroute_api_v1_secure_get()
    outputs.add_exception(excinfo.value)

    outputs.assert_free_of(key=key)


def test_role_401_hides_key(standin, outputs):
    guest = standin.add_user(f"guest-{uuid.uuid4().hex[:8]}@example.org", role="guest")
    model = ConversationModel(title="Parks", description="Trees?")
    with debug_client(standin.url, guest.key) as client, pytest.raises(UnauthorizedException) as excinfo:
        ConversationsApi(client).create_conversation_api_v1_secure_conversations_post(model)
    outputs.add_exception(excinfo.value)

    outputs.assert_free_of(key=guest.key)


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")
def test_standin_422_hides_password(seed, outputs):
    profile = UserProfile(email="not-an-email", password=PASSWORD)
    with debug_client(seed.server.url, seed.user.key) as client:
        with pytest.raises(UnprocessableEntityException) as excinfo:
            UserApi(client).update_userprofile_api_v1_secure_users_profile_put(profile)
    outputs.add_exception(excinfo.value)

    outputs.assert_free_of(key=seed.user.key, password=PASSWORD)


# Error responses of a recording server, shaped like FastAPI's.


def validation_error_body(location: list, value: Any) -> bytes:
    """Return a FastAPI 422 body that echoes `value` as the `input` of one error."""
    error = {
        "type": "string_too_short",
        "loc": location,
        "msg": "String should have at least 64 characters",
        "input": value,
        "ctx": {"min_length": 64},
    }
    return json.dumps({"detail": [error]}).encode()


# Operations whose 422 response can echo a password back.
PASSWORD_CALLS = {
    "login": lambda client: UserApi(client).get_userauth_api_v1_secure_users_auth_post(
        UserProfile(email="someone@example.org", password=PASSWORD)
    ),
    "register": lambda client: UserApi(client).create_userprofile_api_v1_secure_users_profile_post(
        UserProfile(email="someone@example.org", password=PASSWORD)
    ),
    "update-profile": lambda client: UserApi(client).update_userprofile_api_v1_secure_users_profile_put(
        UserProfile(email="someone@example.org", password=PASSWORD)
    ),
}


@pytest.mark.parametrize(
    "echo",
    [
        pytest.param(["body"], id="whole-body"),
        pytest.param(["body", "password"], id="password-field"),
    ],
)
@pytest.mark.parametrize("operation", PASSWORD_CALLS)
def test_422_echo_hidden_from_exception(outputs, operation, echo):
    echoed = {"email": "someone@example.org", "password": PASSWORD} if echo == ["body"] else PASSWORD
    reply = Reply(422, validation_error_body(echo, echoed))
    # Without debug logging, so that only the exception is under test here.
    with RecordingServer(reply) as server, debug_client(server.url, CANARY_KEY, debug=False) as client:
        with pytest.raises(UnprocessableEntityException) as excinfo:
            PASSWORD_CALLS[operation](client)
    outputs.add_exception(excinfo.value)

    outputs.assert_free_of(key=CANARY_KEY, password=PASSWORD)


@pytest.mark.parametrize(
    "operation",
    [
        "login",
        "register",
        "update-profile",
    ],
)
def test_422_password_echo_hidden_from_log(outputs, operation):
    reply = Reply(422, validation_error_body(["body", "password"], PASSWORD))
    with RecordingServer(reply) as server, debug_client(server.url, CANARY_KEY) as client:
        with pytest.raises(UnprocessableEntityException):
            PASSWORD_CALLS[operation](client)

    outputs.assert_free_of(key=CANARY_KEY, password=PASSWORD)


def test_422_data_repr_hides_password(outputs):
    reply = Reply(422, validation_error_body(["body", "password"], PASSWORD))
    with RecordingServer(reply) as server, debug_client(server.url, CANARY_KEY) as client:
        with pytest.raises(UnprocessableEntityException) as excinfo:
            PASSWORD_CALLS["login"](client)
    outputs.add_repr("exception.data", excinfo.value.data)

    outputs.assert_free_of(password=PASSWORD)


# Error responses that echo the key back: the client scrubs the key it sent
# and every UUID-shaped token from messages and logs.


def echo_reply(kind: str, key: str) -> Reply:
    """Return a 401 response that repeats `key` in the part of the response that `kind` names."""
    if kind == "json-detail":
        return Reply(401, json.dumps({"detail": f"unknown key {key}"}).encode())
    if kind == "text-body":
        return Reply(401, f"unknown key {key}".encode(), content_type="text/plain")
    return Reply(401, b'{"detail": "Invalid API key"}', reason=f"Unknown key {key}")


@pytest.mark.parametrize(
    "kind, key",
    [
        pytest.param("json-detail", str(uuid.uuid4()), id="json-detail-uuid"),
        pytest.param("text-body", str(uuid.uuid4()), id="text-body-uuid"),
        pytest.param("reason", str(uuid.uuid4()), id="reason-uuid"),
        pytest.param("json-detail", CANARY_KEY, id="json-detail-non-uuid"),
        pytest.param("text-body", CANARY_KEY, id="text-body-non-uuid"),
        pytest.param("reason", CANARY_KEY, id="reason-non-uuid"),
    ],
)
def test_echoed_key_hidden(outputs, kind, key):
    with RecordingServer(echo_reply(kind, key)) as server, debug_client(server.url, key) as client:
        with pytest.raises(UnauthorizedException) as excinfo:
            UserApi(client).get_testroute_api_v1_secure_get()
    outputs.add_exception(excinfo.value)

    outputs.assert_free_of(key=key)


def test_renewal_5xx_echo_hidden(outputs):
    reply = Reply(500, json.dumps({"detail": f"cannot renew {CANARY_KEY}"}).encode())
    with RecordingServer(reply) as server, debug_client(server.url, CANARY_KEY) as client:
        with pytest.raises(RenewalOutcomeUnknownError) as excinfo:
            APIKeysApi(client).update_usertoken_api_v1_secure_users_renew_put()
    outputs.add_exception(excinfo.value)

    outputs.assert_free_of(key=CANARY_KEY)


# 2xx responses the client cannot read, from operations whose response carries a key.

UNREADABLE_KEY_ANSWERS = {
    "text-body": Reply(200, CANARY_KEY.encode(), content_type="text/plain"),
    "text-body-json-type": Reply(200, f"key={CANARY_KEY}".encode()),
    "cut-short-json": Reply(200, json.dumps({"detail": CANARY_KEY}).encode()[:-1]),
    "detail-in-list": Reply(200, json.dumps({"detail": [CANARY_KEY]}).encode()),
    "status-code-text": Reply(200, json.dumps({"detail": CANARY_KEY, "status_code": "OK"}).encode()),
}

KEY_RETURNING_CALLS = {
    "renew": lambda client: APIKeysApi(client).update_usertoken_api_v1_secure_users_renew_put(),
    "login": PASSWORD_CALLS["login"],
    "register": PASSWORD_CALLS["register"],
}


@pytest.mark.parametrize("answer", UNREADABLE_KEY_ANSWERS)
@pytest.mark.parametrize("operation", KEY_RETURNING_CALLS)
def test_unreadable_answer_hides_key(outputs, operation, answer):
    # The server's key and the caller's key differ, so both are checked.
    server_key = CANARY_KEY
    caller_key = "sk-CALLERCANARY-m4ttr"
    reply = UNREADABLE_KEY_ANSWERS[answer]
    with RecordingServer(reply) as server, debug_client(server.url, caller_key) as client:
        with pytest.raises((InvalidResponseError, RenewalOutcomeUnknownError)) as excinfo:
            KEY_RETURNING_CALLS[operation](client)
    outputs.add_exception(excinfo.value)

    outputs.assert_free_of(server_key=server_key, caller_key=caller_key, password=PASSWORD)


@pytest.mark.parametrize("answer", ["text-body", "cut-short-json"])
def test_unreadable_read_hides_key(outputs, answer):
    reply = UNREADABLE_KEY_ANSWERS[answer]
    with RecordingServer(reply) as server, debug_client(server.url, CANARY_KEY) as client:
        with pytest.raises(InvalidResponseError) as excinfo:
            UserApi(client).get_testroute_api_v1_secure_get()
    outputs.add_exception(excinfo.value)

    outputs.assert_free_of(key=CANARY_KEY)


# Transport errors, with the retries they cause.

TRANSPORT_CALLS = {
    "read": (lambda client: UserApi(client).get_testroute_api_v1_secure_get(), 3),
    "renew": (lambda client: APIKeysApi(client).update_usertoken_api_v1_secure_users_renew_put(), 1),
}


def run_transport_failure(url: str, operation: str, outputs: Outputs) -> BaseException:
    """Call `operation` on `url` until it fails, and collect the error and every RetryEvent."""
    events: list = []
    retry = RetryPolicy(on_retry=events.append)
    call, _ = TRANSPORT_CALLS[operation]
    with debug_client(url, CANARY_KEY, timeout=SHORT_TIMEOUT, retry=retry) as client:
        with pytest.raises(Exception) as excinfo:
            call(client)
    outputs.add_exception(excinfo.value)
    for index, event in enumerate(events):
        outputs.add_repr(f"retry event {index}", event)
    return excinfo.value


@pytest.mark.parametrize("operation", TRANSPORT_CALLS)
def test_refused_connection_hides_key(refused_url, outputs, operation):
    error = run_transport_failure(refused_url, operation, outputs)

    # Nothing was sent, so even renewal is retried and fails plainly.
    assert type(error) is ApiConnectionError
    assert len(outputs.log_records("litepolis_client._transport")) >= 2
    outputs.assert_free_of(key=CANARY_KEY)


@pytest.mark.parametrize("operation", TRANSPORT_CALLS)
def test_silent_server_hides_key(outputs, operation):
    with RecordingServer(Fault.SILENCE) as server:
        error = run_transport_failure(server.url, operation, outputs)
        sent = len(server.requests)

    _, attempts = TRANSPORT_CALLS[operation]
    timeout = error if operation == "read" else error.__cause__
    assert sent == attempts
    assert type(error) is (ReadTimeoutError if operation == "read" else RenewalOutcomeUnknownError)
    assert type(timeout) is ReadTimeoutError
    outputs.assert_free_of(key=CANARY_KEY)


@pytest.mark.parametrize("operation", TRANSPORT_CALLS)
def test_connection_reset_hides_key(outputs, operation):
    with RecordingServer(Fault.RESET) as server:
        error = run_transport_failure(server.url, operation, outputs)
        sent = len(server.requests)

    _, attempts = TRANSPORT_CALLS[operation]
    reset = error if operation == "read" else error.__cause__
    assert sent == attempts
    assert type(error) is (ApiConnectionError if operation == "read" else RenewalOutcomeUnknownError)
    assert type(reset) is ApiConnectionError
    assert "reset" in str(reset)
    outputs.assert_free_of(key=CANARY_KEY)


# Keys the client rejects before sending.

REJECTED_KEYS = {
    "CRLF": CANARY_KEY + "\r\nX-Injected: 1",
    "LF": CANARY_KEY + "\n",
    "CR": CANARY_KEY + "\r",
    "NUL": CANARY_KEY + "\0",
    "tab": CANARY_KEY + "\t",
    "non-ASCII": CANARY_KEY + "\u00e9",
    "non-Latin-1": CANARY_KEY + "\u2603",
}


@pytest.mark.parametrize("name", REJECTED_KEYS)
def test_rejected_key_hidden(outputs, name):
    with RecordingServer() as server, debug_client(server.url, REJECTED_KEYS[name]) as client:
        with pytest.raises(ApiValueError) as excinfo:
            UserApi(client).get_testroute_api_v1_secure_get()
        sent = len(server.requests)
    outputs.add_exception(excinfo.value)

    assert sent == 0
    assert "API key" in str(excinfo.value)
    outputs.assert_free_of(key=CANARY_KEY)


@pytest.mark.parametrize("header", ["X-API-Key", "Authorization", "Cookie"])
@pytest.mark.parametrize(
    "name", ["CRLF", "NUL", "non-Latin-1"]
)
def test_rejected_secret_header_hidden(outputs, header, name):
    with RecordingServer() as server, debug_client(server.url, CANARY_KEY) as client:
        with pytest.raises(ApiValueError) as excinfo:
            UserApi(client).get_testroute_api_v1_secure_get(_headers={header: REJECTED_KEYS[name]})
        sent = len(server.requests)
    outputs.add_exception(excinfo.value)

    assert sent == 0
    assert header in str(excinfo.value)
    outputs.assert_free_of(key=CANARY_KEY)


# Plain http:// to a host that is not loopback. `_is_loopback` is patched so
# that 127.0.0.1 counts as remote; the request never leaves this machine.


@pytest.fixture
def remote_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(litepolis_client._client, "_is_loopback", lambda hostname: False)


def warnings_of(outputs: Outputs) -> list[logging.LogRecord]:
    return [record for record in outputs.log_records("litepolis_client") if record.levelno == logging.WARNING]


def test_plain_http_warning_hides_key(remote_loopback, outputs):
    with RecordingServer() as server, debug_client(server.url, CANARY_KEY) as client:
        UserApi(client).get_testroute_api_v1_secure_get()
        UserApi(client).get_testroute_api_v1_secure_get()
        sent = len(server.requests)

    warnings = warnings_of(outputs)
    assert sent == 2
    assert len(warnings) == 1
    assert "127.0.0.1" in warnings[0].getMessage()
    assert "https://" in warnings[0].getMessage()
    outputs.assert_free_of(key=CANARY_KEY)


def test_plain_http_no_key_no_warning(remote_loopback, outputs):
    with RecordingServer() as server, debug_client(server.url, CANARY_KEY) as client:
        DefaultApi(client).get_testroute_api_v1_public_get()

    assert warnings_of(outputs) == []


def test_loopback_http_no_warning(outputs):
    with RecordingServer() as server, debug_client(server.url, CANARY_KEY) as client:
        UserApi(client).get_testroute_api_v1_secure_get()

    assert warnings_of(outputs) == []


# Debug logging uses the logging module only.


@pytest.fixture
def no_log_handlers() -> Iterator[None]:
    """Remove every handler of the root logger, as in a program that never configured logging."""
    root = logging.getLogger()
    package_logger = logging.getLogger("litepolis_client")
    saved_handlers = root.handlers[:]
    saved_levels = (root.level, package_logger.level)
    root.handlers.clear()
    root.setLevel(logging.DEBUG)
    package_logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_levels[0])
        package_logger.setLevel(saved_levels[1])


def test_debug_prints_nothing(no_log_handlers, remote_loopback, capfd):
    with RecordingServer() as server, debug_client(server.url, CANARY_KEY) as client:
        UserApi(client).get_testroute_api_v1_secure_get()
        server.reply = Reply(503, b'{"detail": "Service Unavailable"}')
        with pytest.raises(ApiException):
            UserApi(client).get_testroute_api_v1_secure_get()
    captured = capfd.readouterr()

    # The WARNING and the retry INFO records went to handlers too, but only
    # the package's NullHandler was there.
    assert captured.out == ""
    assert captured.err == ""


def test_debug_keeps_global_state(seed):
    root_handlers = logging.getLogger().handlers[:]
    levels = {name: logging.getLogger(name).level for name in ("", "urllib3", "litepolis_client")}
    with debug_client(seed.server.url, seed.user.key) as client:
        UserApi(client).get_testroute_api_v1_secure_get()

    assert http.client.HTTPConnection.debuglevel == 0
    assert urllib3.connection.HTTPConnection.debuglevel == 0
    assert logging.getLogger().handlers == root_handlers
    assert {name: logging.getLogger(name).level for name in levels} == levels


# Reprs of objects that hold secrets.


def test_configuration_repr_hides_key(outputs):
    configuration = Configuration(
        host="http://127.0.0.1:9",
        api_key={"APIKeyHeader": CANARY_KEY},
        api_key_prefix={"APIKeyHeader": "Bearer"},
    )
    outputs.add_repr("configuration", configuration)
    outputs.add_repr("client", ApiClient(configuration))

    outputs.assert_free_of(key=CANARY_KEY)


def test_profile_repr_hides_password(outputs):
    outputs.add_repr("profile", UserProfile(email="someone@example.org", password=PASSWORD))

    outputs.assert_free_of(password=PASSWORD)


@pytest.mark.parametrize("with_http_info", [False, True])
def test_renewal_result_repr_hides_key(seed, outputs, with_http_info):
    with debug_client(seed.server.url, seed.user.key) as client:
        api = APIKeysApi(client)
        if with_http_info:
            result = api.update_usertoken_api_v1_secure_users_renew_put_with_http_info()
            new_key = result.data.detail
        else:
            result = api.update_usertoken_api_v1_secure_users_renew_put()
            new_key = result.detail
    outputs.add_repr("result", result)

    outputs.assert_free_of(new_key=new_key)
