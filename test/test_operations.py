"""All 20 methods of the generated client, sent over HTTP to the LitePolis stand-in on 127.0.0.1.

Statuses and texts come from the LitePolis v1 contract where it fixes them, else from the stand-in.
"""

import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Optional

import pytest

from litepolis_client import (
    ApiClient,
    ApiException,
    APIKeysApi,
    CommentModel,
    CommentResponse,
    CommentResponseMessage,
    CommentsApi,
    Configuration,
    ConversationModel,
    ConversationResponse,
    ConversationResponseMessage,
    ConversationsApi,
    DefaultApi,
    HTTPValidationError,
    ResponseMessage,
    UserApi,
    UserProfile,
    UserResponseMessage,
)
from litepolis_client.exceptions import (
    BadRequestException,
    ForbiddenException,
    LitePolisError,
    NotFoundException,
    RenewalOutcomeUnknownError,
    UnauthorizedException,
    UnprocessableEntityException,
)
from litepolis_client.testing import SeededUser, StandInServer

ROLES = ("guest", "user", "root", "GUI")
PASSWORD = "correct horse battery staple"
# PUT /users/profile accepts only 32-character passwords, because the web
# front end sends an MD5 hex digest there.
PROFILE_PASSWORD = hashlib.md5(b"a new password").hexdigest()
NOT_AN_EMAIL = "not-an-email"

# Response texts that the contract fixes.
NOT_AUTHENTICATED = "Not authenticated"
INVALID_API_KEY = "Invalid API key"
UNAUTHORIZED = "Unauthorized"
METHOD_NOT_ALLOWED = "Method Not Allowed"
INVALID_PASSWORD = "Invalid password"
INVALID_PARAMETER = "Invalid parameter"
NEW_API_KEY = "New API Key"
USER_INFORMATION = "User information"


# The client checks field types before it sends, and raises on a value
# that does not fit. These subclasses take any value in the fields
# that the tests below send with the wrong type, so that the request
# reaches the server's own validation.
class LooseConversationModel(ConversationModel):
    id: Any = None
    title: Any = None


class LooseCommentModel(CommentModel):
    conversation_id: Any = None
    task: Any = None


def connect(url: str, key: Optional[str] = None) -> ApiClient:
    """Return a client for ``url`` that sends ``key`` as X-API-Key, or no key for ``None``."""
    # Always pass host, because the generated default is http://localhost.
    configuration = Configuration(host=url)
    if key is not None:
        configuration.api_key["APIKeyHeader"] = key
    return ApiClient(configuration)


def read_caller(url: str, key: str) -> UserResponseMessage:
    """Return the user that ``GET /api/v1/secure/`` reports for ``key``."""
    with connect(url, key) as client:
        return UserApi(client).get_testroute_api_v1_secure_get().detail


def check_error(
    excinfo: pytest.ExceptionInfo, exception_class: type, status: int, detail: str
) -> None:
    """Check an error response of the form ``{"detail": "<text>"}``."""
    error = excinfo.value
    assert type(error) is exception_class
    assert error.status == status
    assert error.reason == HTTPStatus(status).phrase
    assert json.loads(error.body) == {"detail": detail}


def check_validation_error(excinfo: pytest.ExceptionInfo, loc: list) -> None:
    """Check a 422 response whose first validation error is at ``loc``."""
    error = excinfo.value
    assert type(error) is UnprocessableEntityException
    assert error.status == 422
    assert error.reason == HTTPStatus(422).phrase
    assert isinstance(error.data, HTTPValidationError)
    assert json.loads(error.body)["detail"][0]["loc"] == loc


def check_new_key(response: Any, old_key: str) -> str:
    """Check a response that carries a new API key, and return the key."""
    assert type(response) is ResponseMessage
    assert response.message == NEW_API_KEY
    assert response.error is None
    assert response.status_code == 200

    key = response.detail
    assert isinstance(key, str)
    assert key != old_key
    assert uuid.UUID(key).version == 4
    # The canonical form: lower case, with hyphens.
    assert str(uuid.UUID(key)) == key
    return key


@dataclass(frozen=True)
class Seed:
    """A stand-in with a user of each role, and a conversation with one comment by the ``user`` user."""

    server: StandInServer
    users: dict[str, SeededUser]
    conversation_id: int
    comment_id: int

    @property
    def url(self) -> str:
        return self.server.url


def seed(server: StandInServer) -> Seed:
    users = {
        role: server.add_user(f"{role.lower()}@example.org", role=role, password=PASSWORD)
        for role in ROLES
    }
    conversation_id = server.add_conversation(
        users["user"].id, "Parks", "Where should the city plant trees?"
    )
    comment_id = server.add_comment(conversation_id, users["user"].id, "Along the river.")
    return Seed(server, users, conversation_id, comment_id)


@pytest.fixture
def seeded(litepolis_server: StandInServer) -> Seed:
    return seed(litepolis_server)


