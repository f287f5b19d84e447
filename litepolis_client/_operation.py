"""Operation descriptions that the generated API classes pass to the client."""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Dict, Mapping, Optional, Tuple

# Package of the model classes named in Operation.responses.
_MODELS_PACKAGE = f"{__package__}.models"


@dataclasses.dataclass(frozen=True)
class Param:
    """One parameter of an operation, as the spec declares it."""

    name: str
    """Name of the Python argument."""
    wire_name: str
    """Name on the wire: the path placeholder, query key or header name."""
    location: str
    """``path``, ``query``, ``header`` or ``body``."""
    kind: Any
    """Expected Python type: ``int``, ``bool``, ``str``, ``float`` or a model class."""
    required: bool


@dataclasses.dataclass(frozen=True)
class Operation:
    """An operation of the spec, with the facts the transport acts on."""

    operation_id: str
    method: str
    path: str
    params: Tuple[Param, ...]
    responses: Mapping[str, Optional[str]]
    """Model class name by status code; ``None`` where the spec allows any JSON."""
    auth: Tuple[str, ...] = ()
    accept: Optional[str] = "application/json"
    content_type: Optional[str] = None
    replay_safe: bool = True
    """False for operations marked ``x-never-replay`` in the spec."""
    replaces_caller_key: bool = False
    """True where a success revokes the key that was sent (``x-replaces-caller-key``)."""
    returns_api_key: bool = False
    """True where the response's ``detail`` is a new key (``x-returns-api-key``)."""
    _models: Dict[str, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def has_response(self, status: str) -> bool:
        return status in self.responses

    def response_model(self, status: str) -> Any:
        """Return the model class for `status`, importing it on first use; None for any JSON."""
        name = self.responses.get(status)
        if name is None:
            return None
        model = self._models.get(name)
        if model is None:
            model = getattr(importlib.import_module(_MODELS_PACKAGE), name)
            self._models[name] = model
        return model
