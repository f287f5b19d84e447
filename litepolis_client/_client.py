"""The client core: build a request, send it, and read the response into a model."""

from __future__ import annotations

import codecs
import ipaddress
import json
import logging
import re
import threading
import urllib.parse
from types import TracebackType
from typing import Any, ClassVar, Dict, List, Mapping, NamedTuple, Optional, Tuple, Type

import pydantic
import urllib3
from typing_extensions import Self

from litepolis_client import _redact
from litepolis_client._config import NOT_GIVEN, ConfigurationBase, to_timeout
from litepolis_client._exceptions import (
    ApiException,
    ApiTypeError,
    ApiValueError,
    InvalidResponseError,
    RenewalHookError,
    RenewalOutcomeUnknownError,
    TransportError,
)
from litepolis_client._operation import Operation, Param
from litepolis_client._transport import RawResponse, Transport
from litepolis_client._validation import describe_validation_error, validation_failure

logger = logging.getLogger(__name__)

JSON_MEDIA_TYPE = "application/json"
_FORBIDDEN_HEADER_CHARACTERS = ("\r", "\n", "\0")
# RFC 9110 token: the characters a header name may have.
_TOKEN_PATTERN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
# LitePolis API keys are UUID strings (str(uuid.uuid4()) on the server).
_API_KEY_PATTERN = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class ClientResponse:
    """The outcome of one call: status, headers, raw body and the parsed data."""

    __slots__ = ("status_code", "headers", "raw_data", "data")

    def __init__(self, status_code: int, headers: Mapping[str, str], raw_data: bytes, data: Any) -> None:
        self.status_code = status_code
        self.headers = headers
        self.raw_data = raw_data
        self.data = data


