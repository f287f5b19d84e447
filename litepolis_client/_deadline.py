"""A read timeout that bounds the whole response, not each socket read.

urllib3 applies its read timeout to every receive, so a server that sends
one byte of headers or body just before each timeout expires can hold a
call forever. Here every receive of a response gets only the time left until
one deadline, set when urllib3 starts reading the response: read timeout
seconds later. A late response then fails with the usual socket timeout,
which urllib3 turns into its ReadTimeoutError.
"""

from __future__ import annotations

import functools
import http.client
import socket
import time
from typing import Any, Optional

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

# How far past the deadline one receive may wait before the socket's timeout
# is shortened; a slow response times out at most this much late.
DEADLINE_SLACK_SECONDS = 0.25


class _DeadlineResponse(http.client.HTTPResponse):
    """An http.client response whose every receive ends by `deadline`."""

    def __init__(self, sock: socket.socket, *args: Any, deadline: float, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        # The buffered reader that http.client made calls its raw reader's
        # readinto for each receive; an instance attribute takes its place.
        raw = self.fp.raw
        read_into = raw.readinto

        def read_into_by_deadline(buffer: Any) -> Optional[int]:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("the response did not arrive within the read timeout")
            # settimeout() is a system call that also hands the GIL to other
            # threads, so it runs only when the socket would wait past the
            # deadline by more than the slack.
            current = sock.gettimeout()
            if current is None or current > remaining + DEADLINE_SLACK_SECONDS:
                sock.settimeout(remaining)
            return read_into(buffer)

        raw.readinto = read_into_by_deadline  # type: ignore[method-assign]  # per-response override


class _DeadlineMixin:
    timeout: Any
    response_class: Any

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
