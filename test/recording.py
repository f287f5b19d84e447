"""A recording HTTP/1.1 server on 127.0.0.1 for the tests, served from daemon threads.

Usage::

    with RecordingServer(Reply(404, b'{"detail": "Not Found"}')) as server:
        ...  # send requests to server.url
    assert [request.method for request in server.requests] == ["GET"]

The server keeps every request it reads, then responds as ``reply`` sets: with
a ``Reply``, with a ``Fault``, or with what a callable returns when it gets the
``Request``. Tests may replace ``reply`` while the server runs. Connections are
kept alive, and with an ``ssl.SSLContext`` as ``tls`` the server speaks HTTPS.
"""

import dataclasses
import enum
import logging
import socket
import ssl
import struct
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOOPBACK = "127.0.0.1"
JSON = "application/json"

_log = logging.getLogger(__name__)

# A handler whose connection has been idle this long closes it.
IDLE_TIMEOUT_SECONDS = 30.0
# Maximum time a Fault.SILENCE handler waits for the server to stop before it closes the connection.
SILENCE_SECONDS = 10.0
# Maximum time __exit__ waits for the accept loop to end.
STOP_SECONDS = 5.0


@dataclasses.dataclass(frozen=True)
class Request:
    """One request as the server read it."""

    method: str
    path: str
    # The request line as sent, without its CRLF, such as "GET / HTTP/1.1".
    line: str
    # Every header in the order sent, repeated ones included.
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def values_of(self, name: str) -> list[str]:
        """Return the values of every header called `name`, compared without case."""
        return [value for header, value in self.headers if header.lower() == name.lower()]

    def header(self, name: str, default: str = "") -> str:
        """Return the value of the first header called `name`, or `default` if there is none."""
        values = self.values_of(name)
        return values[0] if values else default


@dataclasses.dataclass(frozen=True)
class Reply:
    """A response. The server adds Content-Length, and Content-Type unless it is None, to `headers`."""

    status: int = 200
    body: bytes = b'{"detail": "OK"}'
    content_type: str | None = JSON
    # None sends the standard reason phrase of `status`.
    reason: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


class Fault(enum.Enum):
    """What the server does instead of replying, after it has read and kept the request."""

    # Hold the connection without sending a byte until the server stops.
    SILENCE = "silence"
    # Reset the connection: RST, not FIN.
    RESET = "reset"


Outcome = Reply | Fault


class RecordingServer:
    """An HTTP/1.1 server on 127.0.0.1 that keeps each request and responds as `reply` sets.

    ``requests`` lists the requests in the order they were read. ``accepted``
    counts the TCP connections accepted, those whose TLS handshake failed too.
    ``open`` counts the connections that a handler still serves.
    """

    def __init__(
        self,
        reply: Outcome | Callable[[Request], Outcome] = Reply(),
        *,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.reply = reply
        self.tls = tls
        self.requests: list[Request] = []
        self.accepted = 0
        self.open = 0
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._httpd = _Server(self)
        # A short poll interval makes shutdown() return in milliseconds.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True)

    @property
    def url(self) -> str:
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://{LOOPBACK}:{self._httpd.server_address[1]}"

    def __enter__(self) -> "RecordingServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(STOP_SECONDS)

    def clear(self) -> None:
        """Forget the requests read so far."""
        with self._changed:
            self.requests.clear()

    def wait_until_closed(self, timeout: float) -> bool:
        """Wait until no connection is open, and tell whether that happened within `timeout` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: self.open == 0, timeout)

    def _count(self, accepted: int = 0, opened: int = 0) -> None:
        with self._changed:
            self.accepted += accepted
            self.open += opened
            self._changed.notify_all()

    def _keep(self, request: Request) -> Outcome:
        """Keep `request` and return the reply to send."""
        with self._changed:
            self.requests.append(request)
        reply = self.reply
        return reply(request) if callable(reply) else reply


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # With socketserver's default listen backlog of 5, Linux drops some of 16
    # simultaneous connects and resends each dropped SYN only after about 1 s.
    request_queue_size = 64

    def __init__(self, owner: RecordingServer) -> None:
        self.owner = owner
        super().__init__((LOOPBACK, 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        self.owner._count(accepted=1)
        if self.owner.tls is not None:
            # The handshake runs in the connection's own thread, so that a
            # client that never completes it cannot stall the accept loop.
            sock = self.owner.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A failed TLS handshake, a timeout or a client that went away is part of
        # the tests. A traceback on stderr would break the tests that read stderr.
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            _log.debug("connection from %s failed: %r", client_address, error)
        else:
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes. With Nagle's algorithm on,
    # the body waits for the client's delayed ACK (35-45 ms measured here).
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT_SECONDS
    server: _Server

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
        super().setup()
        self.server.owner._count(opened=1)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._count(opened=-1)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep stderr empty: some tests assert on it."""

    def handle_one_request(self) -> None:
        # All methods are handled alike, so the handler defines no do_GET and similar methods.
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except TimeoutError:
            self.close_connection = True
            return
        if not self.raw_requestline or not self.parse_request():
            self.close_connection = True
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = Request(self.command, self.path, self.requestline, tuple(self.headers.items()), body)
        reply = self.server.owner._keep(request)

        if reply is Fault.SILENCE:
            self.server.owner._stopping.wait(SILENCE_SECONDS)
            self.close_connection = True
        elif reply is Fault.RESET:
            # Linger 0 makes close() send RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        else:
            self.send_response(reply.status, reply.reason)
            if reply.content_type is not None:
                self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