class ApiClientBase:
    """Sends the operations of the generated API classes.

    One client owns one connection pool and is safe to share between
    threads. Use it as a context manager, or call ``close()``, to close its
    connections. The ``Configuration`` it was built with is used by
    reference: a key changed there applies to the next call.
    """

    _default: ClassVar[Optional["ApiClientBase"]] = None
    _default_lock: ClassVar[threading.Lock] = threading.Lock()

    #: The generated subclass sets the Configuration class and user agent.
    configuration_class: ClassVar[Type[ConfigurationBase]] = ConfigurationBase
    default_user_agent: ClassVar[str] = "litepolis-client"

    def __init__(
        self,
        configuration: Optional[ConfigurationBase] = None,
        header_name: Optional[str] = None,
        header_value: Optional[str] = None,
        cookie: Optional[str] = None,
    ) -> None:
        if configuration is None:
            configuration = self.configuration_class.get_default_copy()
        self.configuration = configuration
        self.default_headers: Dict[str, str] = {"User-Agent": self.default_user_agent}
        if header_name is not None:
            self.set_default_header(header_name, header_value)
        self.cookie = cookie
        self._transport = Transport(configuration)
        self._base_url_cache: Optional[_BaseUrl] = None
        self._warned_plain_http_hosts: set[str] = set()
        self._warned_lock = threading.Lock()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        host = self.configuration.host
        shown = _redact.display_url(host) if isinstance(host, str) else host
        return f"<{type(self).__name__} host={shown!r}>"

    def close(self) -> None:
        """Close the pooled connections; the client opens new ones if used again."""
        self._transport.close()

    @property
    def user_agent(self) -> str:
        return self.default_headers["User-Agent"]

    @user_agent.setter
    def user_agent(self, value: str) -> None:
        self.set_default_header("User-Agent", value)

    def set_default_header(self, header_name: str, header_value: Optional[str]) -> None:
        """Send a header with every request of this client; checked here, not at send time."""
        _check_header(header_name, header_value, secret=_is_secret_header(header_name))
        _put_header(self.default_headers, header_name, header_value)  # type: ignore[arg-type]

    @property
    def cookie(self) -> Optional[str]:
        return self._cookie

    @cookie.setter
    def cookie(self, value: Optional[str]) -> None:
        if value is not None:
            _check_header("Cookie", value, secret=True)
        self._cookie = value

    @classmethod
    def get_default(cls) -> "ApiClientBase":
        """Return the client set with ``set_default()``, else a new client.

        A new client is built from ``Configuration.get_default()`` each time,
        so a later ``Configuration.set_default()`` applies to API classes
        created afterwards.
        """
        with cls._default_lock:
            default = cls._default
        return default if default is not None else cls()

    @classmethod
    def set_default(cls, default: Optional["ApiClientBase"]) -> None:
        """Set the client that API classes use when built without one."""
        with cls._default_lock:
            cls._default = default

    def call(
        self,
        operation: Operation,
        arguments: Mapping[str, Any],
        *,
        request_timeout: Any = NOT_GIVEN,
        headers: Optional[Mapping[str, str]] = None,
    ) -> ClientResponse:
        """Send `operation` with `arguments` and return the parsed response.

        Raises ``ApiException`` for an error status, ``TransportError`` when
        no complete response arrived, ``InvalidResponseError`` for a response
        that cannot be read, and ``RenewalOutcomeUnknownError`` when a
        key-replacing request may have taken effect without a response.
        Invalid arguments raise ``ApiValueError`` or ``ApiTypeError`` before
        anything is sent.
        """
        timeout = self.configuration.timeout if request_timeout is NOT_GIVEN else to_timeout(request_timeout)
        base_url, path = self._target(operation, arguments)
        request_headers, sent_credential = self._headers(operation, headers)
        body, secrets = self._body(operation, arguments)
        if body is not None:
            request_headers["Content-Type"] = operation.content_type or JSON_MEDIA_TYPE
        if sent_credential is not None:
            secrets = (sent_credential[1], *secrets)
            if base_url.sends_keys_in_clear:
                self._warn_plain_http(base_url.hostname)
        if self.configuration.debug:
            _log_request(operation, request_headers, body, secrets)

        try:
            raw = self._transport.send(
                operation, operation.method, base_url.base, path, request_headers, body, timeout
            )
            response = self._read_response(operation, raw, secrets)
        except (TransportError, InvalidResponseError, ApiException) as exc:
            if operation.replaces_caller_key and _may_have_taken_effect(exc):
                raise RenewalOutcomeUnknownError(operation.operation_id) from exc
            raise

        if operation.replaces_caller_key and sent_credential is not None:
            self._adopt_new_key(operation, sent_credential, response.data)
        return response

    def _adopt_new_key(self, operation: Operation, sent: Tuple[str, str], data: Any) -> None:
        """Hand the key that replaced `sent` to the hook, then to the configuration.

        The server has already revoked the old key, so the configuration is
        updated even when the hook raises. The hook's error then carries the
        new key for the caller.
        """
        scheme, old_key = sent
        new_key: Any = getattr(data, "detail", None)
        if not isinstance(new_key, str) or not _API_KEY_PATTERN.fullmatch(new_key):
            # LitePolis keys are UUIDs; anything else in detail (an error text
            # in a 200, say) is no key. The old key may be gone, so the
            # caller is where it is when the response is lost.
            raise RenewalOutcomeUnknownError(operation.operation_id) from InvalidResponseError(
                f"{operation.operation_id}: the response's detail is not an API key",
                operation_id=operation.operation_id,
            )

        configuration = self.configuration
        hook_error = None
        try:
            if configuration.on_api_key_renewed is not None:
                configuration.on_api_key_renewed(new_key)
        except Exception as exc:
            hook_error = exc
        finally:
            # Also when the hook raises KeyboardInterrupt or SystemExit: the
            # configuration is the last place that still has the key.
            if configuration.update_api_key_on_renewal:
                self._store_new_key(operation, scheme, old_key, new_key)
        if hook_error is not None:
            raise RenewalHookError(operation.operation_id, new_key) from hook_error

    def _store_new_key(self, operation: Operation, scheme: str, old_key: str, new_key: str) -> None:
        replaced = self.configuration.replace_api_key(scheme, old_key, new_key)
        if not replaced:
            logger.warning(
                "%s: %s changed during the call; kept the newer value instead of the renewed key",
                operation.operation_id,
                scheme,
            )

    # Building the request.

    def _target(self, operation: Operation, arguments: Mapping[str, Any]) -> Tuple["_BaseUrl", str]:
        """Return the checked base URL and the path with its query string."""
        path = operation.path
        query: List[Tuple[str, str]] = []
        for param in operation.params:
            value = _checked_argument(operation, param, arguments.get(param.name))
            if value is None or param.location == "body":
                continue
            if param.location == "path":
                text = _to_wire_text(operation, param, value)
                quoted = urllib.parse.quote(text, safe=self.configuration.safe_chars_for_path_param)
                path = path.replace("{" + param.wire_name + "}", quoted)
            elif param.location == "query":
                query.append((param.wire_name, _to_wire_text(operation, param, value)))

        base_url = self._base_url()
        path = base_url.path_prefix + path
        if query:
            path += "?" + urllib.parse.urlencode(query)
        return base_url, path

    def _base_url(self) -> "_BaseUrl":
        """Return Configuration.host checked; the check runs once per host value."""
        host = self.configuration.host
        cached = self._base_url_cache
        if cached is not None and cached.host == host:
            return cached
        checked = _check_host(host)
        self._base_url_cache = checked
        return checked

    def _headers(
        self, operation: Operation, extra: Optional[Mapping[str, str]]
    ) -> Tuple[Dict[str, str], Optional[Tuple[str, str]]]:
        """Return the request headers and the (scheme, key) that they carry, if any."""
        headers = dict(self.default_headers)
        if operation.accept:
            _put_header(headers, "Accept", operation.accept)
        if self.cookie:
            _put_header(headers, "Cookie", self.cookie)
        for name, value in (extra or {}).items():
            _check_header(name, value, secret=_is_secret_header(name))
            _put_header(headers, name, value)

        sent_credential = None
        for scheme, header_name, key, value in self.configuration.credentials_for(operation.auth):
            _check_api_key(scheme, value)
            _put_header(headers, header_name, value)
            sent_credential = (scheme, key)
        return headers, sent_credential

    def _body(self, operation: Operation, arguments: Mapping[str, Any]) -> Tuple[Optional[bytes], Tuple[str, ...]]:
        """Return the serialized body and the secret values it carries, such as a password."""
        for param in operation.params:
            if param.location != "body":
                continue
            value: Any = arguments.get(param.name)
            if value is None:
                return None, ()
            if isinstance(value, dict):
                value = _model_from_argument(operation, param, value)
            try:
                document = value.to_json()
                secrets = _secret_values(value.to_dict())
            except ValueError as exc:
                # The models' own errors name the field; others, such as
                # pydantic's for lone surrogates, only their type. The error
                # is raised after the except block, so that it keeps no
                # context that could repeat the body.
                reason = str(exc) if isinstance(exc, ApiValueError) else type(exc).__name__
                failure = ApiValueError(
                    f"{operation.operation_id}: argument {param.name!r} cannot be written as JSON ({reason})"
                )
            else:
                return document.encode("utf-8"), secrets
            raise failure
        return None, ()

    def _warn_plain_http(self, hostname: str) -> None:
        with self._warned_lock:
            if hostname in self._warned_plain_http_hosts:
                return
            self._warned_plain_http_hosts.add(hostname)
        logger.warning(
            "Sending an API key over plain HTTP to %s; anyone on the network path can read it. "
            "Use an https:// host.",
            hostname,
        )

    # Reading the response.

    def _read_response(self, operation: Operation, raw: RawResponse, secrets: Tuple[str, ...]) -> ClientResponse:
        if self.configuration.debug:
            _log_response(operation, raw, secrets)
        if not 200 <= raw.status <= 299:
            raise ApiException.from_response(
                status=raw.status,
                reason=raw.reason,
                headers=raw.headers,
                body=raw.body,
                data=_error_model(operation, raw),
                operation_id=operation.operation_id,
                secrets=secrets,
            )

        # A 2xx the spec does not list is read with the schema of the 200.
        status_key = str(raw.status) if operation.has_response(str(raw.status)) else "200"
        model = operation.response_model(status_key)
        if not raw.body:
            if model is not None:
                raise _invalid(operation, raw, f"the response has no body, expected {model.__name__}")
            return ClientResponse(raw.status, raw.headers, raw.body, None)

        text = _decoded_json_text(operation, raw)
        if model is None:
            try:
                data = _loads_strict_json(text)
            except (ValueError, RecursionError) as exc:
                raise _invalid(operation, raw, "the body is not valid JSON") from exc
        else:
            try:
                data = model.model_validate_json(text)
            except pydantic.ValidationError as exc:
                raise _invalid(operation, raw, describe_validation_error(model, exc)) from exc
        return ClientResponse(raw.status, raw.headers, raw.body, data)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _loads_strict_json(text: Any) -> Any:
    """Parse RFC 8259 JSON: no NaN or Infinity, and bytes must be UTF-8 without a BOM."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return json.loads(text, parse_constant=_reject_constant)


def _may_have_taken_effect(exc: BaseException) -> bool:
    """Tell whether the server may have acted on a request that raised `exc`."""
    if isinstance(exc, TransportError):
        return exc.request_sent
    # A 4xx is a definite refusal. A 5xx, 1xx or 3xx proves nothing either way.
    if isinstance(exc, ApiException):
        return exc.status is None or not 400 <= exc.status <= 499
    return True


def _checked_argument(operation: Operation, param: Param, value: Any) -> Any:
    if value is None:
        if param.required:
            raise ApiValueError(f"{operation.operation_id}: missing required argument {param.name!r}")
        return None
    kind = param.kind
    if kind is bool or kind is int:
        # bool is an int in Python; neither may stand in for the other.
        valid = type(value) is kind or (kind is int and isinstance(value, int) and not isinstance(value, bool))
    elif kind is float:
        valid = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(kind, type) and issubclass(kind, pydantic.BaseModel):
        valid = isinstance(value, (kind, dict))
    elif isinstance(kind, type):
        valid = isinstance(value, kind)
    else:
        valid = True
    if not valid:
        expected = getattr(kind, "__name__", str(kind))
        raise ApiTypeError(
            f"{operation.operation_id}: argument {param.name!r} must be {expected}, got {type(value).__name__}"
        )
    return value


def _model_from_argument(operation: Operation, param: Param, value: Dict[str, Any]) -> Any:
    """Return `value` validated into the body model of `param`, which rejects unknown fields."""
    model = param.kind
    try:
        return model.model_validate(value)
    except pydantic.ValidationError as exc:
        failure = validation_failure(model, exc, prefix=f"{operation.operation_id}: argument {param.name!r}: ")
    raise failure


def _to_wire_text(operation: Operation, param: Param, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        # int() drops a subclass's own __str__, which could write "..".
        try:
            return str(int(value))
        except ValueError:
            raise ApiValueError(
                f"{operation.operation_id}: argument {param.name!r} has too many digits"
            ) from None
    return str(value)


def _put_header(headers: Dict[str, str], name: str, value: str) -> None:
    """Set a header, replacing one of the same name in another letter case."""
    lowered = name.lower()
    for existing in [key for key in headers if key.lower() == lowered and key != name]:
        del headers[existing]
    headers[name] = value


def _is_secret_header(name: Any) -> bool:
    return isinstance(name, str) and name.lower() in _redact.SECRET_HEADERS


def _secret_values(document: Any) -> Tuple[str, ...]:
    """Return the string values of secret fields at the top level of a JSON object."""
    if not isinstance(document, dict):
        return ()
    return tuple(
        value for name, value in document.items() if name in _redact.SECRET_BODY_FIELDS and isinstance(value, str)
    )


class _BaseUrl(NamedTuple):
    host: str
    """Configuration.host as given."""
    base: str
    """Scheme, host and port: what the connection pool is chosen by."""
    path_prefix: str
    """The path of Configuration.host, without a trailing slash, put before every operation's path."""
    hostname: str
    sends_keys_in_clear: bool
    """Plain http:// to a host that is not loopback."""