@pytest.fixture(scope="module")
def shared_seeded() -> Iterator[Seed]:
    """Yield one seeded stand-in for the tests whose requests must all be rejected.

    A rejected request changes no state, so these tests can share a server.
    That saves the time to stop a server per test, about 0.2 s with uvicorn 0.55.
    """
    with StandInServer() as server:
        yield seed(server)


# One valid call of each secure method, keyed by API class and operation.
SECURE_CALLS: dict[str, Callable[[ApiClient, Seed], Any]] = {
    "APIKeysApi.update_usertoken": lambda client, seed: (
        APIKeysApi(client).update_usertoken_api_v1_secure_users_renew_put()
    ),
    "UserApi.update_usertoken": lambda client, seed: (
        UserApi(client).update_usertoken_api_v1_secure_users_renew_put()
    ),
    "UserApi.get_testroute": lambda client, seed: (
        UserApi(client).get_testroute_api_v1_secure_get()
    ),
    "UserApi.get_userrole": lambda client, seed: (
        UserApi(client).get_userrole_api_v1_secure_users_role_get()
    ),
    "UserApi.get_userauth": lambda client, seed: (
        UserApi(client).get_userauth_api_v1_secure_users_auth_post(
            UserProfile(email=seed.users["user"].email, password=PASSWORD)
        )
    ),
    "UserApi.get_userprofile": lambda client, seed: (
        UserApi(client).get_userprofile_api_v1_secure_users_profile_get()
    ),
    "UserApi.create_userprofile": lambda client, seed: (
        UserApi(client).create_userprofile_api_v1_secure_users_profile_post(
            UserProfile(email="new@example.org", password=PASSWORD)
        )
    ),
    "UserApi.update_userprofile": lambda client, seed: (
        UserApi(client).update_userprofile_api_v1_secure_users_profile_put(
            UserProfile(email="renamed@example.org", password=PROFILE_PASSWORD)
        )
    ),
    "UserApi.delete_userprofile": lambda client, seed: (
        UserApi(client).delete_userprofile_api_v1_secure_users_profile_delete()
    ),
    "ConversationsApi.get_all_conversations": lambda client, seed: (
        ConversationsApi(client).get_all_conversations_api_v1_secure_conversations_all_get()
    ),
    "ConversationsApi.get_conversation": lambda client, seed: (
        ConversationsApi(client).get_conversation_api_v1_secure_conversations_cid_get(
            seed.conversation_id
        )
    ),
    "ConversationsApi.create_conversation": lambda client, seed: (
        ConversationsApi(client).create_conversation_api_v1_secure_conversations_post(
            ConversationModel(title="Bike lanes", description="Which streets need one?")
        )
    ),
    "ConversationsApi.update_conversation": lambda client, seed: (
        ConversationsApi(client).update_conversation_api_v1_secure_conversations_put(
            ConversationModel(id=seed.conversation_id, title="Parks and gardens")
        )
    ),
    "ConversationsApi.delete_conversation": lambda client, seed: (
        ConversationsApi(client).delete_conversation_api_v1_secure_conversations_cid_delete(
            seed.conversation_id
        )
    ),
    "CommentsApi.get_comments": lambda client, seed: (
        CommentsApi(client).get_comments_api_v1_secure_comments_cid_get(seed.conversation_id)
    ),
    "CommentsApi.get_comments_for_moderation": lambda client, seed: (
        CommentsApi(client).get_comments_for_moderation_api_v1_secure_comments_cid_moderate_get(
            seed.conversation_id
        )
    ),
    "CommentsApi.create_comment": lambda client, seed: (
        CommentsApi(client).create_comment_api_v1_secure_comments_post(
            CommentModel(comment="Near the school.", conversation_id=seed.conversation_id)
        )
    ),
    "CommentsApi.update_comment": lambda client, seed: (
        CommentsApi(client).update_comment_api_v1_secure_comments_put(
            CommentModel(comment_id=seed.comment_id, comment="Along the canal.")
        )
    ),
    "CommentsApi.delete_comment": lambda client, seed: (
        CommentsApi(client).delete_comment_api_v1_secure_comments_cid_delete(seed.comment_id)
    ),
}


# Authentication and roles. Every request here is rejected.


def test_secure_calls_cover_every_method():
    methods = {
        f"{api_class.__name__}.{name.split('_api_v1_')[0]}"
        for api_class in (APIKeysApi, UserApi, ConversationsApi, CommentsApi)
        for name in vars(api_class)
        if "_api_v1_" in name
        and not name.startswith("_")
        and not name.endswith(("_with_http_info", "_without_preload_content"))
    }

    assert set(SECURE_CALLS) == methods
    # 18 secure operations, plus renewal a second time in APIKeysApi.
    assert len(SECURE_CALLS) == 19


@pytest.mark.parametrize("name", SECURE_CALLS)
def test_missing_key_rejected(shared_seeded, name):
    with connect(shared_seeded.url) as client, pytest.raises(ApiException) as excinfo:
        SECURE_CALLS[name](client, shared_seeded)

    check_error(excinfo, ForbiddenException, 403, NOT_AUTHENTICATED)


