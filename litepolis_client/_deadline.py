"""A read timeout that bounds the whole answer, not each socket read.

urllib3 applies its read timeout to every receive, so a server that sends
one byte of headers or body just before each timeout expires can hold a
call forever. Here every receive of an answer gets only the time left until
one deadline, set when urllib3 starts reading the answer: read timeout
seconds later. A late answer then fails with the usual socket timeout,
which urllib3 turns into its ReadTimeoutError.
"""

from __future__ import annotations

import functools
import http.client
import io
import socket
import time
from typing import Any, Optional

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class _DeadlineSocketReader(io.RawIOBase):
    """Raw reader of a socket whose every receive ends by the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        # makefile() registers a reader with the socket, so the socket stays
        # open until this reader is closed, as http.client expects.
        self._raw = sock.makefile("rb", buffering=0)
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> Optional[int]:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("the answer did not arrive within the read timeout")
        self._sock.settimeout(remaining)
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    """An http.client answer read through a `_DeadlineSocketReader`."""

    def __init__(self, sock: socket.socket, *args: Any, deadline: float, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self.fp.close()
        self.fp = io.BufferedReader(_DeadlineSocketReader(sock, deadline))


class _DeadlineMixin:
    timeout: Any

    def getresponse(self) -> Any:
        # urllib3 has set self.timeout to the read timeout by now.
        if isinstance(self.timeout, (int, float)):
            deadline = time.monotonic() + self.timeout
            self.response_class = functools.partial(_DeadlineResponse, deadline=deadline)
        else:
            self.response_class = http.client.HTTPResponse
        return super().getresponse()  # type: ignore[misc]


class DeadlineHTTPConnection(_DeadlineMixin, HTTPConnection):
    pass


class DeadlineHTTPSConnection(_DeadlineMixin, HTTPSConnection):
    pass


class DeadlineHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = DeadlineHTTPConnection


class DeadlineHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = DeadlineHTTPSConnection


POOL_CLASSES_BY_SCHEME = {
    "http": DeadlineHTTPConnectionPool,
    "https": DeadlineHTTPSConnectionPool,
}