def _check_host(host: Any) -> _BaseUrl:
    """Check Configuration.host; messages never show a user name or password in it."""
    if not isinstance(host, str):
        raise ApiTypeError(f"Configuration.host must be a str, got {type(host).__name__} {repr(host)[:60]}")
    try:
        parsed = urllib3.util.parse_url(host)
    except urllib3.exceptions.LocationParseError:
        raise ApiValueError(f"Configuration.host is not a valid URL: {_redact.display_url(host)!r}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ApiValueError(
            f"Configuration.host must be an http:// or https:// URL with a host name, got {_redact.display_url(host)!r}"
        )
    if parsed.auth:
        raise ApiValueError("Configuration.host must not contain a user name or password")
    if parsed.query is not None or parsed.fragment is not None:
        raise ApiValueError(
            f"Configuration.host must not contain a query or fragment, got {_redact.display_url(host)!r}"
        )
    hostname = parsed.host.strip("[]")
    origin = f"{parsed.scheme}://{parsed.netloc}"
    return _BaseUrl(
        host=host,
        base=origin,
        path_prefix=(parsed.path or "").rstrip("/"),
        hostname=hostname,
        sends_keys_in_clear=parsed.scheme == "http" and not _is_loopback(hostname),
    )


def _check_header(name: Any, value: Any, *, secret: bool) -> None:
    if not isinstance(name, str) or not _TOKEN_PATTERN.fullmatch(name):
        shown = _redact.scrub(repr(name)[:60])
        raise ApiValueError(f"invalid header name {shown}: use letters, digits and !#$%&'*+-.^_`|~")
    if not isinstance(value, str):
        raise ApiTypeError(f"header {name!r} must have a str value, got {type(value).__name__}")
    shown = "" if secret else f" {value[:60]!r}"
    if any(c in value for c in _FORBIDDEN_HEADER_CHARACTERS):
        raise ApiValueError(f"header {name!r} value{shown} contains a CR, LF or NUL character")
    # Checked without try/except, so no exception holding the value is chained.
    if not all(ord(c) < 256 for c in value):
        raise ApiValueError(f"header {name!r} value{shown} has characters outside Latin-1")


