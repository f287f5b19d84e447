"""Fault injection, quirks, read-backs and the request log of the LitePolis stand-in.

Each fault and quirk is driven through the real client, and through plain
urllib3 where the client's retries or parsing would hide the effect. Most
tests share one module-scoped server, which a fixture resets before each
test; tests that stop a server or exercise the fixtures start their own.
"""

import json
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any, Optional

import pytest
import urllib3

import litepolis_client._retry
from litepolis_client import (
    ApiClient,
    APIKeysApi,
    CommentModel,
    CommentsApi,
    Configuration,
    ConversationModel,
    ConversationsApi,
    DefaultApi,
    RetryPolicy,
    UserApi,
    UserProfile,
)
from litepolis_client.exceptions import (
    ApiConnectionError,
    ForbiddenException,
    InvalidResponseError,
    ReadTimeoutError,
    RenewalOutcomeUnknownError,
    ServiceException,
    UnauthorizedException,
)
from litepolis_client.testing import StandInServer

SECURE = "/api/v1/secure"
PUBLIC = "/api/v1/public/"
RENEW = f"{SECURE}/users/renew"
PROFILE = f"{SECURE}/users/profile"
REQUEST_TIMEOUT_S = 5.0
PLAIN_TEXT = "text/plain; charset=utf-8"
INTERNAL_SERVER_ERROR = b"Internal Server Error"


@pytest.fixture(scope="module")
def shared_server() -> Iterator[StandInServer]:
    with StandInServer() as server:
        yield server


@pytest.fixture
def server(shared_server: StandInServer) -> StandInServer:
    """The shared server with no faults, no quirks and an empty request log."""
    shared_server.reset_faults()
    for name in shared_server.quirks:
        shared_server.disable_quirk(name)
    shared_server.clear_requests()
    return shared_server


@pytest.fixture
def http(server: StandInServer) -> Iterator[urllib3.HTTPConnectionPool]:
    with urllib3.HTTPConnectionPool(
        server.host, server.port, retries=False, timeout=REQUEST_TIMEOUT_S
    ) as pool:
        yield pool


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits that the client's retries requested. None of them happens."""
    waits: list[float] = []
    monkeypatch.setattr(litepolis_client._retry, "sleep", waits.append)
    return waits


def client_for(server: StandInServer, key: Optional[str] = None, **options: Any) -> ApiClient:
    api_key = {} if key is None else {"APIKeyHeader": key}
    return ApiClient(Configuration(host=server.url, api_key=api_key, **options))


def new_user(server: StandInServer, role: str = "user", password: Optional[str] = None):
    """Seed a user with an email that no other test on the shared server uses."""
    return server.add_user(f"{uuid.uuid4().hex[:12]}@example.org", role=role, password=password)


def statuses(server: StandInServer) -> list[Optional[int]]:
    return [request.status for request in server.requests]


# Read-backs of data that requests created.


def test_conversations_read_back_client_created(server):
    alice = new_user(server)

    with client_for(server, alice.key) as client:
        ConversationsApi(client).create_conversation_api_v1_secure_conversations_post(
            ConversationModel(title="Parks", description="More trees?")
        )

    created = [c for c in server.conversations() if c.creator_id == alice.id]
    assert [(c.title, c.description) for c in created] == [("Parks", "More trees?")]


def test_conversations_read_back_in_id_order(server):
    alice = new_user(server)
    first = server.add_conversation(alice.id, "First", "One")
    second = server.add_conversation(alice.id, "Second", "Two")

    ids = [conversation.id for conversation in server.conversations()]

    assert ids == sorted(ids)
    assert ids.index(first) < ids.index(second)


def test_comments_read_back_in_id_order(server):
    alice = new_user(server)
    conversation_id = server.add_conversation(alice.id, "Parks", "More trees?")
    seeded = server.add_comment(conversation_id, alice.id, "Seeded", moderated=True, approved=True)

    with client_for(server, alice.key) as client:
        CommentsApi(client).create_comment_api_v1_secure_comments_post(
            CommentModel(comment="Posted", conversation_id=conversation_id)
        )

    comments = server.comments(conversation_id)
    assert [c.comment for c in comments] == ["Seeded", "Posted"]
    assert comments[0].id == seeded
    assert [(c.moderated, c.approved) for c in comments] == [(True, True), (False, False)]
    assert comments[1].user_id == alice.id