@pytest.mark.parametrize("name", SECURE_CALLS)
def test_unknown_key_rejected(shared_seeded, name):
    unknown_key = str(uuid.uuid4())

    with connect(shared_seeded.url, unknown_key) as client, pytest.raises(ApiException) as excinfo:
        SECURE_CALLS[name](client, shared_seeded)

    check_error(excinfo, UnauthorizedException, 401, INVALID_API_KEY)


@pytest.mark.parametrize(
    "make_key",
    [
        pytest.param(lambda seed: "not-a-key", id="not-uuid"),
        # Keys are compared as stored, so the upper-cased form of a live key is unknown.
        pytest.param(lambda seed: seed.users["user"].key.upper(), id="upper-cased"),
    ],
)
def test_malformed_key_rejected(shared_seeded, make_key):
    key = make_key(shared_seeded)

    with connect(shared_seeded.url, key) as client, pytest.raises(ApiException) as excinfo:
        UserApi(client).get_testroute_api_v1_secure_get()

    check_error(excinfo, UnauthorizedException, 401, INVALID_API_KEY)


# (method, role, error): each role that the contract bars from a method.
# Login rejects a caller that is not GUI with 403, the others reject with 401.
ROLE_DENIALS = [
    ("UserApi.get_userauth", "guest", ForbiddenException, 403, "Forbidden"),
    ("UserApi.get_userauth", "user", ForbiddenException, 403, "Forbidden"),
    ("UserApi.get_userauth", "root", ForbiddenException, 403, "Forbidden"),
    ("UserApi.update_userprofile", "guest", UnauthorizedException, 401, UNAUTHORIZED),
    ("UserApi.update_userprofile", "GUI", UnauthorizedException, 401, UNAUTHORIZED),
    ("ConversationsApi.create_conversation", "guest", UnauthorizedException, 401, UNAUTHORIZED),
    ("ConversationsApi.create_conversation", "root", UnauthorizedException, 401, UNAUTHORIZED),
    ("ConversationsApi.create_conversation", "GUI", UnauthorizedException, 401, UNAUTHORIZED),
    ("ConversationsApi.update_conversation", "guest", UnauthorizedException, 401, UNAUTHORIZED),
    ("ConversationsApi.update_conversation", "root", UnauthorizedException, 401, UNAUTHORIZED),
    ("ConversationsApi.update_conversation", "GUI", UnauthorizedException, 401, UNAUTHORIZED),
    ("CommentsApi.create_comment", "root", UnauthorizedException, 401, UNAUTHORIZED),
    ("CommentsApi.create_comment", "GUI", UnauthorizedException, 401, UNAUTHORIZED),
    ("CommentsApi.update_comment", "guest", UnauthorizedException, 401, UNAUTHORIZED),
    ("CommentsApi.update_comment", "root", UnauthorizedException, 401, UNAUTHORIZED),
    ("CommentsApi.update_comment", "GUI", UnauthorizedException, 401, UNAUTHORIZED),
]


@pytest.mark.parametrize(("name", "role", "exception_class", "status", "detail"), ROLE_DENIALS)
def test_role_rejected(shared_seeded, name, role, exception_class, status, detail):
    caller = shared_seeded.users[role]

    with connect(shared_seeded.url, caller.key) as client, pytest.raises(ApiException) as excinfo:
        SECURE_CALLS[name](client, shared_seeded)

    check_error(excinfo, exception_class, status, detail)


@pytest.mark.parametrize(
    "name",
    ["UserApi.delete_userprofile", "ConversationsApi.delete_conversation", "CommentsApi.delete_comment"],
)
@pytest.mark.parametrize("role", ["user", "root"])
def test_delete_always_rejected(shared_seeded, name, role):
    caller = shared_seeded.users[role]

    with connect(shared_seeded.url, caller.key) as client, pytest.raises(ApiException) as excinfo:
        SECURE_CALLS[name](client, shared_seeded)

    check_error(excinfo, ForbiddenException, 403, METHOD_NOT_ALLOWED)


# GET /api/v1/public/


def test_public_health_ok(litepolis_server):
    with connect(litepolis_server.url) as client:
        health = DefaultApi(client).get_testroute_api_v1_public_get()

    assert health == {"detail": "OK"}


def test_public_health_database_down(litepolis_server):
    litepolis_server.set_database_up(False)

    with connect(litepolis_server.url) as client:
        health = DefaultApi(client).get_testroute_api_v1_public_get()

    assert health == {"detail": "DB conn failed"}


# GET /api/v1/secure/, GET /users/profile and GET /users/role


