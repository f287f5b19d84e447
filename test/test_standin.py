"""The LitePolis stand-in server, driven with plain urllib3 on 127.0.0.1."""

import ast
import hashlib
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any, Optional

import pytest
import urllib3
import uvicorn

import litepolis_client.testing
from litepolis_client.testing import ROLES, StandInServer

SECURE = "/api/v1/secure"
TESTING_PACKAGE_DIR = Path(litepolis_client.testing.__file__).parent
# The modules of the server side. Others in the package, such as a demo, may
# be clients of the stand-in and import the generated code.
STAND_IN_MODULE_PATHS = [
    TESTING_PACKAGE_DIR / name
    for name in ("__init__.py", "_app.py", "_server.py", "pytest_plugin.py")
]
REQUEST_TIMEOUT_S = 5.0


@pytest.fixture
def server(litepolis_server: StandInServer) -> StandInServer:
    return litepolis_server


@pytest.fixture
def http(server: StandInServer):
    with urllib3.HTTPConnectionPool(
        server.host, server.port, retries=False, timeout=REQUEST_TIMEOUT_S
    ) as pool:
        yield pool


def call(
    http: urllib3.HTTPConnectionPool,
    method: str,
    path: str,
    *,
    key: Optional[str] = None,
    body: Any = None,
    fields: Optional[dict[str, str]] = None,
) -> tuple[int, Any]:
    """Send one request and return the status and the decoded JSON body."""
    headers = {} if key is None else {"X-API-Key": key}
    if body is None:
        response = http.request(method, path, headers=headers, fields=fields)
    else:
        response = http.request(method, path, headers=headers, json=body)
    return response.status, response.json()


def list_comments(
    http: urllib3.HTTPConnectionPool, key: str, conversation_id: int, *, moderated: bool = False
) -> list[dict[str, Any]]:
    """Return a conversation's comments in id order, after checking that the request succeeded."""
    fields = {"random": "false", "moderated": "true" if moderated else "false"}
    path = f"{SECURE}/comments/{conversation_id}/"
    status, body = call(http, "GET", path, key=key, fields=fields)
    assert status == 200
    return body["detail"]


def is_uuid4(value: str) -> bool:
    try:
        return str(uuid.UUID(value, version=4)) == value
    except ValueError:
        return False


