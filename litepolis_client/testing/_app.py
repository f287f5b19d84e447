"""The FastAPI app of the LitePolis stand-in, the in-memory state behind it, and fault injection.

The routes follow the LitePolis v1 contract as its source intends it, and the
app's own OpenAPI document matches the client's ``openapi.json`` in paths,
operation ids, tags, parameters, schemas and security. Handlers are plain
``def`` functions, so FastAPI runs them in a thread pool, and every access to
:class:`StandInState` takes its lock.

Quirks of the original server are opt-in switches in :class:`StandInState`
that the handlers read. Injected faults (error responses, dropped connections,
delays) and the request log live outside the FastAPI app, in
:class:`FaultInjector`, an ASGI middleware that wraps the whole app.
"""

import asyncio
import hashlib
import itertools
import json
import math
import re
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from random import Random
from typing import Annotated, Any, Callable, Optional, TypeVar, Union

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Security
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, EmailStr, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ROLES = ("guest", "user", "root", "GUI")

# Response texts that the LitePolis contract fixes.
NOT_AUTHENTICATED = "Not authenticated"
INVALID_API_KEY = "Invalid API key"
METHOD_NOT_ALLOWED = "Method Not Allowed"
UNAUTHORIZED = "Unauthorized"
FORBIDDEN = "Forbidden"
INVALID_PASSWORD = "Invalid password"
INVALID_PARAMETER = "Invalid parameter"
NEW_API_KEY = "New API Key"
MODERATION_DISABLED = "Moderation is disabled for this conversation"

# The password length that a profile update requires, the length of an MD5
# hex digest. Registration and login check no length.
PROFILE_PASSWORD_LENGTH = 32

# The body of every 500 that the original server sent: Starlette's plain-text
# response to an unhandled exception.
INTERNAL_SERVER_ERROR = "Internal Server Error"

# Behaviours of the original LitePolis server (FastAPI 0.112, run unchanged on
# a real database) that deviate from the contract. Each is off by default.
QUIRK_AUTH_ALWAYS_500 = "auth_always_500"
QUIRK_COMMENTS_LIST_500 = "comments_list_500"
QUIRK_MISSING_KEY_401 = "missing_key_401"
QUIRK_RENEWAL_KEEPS_OLD_KEY = "renewal_keeps_old_key"
QUIRK_UNKNOWN_KEY_500 = "unknown_key_500"
QUIRKS = (
    QUIRK_AUTH_ALWAYS_500,
    QUIRK_COMMENTS_LIST_500,
    QUIRK_MISSING_KEY_401,
    QUIRK_RENEWAL_KEEPS_OLD_KEY,
    QUIRK_UNKNOWN_KEY_500,
)


def _unset() -> None:
    return None


def _optional() -> Any:
    """Return a field that defaults to ``None`` without ``"default": null`` in its schema.

    The LitePolis spec lists these fields as optional with no default, and
    pydantic leaves a default out of the JSON schema when a factory makes it.
    """
    return Field(default_factory=_unset)


# The models carry comments, not docstrings, because pydantic would copy a
# docstring into the schema as "description", which the LitePolis spec lacks.


# A user as the secure routes return it.
class UserResponseMessage(BaseModel):
    id: int
    email: str
    role: str


# A conversation as the secure routes return it.
class ConversationResponseMessage(BaseModel):
    id: int
    title: str
    description: str
    creator_id: int
    moderation: Optional[bool] = _optional()


# A comment as the secure routes return it.
class CommentResponseMessage(BaseModel):
    id: int
    create_date: str
    comment: str
    user_id: int
    conversation_id: int
    moderated: bool = False
    approved: bool = False


# The envelope of most secure responses. `status_code` is part of the body and
# can differ from the HTTP status.
class ResponseMessage(BaseModel):
    detail: Union[str, UserResponseMessage, ConversationResponseMessage, CommentResponseMessage]
    error: Optional[str] = _optional()
    message: Optional[str] = _optional()
    status_code: int = 200


# The envelope of a list of conversations.
class ConversationResponse(BaseModel):
    detail: Union[str, list[ConversationResponseMessage]]
    error: Optional[str] = _optional()
    message: Optional[str] = _optional()
    status_code: int = 200


# The envelope of a list of comments.
class CommentResponse(BaseModel):
    detail: Union[str, list[CommentResponseMessage]]
    error: Optional[str] = _optional()
    message: Optional[str] = _optional()
    status_code: int = 200


# Request body of login, registration and profile update.
class UserProfile(BaseModel):
    email: Optional[EmailStr] = _optional()
    password: Optional[str] = _optional()


# Request body of conversation create and update.
class ConversationModel(BaseModel):
    id: Optional[int] = _optional()
    title: Optional[str] = _optional()
    description: Optional[str] = _optional()


# Request body of comment create, edit and moderation. `vote` is accepted and
# ignored, because no operation of the v1 API reads votes back.
class CommentModel(BaseModel):
    comment_id: Optional[int] = _optional()
    comment: Optional[str] = _optional()
    user_id: Optional[int] = _optional()
    conversation_id: Optional[int] = _optional()
    task: Optional[str] = _optional()
    vote: Optional[int] = _optional()