@pytest.mark.parametrize(
    "read",
    [
        pytest.param(lambda api: api.get_testroute_api_v1_secure_get(), id="secure-root"),
        pytest.param(lambda api: api.get_userprofile_api_v1_secure_users_profile_get(), id="profile"),
    ],
)
@pytest.mark.parametrize("role", ROLES)
def test_read_caller_returns_user(seeded, read, role):
    caller = seeded.users[role]

    with connect(seeded.url, caller.key) as client:
        response = read(UserApi(client))

    assert type(response) is ResponseMessage
    assert response.message == USER_INFORMATION
    assert response.error is None
    assert response.status_code == 200
    user = response.detail
    assert type(user) is UserResponseMessage
    assert user.id == caller.id
    assert user.email == caller.email
    assert user.role == role


@pytest.mark.parametrize("role", ROLES)
def test_user_role_is_callers(seeded, role):
    caller = seeded.users[role]

    with connect(seeded.url, caller.key) as client:
        response = UserApi(client).get_userrole_api_v1_secure_users_role_get()

    assert type(response) is ResponseMessage
    assert response.status_code == 200
    assert response.detail == role


# PUT /api/v1/secure/users/renew, which both APIKeysApi and UserApi expose.

RENEW_APIS = [pytest.param(APIKeysApi, id="APIKeysApi"), pytest.param(UserApi, id="UserApi")]


def renew(api_class: type, client: ApiClient) -> ResponseMessage:
    return api_class(client).update_usertoken_api_v1_secure_users_renew_put()


@pytest.mark.parametrize("api_class", RENEW_APIS)
def test_renew_returns_new_key(seeded, api_class):
    caller = seeded.users["user"]

    with connect(seeded.url, caller.key) as client:
        new_key = check_new_key(renew(api_class, client), caller.key)

    assert seeded.server.live_keys(caller.id) == [new_key]


@pytest.mark.parametrize("api_class", RENEW_APIS)
def test_renew_revokes_old_key(seeded, api_class):
    caller = seeded.users["user"]
    with connect(seeded.url, caller.key) as client:
        new_key = renew(api_class, client).detail

    with connect(seeded.url, caller.key) as client, pytest.raises(ApiException) as excinfo:
        UserApi(client).get_testroute_api_v1_secure_get()

    check_error(excinfo, UnauthorizedException, 401, INVALID_API_KEY)
    assert read_caller(seeded.url, new_key).id == caller.id


@pytest.mark.parametrize("api_class", RENEW_APIS)
def test_renew_twice_in_row(seeded, api_class):
    caller = seeded.users["root"]

    # A caller keeps its client and swaps the key in the configuration.
    with connect(seeded.url, caller.key) as client:
        first_key = check_new_key(renew(api_class, client), caller.key)
        client.configuration.api_key["APIKeyHeader"] = first_key
        second_key = check_new_key(renew(api_class, client), first_key)

    assert second_key != caller.key
    assert seeded.server.live_keys(caller.id) == [second_key]
    assert not seeded.server.is_live(first_key)
    assert read_caller(seeded.url, second_key).id == caller.id


@dataclass(frozen=True)
class RecordedRequest:
    request_line: str
    headers: Message
    body: bytes


class RecordingServer(HTTPServer):
    """An HTTP server that records each request. :class:`RenewalHandler` builds the responses."""

    url: str
    requests: list[RecordedRequest]
    renewed_key: str
    drops_connection: bool


class RenewalHandler(BaseHTTPRequestHandler):
    """Record a request, then respond like a LitePolis renewal, or close the connection without a response."""

    server: RecordingServer

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        self.server.requests.append(RecordedRequest(self.requestline, self.headers, body))

        if self.server.drops_connection:
            self.close_connection = True
            return

        # The exact bytes that the LitePolis server sends for a renewal.
        payload = (
            '{"detail":"%s","error":null,"message":"New API Key","status_code":200}'
            % self.server.renewed_key
        ).encode("ascii")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    # Registration replaces the caller's key too, so it gets the same treatment.
    do_POST = do_PUT

    def log_message(self, format: str, *args: Any) -> None:
        # Keep the test output free of access logs.
        pass


@pytest.fixture
def recording_server() -> Iterator[RecordingServer]:
    server = RecordingServer(("127.0.0.1", 0), RenewalHandler)
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    server.requests = []
    server.renewed_key = str(uuid.uuid4())
    server.drops_connection = False
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()

    yield server

    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.parametrize("api_class", RENEW_APIS)
def test_renew_request_on_wire(recording_server, api_class):
    key = str(uuid.uuid4())

    with connect(recording_server.url, key) as client:
        response = renew(api_class, client)

    assert response.detail == recording_server.renewed_key
    assert len(recording_server.requests) == 1
    request = recording_server.requests[0]
    assert request.request_line == "PUT /api/v1/secure/users/renew HTTP/1.1"
    assert request.headers["X-API-Key"] == key
    assert request.headers["Accept"] == "application/json"
    assert request.body == b""