def sha1_hex(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


# Seeding and read-backs.


def test_add_user_issues_live_key(server):
    alice = server.add_user("alice@example.org", role="root", password="secret")

    assert (alice.email, alice.role) == ("alice@example.org", "root")
    assert is_uuid4(alice.key)
    assert server.is_live(alice.key)
    assert server.live_keys(alice.id) == [alice.key]


def test_add_user_stores_sha1_of_password(server):
    alice = server.add_user("alice@example.org", password="secret")
    bob = server.add_user("bob@example.org")

    assert server.get_user(alice.id).password_sha1 == sha1_hex("secret")
    assert server.get_user(bob.id).password_sha1 is None


def test_user_ids_count_up(server):
    ids = [server.add_user(f"user{number}@example.org").id for number in range(3)]

    assert ids == [1, 2, 3]


@pytest.mark.parametrize("role", ROLES)
def test_add_user_accepts_each_role(server, role):
    assert server.add_user("someone@example.org", role=role).role == role


@pytest.mark.parametrize("role", ["admin", "Guest", ""])
def test_add_user_rejects_unknown_role(server, role):
    with pytest.raises(ValueError) as excinfo:
        server.add_user("someone@example.org", role=role)

    message = str(excinfo.value)
    assert repr(role) in message
    assert "guest, user, root, GUI" in message


def test_add_key_adds_second_live_key(server):
    alice = server.add_user("alice@example.org")

    second_key = server.add_key(alice.id)

    assert is_uuid4(second_key)
    assert sorted(server.live_keys(alice.id)) == sorted([alice.key, second_key])


def test_seeding_unknown_ids_raises_lookup_error(server):
    alice = server.add_user("alice@example.org")

    with pytest.raises(LookupError, match="User 99 not found"):
        server.add_key(99)
    with pytest.raises(LookupError, match="User 99 not found"):
        server.add_conversation(99, "Title", "Description")
    with pytest.raises(LookupError, match="Conversation 99 not found"):
        server.add_comment(99, alice.id, "Hello")
    with pytest.raises(LookupError, match="User 99 not found"):
        server.get_user(99)


def test_reprs_show_no_secret(server):
    alice = server.add_user("alice@example.org", password="secret")
    reprs = [repr(alice), repr(server.get_user(alice.id)), repr(server), repr(server.state)]

    for text in reprs:
        assert alice.key not in text
        assert sha1_hex("secret") not in text
        assert "secret" not in text


def test_testing_all_is_pinned():
    assert litepolis_client.testing.__all__ == [
        "ROLES",
        "RecordedRequest",
        "SeededUser",
        "StandInServer",
        "StandInState",
        "UserRecord",
        "create_app",
    ]


# Authentication and the public route.


def test_public_route_needs_no_key(server, http):
    assert call(http, "GET", "/api/v1/public/") == (200, {"detail": "OK"})


def test_public_route_reports_database_down(server, http):
    server.set_database_up(False)

    assert call(http, "GET", "/api/v1/public/") == (200, {"detail": "DB conn failed"})


@pytest.mark.parametrize("key", [None, ""])
def test_missing_key_is_403(server, http, key):
    status, body = call(http, "GET", f"{SECURE}/", key=key)

    assert (status, body) == (403, {"detail": "Not authenticated"})


@pytest.mark.parametrize("key", [str(uuid.uuid4()), "not-a-uuid"])
def test_unknown_key_is_401(server, http, key):
    server.add_user("alice@example.org")

    assert call(http, "GET", f"{SECURE}/", key=key) == (401, {"detail": "Invalid API key"})


def test_upper_cased_key_is_401(server, http):
    alice = server.add_user("alice@example.org")

    status, body = call(http, "GET", f"{SECURE}/", key=alice.key.upper())

    assert (status, body) == (401, {"detail": "Invalid API key"})


def test_bad_key_is_checked_before_body(server, http):
    status, body = call(http, "POST", f"{SECURE}/comments/", key="unknown", body={"vote": "x"})

    assert (status, body) == (401, {"detail": "Invalid API key"})


# Users.


@pytest.mark.parametrize("path", ["/", "/users/profile"])
def test_read_caller(server, http, path):
    alice = server.add_user("alice@example.org", role="root")

    status, body = call(http, "GET", SECURE + path, key=alice.key)

    assert status == 200
    assert body == {
        "detail": {"id": alice.id, "email": "alice@example.org", "role": "root"},
        "error": None,
        "message": "User information",
        "status_code": 200,
    }


@pytest.mark.parametrize("role", ROLES)
def test_read_role(server, http, role):
    caller = server.add_user("someone@example.org", role=role)

    status, body = call(http, "GET", f"{SECURE}/users/role", key=caller.key)

    assert status == 200
    assert body["detail"] == role
    assert body["status_code"] == 200


@pytest.mark.parametrize("role", ROLES)
def test_renew_replaces_key(server, http, role):
    caller = server.add_user("someone@example.org", role=role)

    status, body = call(http, "PUT", f"{SECURE}/users/renew", key=caller.key)

    assert status == 200
    new_key = body["detail"]
    assert body == {"detail": new_key, "error": None, "message": "New API Key", "status_code": 200}
    assert is_uuid4(new_key)
    assert server.live_keys(caller.id) == [new_key]
    assert call(http, "GET", f"{SECURE}/", key=caller.key)[0] == 401
    assert call(http, "GET", f"{SECURE}/", key=new_key)[0] == 200


def test_renew_twice_with_same_key_fails(server, http):
    alice = server.add_user("alice@example.org")
    call(http, "PUT", f"{SECURE}/users/renew", key=alice.key)

    status, body = call(http, "PUT", f"{SECURE}/users/renew", key=alice.key)

    assert (status, body) == (401, {"detail": "Invalid API key"})
    assert len(server.live_keys(alice.id)) == 1


def test_renew_keeps_other_keys(server, http):
    alice = server.add_user("alice@example.org")
    second_key = server.add_key(alice.id)

    call(http, "PUT", f"{SECURE}/users/renew", key=alice.key)

    assert server.is_live(second_key)
    assert not server.is_live(alice.key)


def test_login_issues_key_for_logged_in_user(server, http):
    front_end = server.add_user("gui@example.org", role="GUI")
    alice = server.add_user("alice@example.org", password="secret")
    profile = {"email": "alice@example.org", "password": "secret"}

    status, body = call(http, "POST", f"{SECURE}/users/auth", key=front_end.key, body=profile)

    assert status == 200
    new_key = body["detail"]
    assert body == {"detail": new_key, "error": None, "message": "New API Key", "status_code": 200}
    assert sorted(server.live_keys(alice.id)) == sorted([alice.key, new_key])
    assert server.live_keys(front_end.id) == [front_end.key]
    assert call(http, "GET", f"{SECURE}/", key=new_key)[1]["detail"]["id"] == alice.id


@pytest.mark.parametrize("role", ["guest", "user", "root"])
def test_login_needs_gui_role(server, http, role):
    caller = server.add_user("caller@example.org", role=role)
    server.add_user("alice@example.org", password="secret")
    profile = {"email": "alice@example.org", "password": "secret"}

    status, _ = call(http, "POST", f"{SECURE}/users/auth", key=caller.key, body=profile)

    assert status == 403


@pytest.mark.parametrize(
    ("profile", "expected_status"),
    [
        ({"email": "nobody@example.org", "password": "secret"}, 401),
        ({"password": "secret"}, 401),
        ({"email": "alice@example.org", "password": "wrong"}, 403),
        ({"email": "alice@example.org"}, 403),
        # Seeded without a password, so no password matches.
        ({"email": "bob@example.org", "password": ""}, 403),
    ],
)
def test_login_rejects_bad_credentials(server, http, profile, expected_status):
    front_end = server.add_user("gui@example.org", role="GUI")
    server.add_user("alice@example.org", password="secret")
    server.add_user("bob@example.org")

    status, body = call(http, "POST", f"{SECURE}/users/auth", key=front_end.key, body=profile)

    assert (status, body) == (expected_status, {"detail": "Unauthorized"})


def test_login_rejects_invalid_email_with_422(server, http):
    front_end = server.add_user("gui@example.org", role="GUI")

    status, body = call(
        http, "POST", f"{SECURE}/users/auth", key=front_end.key, body={"email": "not an email"}
    )

    assert status == 422
    assert body["detail"][0]["loc"] == ["body", "email"]


def test_create_profile_stores_user_and_replaces_key(server, http):
    caller = server.add_user("caller@example.org", role="guest")
    profile = {"email": "carol@example.org", "password": "secret"}

    status, body = call(http, "POST", f"{SECURE}/users/profile", key=caller.key, body=profile)

    assert status == 200
    new_key = body["detail"]
    assert body == {"detail": new_key, "error": None, "message": "New API Key", "status_code": 200}
    assert server.live_keys(caller.id) == [new_key]
    assert not server.is_live(caller.key)
    carol = server.get_user(caller.id + 1)
    assert (carol.email, carol.role) == ("carol@example.org", "user")
    assert carol.password_sha1 == sha1_hex("secret")
    assert server.live_keys(carol.id) == []


@pytest.mark.parametrize(
    "profile",
    [
        {"email": "carol@example.org"},
        {"password": "secret"},
        {},
        {"email": "carol@example.org", "password": ""},
    ],
)
def test_create_profile_needs_email_and_password(server, http, profile):
    caller = server.add_user("caller@example.org")

    status, body = call(http, "POST", f"{SECURE}/users/profile", key=caller.key, body=profile)

    assert (status, body) == (400, {"detail": "Invalid password"})
    assert server.is_live(caller.key)


@pytest.mark.parametrize("role", ["user", "root"])
def test_update_profile(server, http, role):
    caller = server.add_user("old@example.org", role=role, password="old")
    new_password = "0123456789abcdef0123456789abcdef"
    profile = {"email": "new@example.org", "password": new_password}

    status, body = call(http, "PUT", f"{SECURE}/users/profile", key=caller.key, body=profile)

    assert (status, body) == (200, None)
    user = server.get_user(caller.id)
    assert (user.email, user.role) == ("new@example.org", role)
    assert user.password_sha1 == sha1_hex(new_password)


def test_update_profile_email_only_keeps_password(server, http):
    caller = server.add_user("old@example.org", password="old")

    call(http, "PUT", f"{SECURE}/users/profile", key=caller.key, body={"email": "new@example.org"})

    assert server.get_user(caller.id).password_sha1 == sha1_hex("old")


@pytest.mark.parametrize("role", ["guest", "GUI"])
def test_update_profile_needs_user_or_root(server, http, role):
    caller = server.add_user("old@example.org", role=role)

    status, _ = call(
        http, "PUT", f"{SECURE}/users/profile", key=caller.key, body={"email": "new@example.org"}
    )

    assert status == 401
    assert server.get_user(caller.id).email == "old@example.org"


@pytest.mark.parametrize("length", [0, 31, 33])
def test_update_profile_needs_32_character_password(server, http, length):
    caller = server.add_user("old@example.org")

    status, body = call(
        http, "PUT", f"{SECURE}/users/profile", key=caller.key, body={"password": "x" * length}
    )

    assert (status, body) == (400, {"detail": "Invalid parameter"})


@pytest.mark.parametrize(
    "path", ["/users/profile", "/conversations/1", "/comments/1"]
)
def test_delete_is_always_403(server, http, path):
    root = server.add_user("root@example.org", role="root")

    status, body = call(http, "DELETE", SECURE + path, key=root.key)

    assert (status, body) == (403, {"detail": "Method Not Allowed"})


# Conversations.


def test_list_conversations_shows_only_callers(server, http):
    alice = server.add_user("alice@example.org")
    bob = server.add_user("bob@example.org")
    first_id = server.add_conversation(alice.id, "Parks", "More trees?", moderation=True)
    server.add_conversation(bob.id, "Roads", "Fewer cars?")
    second_id = server.add_conversation(alice.id, "Bikes", "More lanes?")

    status, body = call(http, "GET", f"{SECURE}/conversations/all", key=alice.key)

    assert status == 200
    assert body["status_code"] == 200
    assert body["detail"] == [
        {
            "id": first_id,
            "title": "Parks",
            "description": "More trees?",
            "creator_id": alice.id,
            "moderation": True,
        },
        {
            "id": second_id,
            "title": "Bikes",
            "description": "More lanes?",
            "creator_id": alice.id,
            "moderation": False,
        },
    ]


def test_read_conversation(server, http):
    alice = server.add_user("alice@example.org")
    bob = server.add_user("bob@example.org", role="guest")
    conversation_id = server.add_conversation(alice.id, "Parks", "More trees?")

    status, body = call(http, "GET", f"{SECURE}/conversations/{conversation_id}", key=bob.key)

    assert status == 200
    assert body["detail"] == {
        "id": conversation_id,
        "title": "Parks",
        "description": "More trees?",
        "creator_id": alice.id,
        "moderation": False,
    }


def test_read_missing_conversation_is_404(server, http):
    alice = server.add_user("alice@example.org")

    status, body = call(http, "GET", f"{SECURE}/conversations/7", key=alice.key)

    assert (status, body) == (404, {"detail": "Conversation not found"})


def test_read_conversation_with_text_id_is_422(server, http):
    alice = server.add_user("alice@example.org")

    status, body = call(http, "GET", f"{SECURE}/conversations/abc", key=alice.key)

    assert status == 422
    assert body["detail"][0]["loc"] == ["path", "cid"]


def test_create_conversation(server, http):
    alice = server.add_user("alice@example.org")
    conversation = {"title": "Parks", "description": "More trees?"}

    status, body = call(http, "POST", f"{SECURE}/conversations", key=alice.key, body=conversation)

    assert (status, body) == (200, None)
    listed = call(http, "GET", f"{SECURE}/conversations/all", key=alice.key)[1]["detail"]
    assert [(item["title"], item["creator_id"]) for item in listed] == [("Parks", alice.id)]


@pytest.mark.parametrize("role", ["guest", "root", "GUI"])
def test_create_conversation_needs_user_role(server, http, role):
    caller = server.add_user("caller@example.org", role=role)
    conversation = {"title": "Parks", "description": "More trees?"}

    status, _ = call(http, "POST", f"{SECURE}/conversations", key=caller.key, body=conversation)

    assert status == 401


@pytest.mark.parametrize("conversation", [{"title": "Parks"}, {"description": "More trees?"}, {}])
def test_create_conversation_missing_field_is_401(server, http, conversation):
    alice = server.add_user("alice@example.org")

    status, _ = call(http, "POST", f"{SECURE}/conversations", key=alice.key, body=conversation)

    assert status == 401
    assert call(http, "GET", f"{SECURE}/conversations/all", key=alice.key)[1]["detail"] == []


def test_update_conversation(server, http):
    alice = server.add_user("alice@example.org")
    conversation_id = server.add_conversation(alice.id, "Parks", "More trees?")

    change = {"id": conversation_id, "title": "Gardens"}

    status, body = call(http, "PUT", f"{SECURE}/conversations", key=alice.key, body=change)

    assert (status, body) == (200, None)
    _, body = call(http, "GET", f"{SECURE}/conversations/{conversation_id}", key=alice.key)
    assert (body["detail"]["title"], body["detail"]["description"]) == ("Gardens", "More trees?")


@pytest.mark.parametrize("role", ["guest", "root", "GUI"])
def test_update_conversation_needs_user_role(server, http, role):
    alice = server.add_user("alice@example.org")
    caller = server.add_user("caller@example.org", role=role)
    conversation_id = server.add_conversation(alice.id, "Parks", "More trees?")

    change = {"id": conversation_id, "title": "Gardens"}

    status, _ = call(http, "PUT", f"{SECURE}/conversations", key=caller.key, body=change)

    assert status == 401


def test_update_conversation_without_id_is_400(server, http):
    alice = server.add_user("alice@example.org")

    status, body = call(http, "PUT", f"{SECURE}/conversations", key=alice.key, body={"title": "X"})

    assert (status, body) == (400, {"detail": "Invalid parameter"})


def test_update_missing_conversation_is_404(server, http):
    alice = server.add_user("alice@example.org")

    change = {"id": 7, "title": "Gardens"}

    status, body = call(http, "PUT", f"{SECURE}/conversations", key=alice.key, body=change)

    assert (status, body) == (404, {"detail": "Conversation not found"})


def test_conversation_body_of_wrong_type_is_422(server, http):
    alice = server.add_user("alice@example.org")

    status, body = call(http, "PUT", f"{SECURE}/conversations", key=alice.key, body={"id": "seven"})

    assert status == 422
    assert body["detail"][0]["loc"] == ["body", "id"]


# Comments.


@pytest.fixture
def discussion(server):
    """A user, a conversation of theirs, and three comments: approved, rejected, unmoderated."""
    alice = server.add_user("alice@example.org")
    conversation_id = server.add_conversation(alice.id, "Parks", "More trees?", moderation=True)
    comment_ids = [
        server.add_comment(conversation_id, alice.id, "Yes", moderated=True, approved=True),
        server.add_comment(conversation_id, alice.id, "No", moderated=True, approved=False),
        server.add_comment(conversation_id, alice.id, "Maybe"),
    ]
    return alice, conversation_id, comment_ids


def test_list_comments_in_id_order(server, http, discussion):
    alice, conversation_id, comment_ids = discussion

    fields = {"random": "false"}

    status, body = call(
        http, "GET", f"{SECURE}/comments/{conversation_id}/", key=alice.key, fields=fields
    )

    assert status == 200
    assert body["message"] == "List of Comments in the conversation"
    assert [comment["id"] for comment in body["detail"]] == comment_ids
    first = body["detail"][0]
    assert first == {
        "id": comment_ids[0],
        "create_date": first["create_date"],
        "comment": "Yes",
        "user_id": alice.id,
        "conversation_id": conversation_id,
        "moderated": True,
        "approved": True,
    }
    assert isinstance(first["create_date"], str)


def test_list_comments_moderated_shows_approved_only(server, http, discussion):
    alice, conversation_id, comment_ids = discussion

    approved = list_comments(http, alice.key, conversation_id, moderated=True)

    assert [comment["id"] for comment in approved] == [comment_ids[0]]


def test_list_comments_shuffles_by_default():
    # Two servers with one seed shuffle alike. Seed 7 puts ten comments out
    # of id order, which shows that the default random=true shuffles.
    orders = []
    for _ in range(2):
        with StandInServer(seed=7) as server:
            alice = server.add_user("alice@example.org")
            conversation_id = server.add_conversation(alice.id, "Parks", "More trees?")
            for number in range(10):
                server.add_comment(conversation_id, alice.id, f"Comment {number}")
            with urllib3.HTTPConnectionPool(server.host, server.port, retries=False) as http:
                _, body = call(http, "GET", f"{SECURE}/comments/{conversation_id}/", key=alice.key)
            orders.append([comment["id"] for comment in body["detail"]])

    assert orders[0] == orders[1]
    assert sorted(orders[0]) == list(range(1, 11))
    assert orders[0] != list(range(1, 11))


def test_list_comments_of_missing_conversation_is_404(server, http):
    alice = server.add_user("alice@example.org")

    status, body = call(http, "GET", f"{SECURE}/comments/7/", key=alice.key)

    assert (status, body) == (404, {"detail": "Conversation not found"})


def test_moderation_list_shows_unmoderated(server, http, discussion):
    alice, conversation_id, comment_ids = discussion

    status, body = call(http, "GET", f"{SECURE}/comments/{conversation_id}/moderate", key=alice.key)

    assert status == 200
    assert body["status_code"] == 200
    assert [comment["id"] for comment in body["detail"]] == [comment_ids[2]]


def test_moderation_list_when_moderation_off(server, http):
    alice = server.add_user("alice@example.org")
    conversation_id = server.add_conversation(alice.id, "Parks", "More trees?")
    server.add_comment(conversation_id, alice.id, "Maybe")

    status, body = call(http, "GET", f"{SECURE}/comments/{conversation_id}/moderate", key=alice.key)

    assert status == 200
    reason = body["detail"]
    assert isinstance(reason, str) and reason
    assert body == {"detail": reason, "error": reason, "message": None, "status_code": 400}


def test_moderation_list_of_missing_conversation_is_404(server, http):
    alice = server.add_user("alice@example.org")

    status, body = call(http, "GET", f"{SECURE}/comments/7/moderate", key=alice.key)

    assert (status, body) == (404, {"detail": "Conversation not found"})


@pytest.mark.parametrize("role", ["guest", "user"])
def test_create_comment_as_caller(server, http, role):
    alice = server.add_user("alice@example.org")
    caller = server.add_user("caller@example.org", role=role)
    conversation_id = server.add_conversation(alice.id, "Parks", "More trees?")
    # user_id in the body is ignored: the comment is always the caller's.
    comment = {"comment": "Yes", "conversation_id": conversation_id, "user_id": alice.id}

    status, body = call(http, "POST", f"{SECURE}/comments/", key=caller.key, body=comment)

    assert (status, body) == (200, None)
    listed = list_comments(http, caller.key, conversation_id)
    assert len(listed) == 1
    assert (listed[0]["comment"], listed[0]["user_id"]) == ("Yes", caller.id)
    assert (listed[0]["moderated"], listed[0]["approved"]) == (False, False)


@pytest.mark.parametrize("role", ["root", "GUI"])
def test_create_comment_needs_guest_or_user(server, http, role):
    alice = server.add_user("alice@example.org")
    caller = server.add_user("caller@example.org", role=role)
    conversation_id = server.add_conversation(alice.id, "Parks", "More trees?")

    comment = {"comment": "Yes", "conversation_id": conversation_id}

    status, _ = call(http, "POST", f"{SECURE}/comments/", key=caller.key, body=comment)

    assert status == 401


@pytest.mark.parametrize(
    "comment", [{"comment": "Yes"}, {"conversation_id": 1}, {"comment": "", "conversation_id": 1}]
)
def test_create_comment_missing_field_is_400(server, http, comment):
    alice = server.add_user("alice@example.org")
    server.add_conversation(alice.id, "Parks", "More trees?")

    status, body = call(http, "POST", f"{SECURE}/comments/", key=alice.key, body=comment)

    assert (status, body) == (400, {"detail": "Invalid parameter"})


def test_create_comment_in_missing_conversation_is_404(server, http):
    alice = server.add_user("alice@example.org")

    comment = {"comment": "Yes", "conversation_id": 7}

    status, body = call(http, "POST", f"{SECURE}/comments/", key=alice.key, body=comment)

    assert (status, body) == (404, {"detail": "Conversation not found"})


@pytest.mark.parametrize(("task", "approved"), [("approve", True), ("reject", False)])
def test_update_comment_moderates(server, http, discussion, task, approved):
    alice, conversation_id, comment_ids = discussion
    waiting_id = comment_ids[2]

    change = {"comment_id": waiting_id, "task": task}

    status, body = call(http, "PUT", f"{SECURE}/comments/", key=alice.key, body=change)

    assert (status, body) == (200, None)
    _, waiting = call(http, "GET", f"{SECURE}/comments/{conversation_id}/moderate", key=alice.key)
    assert waiting["detail"] == []
    stored = list_comments(http, alice.key, conversation_id)[2]
    assert (stored["moderated"], stored["approved"]) == (True, approved)
    approved_ids = [
        comment["id"] for comment in list_comments(http, alice.key, conversation_id, moderated=True)
    ]
    assert (waiting_id in approved_ids) is approved


def test_update_comment_edits_text(server, http, discussion):
    alice, conversation_id, comment_ids = discussion

    change = {"comment_id": comment_ids[2], "comment": "Sure"}

    status, _ = call(http, "PUT", f"{SECURE}/comments/", key=alice.key, body=change)

    assert status == 200
    listed = list_comments(http, alice.key, conversation_id)
    assert [comment["comment"] for comment in listed] == ["Yes", "No", "Sure"]


@pytest.mark.parametrize("role", ["guest", "root", "GUI"])
def test_update_comment_needs_user_role(server, http, discussion, role):
    caller = server.add_user("caller@example.org", role=role)
    comment_ids = discussion[2]

    change = {"comment_id": comment_ids[2], "task": "approve"}

    status, _ = call(http, "PUT", f"{SECURE}/comments/", key=caller.key, body=change)

    assert status == 401


def test_update_comment_without_id_is_400(server, http):
    alice = server.add_user("alice@example.org")

    status, body = call(http, "PUT", f"{SECURE}/comments/", key=alice.key, body={"task": "approve"})

    assert (status, body) == (400, {"detail": "Invalid parameter"})


def test_update_missing_comment_is_404(server, http):
    alice = server.add_user("alice@example.org")

    change = {"comment_id": 7, "comment": "Sure"}

    status, body = call(http, "PUT", f"{SECURE}/comments/", key=alice.key, body=change)

    assert (status, body) == (404, {"detail": "Comment not found"})


def test_comment_body_of_wrong_type_is_422(server, http):
    alice = server.add_user("alice@example.org")

    status, body = call(http, "POST", f"{SECURE}/comments/", key=alice.key, body={"vote": "up"})

    assert status == 422
    assert body["detail"][0]["loc"] == ["body", "vote"]


def test_malformed_json_is_422(server, http):
    alice = server.add_user("alice@example.org")

    response = http.request(
        "POST",
        f"{SECURE}/comments/",
        body=b"{not json",
        headers={"X-API-Key": alice.key, "Content-Type": "application/json"},
    )

    assert response.status == 422


# Starting and stopping.


def test_url_host_and_port():
    with StandInServer() as server:
        assert server.host == "127.0.0.1"
        assert 0 < server.port < 65536
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert repr(server) == f"<StandInServer {server.url}>"

    assert repr(server) == "<StandInServer stopped>"
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url


def test_start_twice_raises():
    with StandInServer() as server:
        with pytest.raises(RuntimeError, match="already running"):
            server.start()


def test_stop_is_idempotent():
    server = StandInServer()
    server.stop()
    server.start()
    server.stop()
    server.stop()

    assert not server.is_running


def test_stop_refuses_connections():
    with StandInServer() as server:
        port = server.port

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT_S).close()