@dataclass(frozen=True)
class SeededUser:
    """A user added by a test, with one live API key (left out of the repr)."""

    id: int
    email: str
    role: str
    key: str = field(repr=False)


@dataclass(frozen=True)
class UserRecord:
    """A stored user. ``password_sha1`` is the SHA-1 hex digest, or ``None`` for no password."""

    id: int
    email: str
    role: str
    password_sha1: Optional[str] = field(repr=False)


class RecordNotFound(LookupError):
    """Raised when a user, conversation or comment id is not in the state."""

    def __init__(self, kind: str, record_id: int) -> None:
        super().__init__(f"{kind} {record_id} not found")
        self.kind = kind


class _OriginalServerCrash(Exception):
    """Raised where the original server failed with an unhandled exception, for a quirk."""


def _check_quirk(name: object) -> None:
    if not isinstance(name, str) or name not in QUIRKS:
        raise ValueError(f"Unknown quirk {name!r}, expected one of: {', '.join(QUIRKS)}")


def hash_password(password: str) -> str:
    """Return the SHA-1 hex digest under which LitePolis stores a password."""
    # surrogatepass: JSON can carry a lone surrogate, which strict UTF-8 rejects.
    return hashlib.sha1(password.encode("utf-8", "surrogatepass")).hexdigest()


Record = TypeVar("Record")
Handler = TypeVar("Handler", bound=Callable[..., Any])


def _require(records: dict[int, Record], kind: str, record_id: int) -> Record:
    try:
        return records[record_id]
    except KeyError:
        raise RecordNotFound(kind, record_id) from None