# A request that replaces the caller's key must not be resent once it may
# have reached the server, because the server may already have revoked the
# key that a resent request carries.
@pytest.mark.parametrize(
    "replace_key",
    [
        pytest.param(lambda client: renew(APIKeysApi, client), id="APIKeysApi-renew"),
        pytest.param(lambda client: renew(UserApi, client), id="UserApi-renew"),
        pytest.param(
            lambda client: UserApi(client).create_userprofile_api_v1_secure_users_profile_post(
                UserProfile(email="ada@example.org", password=PASSWORD)
            ),
            id="UserApi-register",
        ),
    ],
)
def test_key_replacement_not_resent(recording_server, replace_key):
    recording_server.drops_connection = True

    with connect(recording_server.url, str(uuid.uuid4())) as client:
        with pytest.raises(LitePolisError) as excinfo:
            replace_key(client)

    assert type(excinfo.value) is RenewalOutcomeUnknownError
    assert len(recording_server.requests) == 1


# POST /api/v1/secure/users/profile


@pytest.mark.parametrize("role", ROLES)
def test_register_replaces_caller_key(seeded, role):
    caller = seeded.users[role]

    with connect(seeded.url, caller.key) as client:
        response = UserApi(client).create_userprofile_api_v1_secure_users_profile_post(
            UserProfile(email="ada@example.org", password=PASSWORD)
        )
    new_key = check_new_key(response, caller.key)

    with connect(seeded.url, caller.key) as client, pytest.raises(ApiException) as excinfo:
        UserApi(client).get_testroute_api_v1_secure_get()
    check_error(excinfo, UnauthorizedException, 401, INVALID_API_KEY)
    assert read_caller(seeded.url, new_key).id == caller.id


def test_register_creates_user(seeded):
    caller = seeded.users["user"]
    with connect(seeded.url, caller.key) as client:
        UserApi(client).create_userprofile_api_v1_secure_users_profile_post(
            UserProfile(email="ada@example.org", password=PASSWORD)
        )

    # The new user can log in through the web front end's key.
    with connect(seeded.url, seeded.users["GUI"].key) as client:
        login = UserApi(client).get_userauth_api_v1_secure_users_auth_post(
            UserProfile(email="ada@example.org", password=PASSWORD)
        )
    ada = read_caller(seeded.url, login.detail)

    assert ada.email == "ada@example.org"
    assert ada.role == "user"
    assert ada.id not in {user.id for user in seeded.users.values()}


@pytest.mark.parametrize(
    "profile",
    [
        pytest.param(UserProfile(password=PASSWORD), id="no-email"),
        pytest.param(UserProfile(email="ada@example.org"), id="no-password"),
        pytest.param(UserProfile(email="ada@example.org", password=""), id="empty-password"),
        pytest.param(UserProfile(), id="empty-body"),
    ],
)
def test_register_missing_field(seeded, profile):
    caller = seeded.users["user"]

    with connect(seeded.url, caller.key) as client, pytest.raises(ApiException) as excinfo:
        UserApi(client).create_userprofile_api_v1_secure_users_profile_post(profile)

    check_error(excinfo, BadRequestException, 400, INVALID_PASSWORD)
    assert seeded.server.live_keys(caller.id) == [caller.key]


# The client's UserProfile types email as a plain string, so it sends a
# non-email, and the server's email check rejects it with 422.
@pytest.mark.parametrize(
    ("call", "role"),
    [
        pytest.param(UserApi.get_userauth_api_v1_secure_users_auth_post, "GUI", id="login"),
        pytest.param(UserApi.create_userprofile_api_v1_secure_users_profile_post, "user", id="register"),
        pytest.param(UserApi.update_userprofile_api_v1_secure_users_profile_put, "user", id="update"),
    ],
)
def test_profile_invalid_email(seeded, call, role):
    caller = seeded.users[role]

    with connect(seeded.url, caller.key) as client, pytest.raises(ApiException) as excinfo:
        call(UserApi(client), UserProfile(email=NOT_AN_EMAIL, password=PROFILE_PASSWORD))

    check_validation_error(excinfo, ["body", "email"])
    assert seeded.server.live_keys(caller.id) == [caller.key]


# PUT /api/v1/secure/users/profile


@pytest.mark.parametrize("role", ["user", "root"])
def test_update_profile_stores_values(seeded, role):
    caller = seeded.users[role]

    with connect(seeded.url, caller.key) as client:
        response = UserApi(client).update_userprofile_api_v1_secure_users_profile_put(
            UserProfile(email="renamed@example.org", password=PROFILE_PASSWORD)
        )

    assert response is None
    record = seeded.server.get_user(caller.id)
    assert record.email == "renamed@example.org"
    assert record.password_sha1 == hashlib.sha1(PROFILE_PASSWORD.encode()).hexdigest()
    assert record.role == role


@pytest.mark.parametrize("length", [31, 33])
def test_update_profile_bad_password_length(seeded, length):
    caller = seeded.users["user"]

    with connect(seeded.url, caller.key) as client, pytest.raises(ApiException) as excinfo:
        UserApi(client).update_userprofile_api_v1_secure_users_profile_put(
            UserProfile(email="renamed@example.org", password="x" * length)
        )

    check_error(excinfo, BadRequestException, 400, INVALID_PARAMETER)
    assert seeded.server.get_user(caller.id).email == caller.email


