"""A keep-alive HTTP/1.1 server on 127.0.0.1 that returns one canned renewal response.

Run as a child process: ``python canned_server.py``. It binds an ephemeral
port, prints the port on stdout, and serves until its stdin reaches end of
file, so it also stops when the parent dies. ``start()`` and ``stop()`` do
this from the parent.

Every request that carries an ``X-API-Key`` header gets the same 200 response.
A request without the header gets a 401, so a client that fails to send
the key cannot pass the benchmark's sanity check. The response bytes are
built once, and requests are split with ``bytes.find``, so serving costs a
few microseconds of CPU per request.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Optional

HOST = "127.0.0.1"
RENEW_PATH = "/api/v1/secure/users/renew"
# The caller's key, and the fixed key that every renewal returns (both UUID4).
CALLER_KEY = "76a8d994-b066-438c-8eb8-a04bc4a42b4c"
RENEWED_KEY = "4fbec781-b7a9-4647-bcdf-257f282384f0"

RENEWAL_BODY = json.dumps(
    {"detail": RENEWED_KEY, "error": None, "message": "New API Key", "status_code": 200},
    separators=(",", ":"),
).encode("ascii")
MISSING_KEY_BODY = b'{"detail":"Not authenticated"}'
HEADER_END = b"\r\n\r\n"
# A request larger than this is a client bug here, so the server closes the connection.
MAX_REQUEST_BYTES = 64 * 1024
STOP_TIMEOUT_SECONDS = 5.0


def _response(status_line: bytes, body: bytes) -> bytes:
    return (
        status_line
        + b"\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode("ascii")
        + HEADER_END
        + body
    )


RENEWAL_RESPONSE = _response(b"HTTP/1.1 200 OK", RENEWAL_BODY)
MISSING_KEY_RESPONSE = _response(b"HTTP/1.1 401 Unauthorized", MISSING_KEY_BODY)


class CannedProtocol(asyncio.Protocol):
    """Sends the canned response for each complete request on one connection."""

    def __init__(self) -> None:
        self.transport: Optional[asyncio.Transport] = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > MAX_REQUEST_BYTES:
            self.transport.close()
            return

        while True:
            end = self.buffer.find(HEADER_END)
            if end < 0:
                return
            head = self.buffer[:end].lower()
            request_end = end + len(HEADER_END) + _content_length(head)
            if len(self.buffer) < request_end:
                return
            self.buffer = self.buffer[request_end:]
            has_key = b"\r\nx-api-key:" in head
            self.transport.write(RENEWAL_RESPONSE if has_key else MISSING_KEY_RESPONSE)


def _content_length(lowered_head: bytes) -> int:
    """Return the request's Content-Length, 0 when absent (clients here send no chunked bodies)."""
    start = lowered_head.find(b"\r\ncontent-length:")
    if start < 0:
        return 0
    start += len(b"\r\ncontent-length:")
    end = lowered_head.find(b"\r\n", start)
    return int(lowered_head[start:] if end < 0 else lowered_head[start:end])


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(CannedProtocol, HOST, 0, backlog=128)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)

    # Serve until the parent closes our stdin, or exits. A thread reads it
    # because asyncio's pipe reader fails on a stdin from a file or /dev/null.
    stdin_closed = loop.create_future()

    def wait_for_end_of_stdin() -> None:
        while sys.stdin.buffer.read1(4096):
            pass
        loop.call_soon_threadsafe(stdin_closed.set_result, None)

    threading.Thread(target=wait_for_end_of_stdin, name="stdin-watcher", daemon=True).start()
    async with server:
        await stdin_closed


class ServerProcess:
    """A running canned server: its child process and base URL."""

    def __init__(self, process: subprocess.Popen, port: int) -> None:
        self.process = process
        self.port = port
        self.url = f"http://{HOST}:{port}"

    @property
    def pid(self) -> int:
        return self.process.pid


def start() -> ServerProcess:
    """Start the server in a child process and wait until it listens."""
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    if not line.strip().isdigit():
        stop_process(process)
        raise RuntimeError(f"the canned server did not print its port: expected a number, got {line!r}")
    return ServerProcess(process, int(line))


def stop(server: ServerProcess) -> None:
    """Stop the server process by closing its stdin, or terminate it by PID if it does not exit."""
    stop_process(server.process)


def stop_process(process: subprocess.Popen) -> None:
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.terminate()
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    if process.stdout is not None:
        process.stdout.close()


def cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU seconds that process `pid` has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15 (proc(5)).
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    try:
        asyncio.run(_serve())
    except KeyboardInterrupt:
        # Ctrl-C in a terminal reaches the whole process group, and the parent reports it.
        sys.exit(130)
