"""Clients with different keys, hosts and headers never send each other's values.

Each client talks to its own recording server on 127.0.0.1, which keeps every request it receives.
"""

import contextlib
import copy
import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from recording import RecordingServer

from litepolis_client import (
    ApiClient,
    Configuration,
    ConversationModel,
    ConversationsApi,
    UserApi,
)
from litepolis_client.configuration import ENV_API_KEY, ENV_HOST
from litepolis_client.testing import StandInServer

THREADS = 16
CALLS_PER_THREAD = 6


@dataclasses.dataclass(frozen=True)
class Identity:
    """What one client sends: its key, a default header and a cookie."""

    key: str
    tenant: str
    cookie: str

    @classmethod
    def named(cls, name: str) -> "Identity":
        return cls(key=f"sk-{name}-key", tenant=f"tenant-{name}", cookie=f"session={name}-cookie")

    def values(self) -> tuple[str, ...]:
        return (self.key, self.tenant, self.cookie)


ALICE = Identity.named("alice")
BOB = Identity.named("bob")


def configuration_for(server: RecordingServer, identity: Identity) -> Configuration:
    return Configuration(host=server.url, api_key={"APIKeyHeader": identity.key})


def build_client(configuration: Configuration, identity: Identity) -> ApiClient:
    """Return a client that adds the identity's tenant header and cookie to every request."""
    client = ApiClient(configuration, cookie=identity.cookie)
    client.set_default_header("X-Tenant", identity.tenant)
    return client


def send_both(client: ApiClient) -> None:
    """Send one GET and one PUT with a body, both carrying the key."""
    UserApi(client).get_testroute_api_v1_secure_get()
    ConversationsApi(client).update_conversation_api_v1_secure_conversations_put(
        ConversationModel(id=1, title="Parks")
    )


def assert_sent_only(server: RecordingServer, own: Identity, other: Identity, count: int) -> None:
    """Assert that `server` got `count` requests, each with `own` values and none of `other`'s."""
    assert len(server.requests) == count
    for index, request in enumerate(server.requests):
        assert request.values_of("X-API-Key") == [own.key], f"request {index}"
        assert request.values_of("X-Tenant") == [own.tenant], f"request {index}"
        assert request.values_of("Cookie") == [own.cookie], f"request {index}"
        wire_text = repr(request)
        for value in other.values():
            assert value not in wire_text, f"request {index} carries {value!r}"


@pytest.fixture(autouse=True)
def clean_defaults() -> Iterator[None]:
    """Clear the process-wide default client and configuration around each test."""
    ApiClient.set_default(None)
    Configuration.set_default(None)
    yield
    ApiClient.set_default(None)
    Configuration.set_default(None)


@pytest.fixture
def servers() -> Iterator[tuple[RecordingServer, RecordingServer]]:
    with RecordingServer() as first, RecordingServer() as second:
        yield first, second


# Two clients side by side.


def test_explicit_clients_interleaved(servers):
    alice_server, bob_server = servers
    alice = build_client(configuration_for(alice_server, ALICE), ALICE)
    bob = build_client(configuration_for(bob_server, BOB), BOB)
    with alice, bob:
        for _ in range(3):
            send_both(alice)
            send_both(bob)

    assert_sent_only(alice_server, ALICE, BOB, count=6)
    assert_sent_only(bob_server, BOB, ALICE, count=6)


def test_header_set_on_one_client(servers):
    alice_server, bob_server = servers
    alice = ApiClient(Configuration(host=alice_server.url, api_key={"APIKeyHeader": ALICE.key}))
    bob = ApiClient(Configuration(host=bob_server.url, api_key={"APIKeyHeader": BOB.key}))
    alice.set_default_header("X-Tenant", ALICE.tenant)
    alice.user_agent = "alice-agent/1.0"
    with alice, bob:
        UserApi(alice).get_testroute_api_v1_secure_get()
        UserApi(bob).get_testroute_api_v1_secure_get()

    request = bob_server.requests[0]
    assert request.values_of("X-Tenant") == []
    assert request.values_of("User-Agent") == [ApiClient.default_user_agent]
    assert bob.default_headers == {"User-Agent": ApiClient.default_user_agent}


def test_constructor_header_per_client(servers):
    alice_server, bob_server = servers
    alice_configuration = Configuration(host=alice_server.url, api_key={"APIKeyHeader": ALICE.key})
    bob_configuration = Configuration(host=bob_server.url, api_key={"APIKeyHeader": BOB.key})
    alice = ApiClient(
        alice_configuration, header_name="X-Tenant", header_value=ALICE.tenant, cookie=ALICE.cookie
    )
    bob = ApiClient(bob_configuration, header_name="X-Tenant", header_value=BOB.tenant, cookie=BOB.cookie)
    with alice, bob:
        send_both(bob)
        send_both(alice)

    assert_sent_only(alice_server, ALICE, BOB, count=2)
    assert_sent_only(bob_server, BOB, ALICE, count=2)