class StandInState:
    """Users, API keys, conversations and comments of one stand-in server.

    Ids count up from 1 per kind of record. Every public method takes
    ``lock``, so one method call is atomic, and returns copies, never the
    stored records. ``random`` shuffles comment lists, and ``seed`` makes
    that order repeatable. ``quirks`` names behaviours of the original
    server to reproduce, from :data:`QUIRKS`.
    """

    def __init__(self, *, seed: Optional[int] = None, quirks: Iterable[str] = ()) -> None:
        # A str is iterable, so quirks="unknown_key_500" would name 15 quirks of one letter.
        if isinstance(quirks, str):
            raise TypeError(f"quirks must be a collection of names, such as [{quirks!r}], not a str")
        for name in quirks:
            _check_quirk(name)

        self.lock = threading.Lock()
        self.random = Random(seed)
        self._quirks = set(quirks)
        self._is_database_up = True
        self._users: dict[int, UserRecord] = {}
        self._user_ids_by_key: dict[str, int] = {}
        self._conversations: dict[int, ConversationResponseMessage] = {}
        self._comments: dict[int, CommentResponseMessage] = {}
        self._user_ids = itertools.count(1)
        self._conversation_ids = itertools.count(1)
        self._comment_ids = itertools.count(1)

    def __repr__(self) -> str:
        return (
            f"<StandInState users={len(self._users)} conversations={len(self._conversations)}"
            f" comments={len(self._comments)}>"
        )

    def is_database_up(self) -> bool:
        with self.lock:
            return self._is_database_up

    def set_database_up(self, is_up: bool) -> None:
        with self.lock:
            self._is_database_up = is_up

    # Quirks of the original server.

    @property
    def quirks(self) -> frozenset[str]:
        with self.lock:
            return frozenset(self._quirks)

    def has_quirk(self, name: str) -> bool:
        with self.lock:
            return name in self._quirks

    def enable_quirk(self, name: str) -> None:
        """Switch on a quirk from :data:`QUIRKS`. Raises ValueError for an unknown name."""
        _check_quirk(name)
        with self.lock:
            self._quirks.add(name)

    def disable_quirk(self, name: str) -> None:
        """Switch off a quirk. Raises ValueError for an unknown name."""
        _check_quirk(name)
        with self.lock:
            self._quirks.discard(name)

    # Users and API keys.

    def add_user(
        self, email: str, role: str = "user", password: Optional[str] = None
    ) -> SeededUser:
        """Store a user and issue one API key for it.

        Raises ValueError for a role outside :data:`ROLES`.
        """
        if role not in ROLES:
            raise ValueError(f"Invalid role {role!r}, expected one of: {', '.join(ROLES)}")

        password_sha1 = None if password is None else hash_password(password)
        with self.lock:
            user = self._insert_user(email, role, password_sha1)
            key = self._issue_key(user.id)
        return SeededUser(id=user.id, email=user.email, role=user.role, key=key)

    def add_key(self, user_id: int) -> str:
        """Issue one more API key for a user, beside the keys it has."""
        with self.lock:
            _require(self._users, "User", user_id)
            return self._issue_key(user_id)

    def get_user(self, user_id: int) -> UserRecord:
        with self.lock:
            return _require(self._users, "User", user_id)

    def all_users(self) -> list[UserRecord]:
        """Return every stored user in id order."""
        with self.lock:
            return list(self._users.values())

    def find_user_by_email(self, email: str) -> Optional[UserRecord]:
        """Return the user with this email, the oldest one if several share it."""
        with self.lock:
            return next((user for user in self._users.values() if user.email == email), None)

    def user_for_key(self, key: str) -> Optional[UserRecord]:
        with self.lock:
            user_id = self._user_ids_by_key.get(key)
            return None if user_id is None else self._users[user_id]

    def is_live(self, key: str) -> bool:
        with self.lock:
            return key in self._user_ids_by_key

    def live_keys(self, user_id: int) -> list[str]:
        with self.lock:
            return [key for key, owner in self._user_ids_by_key.items() if owner == user_id]

    def replace_key(self, key: str) -> Optional[str]:
        """Revoke ``key`` and issue a new key for its user.

        Returns ``None`` when ``key`` is not live, for example because a
        concurrent renewal with the same key won.
        """
        with self.lock:
            return self._replace_key(key)

    def register_user(
        self, email: str, password: str, caller_key: str, *, revoke_caller_key: bool = True
    ) -> Optional[str]:
        """Store a new user with role ``user``, then issue the caller a new key.

        The new key replaces ``caller_key`` unless ``revoke_caller_key`` is
        false. Returns the caller's new key, or ``None`` (and stores nothing)
        when ``caller_key`` is no longer live.
        """
        with self.lock:
            caller_id = self._user_ids_by_key.get(caller_key)
            if caller_id is None:
                return None

            self._insert_user(email, "user", hash_password(password))
            if revoke_caller_key:
                return self._replace_key(caller_key)
            return self._issue_key(caller_id)

    def update_user(self, user_id: int, email: Optional[str], password: Optional[str]) -> None:
        """Change a user's email and password. ``None`` leaves a value as it is."""
        with self.lock:
            user = _require(self._users, "User", user_id)
            if email is not None:
                user = replace(user, email=email)
            if password is not None:
                user = replace(user, password_sha1=hash_password(password))
            self._users[user_id] = user

    # Conversations.

    def add_conversation(
        self, creator_id: int, title: str, description: str, moderation: bool = False
    ) -> int:
        with self.lock:
            _require(self._users, "User", creator_id)
            conversation = ConversationResponseMessage(
                id=next(self._conversation_ids),
                title=title,
                description=description,
                creator_id=creator_id,
                moderation=moderation,
            )
            self._conversations[conversation.id] = conversation
            return conversation.id

    def get_conversation(self, conversation_id: int) -> ConversationResponseMessage:
        with self.lock:
            return _require(self._conversations, "Conversation", conversation_id).model_copy()

    def all_conversations(self) -> list[ConversationResponseMessage]:
        """Return every stored conversation in id order."""
        with self.lock:
            return [conversation.model_copy() for conversation in self._conversations.values()]

    def conversations_by(self, creator_id: int) -> list[ConversationResponseMessage]:
        with self.lock:
            return [
                conversation.model_copy()
                for conversation in self._conversations.values()
                if conversation.creator_id == creator_id
            ]

    def update_conversation(
        self, conversation_id: int, title: Optional[str], description: Optional[str]
    ) -> None:
        """Change a conversation's title and description. ``None`` leaves a value as it is."""
        with self.lock:
            conversation = _require(self._conversations, "Conversation", conversation_id)
            if title is not None:
                conversation.title = title
            if description is not None:
                conversation.description = description

    # Comments.

    def add_comment(
        self,
        conversation_id: int,
        user_id: int,
        comment: str,
        moderated: bool = False,
        approved: bool = False,
    ) -> int:
        with self.lock:
            _require(self._conversations, "Conversation", conversation_id)
            _require(self._users, "User", user_id)
            record = CommentResponseMessage(
                id=next(self._comment_ids),
                create_date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                comment=comment,
                user_id=user_id,
                conversation_id=conversation_id,
                moderated=moderated,
                approved=approved,
            )
            self._comments[record.id] = record
            return record.id

    def list_comments(
        self, conversation_id: int, *, approved_only: bool, shuffle: bool
    ) -> list[CommentResponseMessage]:
        """Return a conversation's comments in id order, or shuffled with ``random``."""
        with self.lock:
            _require(self._conversations, "Conversation", conversation_id)
            comments = [
                comment.model_copy()
                for comment in self._comments.values()
                if comment.conversation_id == conversation_id
                and (comment.approved or not approved_only)
            ]
            if shuffle:
                self.random.shuffle(comments)
            return comments

    def all_comments(self, conversation_id: int) -> list[CommentResponseMessage]:
        """Return every comment of a conversation in id order, moderated or not."""
        return self.list_comments(conversation_id, approved_only=False, shuffle=False)

    def comments_awaiting_moderation(
        self, conversation_id: int
    ) -> Optional[list[CommentResponseMessage]]:
        """Return the comments not yet moderated, or ``None`` when moderation is off."""
        with self.lock:
            conversation = _require(self._conversations, "Conversation", conversation_id)
            if not conversation.moderation:
                return None

            return [
                comment.model_copy()
                for comment in self._comments.values()
                if comment.conversation_id == conversation_id and not comment.moderated
            ]

    def moderate_comment(self, comment_id: int, *, approved: bool) -> None:
        with self.lock:
            comment = _require(self._comments, "Comment", comment_id)
            comment.moderated = True
            comment.approved = approved

    def edit_comment(self, comment_id: int, text: Optional[str]) -> None:
        """Change a comment's text. ``None`` leaves it as it is."""
        with self.lock:
            comment = _require(self._comments, "Comment", comment_id)
            if text is not None:
                comment.comment = text

    # Helpers for callers that hold the lock.

    def _insert_user(self, email: str, role: str, password_sha1: Optional[str]) -> UserRecord:
        user_id = next(self._user_ids)
        user = UserRecord(id=user_id, email=email, role=role, password_sha1=password_sha1)
        self._users[user_id] = user
        return user

    def _issue_key(self, user_id: int) -> str:
        key = str(uuid.uuid4())
        self._user_ids_by_key[key] = user_id
        return key

    def _replace_key(self, key: str) -> Optional[str]:
        user_id = self._user_ids_by_key.pop(key, None)
        return None if user_id is None else self._issue_key(user_id)