def test_stop_releases_port():
    with StandInServer() as server:
        port = server.port
        with urllib3.HTTPConnectionPool(server.host, port, retries=False) as http:
            assert call(http, "GET", "/api/v1/public/")[0] == 200

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def test_restart_keeps_state():
    server = StandInServer()
    with server:
        alice = server.add_user("alice@example.org")

    with server:
        with urllib3.HTTPConnectionPool(server.host, server.port, retries=False) as http:
            status, body = call(http, "GET", f"{SECURE}/", key=alice.key)

    assert status == 200
    assert body["detail"]["id"] == alice.id


def test_two_servers_have_own_ports_and_state():
    with StandInServer() as first, StandInServer() as second:
        alice = first.add_user("alice@example.org")
        with urllib3.HTTPConnectionPool(second.host, second.port, retries=False) as http:
            status, _ = call(http, "GET", f"{SECURE}/", key=alice.key)
        ports = {first.port, second.port}

    assert len(ports) == 2
    assert status == 401


def test_start_timeout_raises(monkeypatch):
    release = threading.Event()
    # A run() that never sets started behaves like a hung uvicorn.
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: release.wait(5.0))
    server = StandInServer(startup_timeout_s=0.05, shutdown_timeout_s=0.05)

    try:
        with pytest.raises(RuntimeError, match="did not start within 0.05 s"):
            server.start()
    finally:
        release.set()

    assert not server.is_running