def test_call_headers_not_kept(servers):
    server, _ = servers
    with build_client(configuration_for(server, ALICE), ALICE) as client:
        UserApi(client).get_testroute_api_v1_secure_get(_headers={"X-Trace": "first-call"})
        UserApi(client).get_testroute_api_v1_secure_get()

    assert server.requests[0].values_of("X-Trace") == ["first-call"]
    assert server.requests[1].values_of("X-Trace") == []
    assert "X-Trace" not in client.default_headers


def test_call_header_cannot_replace_key(servers):
    server, _ = servers
    with ApiClient(Configuration(host=server.url, api_key={"APIKeyHeader": ALICE.key})) as client:
        UserApi(client).get_testroute_api_v1_secure_get(_headers={"X-API-Key": BOB.key})

    assert server.requests[0].values_of("X-API-Key") == [ALICE.key]


def test_call_timeout_not_kept(servers):
    server, _ = servers
    configuration = Configuration(host=server.url, api_key={"APIKeyHeader": ALICE.key})
    timeout_before = configuration.timeout
    with ApiClient(configuration) as client:
        UserApi(client).get_testroute_api_v1_secure_get(_request_timeout=(1.5, 2.5))

    assert configuration.timeout == timeout_before


# The default client and the default configuration.


def test_api_without_client_uses_default(servers):
    alice_server, bob_server = servers
    Configuration.set_default(Configuration(host=alice_server.url, api_key={"APIKeyHeader": ALICE.key}))
    default_api = UserApi()
    bob = ApiClient(Configuration(host=bob_server.url, api_key={"APIKeyHeader": BOB.key}))
    with default_api.api_client, bob:
        for _ in range(2):
            default_api.get_testroute_api_v1_secure_get()
            UserApi(bob).get_testroute_api_v1_secure_get()
            ConversationsApi().get_conversation_api_v1_secure_conversations_cid_get(1)

    # Without ApiClient.set_default(), each API object gets a client of its
    # own, built from the default configuration as it is at that moment.
    assert ConversationsApi().api_client is not default_api.api_client
    assert [request.values_of("X-API-Key") for request in alice_server.requests] == [[ALICE.key]] * 4
    assert [request.values_of("X-API-Key") for request in bob_server.requests] == [[BOB.key]] * 2


def test_later_default_configuration_applies(servers):
    alice_server, bob_server = servers
    Configuration.set_default(Configuration(host=alice_server.url, api_key={"APIKeyHeader": ALICE.key}))
    UserApi().get_testroute_api_v1_secure_get()
    Configuration.set_default(Configuration(host=bob_server.url, api_key={"APIKeyHeader": BOB.key}))
    UserApi().get_testroute_api_v1_secure_get()

    assert [request.values_of("X-API-Key") for request in alice_server.requests] == [[ALICE.key]]
    assert [request.values_of("X-API-Key") for request in bob_server.requests] == [[BOB.key]]


def test_set_default_client_used(servers):
    alice_server, bob_server = servers
    alice = build_client(configuration_for(alice_server, ALICE), ALICE)
    bob = build_client(configuration_for(bob_server, BOB), BOB)
    ApiClient.set_default(alice)
    with alice, bob:
        send_both(ApiClient.get_default())
        send_both(bob)
        UserApi().get_testroute_api_v1_secure_get()

    assert_sent_only(alice_server, ALICE, BOB, count=3)
    assert_sent_only(bob_server, BOB, ALICE, count=2)


def test_default_configuration_mutated_after(servers):
    alice_server, bob_server = servers
    configuration = Configuration(host=alice_server.url, api_key={"APIKeyHeader": ALICE.key})
    Configuration.set_default(configuration)
    # set_default stores a copy: these changes must not reach the default.
    configuration.host = bob_server.url
    configuration.api_key["APIKeyHeader"] = BOB.key
    with ApiClient() as client:
        UserApi(client).get_testroute_api_v1_secure_get()

    assert [request.values_of("X-API-Key") for request in alice_server.requests] == [[ALICE.key]]
    assert bob_server.requests == []