# POST /api/v1/secure/users/auth


def test_login_returns_key_for_user(seeded):
    gui = seeded.users["GUI"]
    user = seeded.users["user"]

    with connect(seeded.url, gui.key) as client:
        response = UserApi(client).get_userauth_api_v1_secure_users_auth_post(
            UserProfile(email=user.email, password=PASSWORD)
        )
    key = check_new_key(response, gui.key)

    assert key != user.key
    assert key in seeded.server.live_keys(user.id)
    assert read_caller(seeded.url, key).id == user.id
    # Login adds a key and revokes neither the caller's key nor the user's own.
    assert read_caller(seeded.url, gui.key).id == gui.id
    assert seeded.server.is_live(user.key)


@pytest.mark.parametrize(
    ("profile", "exception_class", "status"),
    [
        pytest.param(
            UserProfile(email="user@example.org", password="wrong"),
            ForbiddenException,
            403,
            id="wrong-password",
        ),
        pytest.param(
            UserProfile(email="nobody@example.org", password=PASSWORD),
            UnauthorizedException,
            401,
            id="unknown-email",
        ),
    ],
)
def test_login_bad_credentials(seeded, profile, exception_class, status):
    gui = seeded.users["GUI"]

    with connect(seeded.url, gui.key) as client, pytest.raises(ApiException) as excinfo:
        UserApi(client).get_userauth_api_v1_secure_users_auth_post(profile)

    check_error(excinfo, exception_class, status, UNAUTHORIZED)
    assert seeded.server.live_keys(seeded.users["user"].id) == [seeded.users["user"].key]


# Conversations


def conversation_ids(response: ConversationResponse) -> list[int]:
    return sorted(conversation.id for conversation in response.detail)


def test_list_conversations_only_callers(seeded):
    caller = seeded.users["user"]
    other = seeded.users["root"]
    second_id = seeded.server.add_conversation(caller.id, "Bike lanes", "Which streets need one?")
    seeded.server.add_conversation(other.id, "Noise", "Quiet hours at night?")

    with connect(seeded.url, caller.key) as client:
        response = ConversationsApi(client).get_all_conversations_api_v1_secure_conversations_all_get()

    assert type(response) is ConversationResponse
    assert response.status_code == 200
    conversations = sorted(response.detail, key=lambda conversation: conversation.id)
    assert [type(conversation) for conversation in conversations] == [ConversationResponseMessage] * 2
    assert [conversation.id for conversation in conversations] == [seeded.conversation_id, second_id]
    assert conversations[1].title == "Bike lanes"
    assert conversations[1].description == "Which streets need one?"
    assert {conversation.creator_id for conversation in conversations} == {caller.id}


def test_list_conversations_empty(seeded):
    with connect(seeded.url, seeded.users["guest"].key) as client:
        response = ConversationsApi(client).get_all_conversations_api_v1_secure_conversations_all_get()

    assert type(response) is ConversationResponse
    assert response.detail == []


def test_get_conversation_by_id(seeded):
    # No ownership check: any caller may read any conversation.
    with connect(seeded.url, seeded.users["guest"].key) as client:
        response = ConversationsApi(client).get_conversation_api_v1_secure_conversations_cid_get(
            seeded.conversation_id
        )

    assert type(response) is ResponseMessage
    assert response.status_code == 200
    conversation = response.detail
    assert type(conversation) is ConversationResponseMessage
    assert conversation.id == seeded.conversation_id
    assert conversation.title == "Parks"
    assert conversation.description == "Where should the city plant trees?"
    assert conversation.creator_id == seeded.users["user"].id


def test_get_conversation_missing(seeded):
    with connect(seeded.url, seeded.users["user"].key) as client, pytest.raises(ApiException) as excinfo:
        ConversationsApi(client).get_conversation_api_v1_secure_conversations_cid_get(999)

    check_error(excinfo, NotFoundException, 404, "Conversation not found")


def test_create_conversation_stored(seeded):
    caller = seeded.users["user"]

    with connect(seeded.url, caller.key) as client:
        api = ConversationsApi(client)
        response = api.create_conversation_api_v1_secure_conversations_post(
            ConversationModel(title="Bike lanes", description="Which streets need one?")
        )
        listed = api.get_all_conversations_api_v1_secure_conversations_all_get().detail

    assert response is None
    assert len(listed) == 2
    created = max(listed, key=lambda conversation: conversation.id)
    assert created.title == "Bike lanes"
    assert created.description == "Which streets need one?"
    assert created.creator_id == caller.id


# The contract rejects a missing title or description with 401, not 400.
@pytest.mark.parametrize(
    "conversation",
    [
        pytest.param(ConversationModel(description="Which streets need one?"), id="no-title"),
        pytest.param(ConversationModel(title="Bike lanes"), id="no-description"),
        pytest.param(ConversationModel(title="Bike lanes", description=""), id="empty-description"),
    ],
)
def test_create_conversation_missing_field(seeded, conversation):
    caller = seeded.users["user"]

    with connect(seeded.url, caller.key) as client:
        api = ConversationsApi(client)
        with pytest.raises(ApiException) as excinfo:
            api.create_conversation_api_v1_secure_conversations_post(conversation)
        listed = api.get_all_conversations_api_v1_secure_conversations_all_get()

    check_error(excinfo, UnauthorizedException, 401, UNAUTHORIZED)
    assert conversation_ids(listed) == [seeded.conversation_id]