def _check_api_key(scheme: str, value: Any) -> None:
    if not isinstance(value, str):
        raise ApiTypeError(f"the API key for {scheme} must be a str, got {type(value).__name__}")
    if not value.strip():
        raise ApiValueError(f"the API key for {scheme} is empty; set configuration.api_key[{scheme!r}]")
    if any(c in value for c in _FORBIDDEN_HEADER_CHARACTERS):
        raise ApiValueError(f"the API key for {scheme} contains a CR, LF or NUL character")
    if not value.isascii() or not value.isprintable():
        raise ApiValueError(f"the API key for {scheme} contains characters that are not printable ASCII")


def _is_loopback(hostname: str) -> bool:
    """Tell whether `hostname` names this machine; a name other than localhost is not resolved."""
    if hostname.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _media_type_and_charset(raw: RawResponse) -> Tuple[str, Optional[str]]:
    content_type = raw.headers.get("Content-Type", "")
    media_type, _, parameters = content_type.partition(";")
    charset = None
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return media_type.strip().lower(), charset


def _decoded_json_text(operation: Operation, raw: RawResponse) -> Any:
    """Return the body ready for a JSON parser: bytes for UTF-8, else decoded text."""
    media_type, charset = _media_type_and_charset(raw)
    if media_type != JSON_MEDIA_TYPE and not media_type.endswith("+json"):
        shown = media_type or "no Content-Type"
        raise _invalid(operation, raw, f"expected {JSON_MEDIA_TYPE}, got {shown}")
    if not raw.body:
        raise _invalid(operation, raw, "the response has no body")
    if charset is None or codecs_name(charset) == "utf-8":
        return raw.body
    try:
        return raw.body.decode(charset)
    except LookupError as exc:
        raise _invalid(operation, raw, f"unknown charset {_redact.scrub(charset)!r}") from exc
    except UnicodeError as exc:
        # UnicodeDecodeError, and the plain UnicodeError of codecs such as "undefined".
        raise _invalid(operation, raw, f"the body is not valid {_redact.scrub(charset)}") from exc