@dataclass(frozen=True)
class _Caller:
    user: UserRecord
    key: str = field(repr=False)


_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def _get_state(request: Request) -> StandInState:
    state: StandInState = request.app.state.standin
    return state


StateDep = Annotated[StandInState, Depends(_get_state)]


def _authenticate(
    state: StateDep,
    api_key: Annotated[Optional[str], Security(_api_key_header)],
) -> _Caller:
    """Return the caller that the ``X-API-Key`` header names.

    The key is checked here, not by ``auto_error``, because FastAPI 0.165
    responds to a missing key with 401 where the LitePolis server (FastAPI 0.112)
    responded with 403. An empty header counts as missing.
    """
    if not api_key:
        if state.has_quirk(QUIRK_MISSING_KEY_401):
            raise HTTPException(
                status_code=401, detail=NOT_AUTHENTICATED, headers={"WWW-Authenticate": "APIKey"}
            )
        raise HTTPException(status_code=403, detail=NOT_AUTHENTICATED)

    user = state.user_for_key(api_key)
    if user is None:
        # The original server stored a guest user for an unknown key and then
        # crashed. The stand-in reproduces the response, not the stored row.
        if state.has_quirk(QUIRK_UNKNOWN_KEY_500):
            raise _OriginalServerCrash()
        raise HTTPException(status_code=401, detail=INVALID_API_KEY)

    return _Caller(user=user, key=api_key)


CallerDep = Annotated[_Caller, Depends(_authenticate)]


def _require_role(caller: _Caller, *allowed_roles: str) -> None:
    if caller.user.role not in allowed_roles:
        raise HTTPException(status_code=401, detail=UNAUTHORIZED)


def _user_message(caller: _Caller) -> ResponseMessage:
    user = caller.user
    detail = UserResponseMessage(id=user.id, email=user.email, role=user.role)
    return ResponseMessage(detail=detail, message="User information")


def _new_key_message(key: Optional[str]) -> ResponseMessage:
    # A key revoked between authentication and this step lost a race with a
    # concurrent renewal, so the caller is no longer authenticated.
    if key is None:
        raise HTTPException(status_code=401, detail=INVALID_API_KEY)

    return ResponseMessage(detail=key, error=None, message=NEW_API_KEY, status_code=200)


public_router = APIRouter(prefix="/api/v1/public")
secure_router = APIRouter(prefix="/api/v1/secure")


def _operation(
    method: str, path: str, operation_id: str, *tags: str
) -> Callable[[Handler], Handler]:
    """Register a secure route under the operation id and tags that the LitePolis spec gives it.

    The summary is the one FastAPI derived from the original handler's name,
    which is the part of the operation id before ``_api_v1_``.
    """
    summary = operation_id.split("_api_v1_")[0].replace("_", " ").title()
    return secure_router.api_route(
        path, methods=[method], tags=list(tags), summary=summary, operation_id=operation_id
    )


@public_router.get(
    "/",
    summary="Get Testroute",
    operation_id="get_testroute_api_v1_public__get",
    response_model=None,
)
def check_health(state: StateDep) -> JSONResponse:
    """Report whether the server can reach its database. Needs no API key."""
    return JSONResponse({"detail": "OK" if state.is_database_up() else "DB conn failed"})


@_operation("GET", "/", "get_testroute_api_v1_secure__get", "User")
def read_caller(caller: CallerDep) -> ResponseMessage:
    """Return the id, email and role of the user that the API key belongs to."""
    return _user_message(caller)


@_operation("GET", "/users/role", "get_userrole_api_v1_secure_users_role_get", "User")
def read_role(caller: CallerDep) -> ResponseMessage:
    """Return the caller's role: guest, user, root or GUI."""
    return ResponseMessage(detail=caller.user.role, message="User role")


@_operation(
    "PUT",
    "/users/renew",
    "update_usertoken_api_v1_secure_users_renew_put",
    "User",
    "API Keys",
)
def renew_key(caller: CallerDep, state: StateDep) -> ResponseMessage:
    """Replace the caller's API key with a new one. The old key stops working at once."""
    if state.has_quirk(QUIRK_RENEWAL_KEEPS_OLD_KEY):
        return _new_key_message(state.add_key(caller.user.id))
    return _new_key_message(state.replace_key(caller.key))


