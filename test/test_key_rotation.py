"""A renewal switches the client to the new key, unless configured not to."""

import threading

import pytest

from litepolis_client import (
    ApiClient,
    APIKeysApi,
    Configuration,
    RenewalHookError,
    UserApi,
    UserProfile,
)

SCHEME = "APIKeyHeader"


def client_for(server, key, **options):
    configuration = Configuration(host=server.url, api_key={SCHEME: key}, **options)
    return ApiClient(configuration)


def renew(client):
    return APIKeysApi(client).update_usertoken_api_v1_secure_users_renew_put()


def test_renewal_updates_configuration(litepolis_server):
    user = litepolis_server.add_user("ada@example.org")

    with client_for(litepolis_server, user.key) as client:
        new_key = renew(client).detail
        me = UserApi(client).get_testroute_api_v1_secure_get()

    assert client.configuration.api_key[SCHEME] == new_key
    assert me.detail.id == user.id


def test_renewal_opt_out_keeps_old_key(litepolis_server):
    user = litepolis_server.add_user("ada@example.org")

    with client_for(litepolis_server, user.key, update_api_key_on_renewal=False) as client:
        new_key = renew(client).detail

    assert client.configuration.api_key[SCHEME] == user.key
    assert litepolis_server.is_live(new_key)


def test_hook_sees_key_before_return(litepolis_server):
    user = litepolis_server.add_user("ada@example.org")
    seen = []

    def store(key):
        # The configuration still contains the old key while the hook runs.
        seen.append((key, client.configuration.api_key[SCHEME]))

    client = client_for(litepolis_server, user.key, on_api_key_renewed=store)
    with client:
        new_key = renew(client).detail

    assert seen == [(new_key, user.key)]


def test_failing_hook_keeps_new_key(litepolis_server):
    user = litepolis_server.add_user("ada@example.org")

    def broken_store(key):
        raise OSError("disk full")

    with client_for(litepolis_server, user.key, on_api_key_renewed=broken_store) as client:
        with pytest.raises(RenewalHookError) as excinfo:
            renew(client)

    error = excinfo.value
    assert litepolis_server.live_keys(user.id) == [error.new_key]
    assert client.configuration.api_key[SCHEME] == error.new_key
    assert isinstance(error.__cause__, OSError)
    assert error.new_key not in str(error)
    assert error.new_key not in repr(error)


def test_registration_updates_configuration(litepolis_server):
    gui = litepolis_server.add_user("front@example.org", role="GUI")

    with client_for(litepolis_server, gui.key) as client:
        new_key = (
            UserApi(client)
            .create_userprofile_api_v1_secure_users_profile_post(
                UserProfile(email="new@example.org", password="pw")
            )
            .detail
        )

    assert client.configuration.api_key[SCHEME] == new_key
    assert not litepolis_server.is_live(gui.key)


def test_login_keeps_callers_key(litepolis_server):
    gui = litepolis_server.add_user("front@example.org", role="GUI")
    litepolis_server.add_user("ada@example.org", password="secret")

    with client_for(litepolis_server, gui.key) as client:
        users_key = (
            UserApi(client)
            .get_userauth_api_v1_secure_users_auth_post(UserProfile(email="ada@example.org", password="secret"))
            .detail
        )

    assert client.configuration.api_key[SCHEME] == gui.key
    assert users_key != gui.key


def test_concurrent_key_change_wins(litepolis_server):
    user = litepolis_server.add_user("ada@example.org")
    other_key = litepolis_server.add_key(user.id)

    def switch_key(key):
        # Another thread sets a key while the renewal is in flight.
        client.configuration.api_key[SCHEME] = other_key

    client = client_for(litepolis_server, user.key, on_api_key_renewed=switch_key)
    with client:
        renew(client)

    assert client.configuration.api_key[SCHEME] == other_key


def test_renewals_from_threads_stay_consistent(litepolis_server):
    users = [litepolis_server.add_user(f"user{index}@example.org") for index in range(4)]
    clients = [client_for(litepolis_server, user.key) for user in users]
    errors = []

    def renew_three_times(client):
        try:
            for _ in range(3):
                renew(client)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=renew_three_times, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    for user, client in zip(users, clients, strict=True):
        assert litepolis_server.live_keys(user.id) == [client.configuration.api_key[SCHEME]]
        client.close()


def test_interrupting_hook_keeps_new_key(litepolis_server):
    user = litepolis_server.add_user("ada@example.org")

    def interrupted_store(key):
        raise KeyboardInterrupt

    with client_for(litepolis_server, user.key, on_api_key_renewed=interrupted_store) as client:
        with pytest.raises(KeyboardInterrupt):
            renew(client)

    assert litepolis_server.live_keys(user.id) == [client.configuration.api_key[SCHEME]]
