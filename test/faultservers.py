"""Misbehaving HTTP servers on 127.0.0.1 for the fault tests, each served from daemon threads.

Usage::

    with ScriptedServer(reset(), json_response({"detail": "ok"})) as server:
        ...  # send requests to server.url
    assert server.request_count == 2

A ``ScriptedServer`` handles its Nth request with its Nth action, counted over
all connections, and repeats the last action once the script runs out. An
action is a callable that gets an ``Exchange`` (the socket and the parsed
request) and returns whether the connection may carry another request.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import socket
import struct
import threading
import time
import zlib
from types import TracebackType
from typing import Callable, Iterator, List, Mapping, Optional, Tuple, Type

LOOPBACK = "127.0.0.1"

# Bound of stop(): the accept loop and every connection thread get this long
# to end before stop() raises.
STOP_TIMEOUT_SECONDS = 5.0

# Longest time a server waits for a request, or for the client to take a
# chunk of a response, before it gives up on the connection.
IO_TIMEOUT_SECONDS = 10.0

# Socket operations block at most this long, so threads notice stop() quickly.
_POLL_SECONDS = 0.05

_MAX_HEADER_BYTES = 64 * 1024
_SEND_CHUNK_BYTES = 64 * 1024
_HTTP_REASONS = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class ClientGone(Exception):
    """The client closed or reset the connection while the server was sending."""


@dataclasses.dataclass(frozen=True)
class ReceivedRequest:
    """One request as the server read it off the wire."""

    request_line: str
    headers: Tuple[Tuple[str, str], ...]
    body: bytes

    @property
    def method(self) -> str:
        return self.request_line.split(" ", 1)[0]

    @property
    def target(self) -> str:
        parts = self.request_line.split(" ")
        return parts[1] if len(parts) > 1 else ""

    def header(self, name: str) -> Optional[str]:
        """Return the first value of header `name` (any case), or None when it is missing."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class Exchange:
    """The connection and request an action acts on."""

    def __init__(self, connection: socket.socket, request: ReceivedRequest, stopping: threading.Event) -> None:
        self.connection = connection
        self.request = request
        self.stopping = stopping

    def send(self, data: bytes) -> None:
        """Send all of `data`, raising ``ClientGone`` when the client has left or the server stops."""
        view = memoryview(data)
        deadline = time.monotonic() + IO_TIMEOUT_SECONDS
        while view:
            if self.stopping.is_set() or time.monotonic() > deadline:
                raise ClientGone("the server stopped or the client stopped reading")
            try:
                sent = self.connection.send(view)
            except socket.timeout:
                continue
            except OSError as exc:
                raise ClientGone(str(exc)) from exc
            view = view[sent:]

    def pause(self, seconds: float) -> None:
        """Wait `seconds`, raising ``ClientGone`` early when the server stops."""
        if self.stopping.wait(seconds):
            raise ClientGone("the server stopped")

    def wait_for_client_close(self, max_seconds: float = IO_TIMEOUT_SECONDS) -> None:
        """Read and discard until the client closes, the server stops or `max_seconds` pass."""
        deadline = time.monotonic() + max_seconds
        while not self.stopping.is_set() and time.monotonic() < deadline:
            try:
                if not self.connection.recv(4096):
                    return
            except socket.timeout:
                continue
            except OSError:
                return

    def reset(self) -> None:
        """Close the connection with a TCP RST instead of a FIN."""
        # SO_LINGER on with a zero timeout makes close() discard unsent data
        # and send RST (socket(7), "SO_LINGER").
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()


Action = Callable[[Exchange], bool]