def test_comments_of_missing_conversation_raises(server):
    with pytest.raises(LookupError, match="Conversation 9999 not found"):
        server.comments(9999)


def test_users_read_back_registered_user(server):
    alice = new_user(server)

    with client_for(server, alice.key) as client:
        UserApi(client).create_userprofile_api_v1_secure_users_profile_post(
            UserProfile(email="registered@example.org", password="secret")
        )

    registered = [user for user in server.users() if user.email == "registered@example.org"]
    assert [user.role for user in registered] == ["user"]
    assert server.users()[-1] == registered[0]


def test_read_backs_are_copies(server):
    alice = new_user(server)
    conversation_id = server.add_conversation(alice.id, "Parks", "More trees?")
    server.add_comment(conversation_id, alice.id, "Hello")

    server.conversations()[-1].title = "Changed"
    server.comments(conversation_id)[0].comment = "Changed"

    assert server.conversations()[-1].title == "Parks"
    assert server.comments(conversation_id)[0].comment == "Hello"


# The request log.


def test_requests_log_method_path_query_status(server):
    alice = new_user(server)
    conversation_id = server.add_conversation(alice.id, "Parks", "More trees?")

    with client_for(server, alice.key) as client:
        CommentsApi(client).get_comments_api_v1_secure_comments_cid_get(
            conversation_id, random=False, moderated=True
        )
    with client_for(server) as client:
        DefaultApi(client).get_testroute_api_v1_public_get()

    first, second = server.requests
    assert first.method == "GET"
    assert first.path == f"{SECURE}/comments/{conversation_id}/"
    assert first.query == "random=false&moderated=true"
    assert first.has_api_key is True
    assert first.status == 200
    assert first.faults == ()
    assert (second.path, second.query, second.has_api_key, second.status) == (PUBLIC, "", False, 200)


def test_requests_log_records_error_status(server):
    with client_for(server, str(uuid.uuid4())) as client:
        with pytest.raises(UnauthorizedException):
            UserApi(client).get_testroute_api_v1_secure_get()

    assert statuses(server) == [401]
    assert server.requests[0].has_api_key is True


def test_requests_log_counts_empty_key_as_present(server, http):
    http.request("GET", f"{SECURE}/", headers={"X-API-Key": ""})

    assert [(r.has_api_key, r.status) for r in server.requests] == [(True, 403)]


def test_requests_log_holds_no_key(server):
    alice = new_user(server)

    with client_for(server, alice.key) as client:
        new_key = APIKeysApi(client).update_usertoken_api_v1_secure_users_renew_put().detail
        UserApi(client).get_testroute_api_v1_secure_get()

    recorded = repr(server.requests) + repr(server) + repr(server.state)
    assert len(server.requests) == 2
    assert alice.key not in recorded
    assert new_key not in recorded


def test_clear_requests_empties_log(server, http):
    http.request("GET", PUBLIC)

    server.clear_requests()

    assert server.requests == []
    http.request("GET", PUBLIC)
    assert statuses(server) == [200]


# fail_next.


def test_fail_next_503_retried_after_retry_after(server, sleeps):
    alice = new_user(server)
    server.fail_next(1, 503, headers={"Retry-After": "0"})

    with client_for(server, alice.key) as client:
        me = UserApi(client).get_testroute_api_v1_secure_get()

    assert me.detail.id == alice.id
    assert sleeps == [0.0]
    assert statuses(server) == [503, 200]
    assert [request.faults for request in server.requests] == [("fail",), ()]


def test_fail_next_exhausting_retries_raises(server, sleeps):
    alice = new_user(server)
    server.fail_next(3, 503, "Service Unavailable", {"Retry-After": "0"})

    with client_for(server, alice.key) as client:
        with pytest.raises(ServiceException) as excinfo:
            UserApi(client).get_testroute_api_v1_secure_get()

    assert excinfo.value.status == 503
    assert excinfo.value.body == b"Service Unavailable"
    assert sleeps == [0.0, 0.0]
    assert statuses(server) == [503, 503, 503]