def test_default_copy_mutated(servers):
    alice_server, bob_server = servers
    Configuration.set_default(Configuration(host=alice_server.url, api_key={"APIKeyHeader": ALICE.key}))
    copy_of_default = Configuration.get_default()
    copy_of_default.host = bob_server.url
    copy_of_default.api_key["APIKeyHeader"] = BOB.key
    with ApiClient() as client:
        UserApi(client).get_testroute_api_v1_secure_get()

    assert [request.values_of("X-API-Key") for request in alice_server.requests] == [[ALICE.key]]
    assert bob_server.requests == []


def test_default_clients_independent(servers):
    alice_server, bob_server = servers
    Configuration.set_default(Configuration(host=alice_server.url, api_key={"APIKeyHeader": ALICE.key}))
    first, second = ApiClient(), ApiClient()
    # Each client got its own copy of the default configuration.
    second.configuration.host = bob_server.url
    second.configuration.api_key["APIKeyHeader"] = BOB.key
    with first, second:
        UserApi(first).get_testroute_api_v1_secure_get()
        UserApi(second).get_testroute_api_v1_secure_get()

    assert first.configuration is not second.configuration
    assert [request.values_of("X-API-Key") for request in alice_server.requests] == [[ALICE.key]]
    assert [request.values_of("X-API-Key") for request in bob_server.requests] == [[BOB.key]]


# Configurations built from shared or copied values.


def test_configurations_share_one_dict(servers):
    alice_server, bob_server = servers
    keys = {"APIKeyHeader": ALICE.key}
    prefixes = {"APIKeyHeader": "Token"}
    alice_configuration = Configuration(host=alice_server.url, api_key=keys, api_key_prefix=prefixes)
    keys["APIKeyHeader"] = BOB.key
    bob_configuration = Configuration(host=bob_server.url, api_key=keys, api_key_prefix=prefixes)
    # Changes after both were built reach neither.
    keys["APIKeyHeader"] = "sk-mallory-key"
    prefixes["APIKeyHeader"] = "Mallory"
    with ApiClient(alice_configuration) as alice, ApiClient(bob_configuration) as bob:
        UserApi(alice).get_testroute_api_v1_secure_get()
        UserApi(bob).get_testroute_api_v1_secure_get()

    assert alice_server.requests[0].values_of("X-API-Key") == [f"Token {ALICE.key}"]
    assert bob_server.requests[0].values_of("X-API-Key") == [f"Token {BOB.key}"]


def test_deepcopied_configuration(servers):
    alice_server, bob_server = servers
    alice_configuration = Configuration(host=alice_server.url, api_key={"APIKeyHeader": ALICE.key})
    bob_configuration = copy.deepcopy(alice_configuration)
    bob_configuration.host = bob_server.url
    bob_configuration.api_key["APIKeyHeader"] = BOB.key
    with ApiClient(alice_configuration) as alice, ApiClient(bob_configuration) as bob:
        UserApi(alice).get_testroute_api_v1_secure_get()
        # A change to the original after the copy stays out of the copy.
        alice_configuration.api_key["APIKeyHeader"] = "sk-alice-second-key"
        UserApi(bob).get_testroute_api_v1_secure_get()

    assert alice_server.requests[0].values_of("X-API-Key") == [ALICE.key]
    assert bob_server.requests[0].values_of("X-API-Key") == [BOB.key]


def test_deepcopied_client_configuration(servers):
    alice_server, bob_server = servers
    alice = build_client(configuration_for(alice_server, ALICE), ALICE)
    bob_configuration = copy.deepcopy(alice.configuration)
    bob_configuration.host = bob_server.url
    bob_configuration.api_key["APIKeyHeader"] = BOB.key
    bob = build_client(bob_configuration, BOB)
    with alice, bob:
        send_both(alice)
        send_both(bob)

    assert_sent_only(alice_server, ALICE, BOB, count=2)
    assert_sent_only(bob_server, BOB, ALICE, count=2)


# Settings from the environment fill only what the caller left out.


def test_environment_fills_only_gaps(servers, monkeypatch):
    alice_server, environment_server = servers
    monkeypatch.setenv(ENV_HOST, environment_server.url)
    monkeypatch.setenv(ENV_API_KEY, "sk-environment-key")
    explicit = Configuration(host=alice_server.url, api_key={"APIKeyHeader": ALICE.key})
    no_key = Configuration(host=alice_server.url, api_key={})
    from_environment = Configuration()
    # Read once, when the configuration is built.
    monkeypatch.setenv(ENV_API_KEY, "sk-later-key")
    for configuration in (explicit, no_key, from_environment):
        with ApiClient(configuration) as client:
            UserApi(client).get_testroute_api_v1_secure_get()

    alice_keys = [request.values_of("X-API-Key") for request in alice_server.requests]
    environment_keys = [request.values_of("X-API-Key") for request in environment_server.requests]
    assert alice_keys == [[ALICE.key], []]
    assert environment_keys == [["sk-environment-key"]]