@pytest.mark.parametrize(
    ("call", "body", "loc"),
    [
        pytest.param(
            ConversationsApi.create_conversation_api_v1_secure_conversations_post,
            LooseConversationModel(title=["Bike lanes"], description="d"),
            ["body", "title"],
            id="create-title-list",
        ),
        pytest.param(
            ConversationsApi.update_conversation_api_v1_secure_conversations_put,
            LooseConversationModel(id="first", title="Bike lanes"),
            ["body", "id"],
            id="update-id-text",
        ),
    ],
)
def test_conversation_invalid_body(seeded, call, body, loc):
    with connect(seeded.url, seeded.users["user"].key) as client, pytest.raises(ApiException) as excinfo:
        call(ConversationsApi(client), body)

    check_validation_error(excinfo, loc)


def test_update_conversation_changes_title(seeded):
    with connect(seeded.url, seeded.users["user"].key) as client:
        api = ConversationsApi(client)
        response = api.update_conversation_api_v1_secure_conversations_put(
            ConversationModel(id=seeded.conversation_id, title="Parks and gardens")
        )
        conversation = (
            api.get_conversation_api_v1_secure_conversations_cid_get(seeded.conversation_id)
        ).detail

    assert response is None
    assert conversation.title == "Parks and gardens"
    assert conversation.description == "Where should the city plant trees?"


def test_update_conversation_without_id(seeded):
    with connect(seeded.url, seeded.users["user"].key) as client, pytest.raises(ApiException) as excinfo:
        ConversationsApi(client).update_conversation_api_v1_secure_conversations_put(
            ConversationModel(title="Parks and gardens")
        )

    check_error(excinfo, BadRequestException, 400, INVALID_PARAMETER)


# Comments


@pytest.fixture
def three_comments(seeded) -> list[int]:
    """Add two comments beside the seeded one: one approved, one rejected, both by the guest."""
    guest_id = seeded.users["guest"].id
    approved_id = seeded.server.add_comment(
        seeded.conversation_id, guest_id, "Behind the library.", moderated=True, approved=True
    )
    rejected_id = seeded.server.add_comment(
        seeded.conversation_id, guest_id, "Nowhere.", moderated=True, approved=False
    )
    return [seeded.comment_id, approved_id, rejected_id]


def test_list_comments_in_id_order(seeded, three_comments):
    with connect(seeded.url, seeded.users["user"].key) as client:
        response = CommentsApi(client).get_comments_api_v1_secure_comments_cid_get(
            seeded.conversation_id, random=False
        )

    assert type(response) is CommentResponse
    assert response.status_code == 200
    comments = response.detail
    assert [type(comment) for comment in comments] == [CommentResponseMessage] * 3
    assert [comment.id for comment in comments] == three_comments
    first = comments[0]
    assert first.comment == "Along the river."
    assert first.user_id == seeded.users["user"].id
    assert first.conversation_id == seeded.conversation_id
    assert first.moderated is False
    assert first.approved is False
    assert isinstance(first.create_date, str)
    assert first.create_date != ""


def test_list_comments_default_has_all(seeded, three_comments):
    # The default random=true shuffles, so only the set of ids is fixed.
    with connect(seeded.url, seeded.users["user"].key) as client:
        response = CommentsApi(client).get_comments_api_v1_secure_comments_cid_get(
            seeded.conversation_id
        )

    assert sorted(comment.id for comment in response.detail) == three_comments


def test_list_comments_moderated_only_approved(seeded, three_comments):
    with connect(seeded.url, seeded.users["user"].key) as client:
        response = CommentsApi(client).get_comments_api_v1_secure_comments_cid_get(
            seeded.conversation_id, random=False, moderated=True
        )

    comments = response.detail
    assert [comment.id for comment in comments] == [three_comments[1]]
    assert comments[0].approved is True


def test_list_comments_missing_conversation(seeded):
    with connect(seeded.url, seeded.users["user"].key) as client, pytest.raises(ApiException) as excinfo:
        CommentsApi(client).get_comments_api_v1_secure_comments_cid_get(999, random=False)

    check_error(excinfo, NotFoundException, 404, "Conversation not found")


def test_moderation_queue_when_off(seeded):
    with connect(seeded.url, seeded.users["user"].key) as client:
        api_response = CommentsApi(
            client
        ).get_comments_for_moderation_api_v1_secure_comments_cid_moderate_get_with_http_info(
            seeded.conversation_id
        )

    # The rejection is in the body, and the HTTP status stays 200.
    assert api_response.status_code == 200
    response = api_response.data
    assert type(response) is CommentResponse
    assert response.status_code == 400
    reason = response.detail
    assert isinstance(reason, str)
    assert reason != ""
    assert response.error == reason