def codecs_name(charset: str) -> Optional[str]:
    """Return the canonical codec name of `charset`, or None when Python has no such codec."""
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return None


def _error_model(operation: Operation, raw: RawResponse) -> Any:
    """Parse an error body into the operation's model for that status, or return None."""
    model = operation.response_model(str(raw.status))
    if model is None or not raw.body:
        return None
    try:
        return model.model_validate_json(raw.body)
    except (pydantic.ValidationError, ValueError):
        return None


def _invalid(operation: Operation, raw: RawResponse, problem: str) -> InvalidResponseError:
    return InvalidResponseError(
        f"{operation.operation_id}: cannot read the HTTP {raw.status} response: {problem}",
        status=raw.status,
        headers=raw.headers,
        body=raw.body,
        operation_id=operation.operation_id,
    )


def _log_request(
    operation: Operation, headers: Mapping[str, str], body: Optional[bytes], secrets: Tuple[str, ...]
) -> None:
    logger.debug(
        "%s request: %s %s headers=%s body=%s",
        operation.operation_id,
        operation.method,
        operation.path,
        _redact.redact_headers(headers, secrets),
        _redacted_body(body, (), secrets),
    )


def _log_response(operation: Operation, raw: RawResponse, secrets: Tuple[str, ...]) -> None:
    secret_fields = ("detail",) if operation.returns_api_key else ()
    logger.debug(
        "%s response: HTTP %d %s headers=%s body=%s",
        operation.operation_id,
        raw.status,
        _redact.scrub(raw.reason, secrets),
        _redact.redact_headers(raw.headers, secrets),
        _redacted_body(raw.body, secret_fields, secrets),
    )


def _redacted_body(body: Optional[bytes], secret_fields: Tuple[str, ...], secrets: Tuple[str, ...]) -> str:
    if not body:
        return "<empty>"
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return f"<{len(body)} bytes, not JSON>"
    shown = json.dumps(_redact.redact_json(document, secret_fields, secrets))
    return _redact.scrub(shown, secrets)
