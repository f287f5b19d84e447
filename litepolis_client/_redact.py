"""Keep API keys and passwords out of messages and log records.

LitePolis keys are UUID4 strings, so any UUID-shaped token in text that the
client writes (exception messages, debug logs) is replaced, whether or not
the client knows it as a key. Header values of credentials and the body
fields that carry secrets are replaced by name.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable, Mapping, Optional

REDACTED = "[REDACTED]"

# Header names compared in lower case.
SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie", "set-cookie"})

# JSON fields that carry a password or, in a key-issuing answer, a key.
SECRET_BODY_FIELDS = frozenset({"password", "api_key", "key", "token"})

# Error bodies are summarized in messages up to this many characters.
MAX_DESCRIPTION_CHARS = 200

_UUID_PATTERN = re.compile(
    r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Return `text` with every UUID-shaped token and every given secret replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _UUID_PATTERN.sub(REDACTED, text)


def redact_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of `headers` with the values of credential headers replaced."""
    return {
        name: REDACTED if name.lower() in SECRET_HEADERS else value
        for name, value in headers.items()
    }


def redact_json(value: Any, extra_fields: Iterable[str] = ()) -> Any:
    """Return a copy of decoded JSON with secret fields replaced at any depth."""
    fields = SECRET_BODY_FIELDS.union(extra_fields)
    if isinstance(value, dict):
        return {
            name: REDACTED if name in fields else redact_json(item, fields)
            for name, item in value.items()
        }
    if isinstance(value, list):
        return [redact_json(item, fields) for item in value]
    if isinstance(value, str):
        return scrub(value)
    return value


def describe_error_body(body: Optional[bytes]) -> str:
    """Summarize an error body in one short, secret-free line.

    A JSON ``detail`` string is shown as it is; FastAPI's validation errors
    show location and message but never the ``input`` echoed back, which can
    be a password. Other bodies are shown only when short, printable text.
    """
    if not body:
        return ""

    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _describe_text(body)

    detail = document.get("detail") if isinstance(document, dict) else None
    if isinstance(detail, str):
        return _shorten(scrub(detail))
    if isinstance(detail, list):
        return _shorten("; ".join(_describe_validation_error(item) for item in detail))
    return ""


def _describe_validation_error(item: Any) -> str:
    if not isinstance(item, dict):
        return "invalid request"
    location = ".".join(str(part) for part in item.get("loc", []) if isinstance(part, (str, int)))
    message = item.get("msg") if isinstance(item.get("msg"), str) else "invalid"
    return scrub(f"{location}: {message}" if location else message)


def _describe_text(body: bytes) -> str:
    try:
        text = body.decode("utf-8").strip()
    except UnicodeDecodeError:
        return f"{len(body)} bytes that are not UTF-8 text"
    # Short plain text such as "Internal Server Error" is shown; markup is not.
    if len(text) > MAX_DESCRIPTION_CHARS or not text.isprintable() or "<" in text:
        return f"{len(body)} bytes of non-JSON text"
    return scrub(text)


def _shorten(text: str) -> str:
    if len(text) <= MAX_DESCRIPTION_CHARS:
        return text
    return text[: MAX_DESCRIPTION_CHARS - 3] + "..."