class ScriptedServer:
    """An HTTP/1.1 server that handles the Nth request with the Nth scripted action.

    It listens on an ephemeral port of 127.0.0.1 and serves each connection
    in a daemon thread, so a silent connection does not block the next one.
    ``requests`` lists every request received, in order of arrival. Use it
    as a context manager: leaving the block stops the server and joins its
    threads, waiting at most ``STOP_TIMEOUT_SECONDS``.
    """

    def __init__(self, *script: Action) -> None:
        if not script:
            raise ValueError("ScriptedServer needs at least one action")
        self._script = script
        self._requests: List[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: List[threading.Thread] = []
        self._connections: List[socket.socket] = []
        self._listener: Optional[socket.socket] = None
        self._accept_thread: Optional[threading.Thread] = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def requests(self) -> List[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    def start(self) -> "ScriptedServer":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, 0))
        listener.listen(16)
        listener.settimeout(_POLL_SECONDS)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept_loop, name=f"fault-server-{self.port}", daemon=True)
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close every open connection and join the threads (bounded)."""
        self._stopping.set()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        if self._accept_thread is not None:
            self._accept_thread.join(max(0.0, deadline - time.monotonic()))
        if self._listener is not None:
            self._listener.close()

        with self._lock:
            connections = list(self._connections)
            threads = list(self._threads)
        for connection in connections:
            _shut_down_quietly(connection)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

        alive = [thread.name for thread in threads + [self._accept_thread] if thread is not None and thread.is_alive()]
        if alive:
            raise RuntimeError(f"fault server threads still running after {STOP_TIMEOUT_SECONDS} s: {alive}")

    def __enter__(self) -> "ScriptedServer":
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            connection.settimeout(_POLL_SECONDS)
            thread = threading.Thread(target=self._serve_connection, args=(connection,), daemon=True)
            with self._lock:
                self._connections.append(connection)
                self._threads.append(thread)
            thread.start()

    def _serve_connection(self, connection: socket.socket) -> None:
        buffered = b""
        try:
            while not self._stopping.is_set():
                request, buffered = _read_request(connection, buffered, self._stopping)
                if request is None:
                    return
                with self._lock:
                    index = len(self._requests)
                    self._requests.append(request)
                action = self._script[min(index, len(self._script) - 1)]
                try:
                    keep_open = action(Exchange(connection, request, self._stopping))
                except ClientGone:
                    return
                if not keep_open:
                    return
        finally:
            connection.close()


def closed_port() -> int:
    """Return a port of 127.0.0.1 that nothing listens on, so connecting is refused.

    The port was bound and released, so another process could take it in
    between. That is unlikely for an ephemeral port within a test.
    """
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]
    finally:
        probe.close()


# Building responses.


def response_head(
    status: int = 200,
    headers: Optional[Mapping[str, str]] = None,
    *,
    content_length: Optional[int] = None,
    reason: Optional[str] = None,
) -> bytes:
    """Return a status line and headers, ending with the blank line."""
    reason = reason if reason is not None else _HTTP_REASONS.get(status, "Status")
    lines = [f"HTTP/1.1 {status} {reason}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if content_length is not None:
        lines.append(f"Content-Length: {content_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def http_response(
    status: int = 200,
    body: bytes = b"",
    headers: Optional[Mapping[str, str]] = None,
    *,
    content_type: Optional[str] = "application/json",
    reason: Optional[str] = None,
) -> bytes:
    """Return a complete response with a Content-Length that matches `body`."""
    all_headers = {"Content-Type": content_type} if content_type is not None else {}
    all_headers.update(headers or {})
    return response_head(status, all_headers, content_length=len(body), reason=reason) + body


# Actions. Each factory returns a callable for ScriptedServer.


def respond(
    status: int = 200,
    body: bytes = b"",
    headers: Optional[Mapping[str, str]] = None,
    *,
    content_type: Optional[str] = "application/json",
    reason: Optional[str] = None,
) -> Action:
    """Send a complete response and keep the connection open for the next request."""
    response = http_response(status, body, headers, content_type=content_type, reason=reason)

    def action(exchange: Exchange) -> bool:
        exchange.send(response)
        return True

    return action


def json_response(document: object, status: int = 200, headers: Optional[Mapping[str, str]] = None) -> Action:
    """Send `document` as a JSON response, keeping the connection open."""
    return respond(status, json.dumps(document).encode("utf-8"), headers)


def raw(data: bytes) -> Action:
    """Send `data` as it is, then close the connection with a FIN."""

    def action(exchange: Exchange) -> bool:
        exchange.send(data)
        return False

    return action


def close_without_response() -> Action:
    """Read the request, then close the connection with a FIN and send nothing."""
    return raw(b"")


def silent(max_seconds: float = IO_TIMEOUT_SECONDS) -> Action:
    """Read the request, then send nothing until the client leaves or the server stops."""

    def action(exchange: Exchange) -> bool:
        exchange.wait_for_client_close(max_seconds)
        return False

    return action


def reset(prefix: bytes = b"") -> Action:
    """Send `prefix` (nothing by default), then reset the connection."""

    def action(exchange: Exchange) -> bool:
        if prefix:
            exchange.send(prefix)
            # The RST discards what is still in the send buffer, so give the prefix time to leave.
            exchange.pause(0.05)
        exchange.reset()
        return False

    return action


def half_body_then_reset(status: int = 200, body: bytes = b"", headers: Optional[Mapping[str, str]] = None) -> Action:
    """Declare the whole body in Content-Length, send its first half, then reset."""
    response = http_response(status, body, headers)
    return reset(response[: len(response) - len(body) + len(body) // 2])


def trickle(
    body: bytes,
    interval: float,
    *,
    framing: str = "content-length",
    headers: Optional[Mapping[str, str]] = None,
) -> Action:
    """Send the head at once, then the body one byte every `interval` seconds.

    `framing` is ``content-length``, ``chunked`` (one chunk per byte) or
    ``close`` (no length, the body ends when the connection closes).
    """
    head_headers = {"Content-Type": "application/json", **(headers or {})}

    def action(exchange: Exchange) -> bool:
        exchange.send(_framed_head(200, head_headers, framing, len(body)))
        for index in range(len(body)):
            exchange.pause(interval)
            exchange.send(_framed_chunk(body[index : index + 1], framing))
        if framing == "chunked":
            exchange.send(b"0\r\n\r\n")
        return False

    return action


def trickle_head(data: bytes, interval: float, *, prefix: bytes = b"") -> Action:
    """Send `prefix` at once, then `data` one byte every `interval` seconds, then close.

    Meant for a status line and headers that arrive too slowly for any
    single socket read to time out.
    """

    def action(exchange: Exchange) -> bool:
        exchange.send(prefix)
        for index in range(len(data)):
            exchange.pause(interval)
            exchange.send(data[index : index + 1])
        return False

    return action


def huge_body(size: int, *, framing: str = "content-length", headers: Optional[Mapping[str, str]] = None) -> Action:
    """Send a 200 response with a `size`-byte JSON-typed body made on the fly, never held in memory.

    `framing` is ``content-length``, ``chunked`` or ``close``, as for
    ``trickle``. The server sends until the whole body is out or the client
    hangs up.
    """
    head_headers = {"Content-Type": "application/json", **(headers or {})}

    def action(exchange: Exchange) -> bool:
        exchange.send(_framed_head(200, head_headers, framing, size))
        for chunk in _repeated_bytes(b" ", size):
            exchange.send(_framed_chunk(chunk, framing))
        if framing == "chunked":
            exchange.send(b"0\r\n\r\n")
        return False

    return action


def gzip_bomb(decompressed_size: int) -> Action:
    """Send a 200 response with a small gzip body that inflates to `decompressed_size` bytes."""

    def action(exchange: Exchange) -> bool:
        compressed = gzip_of_zeros(decompressed_size)
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        exchange.send(response_head(200, headers, content_length=len(compressed)))
        exchange.send(compressed)
        return False

    return action


@functools.lru_cache(maxsize=4)
def gzip_of_zeros(size: int) -> bytes:
    """Return a gzip stream of `size` zero bytes, compressed in pieces to keep memory low."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    pieces = [compressor.compress(chunk) for chunk in _repeated_bytes(b"\0", size)]
    pieces.append(compressor.flush())
    return b"".join(pieces)