def test_start_failure_raises_with_cause(monkeypatch):
    def fail(self, sockets=None):
        raise OSError("boom")

    monkeypatch.setattr(uvicorn.Server, "run", fail)
    server = StandInServer()

    with pytest.raises(RuntimeError, match="ended during startup") as excinfo:
        server.start()

    assert isinstance(excinfo.value.__cause__, OSError)
    assert not server.is_running


# Imports.


def test_testing_package_imports_no_generated_module():
    # The stand-in is the server side of the wire, so it must not lean on
    # the generated client: only litepolis_client.testing may be imported.
    for path in STAND_IN_MODULE_PATHS:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                if name.startswith("litepolis_client"):
                    is_stand_in = name.startswith("litepolis_client.testing")
                    assert is_stand_in, f"{path.name} imports {name}"


# Imports pytest_plugin with one module of the testing extra missing: None in
# sys.modules makes its import fail as if it were not installed.
_WITHOUT_MODULE = """
import sys
sys.modules[sys.argv[1]] = None
import litepolis_client.testing.pytest_plugin as plugin
loaded = [name for name, module in sys.modules.items() if module is not None]
print(sorted(name for name in loaded if name.startswith(("fastapi", "uvicorn"))))
try:
    plugin._import_server_class()
except ImportError as exc:
    print(exc)
"""


@pytest.mark.parametrize("missing", ["fastapi", "uvicorn", "email_validator"])
def test_plugin_imports_without_testing_extra(missing):
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_MODULE, missing], capture_output=True, text=True, check=True
    )
    imported_at_load, error_message = result.stdout.splitlines()

    assert imported_at_load == "[]"
    assert repr(missing) in error_message
    assert "pip install 'litepolis-client[testing]'" in error_message
