"""A LitePolis v1 stand-in server for tests, served on 127.0.0.1.

Usage::

    from litepolis_client.testing import StandInServer

    with StandInServer() as server:
        alice = server.add_user("alice@example.org", role="user")
        conversation_id = server.add_conversation(alice.id, "Parks", "More trees?")
        # Point the client at server.url and send alice.key as X-API-Key.

The stand-in keeps its data in memory and follows the LitePolis v1 contract
as its source intends it. Tests read its data back (``users()``,
``conversations()``, ``comments()``, ``live_keys()``), see the requests it
received (``requests``), and inject faults: error responses (``fail_next``),
connections closed without a response (``drop_next``, ``drop_next_renewal``),
delays (``delay``), and quirks of the original server (``quirks=``,
``enable_quirk``). It needs the ``testing`` extra::

    pip install 'litepolis-client[testing]'

With the extra installed, pytest gets the fixtures ``litepolis_server`` and
``litepolis_server_factory`` from :mod:`litepolis_client.testing.pytest_plugin`.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import ROLES, RecordedRequest, SeededUser, StandInState, UserRecord, create_app
    from ._server import StandInServer

__all__ = [
    "ROLES",
    "RecordedRequest",
    "SeededUser",
    "StandInServer",
    "StandInState",
    "UserRecord",
    "create_app",
]

# The modules behind these names import fastapi and uvicorn, so they load on
# first access. That keeps the pytest plugin in this package importable
# without the testing extra.
_MODULE_BY_NAME = {
    "ROLES": "._app",
    "RecordedRequest": "._app",
    "SeededUser": "._app",
    "StandInServer": "._server",
    "StandInState": "._app",
    "UserRecord": "._app",
    "create_app": "._app",
}


def __getattr__(name: str) -> Any:
    module_name = _MODULE_BY_NAME.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
