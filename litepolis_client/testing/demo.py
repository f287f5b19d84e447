"""Renew an API key end to end against a stand-in server, then show the result.

Run with ``python -m litepolis_client.testing.demo``. It starts a LitePolis
stand-in on an ephemeral 127.0.0.1 port, seeds one user, renews that user's
key through ``APIKeysApi``, checks that the old key is rejected and the new
one works, and stops the server. Keys are printed masked. The exit code is 0
when every step behaved as the LitePolis contract requires, else 1.
"""

from __future__ import annotations

import sys

import litepolis_client
from litepolis_client.exceptions import UnauthorizedException
from litepolis_client.testing import StandInServer

DEMO_EMAIL = "ada@example.org"
VISIBLE_KEY_CHARS = 8


def mask(key: str) -> str:
    """Return the first few characters of a key followed by an ellipsis."""
    return key[:VISIBLE_KEY_CHARS] + "..."


def client_for(server: StandInServer, key: str) -> litepolis_client.ApiClient:
    configuration = litepolis_client.Configuration(
        host=server.url, api_key={"APIKeyHeader": key}
    )
    return litepolis_client.ApiClient(configuration)


def run(server: StandInServer) -> bool:
    """Run the demo against a started server; return whether every step passed."""
    user = server.add_user(DEMO_EMAIL, role="user")
    print(f"stand-in:  {server.url}, user {user.email} (role {user.role})")
    print(f"old key:   {mask(user.key)}")

    with client_for(server, user.key) as api_client:
        response = litepolis_client.APIKeysApi(
            api_client
        ).update_usertoken_api_v1_secure_users_renew_put()
    new_key = response.detail
    if not isinstance(new_key, str) or new_key == user.key:
        print("FAILED: the renewal did not return a new key")
        return False
    print(f"renewed:   PUT /api/v1/secure/users/renew -> new key {mask(new_key)}")

    with client_for(server, user.key) as api_client:
        try:
            litepolis_client.UserApi(api_client).get_testroute_api_v1_secure_get()
        except UnauthorizedException as exc:
            print(f"old key:   rejected with HTTP {exc.status} {exc.reason}")
        else:
            print("FAILED: the old key still works after renewal")
            return False

    with client_for(server, new_key) as api_client:
        me = litepolis_client.UserApi(api_client).get_testroute_api_v1_secure_get().detail
    if not isinstance(me, litepolis_client.UserResponseMessage):
        print("FAILED: GET /api/v1/secure/ did not return the user")
        return False
    print(f"new key:   works, GET /api/v1/secure/ -> {me.email} ({me.role})")
    return True


def main() -> int:
    with StandInServer() as server:
        passed = run(server)
    print("stand-in stopped")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
