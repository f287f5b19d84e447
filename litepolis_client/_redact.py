"""Keep API keys and passwords out of messages and log records.

LitePolis keys are UUID4 strings, so any UUID-shaped token in text that the
client writes (exception messages, debug logs) is replaced, whether or not
the client knows it as a key. Header values of credentials and the body
fields that carry secrets are replaced by name.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Iterable, Mapping, Optional

REDACTED = "[REDACTED]"

# Header names compared in lower case.
SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie", "set-cookie"})

# JSON fields that carry a password or a key, and "input", where FastAPI's
# validation errors echo what the client sent (a password included).
SECRET_BODY_FIELDS = frozenset({"password", "api_key", "key", "token", "input"})

# Error bodies are summarized in messages up to this many characters.
MAX_DESCRIPTION_CHARS = 200

_UUID_PATTERN = re.compile(
    r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
)


# Secrets shorter than this are not searched for: replacing "a" everywhere
# would garble messages and protect nothing.
MIN_SECRET_CHARS = 4

# Nesting beyond this depth is summarized instead of redacted item by item.
MAX_REDACT_DEPTH = 32


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Return `text` with every UUID-shaped token and every given secret replaced.

    Control characters (terminal escapes included) become "?", so text
    from a server cannot rewrite a log line or a terminal.
    """
    for secret in secrets:
        if isinstance(secret, str) and len(secret) >= MIN_SECRET_CHARS:
            text = text.replace(secret, REDACTED)
    text = _UUID_PATTERN.sub(REDACTED, text)
    if not text.isprintable():
        text = "".join(character if character.isprintable() else "?" for character in text)
    return text


def printable(model: Any, render: Callable[[], str], multiline: bool = False) -> str:
    """Return render() with keys hidden, or a placeholder when a value cannot be printed.

    A value built in Python can nest too deeply or be an integer too long
    for text. With `multiline`, the line breaks of render() are kept.
    """
    try:
        text = render()
    except (ValueError, RecursionError) as exc:
        return f"{type(model).__name__}(<cannot be printed: {type(exc).__name__}>)"
    if multiline:
        return "\n".join(scrub(line) for line in text.split("\n"))
    return scrub(text)


def contains_key(text: str) -> bool:
    """Return whether `text` contains a UUID-shaped token, which may be an API key."""
    return _UUID_PATTERN.search(text) is not None


def redact_headers(headers: Mapping[str, Any], secrets: Iterable[str] = ()) -> dict[str, Any]:
    """Return a copy of `headers` with credential values replaced and the rest scrubbed."""
    secrets = tuple(secrets)
    return {
        name: REDACTED if name.lower() in SECRET_HEADERS else scrub(str(value), secrets)
        for name, value in headers.items()
    }


def redact_json(value: Any, extra_fields: Iterable[str] = (), secrets: Iterable[str] = ()) -> Any:
    """Return a copy of decoded JSON with secret fields replaced at any depth."""
    return _redact_json(value, SECRET_BODY_FIELDS.union(extra_fields), tuple(secrets), depth=0)


def _redact_json(value: Any, fields: frozenset[str], secrets: tuple[str, ...], depth: int) -> Any:
    if depth > MAX_REDACT_DEPTH and isinstance(value, (dict, list, tuple)):
        return f"<{type(value).__name__} nested deeper than {MAX_REDACT_DEPTH}>"
    if isinstance(value, dict):
        return {
            name: REDACTED if is_secret_field(name, fields) else _redact_json(item, fields, secrets, depth + 1)
            for name, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_redact_json(item, fields, secrets, depth + 1) for item in value]
    if isinstance(value, str):
        return scrub(value, secrets)
    return value


def is_secret_field(name: Any, fields: frozenset[str] = SECRET_BODY_FIELDS) -> bool:
    """Return whether a JSON field of this name carries a secret, ignoring case."""
    # "Password" and "API_KEY" are the same fields to a reader of the output.
    return isinstance(name, str) and name.lower() in fields


def describe_error_body(body: Optional[bytes], secrets: Iterable[str] = ()) -> str:
    """Summarize an error body in one short, secret-free line.

    A JSON ``detail`` string is shown as it is; FastAPI's validation errors
    show location and message but never the ``input`` echoed back, which can
    be a password. Other bodies are shown only when short, printable text.
    """
    if not body:
        return ""
    secrets = tuple(secrets)

    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return _describe_text(body, secrets)

    detail = document.get("detail") if isinstance(document, dict) else None
    if isinstance(detail, str):
        return _shorten(scrub(detail, secrets))
    if isinstance(detail, list):
        return _shorten("; ".join(_describe_validation_error(item, secrets) for item in detail[:10]))
    return ""


def _describe_validation_error(item: Any, secrets: tuple[str, ...]) -> str:
    if not isinstance(item, dict):
        return "invalid request"
    parts = item.get("loc")
    if not isinstance(parts, list):
        parts = []
    location = ".".join(str(part) for part in parts if isinstance(part, (str, int)) and not isinstance(part, bool))
    message = item.get("msg")
    if not isinstance(message, str):
        message = "invalid"
    return scrub(f"{location}: {message}" if location else message, secrets)


def _describe_text(body: bytes, secrets: tuple[str, ...]) -> str:
    try:
        text = body.decode("utf-8").strip()
    except UnicodeDecodeError:
        return f"{len(body)} bytes that are not UTF-8 text"
    # Short plain text such as "Internal Server Error" is shown; markup is not.
    if len(text) > MAX_DESCRIPTION_CHARS or not text.isprintable() or "<" in text:
        return f"{len(body)} bytes of non-JSON text"
    return scrub(text, secrets)


def _shorten(text: str) -> str:
    if len(text) <= MAX_DESCRIPTION_CHARS:
        return text
    return text[: MAX_DESCRIPTION_CHARS - 3] + "..."


def display_url(host: str) -> str:
    """Return `host` without any user name or password, for messages."""
    scheme, separator, rest = host.partition("://")
    if not separator:
        return host[:100]
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{scheme}://{authority}{slash}{path}"[:100]