def test_fail_next_disarms_after_count(server, http):
    server.fail_next(2, 502)

    received = [http.request("GET", PUBLIC).status for _ in range(3)]

    assert received == [502, 502, 200]


def test_fail_next_none_count_until_reset(server, http):
    server.fail_next(None, 500)

    received = [http.request("GET", PUBLIC).status for _ in range(3)]
    server.reset_faults()

    assert received == [500, 500, 500]
    assert http.request("GET", PUBLIC).status == 200


def test_fail_next_path_leaves_other_paths(server, http):
    server.fail_next(1, 500, path=f"{SECURE}/comments/")
    alice = new_user(server)
    conversation_id = server.add_conversation(alice.id, "Parks", "More trees?")
    headers = {"X-API-Key": alice.key}

    other = http.request("GET", f"{SECURE}/", headers=headers)
    matching = http.request("GET", f"{SECURE}/comments/{conversation_id}/", headers=headers)

    assert (other.status, matching.status) == (200, 500)


def test_fail_next_method_leaves_other_methods(server, http):
    alice = new_user(server)
    headers = {"X-API-Key": alice.key}
    server.fail_next(1, 500, method="put", path=RENEW)

    read = http.request("GET", PROFILE, headers=headers)
    renewal = http.request("PUT", RENEW, headers=headers)

    assert (read.status, renewal.status) == (200, 500)


@pytest.mark.parametrize(
    ("body", "content_type", "raw_body"),
    [
        (None, None, b""),
        ("Bad Gateway", PLAIN_TEXT, b"Bad Gateway"),
        ({"detail": "Down"}, "application/json", b'{"detail":"Down"}'),
        (["a", 1], "application/json", b'["a",1]'),
        # Bytes go out as given, with no Content-Type unless headers name one.
        (b"\x00\xff", None, b"\x00\xff"),
    ],
)
def test_fail_next_body_kinds(server, http, body, content_type, raw_body):
    server.fail_next(1, 502, body)

    response = http.request("GET", PUBLIC)

    assert response.status == 502
    assert response.headers.get("Content-Type") == content_type
    assert response.headers["Content-Length"] == str(len(raw_body))
    assert response.data == raw_body


def test_fail_next_headers_win_over_content_type(server, http):
    server.fail_next(1, 503, "<html/>", {"Content-Type": "text/html", "X-Request-Id": "abc"})

    response = http.request("GET", PUBLIC)

    assert response.headers["Content-Type"] == "text/html"
    assert response.headers["X-Request-Id"] == "abc"


def test_fail_next_keeps_connection_usable(server, http):
    server.fail_next(1, 400, {"detail": "Bad"})

    failed = http.request("POST", f"{SECURE}/comments/", json={"comment": "x" * 10_000})
    after = http.request("GET", PUBLIC)

    assert (failed.status, after.status) == (400, 200)
    assert http.num_connections == 1


def test_fail_next_unreadable_2xx_body(server):
    alice = new_user(server)
    server.fail_next(1, 200, b"not json", {"Content-Type": "application/json"})

    with client_for(server, alice.key) as client:
        with pytest.raises(InvalidResponseError) as excinfo:
            UserApi(client).get_testroute_api_v1_secure_get()

    assert excinfo.value.status == 200
    assert excinfo.value.body == b"not json"


def test_fail_next_renewal_503_outcome_unknown(server, sleeps):
    alice = new_user(server)
    server.fail_next(1, 503, headers={"Retry-After": "0"}, path=RENEW)

    with client_for(server, alice.key) as client:
        with pytest.raises(RenewalOutcomeUnknownError) as excinfo:
            APIKeysApi(client).update_usertoken_api_v1_secure_users_renew_put()

    # The client never replays a renewal, and the app never saw this one.
    assert isinstance(excinfo.value.__cause__, ServiceException)
    assert sleeps == []
    assert server.live_keys(alice.id) == [alice.key]
    assert statuses(server) == [503]