@_operation("POST", "/users/auth", "get_userauth_api_v1_secure_users_auth_post", "User")
def log_in(profile: UserProfile, caller: CallerDep, state: StateDep) -> ResponseMessage:
    """Check a user's email and password and issue a new API key for that user.

    Only the role GUI may log users in. The caller's own key stays valid.
    """
    if state.has_quirk(QUIRK_AUTH_ALWAYS_500):
        raise _OriginalServerCrash()

    if caller.user.role != "GUI":
        raise HTTPException(status_code=403, detail=FORBIDDEN)

    user = None if profile.email is None else state.find_user_by_email(profile.email)
    if user is None:
        raise HTTPException(status_code=401, detail=UNAUTHORIZED)

    if profile.password is None or user.password_sha1 != hash_password(profile.password):
        raise HTTPException(status_code=403, detail=UNAUTHORIZED)

    return _new_key_message(state.add_key(user.id))


@_operation("GET", "/users/profile", "get_userprofile_api_v1_secure_users_profile_get", "User")
def read_profile(caller: CallerDep) -> ResponseMessage:
    """Return the id, email and role of the user that the API key belongs to."""
    return _user_message(caller)


@_operation("PUT", "/users/profile", "update_userprofile_api_v1_secure_users_profile_put", "User")
def update_profile(profile: UserProfile, caller: CallerDep, state: StateDep) -> None:
    """Change the caller's email or password. Only the roles user and root may."""
    _require_role(caller, "user", "root")

    if profile.password is not None and len(profile.password) != PROFILE_PASSWORD_LENGTH:
        raise HTTPException(status_code=400, detail=INVALID_PARAMETER)

    state.update_user(caller.user.id, profile.email, profile.password)


@_operation("POST", "/users/profile", "create_userprofile_api_v1_secure_users_profile_post", "User")
def create_profile(profile: UserProfile, caller: CallerDep, state: StateDep) -> ResponseMessage:
    """Register a user, then replace the caller's API key with a new one."""
    if not profile.email or not profile.password:
        raise HTTPException(status_code=400, detail=INVALID_PASSWORD)

    keep_old_key = state.has_quirk(QUIRK_RENEWAL_KEEPS_OLD_KEY)
    new_key = state.register_user(
        profile.email, profile.password, caller.key, revoke_caller_key=not keep_old_key
    )
    return _new_key_message(new_key)


@_operation(
    "DELETE",
    "/users/profile",
    "delete_userprofile_api_v1_secure_users_profile_delete",
    "User",
)
def delete_profile(caller: CallerDep) -> None:
    """Reject the request, because LitePolis v1 does not delete users."""
    raise HTTPException(status_code=403, detail=METHOD_NOT_ALLOWED)


# Registered before /conversations/{cid}, which would also match "all".
@_operation(
    "GET",
    "/conversations/all",
    "get_all_conversations_api_v1_secure_conversations_all_get",
    "Conversations",
)
def list_conversations(caller: CallerDep, state: StateDep) -> ConversationResponse:
    """List the conversations that the caller created."""
    conversations = state.conversations_by(caller.user.id)
    return ConversationResponse(detail=conversations, message="List of Conversations")


@_operation(
    "GET",
    "/conversations/{cid}",
    "get_conversation_api_v1_secure_conversations__cid__get",
    "Conversations",
)
def read_conversation(cid: int, caller: CallerDep, state: StateDep) -> ResponseMessage:
    """Return one conversation by id."""
    return ResponseMessage(detail=state.get_conversation(cid), message="Conversation")


@_operation(
    "DELETE",
    "/conversations/{cid}",
    "delete_conversation_api_v1_secure_conversations__cid__delete",
    "Conversations",
)
def delete_conversation(cid: int, caller: CallerDep) -> None:
    """Reject the request, because LitePolis v1 does not delete conversations."""
    raise HTTPException(status_code=403, detail=METHOD_NOT_ALLOWED)


@_operation(
    "PUT",
    "/conversations",
    "update_conversation_api_v1_secure_conversations_put",
    "Conversations",
)
def update_conversation(
    conversation: ConversationModel, caller: CallerDep, state: StateDep
) -> None:
    """Change a conversation's title or description. Only the role user may."""
    _require_role(caller, "user")

    if conversation.id is None:
        raise HTTPException(status_code=400, detail=INVALID_PARAMETER)

    state.update_conversation(conversation.id, conversation.title, conversation.description)


@_operation(
    "POST",
    "/conversations",
    "create_conversation_api_v1_secure_conversations_post",
    "Conversations",
)
def create_conversation(
    conversation: ConversationModel, caller: CallerDep, state: StateDep
) -> None:
    """Create a conversation owned by the caller. Only the role user may."""
    _require_role(caller, "user")

    # The contract requires 401, not 400, for a missing title or description.
    if not conversation.title or not conversation.description:
        raise HTTPException(status_code=401, detail=UNAUTHORIZED)

    state.add_conversation(caller.user.id, conversation.title, conversation.description)


@_operation("GET", "/comments/{cid}/", "get_comments_api_v1_secure_comments__cid___get", "Comments")
def list_comments(
    cid: int, caller: CallerDep, state: StateDep, random: bool = True, moderated: bool = False
) -> CommentResponse:
    """List a conversation's comments, shuffled unless random is false.

    With moderated true, the list has only the comments that moderation approved.
    """
    comments = state.list_comments(cid, approved_only=moderated, shuffle=random)

    # The original server failed to serialize create_date (a datetime where
    # the schema declares a string), and random=true failed before that.
    if state.has_quirk(QUIRK_COMMENTS_LIST_500) and (random or comments):
        raise _OriginalServerCrash()

    return CommentResponse(detail=comments, message="List of Comments in the conversation")


