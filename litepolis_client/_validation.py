"""Describe why data did not fit a model, without repeating the data."""

from __future__ import annotations

from typing import Any, Dict

import pydantic

from litepolis_client._exceptions import ApiValueError
from litepolis_client._redact import contains_key, scrub

# A message lists at most this many of pydantic's errors.
MAX_LISTED_ERRORS = 3

# The deepest value that from_json() accepts, the outermost object counted
# as 1: pydantic's JSON parser rejects anything deeper.
MAX_JSON_DEPTH = 201

# The number of digits up to which from_json() accepts an integer, which is
# also where Python stops converting integers to text by default.
MAX_INTEGER_DIGITS = 4300
_TOO_MANY_DIGITS = 10**MAX_INTEGER_DIGITS


def describe_validation_error(model: Any, exc: BaseException) -> str:
    """Return one line on why data did not fit `model`: locations and reasons only.

    Input values never appear, because a value can be an API key or a
    password.
    """
    name = getattr(model, "__name__", "the expected model")
    if not isinstance(exc, pydantic.ValidationError):
        return f"cannot build {name}: {type(exc).__name__}"

    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    if any(error["type"] == "json_invalid" for error in errors):
        # The parser's reason names a position, never the text: "EOF while
        # parsing a string", "recursion limit exceeded", "number out of range".
        reason = exc.errors(include_url=False, include_input=False)[0].get("ctx", {}).get("error")
        detail = f" ({reason})" if isinstance(reason, str) else ""
        return f"cannot build {name}: the JSON parser rejected the data{detail}"
    if any(error["type"] == "json_type" for error in errors):
        return f"cannot build {name}: JSON input must be str, bytes or bytearray"

    parts = []
    for error in errors[:MAX_LISTED_ERRORS]:
        location = ".".join(str(part) for part in error["loc"])
        parts.append(f"{location}: {error['msg']}" if location else error["msg"])
    if len(errors) > MAX_LISTED_ERRORS:
        parts.append(f"and {len(errors) - MAX_LISTED_ERRORS} more")
    # A location repeats dict keys, and a key can be an API key.
    return scrub(f"the data does not match {name} ({'; '.join(parts)})")


def check_decoded_json(model: Any, document: Any) -> None:
    """Raise ApiValueError if `document` contains what from_json() would reject and to_json() cannot write.

    That is a value nested deeper than MAX_JSON_DEPTH, an integer longer
    than MAX_INTEGER_DIGITS, and a string with a lone surrogate, which
    json.loads() makes from escapes such as "\\ud800". Tuples and sets count
    as arrays, because pydantic writes them as arrays.
    """
    name = getattr(model, "__name__", "the expected model")
    # A container shared by several parents is walked again only when it is
    # reached at a greater depth, so shared and cyclic data stay linear.
    deepest: Dict[int, int] = {}
    pending = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise ApiValueError(f"cannot build {name}: the data nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, (dict, list, tuple, set, frozenset)):
            if deepest.get(id(value), 0) >= depth:
                continue
            deepest[id(value)] = depth
            if isinstance(value, dict):
                pending.extend((key, depth) for key in value)
                pending.extend((item, depth + 1) for item in value.values())
            else:
                pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            if not value.isascii() and not _encodes(value):
                raise ApiValueError(
                    f"cannot build {name}: a string contains a lone surrogate, which is not Unicode text"
                )
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _TOO_MANY_DIGITS:
            raise ApiValueError(f"cannot build {name}: an integer has more than {MAX_INTEGER_DIGITS} digits")


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def validation_failure(model: Any, exc: BaseException, prefix: str = "") -> ApiValueError:
    """Return the ApiValueError for data that did not fit `model`, its message after `prefix`.

    Raise it after the except block, so that it does not keep `exc` as its
    context. It is chained to `exc` unless the text of `exc` contains an API
    key, in which case the original error is left out entirely.
    """
    error = ApiValueError(prefix + describe_validation_error(model, exc))
    if not contains_key(str(exc)):
        error.__cause__ = exc
    return error


def describe_serialization_error(model: Any, exc: BaseException) -> str:
    """Return one line on why `model` cannot be written as JSON: the fields, never their values.

    Validation keeps such values out, except in untyped and unknown fields
    (a Python object, bytes that are not UTF-8, a list that contains itself)
    and in copies made with model_copy(update=...), which skips validation.
    """
    names = _unwritable_fields(model)
    where = ", ".join(names) if names else "a field"
    return (
        f"cannot write {type(model).__name__} as JSON: {where} contains a value that does not fit "
        f"the field or that JSON cannot represent ({type(exc).__name__})"
    )


def _unwritable_fields(model: Any) -> list[str]:
    # Runs only after writing the whole model failed, so trying each field
    # alone costs nothing on the normal path.
    names = sorted(set(model.model_fields_set) | set(model.model_extra or ()))
    unwritable = []
    for name in names:
        try:
            model.model_dump_json(include={name}, warnings="error")
        except ValueError:
            unwritable.append(name)
    return unwritable
