"""Every exception the client raises, in one hierarchy.

    LitePolisError (alias OpenApiException)  base of everything below
    +-- ApiValueError (also ValueError)      invalid input, caught before sending
    +-- ApiTypeError (also TypeError)        input of the wrong type
    +-- ApiKeyError (also KeyError)
    +-- ApiAttributeError (also AttributeError)
    +-- ApiException                         the server responded with an error status
    |   +-- BadRequestException              400
    |   +-- UnauthorizedException            401
    |   +-- ForbiddenException               403
    |   +-- NotFoundException                404
    |   +-- ConflictException                409
    |   +-- UnprocessableEntityException     422
    |   +-- TooManyRequestsException         429
    |   +-- ServiceException                 5xx
    +-- TransportError                       no complete response arrived
    |   +-- ApiConnectionError               refused, reset or closed connection
    |   +-- ApiTimeoutError
    |   |   +-- ConnectTimeoutError          no connection within the connect timeout
    |   |   +-- ReadTimeoutError             no complete response within the read timeout
    |   +-- TLSError                         certificate or handshake failure
    +-- InvalidResponseError                 a response the client cannot read
    |   +-- ResponseTooLargeError            body over Configuration.max_response_bytes
    +-- RenewalOutcomeUnknownError           a key renewal may or may not have happened
    +-- RenewalHookError                     on_api_key_renewed raised; the new key is kept

Errors raised for a failed call chain the underlying error (urllib3, pydantic,
json, codecs) as ``__cause__``. No message contains an API key: messages name
the operation and the failure, never header values or request bodies.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

from litepolis_client._redact import describe_error_body, scrub

__all__ = [
    "ApiAttributeError",
    "ApiConnectionError",
    "ApiException",
    "ApiKeyError",
    "ApiTimeoutError",
    "ApiTypeError",
    "ApiValueError",
    "BadRequestException",
    "ConflictException",
    "ConnectTimeoutError",
    "ForbiddenException",
    "InvalidResponseError",
    "LitePolisError",
    "NotFoundException",
    "OpenApiException",
    "ReadTimeoutError",
    "RenewalHookError",
    "RenewalOutcomeUnknownError",
    "ResponseTooLargeError",
    "ServiceException",
    "TLSError",
    "TooManyRequestsException",
    "TransportError",
    "UnauthorizedException",
    "UnprocessableEntityException",
]

# Tracebacks and reprs show the public module, not this private one.
_PUBLIC_MODULE = "litepolis_client.exceptions"


class LitePolisError(Exception):
    """Base class of every exception that litepolis_client raises."""

    __module__ = _PUBLIC_MODULE


OpenApiException = LitePolisError


class _ItemError(LitePolisError):
    """Base of the input errors that may name where in a nested value the problem is."""

    def __init__(self, msg: str, path_to_item: Optional[list[Any]] = None) -> None:
        self.path_to_item = path_to_item
        path = "".join(f"[{item}]" if isinstance(item, int) else f"['{item}']" for item in path_to_item or ())
        super().__init__(f"{msg} at {path}" if path else msg)


class ApiTypeError(_ItemError, TypeError):
    """An argument has the wrong type; raised before anything is sent."""

    __module__ = _PUBLIC_MODULE

    def __init__(
        self,
        msg: str,
        path_to_item: Optional[list[Any]] = None,
        valid_classes: Optional[tuple[type, ...]] = None,
        key_type: Optional[bool] = None,
    ) -> None:
        self.valid_classes = valid_classes
        self.key_type = key_type
        super().__init__(msg, path_to_item)


class ApiValueError(_ItemError, ValueError):
    """An argument has an invalid value; raised before anything is sent."""

    __module__ = _PUBLIC_MODULE


class ApiAttributeError(_ItemError, AttributeError):
    """An attribute that the model or client does not have."""

    __module__ = _PUBLIC_MODULE


class ApiKeyError(_ItemError, KeyError):
    """A key that a mapping of the client does not have."""

    __module__ = _PUBLIC_MODULE


class ApiException(LitePolisError):
    """The server responded with an HTTP error status.

    ``status``, ``reason``, ``headers`` and the raw ``body`` (bytes) are kept;
    ``data`` is the body parsed into the error model of the operation when it
    fits one (``HTTPValidationError`` for a 422), else ``None``.
    """

    __module__ = _PUBLIC_MODULE

    def __init__(
        self,
        status: Optional[int] = None,
        reason: Optional[str] = None,
        http_resp: Any = None,
        *,
        body: Optional[bytes] = None,
        data: Any = None,
        headers: Optional[Mapping[str, str]] = None,
        operation_id: Optional[str] = None,
        secrets: Iterable[str] = (),
    ) -> None:
        if http_resp is not None:
            status = status if status is not None else http_resp.status
            reason = reason if reason is not None else http_resp.reason
            headers = headers if headers is not None else http_resp.headers
            if body is None:
                body = http_resp.data
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.data = data
        self.operation_id = operation_id
        # Built once: `secrets` (what the client sent) are not kept.
        self._text = self._message(tuple(secrets))
        super().__init__(self._text)

    @classmethod
    def from_response(
        cls,
        *,
        status: int,
        reason: Optional[str],
        headers: Optional[Mapping[str, str]],
        body: Optional[bytes],
        data: Any = None,
        operation_id: Optional[str] = None,
        secrets: Iterable[str] = (),
    ) -> "ApiException":
        """Build the subclass that matches `status`; `secrets` are kept out of the message."""
        exception_class = _STATUS_EXCEPTIONS.get(status)
        if exception_class is None:
            exception_class = ServiceException if 500 <= status <= 599 else ApiException
        return exception_class(
            status,
            reason,
            body=body,
            data=data,
            headers=headers,
            operation_id=operation_id,
            secrets=secrets,
        )

    def _message(self, secrets: tuple[str, ...]) -> str:
        message = f"HTTP {self.status}"
        if self.reason:
            message += " " + scrub(str(self.reason), secrets)
        if self.operation_id:
            message = f"{self.operation_id} failed: {message}"
        detail = describe_error_body(self.body, secrets)
        return f"{message}: {detail}" if detail else message

    def __str__(self) -> str:
        return self._text


class BadRequestException(ApiException):
    """HTTP 400: the server rejected the request as invalid."""

    __module__ = _PUBLIC_MODULE


class UnauthorizedException(ApiException):
    """HTTP 401: the API key is missing, unknown or no longer valid, or its role may not do this."""

    __module__ = _PUBLIC_MODULE


class ForbiddenException(ApiException):
    """HTTP 403: no API key was sent, or the operation is not allowed."""

    __module__ = _PUBLIC_MODULE


class NotFoundException(ApiException):
    """HTTP 404: the conversation, comment or path does not exist."""

    __module__ = _PUBLIC_MODULE


class ConflictException(ApiException):
    """HTTP 409."""

    __module__ = _PUBLIC_MODULE


class UnprocessableEntityException(ApiException):
    """HTTP 422: the request body does not match the schema; ``data`` lists the errors."""

    __module__ = _PUBLIC_MODULE


class TooManyRequestsException(ApiException):
    """HTTP 429: the server requests that the client slow down; see the Retry-After header."""

    __module__ = _PUBLIC_MODULE


class ServiceException(ApiException):
    """HTTP 5xx: the server or a gateway in front of it failed."""

    __module__ = _PUBLIC_MODULE


_STATUS_EXCEPTIONS: dict[int, type[ApiException]] = {
    400: BadRequestException,
    401: UnauthorizedException,
    403: ForbiddenException,
    404: NotFoundException,
    409: ConflictException,
    422: UnprocessableEntityException,
    429: TooManyRequestsException,
}


class TransportError(LitePolisError):
    """No complete HTTP response arrived.

    ``request_sent`` is whether the request may have reached the server:
    False only when the connection failed before any byte was written.
    """

    __module__ = _PUBLIC_MODULE

    def __init__(self, message: str, *, operation_id: Optional[str] = None, request_sent: bool = True) -> None:
        self.operation_id = operation_id
        self.request_sent = request_sent
        super().__init__(message)


class ApiConnectionError(TransportError):
    """The connection was refused, reset or closed before the response was complete."""

    __module__ = _PUBLIC_MODULE


class ApiTimeoutError(TransportError):
    """A timeout of ``Configuration.timeout`` expired."""

    __module__ = _PUBLIC_MODULE


class ConnectTimeoutError(ApiTimeoutError):
    """No connection could be made within the connect timeout."""

    __module__ = _PUBLIC_MODULE


class ReadTimeoutError(ApiTimeoutError):
    """The complete response did not arrive within the read timeout."""

    __module__ = _PUBLIC_MODULE


class TLSError(TransportError):
    """The TLS handshake failed, for example because the certificate is not trusted."""

    __module__ = _PUBLIC_MODULE


class InvalidResponseError(LitePolisError):
    """The server responded, but the client cannot read the response.

    Raised for a body that is not JSON, is cut short, has the wrong shape,
    uses an unknown or wrong charset, or exceeds the size limit. ``status``,
    ``headers`` and the raw ``body`` (possibly cut at the size limit) are kept.
    """

    __module__ = _PUBLIC_MODULE

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        headers: Optional[Mapping[str, str]] = None,
        body: Optional[bytes] = None,
        operation_id: Optional[str] = None,
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.operation_id = operation_id
        super().__init__(message)


class ResponseTooLargeError(InvalidResponseError):
    """The body is larger than ``Configuration.max_response_bytes``; reading stopped there."""

    __module__ = _PUBLIC_MODULE


class RenewalOutcomeUnknownError(LitePolisError):
    """A request that replaces the caller's API key may have reached the server,
    but no valid response came back.

    The server may already have revoked the old key, and the new one was never
    seen. The client does not resend such a request. ``__cause__`` is the
    underlying failure.
    """

    __module__ = _PUBLIC_MODULE

    def __init__(self, operation_id: str) -> None:
        self.operation_id = operation_id
        super().__init__(
            f"{operation_id}: the outcome is unknown because the request may have "
            "reached the server but no valid response came back. The old API key may "
            "already be invalid and the new one was not received. Check whether the "
            "old key still works (for example GET /api/v1/secure/); if it does not, "
            "obtain a new key by logging in again (POST /api/v1/secure/users/auth, "
            "through a client with a GUI-role key such as the web front end)."
        )


class RenewalHookError(LitePolisError):
    """``Configuration.on_api_key_renewed`` raised after a successful renewal.

    The renewal happened: the old key is revoked. The new key is in
    ``new_key`` (it is not part of the message or repr) and, unless
    ``update_api_key_on_renewal`` is off, already in the configuration.
    ``__cause__`` is the hook's exception.
    """

    __module__ = _PUBLIC_MODULE

    def __init__(self, operation_id: str, new_key: str) -> None:
        self.operation_id = operation_id
        self.new_key = new_key
        super().__init__(
            f"{operation_id} succeeded, but on_api_key_renewed raised; the new key is "
            "in this exception's new_key attribute. Store it now: the old key no longer works."
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(operation_id={self.operation_id!r}, new_key=[REDACTED])"

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.operation_id, self.new_key))