# Threads.


def run_in_threads(work: Any, count: int) -> list[BaseException]:
    """Run work(index) in `count` threads that start together; return what they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(10)
            work(index)
        except BaseException as exc:  # Reported by the test, not lost in the thread.
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors


def test_threads_with_own_clients():
    identities = [Identity.named(f"thread{index:02d}") for index in range(THREADS)]
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(RecordingServer()) for _ in range(THREADS)]
        clients = [
            stack.enter_context(build_client(configuration_for(server, identity), identity))
            for server, identity in zip(servers, identities, strict=True)
        ]

        def work(index: int) -> None:
            for _ in range(CALLS_PER_THREAD // 2):
                send_both(clients[index])

        errors = run_in_threads(work, THREADS)

    assert errors == []
    for index, server in enumerate(servers):
        other = identities[(index + 1) % THREADS]
        assert_sent_only(server, identities[index], other, count=CALLS_PER_THREAD)
        seen_keys = {value for request in server.requests for value in request.values_of("X-API-Key")}
        assert seen_keys == {identities[index].key}


def test_threads_share_one_client(servers):
    server, _ = servers
    configuration = Configuration(host=server.url, api_key={"APIKeyHeader": ALICE.key})
    with ApiClient(configuration) as client:

        def work(index: int) -> None:
            for _ in range(CALLS_PER_THREAD):
                UserApi(client).get_testroute_api_v1_secure_get(_headers={"X-Thread": str(index)})

        errors = run_in_threads(work, THREADS)

    thread_values = [request.values_of("X-Thread") for request in server.requests]
    assert errors == []
    assert len(server.requests) == THREADS * CALLS_PER_THREAD
    assert all(len(values) == 1 for values in thread_values)
    assert sorted(int(values[0]) for values in thread_values) == sorted(
        index for index in range(THREADS) for _ in range(CALLS_PER_THREAD)
    )
    assert client.default_headers == {"User-Agent": ApiClient.default_user_agent}


# Two LitePolis stand-ins, each of which accepts only the keys it issued.


@pytest.fixture(scope="module")
def standins() -> Iterator[tuple[StandInServer, StandInServer]]:
    with StandInServer() as first, StandInServer() as second:
        yield first, second


def test_standins_see_own_user(standins):
    first, second = standins
    alice = first.add_user("alice@example.org")
    bob = second.add_user("bob@example.org")
    alice_client = ApiClient(Configuration(host=first.url, api_key={"APIKeyHeader": alice.key}))
    bob_client = ApiClient(Configuration(host=second.url, api_key={"APIKeyHeader": bob.key}))
    with alice_client, bob_client:
        emails = [
            UserApi(client).get_testroute_api_v1_secure_get().detail.email
            for client in (alice_client, bob_client, alice_client, bob_client)
        ]

    assert emails == ["alice@example.org", "bob@example.org"] * 2


def test_renewal_leaves_other_client(standins):
    server, _ = standins
    alice = server.add_user("carol@example.org")
    bob = server.add_user("dave@example.org")
    keys = {"APIKeyHeader": alice.key}
    alice_configuration = Configuration(host=server.url, api_key=keys)
    keys["APIKeyHeader"] = bob.key
    bob_configuration = Configuration(host=server.url, api_key=keys)
    with ApiClient(alice_configuration) as alice_client, ApiClient(bob_configuration) as bob_client:
        new_key = UserApi(alice_client).update_usertoken_api_v1_secure_users_renew_put().detail
        bob_user = UserApi(bob_client).get_testroute_api_v1_secure_get().detail

    assert alice_configuration.api_key == {"APIKeyHeader": new_key}
    assert bob_configuration.api_key == {"APIKeyHeader": bob.key}
    assert bob_user.email == "dave@example.org"
    assert server.live_keys(bob.id) == [bob.key]
    assert server.live_keys(alice.id) == [new_key]


def test_renewal_skips_deep_copy(standins):
    server, _ = standins
    erin = server.add_user("erin@example.org")
    configuration = Configuration(host=server.url, api_key={"APIKeyHeader": erin.key})
    copied = copy.deepcopy(configuration)
    with ApiClient(configuration) as client:
        new_key = UserApi(client).update_usertoken_api_v1_secure_users_renew_put().detail

    # The copy is a separate configuration: it keeps the key it was made with.
    assert configuration.api_key == {"APIKeyHeader": new_key}
    assert copied.api_key == {"APIKeyHeader": erin.key}