@_operation(
    "GET",
    "/comments/{cid}/moderate",
    "get_comments_for_moderation_api_v1_secure_comments__cid__moderate_get",
    "Comments",
)
def list_comments_for_moderation(cid: int, caller: CallerDep, state: StateDep) -> CommentResponse:
    """List the comments of a conversation that wait for moderation.

    With moderation off, the HTTP status is 200 and the body's status_code is 400.
    """
    comments = state.comments_awaiting_moderation(cid)
    if comments is None:
        return CommentResponse(
            detail=MODERATION_DISABLED, error=MODERATION_DISABLED, message=None, status_code=400
        )

    return CommentResponse(detail=comments, message="List of Comments awaiting moderation")


@_operation("PUT", "/comments/", "update_comment_api_v1_secure_comments__put", "Comments")
def update_comment(comment: CommentModel, caller: CallerDep, state: StateDep) -> None:
    """Approve or reject a comment when task is approve or reject, else change its text.

    Only the role user may.
    """
    _require_role(caller, "user")

    if comment.comment_id is None:
        raise HTTPException(status_code=400, detail=INVALID_PARAMETER)

    if comment.task in ("approve", "reject"):
        state.moderate_comment(comment.comment_id, approved=comment.task == "approve")
        return

    state.edit_comment(comment.comment_id, comment.comment)


@_operation("POST", "/comments/", "create_comment_api_v1_secure_comments__post", "Comments")
def create_comment(comment: CommentModel, caller: CallerDep, state: StateDep) -> None:
    """Add a comment by the caller to a conversation. Only the roles guest and user may."""
    _require_role(caller, "guest", "user")

    if not comment.comment or comment.conversation_id is None:
        raise HTTPException(status_code=400, detail=INVALID_PARAMETER)

    state.add_comment(comment.conversation_id, caller.user.id, comment.comment)


@_operation(
    "DELETE",
    "/comments/{cid}",
    "delete_comment_api_v1_secure_comments__cid__delete",
    "Comments",
)
def delete_comment(cid: int, caller: CallerDep) -> None:
    """Reject the request, because LitePolis v1 does not delete comments."""
    raise HTTPException(status_code=403, detail=METHOD_NOT_ALLOWED)


def _record_not_found(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RecordNotFound)
    return JSONResponse({"detail": f"{exc.kind} not found"}, status_code=404)


def _internal_server_error(request: Request, exc: Exception) -> PlainTextResponse:
    return PlainTextResponse(INTERNAL_SERVER_ERROR, status_code=500)


def create_app(state: Optional[StandInState] = None) -> FastAPI:
    """Build the stand-in app around ``state``, or around a new, empty state."""
    app = FastAPI(
        title="LitePolis API",
        version="1.0.0",
        description="A stand-in for the LitePolis v1 server, with its data in memory.",
    )
    app.state.standin = StandInState() if state is None else state
    app.add_exception_handler(RecordNotFound, _record_not_found)
    # A handled exception, so uvicorn logs no traceback for a crash on purpose.
    app.add_exception_handler(_OriginalServerCrash, _internal_server_error)
    app.include_router(public_router)
    app.include_router(secure_router)
    return app


# Fault injection and the request log.

FAULT_DELAY = "delay"
FAULT_DROP = "drop"
FAULT_FAIL = "fail"

# The maximum delay that StandInServer.delay() accepts. A delay ends early
# when its client disconnects or the server stops.
MAX_DELAY_S = 30.0

# How often a delay checks whether the server is stopping.
_SHUTDOWN_POLL_INTERVAL_S = 0.05

# Headers that the stand-in derives from a failure's body itself.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})

FailureBody = Union[None, bytes, str, dict[str, Any], list[Any]]


@dataclass(frozen=True)
class RecordedRequest:
    """One request that the stand-in received, without its headers or body.

    ``query`` is the raw query string, without ``?``. ``has_api_key`` is
    True when an ``X-API-Key`` header was sent, empty or not. The key itself
    is never recorded. ``status`` is the HTTP status of the response, or
    ``None`` when none was sent: the connection was dropped on purpose, or
    the client disconnected or the server stopped during a delay.
    ``faults`` names the injected faults that applied, in the order they
    acted: ``"delay"``, then ``"fail"`` or ``"drop"``.
    """

    method: str
    path: str
    query: str
    has_api_key: bool
    status: Optional[int]
    faults: tuple[str, ...] = ()


@dataclass
class _Fault:
    """One armed fault and the requests it applies to.

    ``remaining`` counts the requests still to be affected, ``None`` for all
    of them. ``status``, ``headers`` and ``body`` belong to a ``fail`` fault,
    ``seconds`` to a ``delay``.
    """

    kind: str
    method: Optional[str]
    path_prefix: Optional[str]
    remaining: Optional[int]
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and method != self.method:
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)


