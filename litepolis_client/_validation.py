"""Describe why data did not fit a model, without repeating the data."""

from __future__ import annotations

from typing import Any

import pydantic

from litepolis_client._exceptions import ApiValueError
from litepolis_client._redact import scrub

# A message lists at most this many of pydantic's errors.
MAX_LISTED_ERRORS = 3

# The deepest nesting of objects and arrays that from_json() accepts, the
# outermost object counted as 1: pydantic's JSON parser rejects anything deeper.
MAX_JSON_DEPTH = 201


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

    That is nesting deeper than MAX_JSON_DEPTH and strings with lone
    surrogates, which json.loads() makes from escapes such as "\\ud800".
    """
    name = getattr(model, "__name__", "the expected model")
    pending = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise ApiValueError(f"cannot build {name}: the data nests deeper than {MAX_JSON_DEPTH} levels")
            items = value.values() if isinstance(value, dict) else value
            pending.extend((item, depth + 1) for item in items)
            if isinstance(value, dict):
                pending.extend((key, depth) for key in value)
        elif isinstance(value, str) and not value.isascii() and not _encodes(value):
            raise ApiValueError(f"cannot build {name}: a string contains a lone surrogate, which is not Unicode text")


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def validation_failure(model: Any, exc: BaseException) -> ApiValueError:
    """Return the ApiValueError for data that did not fit `model`, to be raised inside the except block.

    The error is chained to `exc` unless the text of `exc` contains an
    API key, in which case the original error is left out entirely.
    """
    error = ApiValueError(describe_validation_error(model, exc))
    text = str(exc)
    if scrub(text) == text:
        error.__cause__ = exc
    else:
        error.__suppress_context__ = True
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
