"""pytest plugin with fixtures that run the LitePolis stand-in server.

``litepolis_server`` yields a started server with empty state and the
contract's behaviour. ``litepolis_server_factory`` yields a function that
starts servers with quirks or a seed::

    def test_keys_pile_up(litepolis_server_factory):
        server = litepolis_server_factory(quirks=["renewal_keeps_old_key"])

Installed as the ``pytest11`` entry point ``litepolis``, so pytest loads it in
every environment where litepolis-client is installed. It imports fastapi and
uvicorn only inside the fixture, so pytest keeps working without the
``testing`` extra.
"""

import contextlib
import importlib
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Optional

import pytest

if TYPE_CHECKING:
    from ._server import StandInServer

# Top-level modules of the testing extra, and what they pull in.
_TESTING_EXTRA_MODULES = frozenset(
    {"email_validator", "fastapi", "pydantic", "starlette", "uvicorn"}
)


def _import_server_class() -> "type[StandInServer]":
    """Return ``StandInServer``, or raise ImportError that names the missing extra."""
    try:
        module = importlib.import_module("litepolis_client.testing._server")
    except ImportError as exc:
        # pydantic reports a missing email-validator with an ImportError of
        # its own, chained to the ModuleNotFoundError.
        missing_name = exc.name or getattr(exc.__cause__, "name", None) or ""
        missing = missing_name.partition(".")[0]
        if missing not in _TESTING_EXTRA_MODULES:
            raise

        raise ImportError(
            f"The litepolis_server fixture needs {missing!r}, which is not installed."
            " Install the testing extra: pip install 'litepolis-client[testing]'"
        ) from exc

    server_class: "type[StandInServer]" = module.StandInServer
    return server_class


@pytest.fixture
def litepolis_server() -> "Iterator[StandInServer]":
    """Yield a started LitePolis stand-in server with empty state, and stop it afterwards."""
    server_class = _import_server_class()
    with server_class() as server:
        yield server


@pytest.fixture
def litepolis_server_factory() -> "Iterator[Callable[..., StandInServer]]":
    """Yield a function that starts a stand-in server; every server it started stops afterwards.

    The function takes the keyword arguments ``quirks`` (names from
    ``StandInServer.QUIRKS``) and ``seed`` (of the comment shuffle) and
    returns the started server. Each call starts a new server.
    """
    server_class = _import_server_class()

    with contextlib.ExitStack() as servers:

        def start_server(*, quirks: Iterable[str] = (), seed: Optional[int] = None) -> "StandInServer":
            return servers.enter_context(server_class(quirks=quirks, seed=seed))

        yield start_server