@pytest.mark.parametrize(
    ("arguments", "options", "message"),
    [
        ((0, 503), {}, "Invalid count 0"),
        ((True, 503), {}, "Invalid count True"),
        ((1, 199), {}, "Invalid status 199"),
        ((1, 600), {}, "Invalid status 600"),
        ((1, "503"), {}, "Invalid status '503'"),
        ((1, 204, "body"), {}, "HTTP 204 has no body"),
        ((1, 503), {"path": "api/v1"}, "Invalid path 'api/v1'"),
        ((1, 503), {"method": "GET /"}, "Invalid method 'GET /'"),
        ((1, 503, None, {"Content-Length": "3"}), {}, "derived from the body"),
        ((1, 503, None, {"X-Bad": "a\r\nb"}), {}, "CR, LF or NUL"),
        ((1, 503, None, {"Bad Name": "a"}), {}, "Invalid header name"),
    ],
)
def test_fail_next_rejects_invalid_arguments(server, arguments, options, message):
    with pytest.raises(ValueError, match=message):
        server.fail_next(*arguments, **options)


def test_fail_next_rejects_body_of_other_type(server):
    with pytest.raises(TypeError, match="body must be None, bytes, str, dict or list, got int"):
        server.fail_next(1, 503, 42)


# Dropped connections.


def test_drop_next_renewal_outcome_unknown(server):
    alice = new_user(server)
    server.drop_next_renewal()

    with client_for(server, alice.key) as client:
        with pytest.raises(RenewalOutcomeUnknownError) as excinfo:
            APIKeysApi(client).update_usertoken_api_v1_secure_users_renew_put()
        configured_key = client.configuration.api_key["APIKeyHeader"]

    # The server renewed: the old key is revoked and one new key is live.
    assert isinstance(excinfo.value.__cause__, ApiConnectionError)
    assert excinfo.value.__cause__.request_sent is True
    assert not server.is_live(alice.key)
    live_keys = server.live_keys(alice.id)
    assert len(live_keys) == 1
    assert live_keys[0] != alice.key
    # The client never saw the new key, so it kept the old one.
    assert configured_key == alice.key
    assert [(r.method, r.path, r.status, r.faults) for r in server.requests] == [
        ("PUT", RENEW, None, ("drop",))
    ]


def test_drop_next_renewal_applies_once(server):
    alice = new_user(server)
    server.drop_next_renewal()

    with client_for(server, alice.key) as client:
        with pytest.raises(RenewalOutcomeUnknownError):
            APIKeysApi(client).update_usertoken_api_v1_secure_users_renew_put()
        client.configuration.api_key["APIKeyHeader"] = server.live_keys(alice.id)[0]
        renewed = APIKeysApi(client).update_usertoken_api_v1_secure_users_renew_put()

    assert server.live_keys(alice.id) == [renewed.detail]
    assert statuses(server) == [None, 200]


def test_drop_raw_request_gets_no_response(server, http):
    server.drop_next(path=PUBLIC)

    with pytest.raises(urllib3.exceptions.ProtocolError, match="without response"):
        http.request("GET", PUBLIC)

    assert http.request("GET", PUBLIC).status == 200


