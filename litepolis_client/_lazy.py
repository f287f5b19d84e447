"""Load the modules behind a package's names on first use.

Building a pydantic model class costs about a millisecond, and the package
has many models and API classes that one program rarely all needs. The
generated ``__init__`` modules list their names here instead of importing
every module up front; type checkers still see plain imports.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, List, Tuple


def attach(package: str, exports: Dict[str, str]) -> Tuple[Callable[[str], Any], Callable[[], List[str]]]:
    """Return ``__getattr__`` and ``__dir__`` for `package`, which maps names to modules."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        module_name = exports.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module_name), name)
        # Cached in the package, so __getattr__ runs once per name.
        namespace[name] = value
        return value

    def __dir__() -> List[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
