"""Shared fixtures: every test starts without LitePolis settings in the environment."""

import pytest

from litepolis_client.configuration import ENV_API_KEY, ENV_API_KEY_FILE, ENV_HOST


@pytest.fixture(autouse=True)
def _clean_litepolis_environment(monkeypatch):
    # A developer's own LITEPOLIS_API_KEY would otherwise reach every
    # Configuration() built without a key.
    for name in (ENV_HOST, ENV_API_KEY, ENV_API_KEY_FILE):
        monkeypatch.delenv(name, raising=False)