def test_drop_raw_socket_reads_no_byte(server):
    server.drop_next()

    with socket.create_connection((server.host, server.port), timeout=REQUEST_TIMEOUT_S) as sock:
        sock.sendall(b"GET /api/v1/public/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        received = sock.recv(1024)

    assert received == b""


def test_drop_next_get_retried_by_client(server, sleeps):
    alice = new_user(server)
    server.drop_next(method="GET", path=f"{SECURE}/")

    with client_for(server, alice.key) as client:
        me = UserApi(client).get_testroute_api_v1_secure_get()

    assert me.detail.id == alice.id
    assert len(sleeps) == 1
    assert statuses(server) == [None, 200]


def test_drop_registration_still_applies(server):
    alice = new_user(server)
    email = f"{uuid.uuid4().hex[:12]}@example.org"
    server.drop_next(method="POST", path=PROFILE)

    with client_for(server, alice.key) as client:
        with pytest.raises(RenewalOutcomeUnknownError):
            UserApi(client).create_userprofile_api_v1_secure_users_profile_post(
                UserProfile(email=email, password="secret")
            )

    assert [user.email for user in server.users()].count(email) == 1
    assert not server.is_live(alice.key)
    assert len(server.live_keys(alice.id)) == 1


def test_drop_next_leaves_other_methods(server, http):
    alice = new_user(server)
    server.drop_next(method="POST", path=PROFILE)

    response = http.request("GET", PROFILE, headers={"X-API-Key": alice.key})

    assert response.status == 200
    assert server.requests[0].faults == ()


# Delays.


def test_delay_past_read_timeout_raises(server):
    alice = new_user(server)
    server.delay(5.0)
    started = time.monotonic()

    with client_for(server, alice.key, retry=RetryPolicy.disabled()) as client:
        with pytest.raises(ReadTimeoutError):
            UserApi(client).get_testroute_api_v1_secure_get(_request_timeout=(1.0, 0.1))

    # The delay ends when the client gives up, not after 5 s.
    assert time.monotonic() - started < 2.0
    deadline = time.monotonic() + REQUEST_TIMEOUT_S
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [(r.status, r.faults) for r in server.requests] == [(None, ("delay",))]


def test_delay_then_responds(server, http):
    server.delay(0.2)
    started = time.monotonic()

    response = http.request("GET", PUBLIC)

    assert response.status == 200
    assert time.monotonic() - started >= 0.2
    assert server.requests[0].faults == ("delay",)


def test_delay_keeps_request_body(server, http):
    alice = new_user(server)
    conversation_id = server.add_conversation(alice.id, "Parks", "More trees?")
    server.delay(0.01, method="POST")

    response = http.request(
        "POST",
        f"{SECURE}/comments/",
        headers={"X-API-Key": alice.key},
        json={"comment": "Delayed", "conversation_id": conversation_id},
    )

    assert response.status == 200
    assert [comment.comment for comment in server.comments(conversation_id)] == ["Delayed"]


def test_delay_disarms_after_count(server, http):
    server.delay(0.01, 2)

    for _ in range(3):
        http.request("GET", PUBLIC)

    assert [r.faults for r in server.requests] == [("delay",), ("delay",), ()]


def test_delay_then_fail_both_apply(server, http):
    server.delay(0.01)
    server.fail_next(1, 503)

    assert http.request("GET", PUBLIC).status == 503
    assert [(r.status, r.faults) for r in server.requests] == [(503, ("delay", "fail"))]


def test_abandoned_delay_keeps_fail_armed(server, http):
    server.delay(5.0)
    server.fail_next(1, 503)

    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        http.request("GET", PUBLIC, timeout=urllib3.Timeout(connect=1.0, read=0.1))
    # The abandoned request did not use up the fail.
    assert http.request("GET", PUBLIC).status == 503
    assert http.request("GET", PUBLIC).status == 200


@pytest.mark.parametrize("seconds", [-1, 31, float("nan"), float("inf"), True, "1"])
def test_delay_rejects_invalid_seconds(server, seconds):
    with pytest.raises(ValueError, match="Invalid delay"):
        server.delay(seconds)


def test_stop_ends_delay_in_progress():
    server = StandInServer()
    server.start()
    server.delay(20.0)
    with socket.create_connection((server.host, server.port), timeout=REQUEST_TIMEOUT_S) as sock:
        sock.sendall(b"GET /api/v1/public/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        # Nothing shows that the delay has begun, so give the server ample time to get there.
        time.sleep(0.2)
        started = time.monotonic()
        server.stop()
        stop_seconds = time.monotonic() - started
        received = sock.recv(1024)

    assert stop_seconds < 2.0
    assert received == b""
    assert [(r.status, r.faults) for r in server.requests] == [(None, ("delay",))]


# reset_faults.


def test_reset_faults_disarms_every_kind(server, http):
    server.fail_next(1, 503)
    server.drop_next()
    server.delay(5.0)
    server.enable_quirk("missing_key_401")

    server.reset_faults()

    assert http.request("GET", PUBLIC).status == 200
    assert server.requests[0].faults == ()
    # Quirks are not faults, so they stay on.
    assert server.quirks == {"missing_key_401"}


# Quirks of the original server.


def test_unknown_key_500_through_client(server):
    server.enable_quirk("unknown_key_500")

    with client_for(server, str(uuid.uuid4())) as client:
        with pytest.raises(ServiceException) as excinfo:
            UserApi(client).get_testroute_api_v1_secure_get()

    error = excinfo.value
    assert error.status == 500
    assert error.headers["Content-Type"] == PLAIN_TEXT
    assert error.body == INTERNAL_SERVER_ERROR


@pytest.mark.parametrize(
    "key_kind", ["unknown uuid4", "not a uuid", "upper-cased live key"]
)
def test_unknown_key_500_for_each_bad_key(server, http, key_kind):
    server.enable_quirk("unknown_key_500")
    alice = new_user(server)
    key = {
        "unknown uuid4": str(uuid.uuid4()),
        "not a uuid": "not-a-uuid",
        "upper-cased live key": alice.key.upper(),
    }[key_kind]

    response = http.request("GET", f"{SECURE}/", headers={"X-API-Key": key})

    assert response.status == 500
    assert response.headers["Content-Type"] == PLAIN_TEXT
    assert response.data == INTERNAL_SERVER_ERROR


def test_unknown_key_500_before_path_validation(server, http):
    server.enable_quirk("unknown_key_500")

    response = http.request("GET", f"{SECURE}/conversations/abc", headers={"X-API-Key": "bad"})

    assert response.status == 500


def test_unknown_key_500_live_key_works(server):
    server.enable_quirk("unknown_key_500")
    alice = new_user(server)

    with client_for(server, alice.key) as client:
        assert UserApi(client).get_testroute_api_v1_secure_get().detail.id == alice.id


def test_renewal_keeps_old_key_both_live(server):
    server.enable_quirk("renewal_keeps_old_key")
    alice = new_user(server)

    with client_for(server, alice.key) as client:
        new_key = APIKeysApi(client).update_usertoken_api_v1_secure_users_renew_put().detail
        configured_key = client.configuration.api_key["APIKeyHeader"]

    assert new_key != alice.key
    assert server.live_keys(alice.id) == [alice.key, new_key]
    assert configured_key == new_key


def test_renewal_keeps_old_key_keys_accumulate(server, http):
    server.enable_quirk("renewal_keeps_old_key")
    alice = new_user(server)

    for _ in range(3):
        http.request("PUT", RENEW, headers={"X-API-Key": alice.key})

    assert len(server.live_keys(alice.id)) == 4
    assert server.is_live(alice.key)


def test_renewal_keeps_old_key_on_registration(server):
    server.enable_quirk("renewal_keeps_old_key")
    alice = new_user(server)

    with client_for(server, alice.key) as client:
        new_key = UserApi(client).create_userprofile_api_v1_secure_users_profile_post(
            UserProfile(email=f"{uuid.uuid4().hex[:12]}@example.org", password="secret")
        ).detail

    assert server.live_keys(alice.id) == [alice.key, new_key]


def test_renewal_keeps_old_key_with_dropped_response(server):
    server.enable_quirk("renewal_keeps_old_key")
    alice = new_user(server)
    server.drop_next_renewal()

    with client_for(server, alice.key) as client:
        with pytest.raises(RenewalOutcomeUnknownError):
            APIKeysApi(client).update_usertoken_api_v1_secure_users_renew_put()
        # On the original server the old key still works after a lost renewal.
        me = UserApi(client).get_testroute_api_v1_secure_get()

    assert me.detail.id == alice.id
    assert len(server.live_keys(alice.id)) == 2


def test_missing_key_401_through_client(server):
    server.enable_quirk("missing_key_401")

    with client_for(server) as client:
        with pytest.raises(UnauthorizedException) as excinfo:
            UserApi(client).get_testroute_api_v1_secure_get()

    assert excinfo.value.headers["WWW-Authenticate"] == "APIKey"
    assert json.loads(excinfo.value.body) == {"detail": "Not authenticated"}


def test_missing_key_403_without_quirk(server):
    with client_for(server) as client:
        with pytest.raises(ForbiddenException) as excinfo:
            UserApi(client).get_testroute_api_v1_secure_get()

    assert "WWW-Authenticate" not in excinfo.value.headers


def test_missing_key_401_for_empty_key(server, http):
    server.enable_quirk("missing_key_401")

    response = http.request("GET", f"{SECURE}/", headers={"X-API-Key": ""})

    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "APIKey"


def test_auth_always_500(server):
    server.enable_quirk("auth_always_500")
    gui = new_user(server, role="GUI")
    ada = new_user(server, password="secret")

    with client_for(server, gui.key) as client:
        with pytest.raises(ServiceException) as excinfo:
            UserApi(client).get_userauth_api_v1_secure_users_auth_post(
                UserProfile(email=ada.email, password="secret")
            )

    assert excinfo.value.body == INTERNAL_SERVER_ERROR
    assert server.live_keys(ada.id) == [ada.key]


def test_comments_list_500(server, http):
    server.enable_quirk("comments_list_500")
    alice = new_user(server)
    empty = server.add_conversation(alice.id, "Empty", "No comments")
    filled = server.add_conversation(alice.id, "Filled", "One comment")
    server.add_comment(filled, alice.id, "Hello")
    headers = {"X-API-Key": alice.key}

    def status_of(conversation_id: int, **fields: str) -> int:
        path = f"{SECURE}/comments/{conversation_id}/"
        return http.request("GET", path, headers=headers, fields=fields).status

    assert status_of(empty) == 500
    assert status_of(empty, random="false") == 200
    assert status_of(filled, random="false") == 500


def test_comments_list_500_through_client(server):
    server.enable_quirk("comments_list_500")
    alice = new_user(server)
    conversation_id = server.add_conversation(alice.id, "Empty", "No comments")

    with client_for(server, alice.key) as client:
        comments = CommentsApi(client)
        empty = comments.get_comments_api_v1_secure_comments_cid_get(conversation_id, random=False)
        with pytest.raises(ServiceException):
            comments.get_comments_api_v1_secure_comments_cid_get(conversation_id)

    assert empty.detail == []


def test_disable_quirk_restores_contract(server, http):
    server.enable_quirk("unknown_key_500")
    server.disable_quirk("unknown_key_500")

    response = http.request("GET", f"{SECURE}/", headers={"X-API-Key": "bad"})

    assert response.status == 401
    assert server.quirks == frozenset()


@pytest.mark.parametrize("name", ["unknown_key", "UNKNOWN_KEY_500", "", None])
def test_enable_quirk_rejects_unknown_name(server, name):
    with pytest.raises(ValueError) as excinfo:
        server.enable_quirk(name)

    message = str(excinfo.value)
    assert repr(name) in message
    for valid_name in StandInServer.QUIRKS:
        assert valid_name in message


def test_constructor_rejects_unknown_quirk():
    with pytest.raises(ValueError, match="Unknown quirk 'renewal'"):
        StandInServer(quirks=["renewal"])


def test_constructor_rejects_quirks_as_str():
    with pytest.raises(TypeError, match=r"\['unknown_key_500'\], not a str"):
        StandInServer(quirks="unknown_key_500")


def test_quirk_names():
    assert StandInServer.QUIRKS == (
        "auth_always_500",
        "comments_list_500",
        "missing_key_401",
        "renewal_keeps_old_key",
        "unknown_key_500",
    )


# The pytest fixtures.


def test_factory_applies_quirks(litepolis_server_factory):
    first = litepolis_server_factory(quirks=["unknown_key_500", "missing_key_401"], seed=7)
    second = litepolis_server_factory()

    assert first.quirks == {"unknown_key_500", "missing_key_401"}
    assert second.quirks == frozenset()
    assert first.port != second.port
    with urllib3.HTTPConnectionPool(first.host, first.port, retries=False) as http:
        assert http.request("GET", f"{SECURE}/", headers={"X-API-Key": "bad"}).status == 500


def test_factory_seed_repeats_shuffle(litepolis_server_factory):
    orders = []
    for _ in range(2):
        server = litepolis_server_factory(seed=3)
        alice = server.add_user("alice@example.org")
        conversation_id = server.add_conversation(alice.id, "Parks", "More trees?")
        for number in range(8):
            server.add_comment(conversation_id, alice.id, f"Comment {number}")
        with client_for(server, alice.key) as client:
            listed = CommentsApi(client).get_comments_api_v1_secure_comments_cid_get(conversation_id)
        orders.append([comment.id for comment in listed.detail])

    assert orders[0] == orders[1]


def test_litepolis_server_fixture_starts_clean(litepolis_server):
    assert litepolis_server.quirks == frozenset()
    assert litepolis_server.requests == []
    assert litepolis_server.users() == []
