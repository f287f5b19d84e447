"""One ApiClient shared by many threads against one keep-alive HTTP/1.1 server on 127.0.0.1."""

import json
import logging
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from litepolis_client import ApiClient, Configuration, ResponseMessage, RetryPolicy, UserApi

THREADS = 16
CALLS_PER_THREAD = 500
CALLER_KEY = "5e0c1b7a-2f4d-4c8e-9a6b-3d2e1f0a9b8c"
CALLER_EMAIL = "ada@example.org"
REQUEST_ID_HEADER = "X-Request-Id"
# Seconds to wait for the server's handler threads to see closed connections.
CLOSE_WAIT_SECONDS = 5.0


class CountingServer(ThreadingHTTPServer):
    """A threaded HTTP/1.1 server that counts accepted and still open connections."""

    daemon_threads = True
    # With socketserver's default listen backlog of 5, Linux drops some of 16
    # simultaneous connects and resends each dropped SYN only after about 1 s.
    request_queue_size = 64

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), CallerHandler)
        self.accepted = 0
        self.open = 0
        self.changed = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def wait_until_all_closed(self, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.open == 0, timeout)


class CallerHandler(BaseHTTPRequestHandler):
    """Respond to every GET like LitePolis ``GET /api/v1/secure/``, echoing the request id in ``message``.

    The echo lets a test check that each thread got the response to its own request.
    """

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes. With Nagle's algorithm on, the second
    # write waits for the client's delayed ACK, about 40 ms per request on Linux.
    disable_nagle_algorithm = True
    # An idle keep-alive connection that the client forgets ends after this many seconds.
    timeout = 30
    server: CountingServer

    def setup(self) -> None:
        super().setup()
        with self.server.changed:
            self.server.accepted += 1
            self.server.open += 1
            self.server.changed.notify_all()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.changed:
                self.server.open -= 1
                self.server.changed.notify_all()

    def do_GET(self) -> None:
        document = {
            "detail": {"id": 7, "email": CALLER_EMAIL, "role": "user"},
            "error": None,
            "message": self.headers.get(REQUEST_ID_HEADER, ""),
            "status_code": 200,
        }
        body = json.dumps(document).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # Keep the test output free of access logs.
        pass


@pytest.fixture
def server() -> Iterator[CountingServer]:
    server = CountingServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def configure(server: CountingServer) -> Configuration:
    # One attempt, so a failed call shows up as an error instead of being hidden by a retry.
    return Configuration(
        host=server.url,
        api_key={"APIKeyHeader": CALLER_KEY},
        retry=RetryPolicy(max_attempts=1),
    )


def read_caller_many(
    client: ApiClient, thread_index: int, calls: int, start: threading.Barrier
) -> list[tuple[str, Any]]:
    """Read the caller `calls` times and return (request id, response) pairs."""
    api = UserApi(client)
    start.wait()
    results = []
    for call_index in range(calls):
        request_id = f"{thread_index}-{call_index}"
        response = api.get_testroute_api_v1_secure_get(_headers={REQUEST_ID_HEADER: request_id})
        results.append((request_id, response))
    return results


def read_caller_in_threads(client: ApiClient, calls_per_thread: int) -> list[tuple[str, Any]]:
    """Run `read_caller_many` in THREADS threads at once and re-raise the first error of any thread."""
    start = threading.Barrier(THREADS)
    with ThreadPoolExecutor(max_workers=THREADS) as executor:
        futures = [
            executor.submit(read_caller_many, client, thread_index, calls_per_thread, start)
            for thread_index in range(THREADS)
        ]
        return [pair for future in futures for pair in future.result()]


def test_shared_client_many_threads(server, caplog):
    caplog.set_level(logging.WARNING)
    configuration = configure(server)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with ApiClient(configuration) as client:
            results = read_caller_in_threads(client, CALLS_PER_THREAD)

    assert len(results) == THREADS * CALLS_PER_THREAD
    assert [request_id for request_id, response in results if type(response) is not ResponseMessage] == []
    assert [request_id for request_id, response in results if response.detail.email != CALLER_EMAIL] == []
    # Each thread got the response to its own request, not another thread's.
    assert [request_id for request_id, response in results if response.message != request_id] == []

    # urllib3 logs this when it discards a connection that the pool has no room for.
    messages = [record.getMessage() for record in caplog.records]
    assert [message for message in messages if "Connection pool is full" in message] == []
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []
    assert [str(warning.message) for warning in caught] == []

    # At most one keep-alive connection per thread, each reused.
    assert server.accepted <= THREADS
    assert server.accepted <= configuration.connection_pool_maxsize


def test_context_exit_closes_connections(server):
    with ApiClient(configure(server)) as client:
        read_caller_in_threads(client, calls_per_thread=5)
        open_inside = server.open

    # The connections were kept alive while the client was in use.
    assert open_inside >= 1
    assert client._transport._pool is None
    assert server.wait_until_all_closed(CLOSE_WAIT_SECONDS)


def test_closed_client_reconnects(server):
    with ApiClient(configure(server)) as client:
        api = UserApi(client)
        api.get_testroute_api_v1_secure_get()
        client.close()

        response = api.get_testroute_api_v1_secure_get()

    assert response.detail.email == CALLER_EMAIL
    assert server.accepted == 2