def test_moderation_queue_when_on(seeded):
    caller = seeded.users["user"]
    conversation_id = seeded.server.add_conversation(
        caller.id, "Budget", "What should the city fund?", moderation=True
    )
    pending_id = seeded.server.add_comment(conversation_id, caller.id, "Libraries.")
    seeded.server.add_comment(conversation_id, caller.id, "Parks.", moderated=True, approved=True)
    seeded.server.add_comment(conversation_id, caller.id, "Nothing.", moderated=True)

    with connect(seeded.url, caller.key) as client:
        response = CommentsApi(
            client
        ).get_comments_for_moderation_api_v1_secure_comments_cid_moderate_get(conversation_id)

    assert type(response) is CommentResponse
    assert response.status_code == 200
    comments = response.detail
    assert [type(comment) for comment in comments] == [CommentResponseMessage]
    assert comments[0].id == pending_id
    assert comments[0].comment == "Libraries."
    assert comments[0].moderated is False


@pytest.mark.parametrize("role", ["guest", "user"])
def test_create_comment_by_caller(seeded, role):
    caller = seeded.users[role]

    with connect(seeded.url, caller.key) as client:
        api = CommentsApi(client)
        # The body's user_id is ignored: a comment always belongs to the caller.
        response = api.create_comment_api_v1_secure_comments_post(
            CommentModel(
                comment="Near the school.",
                conversation_id=seeded.conversation_id,
                user_id=seeded.users["root"].id,
            )
        )
        comments = (
            api.get_comments_api_v1_secure_comments_cid_get(seeded.conversation_id, random=False)
        ).detail

    assert response is None
    assert len(comments) == 2
    created = comments[-1]
    assert created.comment == "Near the school."
    assert created.user_id == caller.id
    assert created.conversation_id == seeded.conversation_id
    assert created.moderated is False
    assert created.approved is False


@pytest.mark.parametrize(
    "comment",
    [
        pytest.param(CommentModel(conversation_id=1), id="no-comment"),
        pytest.param(CommentModel(comment="", conversation_id=1), id="empty-comment"),
        pytest.param(CommentModel(comment="Near the school."), id="no-conversation"),
    ],
)
def test_create_comment_missing_field(seeded, comment):
    with connect(seeded.url, seeded.users["user"].key) as client, pytest.raises(ApiException) as excinfo:
        CommentsApi(client).create_comment_api_v1_secure_comments_post(comment)

    check_error(excinfo, BadRequestException, 400, INVALID_PARAMETER)


@pytest.mark.parametrize(
    ("call", "body", "loc"),
    [
        pytest.param(
            CommentsApi.create_comment_api_v1_secure_comments_post,
            LooseCommentModel(comment="Near the school.", conversation_id="first"),
            ["body", "conversation_id"],
            id="create-conversation-id-text",
        ),
        pytest.param(
            CommentsApi.update_comment_api_v1_secure_comments_put,
            LooseCommentModel(comment_id=1, task=["approve"]),
            ["body", "task"],
            id="update-task-list",
        ),
    ],
)
def test_comment_invalid_body(seeded, call, body, loc):
    with connect(seeded.url, seeded.users["user"].key) as client, pytest.raises(ApiException) as excinfo:
        call(CommentsApi(client), body)

    check_validation_error(excinfo, loc)


# (task, text sent, expected state): approve and reject moderate the comment,
# and any other task, none included, edits its text.
@pytest.mark.parametrize(
    ("task", "text", "moderated", "approved", "stored_text"),
    [
        pytest.param("approve", None, True, True, "Along the river.", id="approve"),
        pytest.param("reject", None, True, False, "Along the river.", id="reject"),
        pytest.param(None, "Along the canal.", False, False, "Along the canal.", id="edit-no-task"),
        pytest.param("edit", "Along the canal.", False, False, "Along the canal.", id="edit-other-task"),
    ],
)
def test_update_comment_task(seeded, task, text, moderated, approved, stored_text):
    with connect(seeded.url, seeded.users["user"].key) as client:
        api = CommentsApi(client)
        response = api.update_comment_api_v1_secure_comments_put(
            CommentModel(comment_id=seeded.comment_id, comment=text, task=task)
        )
        comments = (
            api.get_comments_api_v1_secure_comments_cid_get(seeded.conversation_id, random=False)
        ).detail

    assert response is None
    assert len(comments) == 1
    assert comments[0].moderated is moderated
    assert comments[0].approved is approved
    assert comments[0].comment == stored_text


def test_update_comment_without_id(seeded):
    with connect(seeded.url, seeded.users["user"].key) as client, pytest.raises(ApiException) as excinfo:
        CommentsApi(client).update_comment_api_v1_secure_comments_put(
            CommentModel(comment="Along the canal.")
        )

    check_error(excinfo, BadRequestException, 400, INVALID_PARAMETER)