# Helpers.


def _repeated_bytes(fill: bytes, size: int) -> Iterator[bytes]:
    """Yield `size` bytes of `fill` in pieces of at most one send chunk, reusing one buffer."""
    block = fill * _SEND_CHUNK_BYTES
    full_blocks, rest = divmod(size, _SEND_CHUNK_BYTES)
    for _ in range(full_blocks):
        yield block
    if rest:
        yield block[:rest]


def _framed_head(status: int, headers: Mapping[str, str], framing: str, size: int) -> bytes:
    if framing == "content-length":
        return response_head(status, headers, content_length=size)
    if framing == "chunked":
        return response_head(status, {**headers, "Transfer-Encoding": "chunked"})
    if framing == "close":
        return response_head(status, {**headers, "Connection": "close"})
    raise ValueError(f"unknown framing {framing!r}; use content-length, chunked or close")


def _framed_chunk(data: bytes, framing: str) -> bytes:
    if framing == "chunked":
        return b"%x\r\n%s\r\n" % (len(data), data)
    return data


def _read_request(
    connection: socket.socket, buffered: bytes, stopping: threading.Event
) -> Tuple[Optional[ReceivedRequest], bytes]:
    """Read one request and return it with the bytes after it, or (None, b"") on close or stop."""
    deadline = time.monotonic() + IO_TIMEOUT_SECONDS
    while b"\r\n\r\n" not in buffered:
        if len(buffered) > _MAX_HEADER_BYTES:
            return None, b""
        data = _receive(connection, stopping, deadline)
        if not data:
            return None, b""
        buffered += data

    head, _, rest = buffered.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = tuple(_split_header(line) for line in lines[1:] if line)
    length = 0
    for name, value in headers:
        if name.lower() == "content-length":
            length = int(value)

    while len(rest) < length:
        data = _receive(connection, stopping, deadline)
        if not data:
            return None, b""
        rest += data
    return ReceivedRequest(lines[0], headers, rest[:length]), rest[length:]


def _receive(connection: socket.socket, stopping: threading.Event, deadline: float) -> bytes:
    """Return the next bytes from `connection`, or b"" on close, error, stop or deadline."""
    while not stopping.is_set() and time.monotonic() < deadline:
        try:
            return connection.recv(_SEND_CHUNK_BYTES)
        except socket.timeout:
            continue
        except OSError:
            return b""
    return b""


def _split_header(line: str) -> Tuple[str, str]:
    name, _, value = line.partition(":")
    return name.strip(), value.strip()


def _shut_down_quietly(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


__all__ = [
    "Action",
    "ClientGone",
    "Exchange",
    "ReceivedRequest",
    "ScriptedServer",
    "close_without_response",
    "closed_port",
    "gzip_bomb",
    "gzip_of_zeros",
    "half_body_then_reset",
    "http_response",
    "huge_body",
    "json_response",
    "raw",
    "reset",
    "respond",
    "response_head",
    "silent",
    "trickle",
    "trickle_head",
]
