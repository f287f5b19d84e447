"""One ApiClient shared by many threads against one keep-alive HTTP/1.1 server on 127.0.0.1."""

import json
import logging
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from recording import RecordingServer, Reply, Request

from litepolis_client import ApiClient, Configuration, ResponseMessage, RetryPolicy, UserApi

THREADS = 16
CALLS_PER_THREAD = 500
CALLER_KEY = "5e0c1b7a-2f4d-4c8e-9a6b-3d2e1f0a9b8c"
CALLER_EMAIL = "ada@example.org"
REQUEST_ID_HEADER = "X-Request-Id"
# Seconds to wait for the server's handler threads to see closed connections.
CLOSE_WAIT_SECONDS = 5.0


def caller_reply(request: Request) -> Reply:
    """Respond like LitePolis ``GET /api/v1/secure/``, echoing the request id in ``message``.

    The echo lets a test check that each thread got the response to its own request.
    """
    document = {
        "detail": {"id": 7, "email": CALLER_EMAIL, "role": "user"},
        "error": None,
        "message": request.header(REQUEST_ID_HEADER),
        "status_code": 200,
    }
    return Reply(body=json.dumps(document).encode("utf-8"))


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer(caller_reply) as server:
        yield server


def configure(server: RecordingServer) -> Configuration:
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
    assert server.wait_until_closed(CLOSE_WAIT_SECONDS)


def test_closed_client_reconnects(server):
    with ApiClient(configure(server)) as client:
        api = UserApi(client)
        api.get_testroute_api_v1_secure_get()
        client.close()

        response = api.get_testroute_api_v1_secure_get()

    assert response.detail.email == CALLER_EMAIL
    assert server.accepted == 2
