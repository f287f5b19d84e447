"""Serve the LitePolis stand-in app with uvicorn from a background thread."""

import logging
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Optional

import uvicorn

from ._app import (
    QUIRKS,
    CommentResponseMessage,
    ConversationResponseMessage,
    FailureBody,
    FaultInjector,
    FaultPlan,
    RecordedRequest,
    RequestLog,
    SeededUser,
    StandInState,
    UserRecord,
    create_app,
)

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 10.0

# How long uvicorn lets in-flight requests finish after stop() before it
# cancels them. Shorter than SHUTDOWN_TIMEOUT_S, so the join can succeed.
_GRACEFUL_SHUTDOWN_TIMEOUT_S = 5.0
_STARTUP_POLL_INTERVAL_S = 0.01

RENEWAL_PATH = "/api/v1/secure/users/renew"


class StandInServer:
    """A LitePolis v1 stand-in served on an ephemeral port of 127.0.0.1.

    Usage::

        with StandInServer() as server:
            alice = server.add_user("alice@example.org")
            # Send requests to server.url with the header X-API-Key: alice.key

    The server binds its socket itself and hands it to uvicorn, which runs in
    a daemon thread. :meth:`start` returns once uvicorn accepts connections.
    The state, the armed faults and the request log live as long as this
    object, so they survive :meth:`stop` and a later :meth:`start`, which
    binds a new ephemeral port.

    Tests seed data with the ``add_*`` methods, read it back with
    :meth:`users`, :meth:`conversations`, :meth:`comments`,
    :meth:`live_keys` and :attr:`requests`, and inject faults with
    :meth:`fail_next`, :meth:`drop_next`, :meth:`delay` and quirks. Every
    method is thread-safe and may be called while requests are in flight.

    :param seed:
        Seed of the random generator that shuffles comment lists. ``None``
        (the default) seeds it from the operating system.
    :param quirks:
        Names from :attr:`QUIRKS`, behaviours of the original LitePolis
        server to reproduce instead of the contract. Default none.
        ``ValueError`` for an unknown name.
    :param startup_timeout_s:
        Seconds that :meth:`start` waits for uvicorn to accept connections
        before it raises ``RuntimeError``.
    :param shutdown_timeout_s:
        Seconds that :meth:`stop` waits for the server thread to end before
        it raises ``RuntimeError``.
    """

    #: Quirk names that ``quirks=`` and :meth:`enable_quirk` accept:
    #:
    #: - ``"unknown_key_500"``: an unknown, non-UUID or upper-cased
    #:   ``X-API-Key`` gets ``500 text/plain; charset=utf-8`` with the body
    #:   ``Internal Server Error``, before path parameters and the body are
    #:   validated. A body that is not JSON at all still gets 422 first.
    #: - ``"missing_key_401"``: a missing or empty ``X-API-Key`` gets 401
    #:   ``{"detail": "Not authenticated"}`` with ``WWW-Authenticate: APIKey``,
    #:   as FastAPI 0.165 responds, instead of 403.
    #: - ``"renewal_keeps_old_key"``: renewal and ``POST /users/profile``
    #:   issue a new key but leave the caller's old key live, so keys pile up.
    #: - ``"auth_always_500"``: ``POST /users/auth`` gets the plain-text 500
    #:   for every authenticated caller and valid body.
    #: - ``"comments_list_500"``: ``GET /comments/{cid}/`` gets the plain-text
    #:   500 unless ``random=false`` and the list is empty.
    QUIRKS = QUIRKS

    def __init__(
        self,
        *,
        seed: Optional[int] = None,
        quirks: Iterable[str] = (),
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
        shutdown_timeout_s: float = SHUTDOWN_TIMEOUT_S,
    ) -> None:
        self._state = StandInState(seed=seed, quirks=quirks)
        self._faults = FaultPlan()
        self._request_log = RequestLog()
        self._app = FaultInjector(create_app(self._state), self._faults, self._request_log)
        self._startup_timeout_s = startup_timeout_s
        self._shutdown_timeout_s = shutdown_timeout_s
        self._server: Optional[uvicorn.Server] = None
        self._thread: Optional[threading.Thread] = None
        self._socket: Optional[socket.socket] = None
        self._port: Optional[int] = None
        self._error: Optional[BaseException] = None

    def __repr__(self) -> str:
        if not self.is_running:
            return "<StandInServer stopped>"
        return f"<StandInServer {self.url}>"

    def __enter__(self) -> "StandInServer":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.stop()

    @property
    def is_running(self) -> bool:
        return self._thread is not None

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        """The port that the server listens on. Raises ``RuntimeError`` when it is stopped."""
        if self._port is None:
            raise RuntimeError("The stand-in server is not running, call start() first")
        return self._port

    @property
    def url(self) -> str:
        """The base URL, such as ``http://127.0.0.1:54321``, without a trailing slash."""
        return f"http://{HOST}:{self.port}"

    @property
    def state(self) -> StandInState:
        return self._state

    def start(self) -> None:
        """Bind an ephemeral port, start uvicorn on it and wait until it accepts connections."""
        if self.is_running:
            raise RuntimeError(f"The stand-in server is already running on {self.url}")

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((HOST, 0))
        except OSError:
            sock.close()
            raise

        config = uvicorn.Config(
            self._app,
            host=HOST,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=int(_GRACEFUL_SHUTDOWN_TIMEOUT_S),
        )
        self._server = uvicorn.Server(config)
        self._app.stopping.clear()
        self._socket = sock
        self._port = sock.getsockname()[1]
        self._error = None
        self._thread = threading.Thread(
            target=self._serve, name=f"litepolis-standin-{self._port}", daemon=True
        )
        self._thread.start()

        self._wait_until_started()
        logger.debug("Stand-in server started on port %d", self._port)

    def stop(self) -> None:
        """Stop uvicorn and close the socket. Does nothing when the server is not running."""
        if self._server is None or self._thread is None:
            return

        self._app.stopping.set()
        self._server.should_exit = True
        self._thread.join(self._shutdown_timeout_s)
        if self._thread.is_alive():
            raise RuntimeError(
                f"The stand-in server on port {self._port} did not stop within"
                f" {self._shutdown_timeout_s} s"
            )

        logger.debug("Stand-in server on port %d stopped", self._port)
        self._release()

    # Seeding and read-backs, for tests. Each is one atomic step on the state.

    def add_user(
        self, email: str, role: str = "user", password: Optional[str] = None
    ) -> SeededUser:
        """Store a user and issue one API key for it.

        ``role`` is one of ``guest``, ``user``, ``root`` and ``GUI``, else
        ``ValueError`` is raised. Without ``password`` the user cannot log in.
        """
        return self._state.add_user(email, role, password)

    def add_key(self, user_id: int) -> str:
        """Issue one more live API key for a user. Raises ``LookupError`` for an unknown id."""
        return self._state.add_key(user_id)

    def add_conversation(
        self, creator_id: int, title: str, description: str, moderation: bool = False
    ) -> int:
        """Store a conversation and return its id. Raises ``LookupError`` for an unknown user."""
        return self._state.add_conversation(creator_id, title, description, moderation)

    def add_comment(
        self,
        conversation_id: int,
        user_id: int,
        comment: str,
        moderated: bool = False,
        approved: bool = False,
    ) -> int:
        """Store a comment and return its id.

        Raises ``LookupError`` for an unknown conversation or user.
        """
        return self._state.add_comment(conversation_id, user_id, comment, moderated, approved)

    def live_keys(self, user_id: int) -> list[str]:
        """Return the user's live API keys, oldest first."""
        return self._state.live_keys(user_id)

    def is_live(self, key: str) -> bool:
        return self._state.is_live(key)

    def get_user(self, user_id: int) -> UserRecord:
        """Return a stored user. Raises ``LookupError`` for an unknown id."""
        return self._state.get_user(user_id)

    def users(self) -> list[UserRecord]:
        """Return every stored user in id order, the ones that requests created included."""
        return self._state.all_users()

    def conversations(self) -> list[ConversationResponseMessage]:
        """Return copies of every stored conversation in id order."""
        return self._state.all_conversations()

    def comments(self, conversation_id: int) -> list[CommentResponseMessage]:
        """Return copies of a conversation's comments in id order, moderated or not.

        Raises ``LookupError`` for an unknown conversation.
        """
        return self._state.all_comments(conversation_id)

    def set_database_up(self, is_up: bool) -> None:
        """Choose what ``GET /api/v1/public/`` reports: ``OK`` or ``DB conn failed``."""
        self._state.set_database_up(is_up)

    # The request log.

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received so far, in the order the server responded to them or gave up.

        Each entry has the method, path, query string, whether an
        ``X-API-Key`` header was present, the response status (``None`` when
        no response was sent) and the injected faults that applied. Headers,
        bodies and key values are never recorded.
        """
        return self._request_log.entries()

    def clear_requests(self) -> None:
        self._request_log.clear()

    # Faults. Each applies to requests whose method equals ``method`` and
    # whose path starts with ``path``, and None matches any. ``count`` is the
    # number of requests a fault affects before it disarms itself, or None
    # for every matching request until reset_faults().

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
        """Respond to the next ``count`` matching requests with ``status``, without running the app.

        Usage::

            server.fail_next(1, 503, headers={"Retry-After": "0"})
            server.fail_next(2, 502, "Bad Gateway", path="/api/v1/secure/comments/")

        :param status: An HTTP status from 200 to 599. A 2xx with a body
            that does not fit the schema tests how a client reads bad responses.
        :param body: ``None`` for an empty body, ``str`` for UTF-8 text
            (``text/plain; charset=utf-8``), ``dict`` or ``list`` for JSON
            (``application/json``), ``bytes`` as given, with no Content-Type.
        :param headers: Extra response headers. A ``Content-Type`` here wins
            over the one derived from ``body``. Content-Length is computed
            from the body and may not be given.

        Raises ``ValueError`` for an invalid status, count, method, path or
        header, and ``TypeError`` for a body of another type.
        """
        self._faults.fail_next(count, status, body, headers, method=method, path=path)

    def drop_next(
        self, count: Optional[int] = 1, *, method: Optional[str] = None, path: Optional[str] = None
    ) -> None:
        """Close the connection without a response for the next ``count`` matching requests.

        The app handles each request first, so its effect on the state
        happens. Only the response is lost. A client sees the connection
        closed before a status line arrived.
        """
        self._faults.drop_next(count, method=method, path=path)

    def drop_next_renewal(self) -> None:
        """Apply the next ``PUT /api/v1/secure/users/renew``, then drop its response.

        The old key is revoked and the new one is live (both stay live with
        the quirk ``renewal_keeps_old_key``), but the client never sees the
        new key. For registration, which also replaces the caller's key, use
        ``drop_next(method="POST", path="/api/v1/secure/users/profile")``.
        """
        self._faults.drop_next(1, method="PUT", path=RENEWAL_PATH)

    def delay(
        self,
        seconds: float,
        count: Optional[int] = 1,
        *,
        method: Optional[str] = None,
        path: Optional[str] = None,
    ) -> None:
        """Wait ``seconds`` (0 to 30) before handling each of the next ``count`` matching requests.

        The wait runs on the server's event loop and blocks no other
        request. It ends early, without handling the request and with the
        connection closed, when the client disconnects (for example after
        its read timeout) or the server stops. A ``fail`` or ``drop`` armed
        for the same request applies after the wait.
        """
        self._faults.delay(seconds, count, method=method, path=path)

    def reset_faults(self) -> None:
        """Disarm every fault armed with fail_next(), drop_next() or delay(). Quirks stay on."""
        self._faults.reset()

    @property
    def quirks(self) -> frozenset[str]:
        """The quirks switched on."""
        return self._state.quirks

    def enable_quirk(self, name: str) -> None:
        """Switch on a quirk from :attr:`QUIRKS`. Raises ``ValueError`` for an unknown name."""
        self._state.enable_quirk(name)

    def disable_quirk(self, name: str) -> None:
        """Switch off a quirk. Raises ``ValueError`` for an unknown name."""
        self._state.disable_quirk(name)

    def _serve(self) -> None:
        assert self._server is not None and self._socket is not None
        try:
            self._server.run(sockets=[self._socket])
        # uvicorn 0.55 calls sys.exit() when startup fails, so SystemExit counts too.
        except BaseException as exc:
            self._error = exc
            logger.warning("Stand-in server thread failed with %s", type(exc).__name__)

    def _wait_until_started(self) -> None:
        assert self._server is not None and self._thread is not None
        deadline = time.monotonic() + self._startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                error = self._error
                self._release()
                raise RuntimeError("The stand-in server thread ended during startup") from error

            if time.monotonic() >= deadline:
                self._server.should_exit = True
                self._thread.join(self._shutdown_timeout_s)
                self._release()
                raise RuntimeError(
                    f"The stand-in server did not start within {self._startup_timeout_s} s"
                )

            time.sleep(_STARTUP_POLL_INTERVAL_S)

    def _release(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._server = None
        self._thread = None
        self._socket = None
        self._port = None