class FaultPlan:
    """The faults that a test armed, consumed by :class:`FaultInjector` one request at a time.

    Faults apply in the order they were armed. One request takes at most one
    ``delay`` and, once the delay is over, at most one ``fail`` or ``drop``.
    Every method takes a lock, so tests may arm faults while requests are in
    flight.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []

    def __repr__(self) -> str:
        with self._lock:
            kinds = [fault.kind for fault in self._faults]
        return f"<FaultPlan armed={kinds}>"

    def fail_next(
        self,
        count: Optional[int],
        status: int,
        body: FailureBody = None,
        headers: Optional[Mapping[str, str]] = None,
        *,
        method: Optional[str] = None,
        path: Optional[str] = None,
    ) -> None:
        """Respond to the next ``count`` matching requests with ``status`` without running the app."""
        if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
            raise ValueError(f"Invalid status {status!r}, expected an int from 200 to 599")

        encoded_body, content_type = _encode_failure_body(body)
        if status in (204, 304) and encoded_body:
            raise ValueError(f"HTTP {status} has no body, so body must be None or empty")

        fault = _Fault(
            kind=FAULT_FAIL,
            method=_check_method(method),
            path_prefix=_check_path_prefix(path),
            remaining=_check_count(count),
            status=status,
            headers=_failure_headers(headers, content_type, encoded_body),
            body=encoded_body,
        )
        self._arm(fault)

    def drop_next(
        self, count: Optional[int] = 1, *, method: Optional[str] = None, path: Optional[str] = None
    ) -> None:
        """Let the app handle the next ``count`` matching requests, then close without a response."""
        fault = _Fault(
            kind=FAULT_DROP,
            method=_check_method(method),
            path_prefix=_check_path_prefix(path),
            remaining=_check_count(count),
        )
        self._arm(fault)

    def delay(
        self,
        seconds: float,
        count: Optional[int] = 1,
        *,
        method: Optional[str] = None,
        path: Optional[str] = None,
    ) -> None:
        """Wait ``seconds`` before handling each of the next ``count`` matching requests."""
        is_number = isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
        if not is_number or not math.isfinite(seconds) or not 0 <= seconds <= MAX_DELAY_S:
            raise ValueError(
                f"Invalid delay {seconds!r}, expected a number of seconds from 0 to {MAX_DELAY_S}"
            )

        fault = _Fault(
            kind=FAULT_DELAY,
            method=_check_method(method),
            path_prefix=_check_path_prefix(path),
            remaining=_check_count(count),
            seconds=float(seconds),
        )
        self._arm(fault)

    def reset(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults.clear()

    def take_delay(self, method: str, path: str) -> Optional[_Fault]:
        """Use up one request of the first matching delay, and return that delay."""
        with self._lock:
            return self._take_first(method, path, (FAULT_DELAY,))

    def take_response_fault(self, method: str, path: str) -> Optional[_Fault]:
        """Use up one request of the first matching fail or drop, and return that fault."""
        with self._lock:
            return self._take_first(method, path, (FAULT_FAIL, FAULT_DROP))

    def _arm(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_first(self, method: str, path: str, kinds: tuple[str, ...]) -> Optional[_Fault]:
        for fault in self._faults:
            if fault.kind not in kinds or not fault.matches(method, path):
                continue

            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
            return fault
        return None


class RequestLog:
    """The requests that a stand-in received, in the order it responded to them or gave up."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[RecordedRequest] = []

    def __repr__(self) -> str:
        with self._lock:
            return f"<RequestLog entries={len(self._entries)}>"

    def append(self, request: RecordedRequest) -> None:
        with self._lock:
            self._entries.append(request)

    def entries(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class FaultInjector:
    """ASGI middleware that applies the faults of a :class:`FaultPlan` and logs each request.

    It wraps the whole app, outside Starlette's own middleware, because
    dropping a connection needs the ``send`` callable of the ASGI server
    itself. A request is logged before the first byte of its response goes
    out, so a client that has its response also finds its request in the log.
    Setting ``stopping`` ends every delay in progress with the connection
    closed, so a server can stop without waiting for them.
    """

    def __init__(self, app: ASGIApp, plan: FaultPlan, log: RequestLog) -> None:
        self.app = app
        self.plan = plan
        self.log = log
        self.stopping = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        method = scope["method"]
        path = scope["path"]
        faults: list[str] = []

        def record(status: Optional[int]) -> None:
            self.log.append(
                RecordedRequest(
                    method=method,
                    path=path,
                    query=scope["query_string"].decode("latin-1"),
                    has_api_key=any(name == b"x-api-key" for name, _ in scope["headers"]),
                    status=status,
                    faults=tuple(faults),
                )
            )

        # A delay reads the body first, because after the body the ASGI
        # receive() returns only when the client disconnects.
        delay = self.plan.take_delay(method, path)
        if delay is not None:
            faults.append(FAULT_DELAY)
            body = await _read_body(receive)
            if body is None or not await self._wait_out_delay(delay.seconds, receive):
                record(None)
                await _close_connection(send)
                return
            receive = _replay_body(body, receive)

        # Taken only now, so a fail or drop is not used up by a request
        # whose client gave up during the delay.
        response_fault = self.plan.take_response_fault(method, path)
        if response_fault is not None:
            faults.append(response_fault.kind)

        if response_fault is None:
            await self._forward(scope, receive, send, record)
        elif response_fault.kind == FAULT_FAIL:
            await self._fail(response_fault, receive, send, record)
        else:
            await self._drop(scope, receive, send, record)

    async def _forward(
        self, scope: Scope, receive: Receive, send: Send, record: Callable[[Optional[int]], None]
    ) -> None:
        """Let the app respond, and log the status it sends."""
        started = False

        async def send_and_record(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                record(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            if not started:
                record(None)

    async def _wait_out_delay(self, seconds: float, receive: Receive) -> bool:
        """Sleep ``seconds``; return False early when the client disconnects or the server stops."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        disconnect = asyncio.ensure_future(receive())
        try:
            while not self.stopping.is_set():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return True

                timeout = min(remaining, _SHUTDOWN_POLL_INTERVAL_S)
                done, _ = await asyncio.wait({disconnect}, timeout=timeout)
                if done:
                    return False
            return False
        finally:
            disconnect.cancel()

    @staticmethod
    async def _fail(
        fault: _Fault, receive: Receive, send: Send, record: Callable[[Optional[int]], None]
    ) -> None:
        """Respond with the fault's status, headers and body. The app never receives the request."""
        # Reading the body keeps the connection usable for the next request.
        if await _read_body(receive) is None:
            record(None)
            return

        record(fault.status)
        await send({"type": "http.response.start", "status": fault.status, "headers": fault.headers})
        await send({"type": "http.response.body", "body": fault.body})

    async def _drop(
        self, scope: Scope, receive: Receive, send: Send, record: Callable[[Optional[int]], None]
    ) -> None:
        """Let the app handle the request, discard its response and close the connection."""

        async def discard(message: Message) -> None:
            pass

        try:
            await self.app(scope, receive, discard)
        finally:
            record(None)
            await _close_connection(send)


async def _close_connection(send: Send) -> None:
    """Close the client's connection without writing a byte of a response.

    ASGI has no message for this. uvicorn (0.55, h11 and httptools
    protocols) passes the bound ``send`` method of its request cycle, which
    keeps the asyncio transport as ``transport``.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError(
            "Cannot drop the connection: the ASGI server's send() has no transport."
            " Serve the stand-in with uvicorn, as StandInServer does."
        )

    transport.close()
    # uvicorn learns of the closed connection one loop iteration later. Once
    # it has, it sends no 500 for the missing response and logs nothing.
    await asyncio.sleep(0)


async def _read_body(receive: Receive) -> Optional[bytes]:
    """Return the whole request body, or ``None`` when the client disconnected first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None

        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay_body(body: bytes, receive: Receive) -> Receive:
    """Return a receive() that yields ``body`` once, then defers to ``receive``."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()

        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _check_count(count: object) -> Optional[int]:
    if count is None:
        return None
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(
            f"Invalid count {count!r}, expected a positive int, or None for every matching request"
        )
    return count


def _check_method(method: object) -> Optional[str]:
    if method is None:
        return None
    if not isinstance(method, str) or not method.isalpha():
        raise ValueError(f"Invalid method {method!r}, expected an HTTP method such as 'PUT'")
    return method.upper()


def _check_path_prefix(path: object) -> Optional[str]:
    if path is None:
        return None
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(
            f"Invalid path {path!r}, expected a path that starts with '/',"
            " such as '/api/v1/secure/users/renew'"
        )
    return path


def _encode_failure_body(body: FailureBody) -> tuple[bytes, Optional[str]]:
    """Return the bytes of a failure's body and the Content-Type that fits them, if any."""
    if body is None:
        return b"", None
    if isinstance(body, bytes):
        return body, None
    if isinstance(body, str):
        return body.encode("utf-8"), "text/plain; charset=utf-8"
    if isinstance(body, (dict, list)):
        return json.dumps(body, separators=(",", ":")).encode("utf-8"), "application/json"
    raise TypeError(f"body must be None, bytes, str, dict or list, got {type(body).__name__}")


# RFC 9110 token: the characters a header name may have.
_HEADER_NAME_PATTERN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _failure_headers(
    headers: Optional[Mapping[str, str]], content_type: Optional[str], body: bytes
) -> list[tuple[bytes, bytes]]:
    """Return the raw ASGI headers of a failure: the caller's, Content-Type and Content-Length."""
    raw_headers: list[tuple[bytes, bytes]] = []
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"headers must map str to str, got {name!r}: {type(value).__name__}")

        if not _HEADER_NAME_PATTERN.fullmatch(name):
            raise ValueError(f"Invalid header name {name!r}: use letters, digits and !#$%&'*+-.^_`|~")
        if any(character in value for character in "\r\n\0"):
            raise ValueError(f"Header {name!r} contains a CR, LF or NUL character")

        lowered = name.lower()
        if lowered in _FRAMING_HEADERS:
            raise ValueError(f"Header {name!r} is derived from the body, so leave it out")
        if any(existing == lowered.encode("latin-1") for existing, _ in raw_headers):
            raise ValueError(f"Header {name!r} is given twice, in different letter case")
        try:
            raw_headers.append((lowered.encode("latin-1"), value.encode("latin-1")))
        except UnicodeEncodeError:
            raise ValueError(f"Header {name!r} has characters outside Latin-1") from None

    names = {name for name, _ in raw_headers}
    if content_type is not None and b"content-type" not in names:
        raw_headers.append((b"content-type", content_type.encode("latin-1")))
    raw_headers.append((b"content-length", str(len(body)).encode("latin-1")))
    return raw_headers
