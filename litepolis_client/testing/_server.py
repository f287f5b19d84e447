"""Serve the LitePolis stand-in app with uvicorn from a background thread."""

import logging
import socket
import threading
import time
from types import TracebackType
from typing import Optional

import uvicorn

from ._app import SeededUser, StandInState, UserRecord, create_app

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 10.0

# How long uvicorn lets in-flight requests finish after stop() before it
# cancels them. Shorter than SHUTDOWN_TIMEOUT_S, so the join can succeed.
_GRACEFUL_SHUTDOWN_TIMEOUT_S = 5.0
_STARTUP_POLL_INTERVAL_S = 0.01


class StandInServer:
    """A LitePolis v1 stand-in served on an ephemeral port of 127.0.0.1.

    Usage::

        with StandInServer() as server:
            alice = server.add_user("alice@example.org")
            # Send requests to server.url with the header X-API-Key: alice.key

    The server binds its socket itself and hands it to uvicorn, which runs in
    a daemon thread. :meth:`start` returns once uvicorn accepts connections.
    The state lives as long as this object, so it survives :meth:`stop` and a
    later :meth:`start`, which binds a new ephemeral port.

    :param seed:
        Seed of the random generator that shuffles comment lists. ``None``
        (the default) seeds it from the operating system.
    :param startup_timeout_s:
        Seconds that :meth:`start` waits for uvicorn to accept connections
        before it raises ``RuntimeError``.
    :param shutdown_timeout_s:
        Seconds that :meth:`stop` waits for the server thread to end before
        it raises ``RuntimeError``.
    """

    def __init__(
        self,
        *,
        seed: Optional[int] = None,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
        shutdown_timeout_s: float = SHUTDOWN_TIMEOUT_S,
    ) -> None:
        self._state = StandInState(seed=seed)
        self._app = create_app(self._state)
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
            timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_TIMEOUT_S,
        )
        self._server = uvicorn.Server(config)
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
        return self._state.live_keys(user_id)

    def is_live(self, key: str) -> bool:
        return self._state.is_live(key)

    def get_user(self, user_id: int) -> UserRecord:
        """Return a stored user. Raises ``LookupError`` for an unknown id."""
        return self._state.get_user(user_id)

    def set_database_up(self, is_up: bool) -> None:
        """Choose what ``GET /api/v1/public/`` reports: ``OK`` or ``DB conn failed``."""
        self._state.set_database_up(is_up)

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
