"""Send HTTP requests with urllib3: timeouts, retries, size limit, error translation.

Every urllib3 and socket error is translated here, at one boundary, into an
exception of ``litepolis_client._exceptions`` with the original chained as
``__cause__``. No module above this one receives a urllib3 exception.
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional

import urllib3
from urllib3 import exceptions as urllib3_errors

from litepolis_client import _deadline, _retry
from litepolis_client._exceptions import (
    ApiConnectionError,
    ApiValueError,
    ConnectTimeoutError,
    InvalidResponseError,
    ReadTimeoutError,
    ResponseTooLargeError,
    TLSError,
    TransportError,
)
from litepolis_client._retry import RetryEvent, RetryPolicy

if TYPE_CHECKING:
    from litepolis_client._config import ConfigurationBase, Timeout
    from litepolis_client._operation import Operation

logger = logging.getLogger(__name__)

# Bytes asked for per read; a read returns what one receive brings.
READ_CHUNK_BYTES = 64 * 1024
# Sent with every request: urllib3 raises its own errors at once instead of
# retrying (retries are this module's job) and never follows redirects.
_NO_RETRIES = urllib3.Retry(total=False, redirect=False)
# Longer Content-Length values are ignored as nonsense; the running count
# still enforces the limit.
MAX_CONTENT_LENGTH_DIGITS = 18


@dataclasses.dataclass(frozen=True)
class RawResponse:
    """A complete HTTP response: status line, headers and the whole body."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def data(self) -> bytes:
        """The body; the name the generated code's ``ApiException`` expects."""
        return self.body

    def getheader(self, name: str, default: Optional[str] = None) -> Optional[str]:
        return self.headers.get(name, default)

    def getheaders(self) -> Mapping[str, str]:
        return self.headers


class Transport:
    """Sends requests for one ``ApiClient`` through a urllib3 pool of its own."""

    def __init__(self, configuration: "ConfigurationBase") -> None:
        self._configuration = configuration
        self._pool: Optional[urllib3.PoolManager] = None
        self._pool_lock = threading.Lock()
        self._pools: Dict[str, Any] = {}

    def close(self) -> None:
        """Close every pooled connection; a later request opens new ones."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
            self._pools = {}
        if pool is not None:
            pool.clear()

    def send(
        self,
        operation: "Operation",
        method: str,
        base_url: str,
        path: str,
        headers: Mapping[str, str],
        body: Optional[bytes],
        timeout: "Timeout",
    ) -> RawResponse:
        """Send a request, retrying what the policy allows, and return the response.

        Raises ``TransportError`` when no complete response arrives and
        ``InvalidResponseError`` when the body cannot be read. Error statuses
        are returned, not raised; retryable ones only after the last attempt.
        """
        policy = self._configuration.retry
        attempt = 1
        while True:
            try:
                response = self._send_once(operation, method, base_url, path, headers, body, timeout)
            except TransportError as exc:
                delay = self._delay_after_error(exc, operation, attempt, policy)
                if delay is None:
                    raise
                reason = str(exc)
            else:
                delay = self._delay_after_status(response, operation, attempt, policy)
                if delay is None:
                    return response
                reason = f"HTTP {response.status}"

            self._announce_retry(operation, attempt, reason, delay, policy)
            _retry.sleep(delay)
            attempt += 1

    # Retry decisions. Each returns the seconds to wait, or None to stop.

    @staticmethod
    def _delay_after_error(
        exc: TransportError, operation: "Operation", attempt: int, policy: RetryPolicy
    ) -> Optional[float]:
        if attempt >= policy.max_attempts:
            return None
        # A certificate that failed verification fails again.
        if isinstance(exc, TLSError):
            return None
        # The server may have acted on a request it received; only repeat
        # operations whose effect does not change when repeated.
        if exc.request_sent and not operation.replay_safe:
            return None
        return policy.backoff(attempt)

    @staticmethod
    def _delay_after_status(
        response: RawResponse, operation: "Operation", attempt: int, policy: RetryPolicy
    ) -> Optional[float]:
        if response.status not in policy.retry_statuses:
            return None
        if not operation.replay_safe or attempt >= policy.max_attempts:
            return None

        retry_after = policy.retry_after(response.headers.get("Retry-After"))
        if retry_after is None:
            return policy.backoff(attempt)
        # A server that requests a longer pause than the caller accepts gets
        # its response raised instead of a sleeping thread.
        if retry_after > policy.retry_after_max:
            return None
        return retry_after

    @staticmethod
    def _announce_retry(
        operation: "Operation", attempt: int, reason: str, delay: float, policy: RetryPolicy
    ) -> None:
        logger.info(
            "Retrying %s after attempt %d of %d failed (%s); waiting %.2f s",
            operation.operation_id,
            attempt,
            policy.max_attempts,
            reason,
            delay,
        )
        if policy.on_retry is not None:
            policy.on_retry(RetryEvent(operation.operation_id, attempt, reason, delay))

    # One attempt.

    def _send_once(
        self,
        operation: "Operation",
        method: str,
        base_url: str,
        path: str,
        headers: Mapping[str, str],
        body: Optional[bytes],
        timeout: "Timeout",
    ) -> RawResponse:
        operation_id = operation.operation_id
        started = time.monotonic()
        # Through a proxy, the manager must see the whole URL: an http://
        # request then goes to the proxy with an absolute target.
        if self._configuration.proxy:
            opener, target = self._pool_manager(), base_url + path
        else:
            opener, target = self._connection_pool(base_url), path
        try:
            response = opener.urlopen(
                method,
                target,
                body=body,
                headers=headers,
                timeout=timeout.for_urllib3,
                retries=_NO_RETRIES,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
                decode_content=True,
            )
        except urllib3_errors.LocationValueError as exc:
            raise ApiValueError(f"invalid host or URL for {operation_id}: {exc}") from exc
        except (urllib3_errors.HTTPError, OSError) as exc:
            raise _translate_send_error(exc, operation_id) from exc

        try:
            body_bytes = self._read_body(response, operation_id)
        except BaseException:
            # The connection is in an unknown state: close it, never reuse it.
            response.close()
            response.release_conn()
            raise
        response.release_conn()

        if logger.isEnabledFor(logging.DEBUG):
            elapsed_ms = (time.monotonic() - started) * 1000
            logger.debug("%s: HTTP %d in %.1f ms", operation_id, response.status, elapsed_ms)
        return RawResponse(
            status=response.status,
            reason=response.reason or "",
            headers=response.headers,
            body=body_bytes,
        )

    def _connection_pool(self, base_url: str) -> Any:
        """Return the urllib3 pool for `base_url`, looked up once and then cached.

        Skipping PoolManager's per-request URL parsing and pool-key work is
        a large part of the client's own cost per call.
        """
        pool = self._pools.get(base_url)
        if pool is not None and pool.pool is not None:
            return pool
        pool = self._pool_manager().connection_from_url(base_url)
        self._pools[base_url] = pool
        return pool

    def _read_body(self, response: urllib3.BaseHTTPResponse, operation_id: str) -> bytes:
        """Read the whole body, stopping at the size limit.

        The read timeout needs no check here: the connection classes of
        _deadline end every receive by one deadline for the whole response.
        """
        limit = self._configuration.max_response_bytes
        declared = _declared_length(response)
        if limit is not None and declared is not None and declared > limit:
            raise ResponseTooLargeError(
                f"{operation_id}: the response declares {declared} bytes, more than "
                f"max_response_bytes ({limit}); nothing was read",
                status=response.status,
                headers=response.headers,
                body=b"",
                operation_id=operation_id,
            )

        # A plain body of known, allowed length is read in one go: the
        # deadline bounds each receive, and urllib3 checks the length.
        if declared is not None:
            try:
                return response.read()
            except (urllib3_errors.HTTPError, OSError) as exc:
                raise _translate_read_error(exc, operation_id, response, b"") from exc

        chunks: list[bytes] = []
        received = 0
        while True:
            try:
                chunk = response.read1(READ_CHUNK_BYTES)
            except (urllib3_errors.HTTPError, OSError) as exc:
                raise _translate_read_error(exc, operation_id, response, b"".join(chunks)) from exc
            if not chunk:
                break

            received += len(chunk)
            chunks.append(chunk)
            if limit is not None and received > limit:
                raise ResponseTooLargeError(
                    f"{operation_id}: the response is larger than max_response_bytes "
                    f"({limit}); reading stopped there",
                    status=response.status,
                    headers=response.headers,
                    body=b"".join(chunks)[:limit],
                    operation_id=operation_id,
                )
        return b"".join(chunks)

    def _pool_manager(self) -> urllib3.PoolManager:
        pool = self._pool
        if pool is not None:
            return pool
        with self._pool_lock:
            if self._pool is None:
                self._pool = _build_pool_manager(self._configuration)
            return self._pool


def _build_pool_manager(configuration: "ConfigurationBase") -> urllib3.PoolManager:
    options = {
        "num_pools": 10,
        "maxsize": configuration.connection_pool_maxsize,
        "cert_reqs": ssl.CERT_REQUIRED if configuration.verify_ssl else ssl.CERT_NONE,
        "ca_certs": configuration.ssl_ca_cert,
        "ca_cert_data": _pem_text(configuration.ca_cert_data),
        "cert_file": configuration.cert_file,
        "key_file": configuration.key_file,
    }
    if configuration.assert_hostname is not None:
        options["assert_hostname"] = configuration.assert_hostname
    if configuration.tls_server_name is not None:
        options["server_hostname"] = configuration.tls_server_name
    if configuration.proxy:
        manager: urllib3.PoolManager = urllib3.ProxyManager(
            proxy_url=configuration.proxy,
            proxy_headers=configuration.proxy_headers or None,
            **options,
        )
    else:
        manager = urllib3.PoolManager(**options)
    # Pools whose connections hold the read timeout as one deadline for the
    # whole response, headers included.
    manager.pool_classes_by_scheme = _deadline.POOL_CLASSES_BY_SCHEME
    return manager


def _pem_text(data: Any) -> Any:
    # ssl reads str as PEM but bytes as DER; PEM given as bytes must become str.
    if isinstance(data, bytes) and data.lstrip().startswith(b"-----BEGIN"):
        return data.decode("ascii", errors="replace")
    return data


def _declared_length(response: urllib3.BaseHTTPResponse) -> Optional[int]:
    # With a Content-Encoding the header counts compressed bytes, not what
    # the limit counts, so only the running count applies.
    if response.headers.get("Content-Encoding"):
        return None
    value = response.headers.get("Content-Length", "").strip()
    # ASCII digits only: isdigit() also accepts "²", which int() rejects.
    if not value.isascii() or not value.isdigit() or len(value) > MAX_CONTENT_LENGTH_DIGITS:
        return None
    return int(value)


def _translate_send_error(exc: Exception, operation_id: str) -> TransportError:
    """Map an error raised before the status line arrived to our exception."""
    # Order matters: urllib3 derives NewConnectionError from its
    # ConnectTimeoutError, and SSLError from HTTPError.
    if isinstance(exc, urllib3_errors.NewConnectionError):
        return ApiConnectionError(
            f"{operation_id}: could not connect to the server ({_reason(exc)})",
            operation_id=operation_id,
            request_sent=False,
        )
    if isinstance(exc, urllib3_errors.ConnectTimeoutError):
        return ConnectTimeoutError(
            f"{operation_id}: no connection within the connect timeout",
            operation_id=operation_id,
            request_sent=False,
        )
    if isinstance(exc, urllib3_errors.SSLError):
        return _tls_error(exc, operation_id)
    if isinstance(exc, urllib3_errors.ReadTimeoutError):
        return ReadTimeoutError(
            f"{operation_id}: no response within the read timeout",
            operation_id=operation_id,
        )
    return ApiConnectionError(
        f"{operation_id}: the connection failed before the response arrived ({_reason(exc)})",
        operation_id=operation_id,
    )


def _tls_error(exc: Exception, operation_id: str) -> TLSError:
    verification = _find_cause(exc, ssl.SSLCertVerificationError)
    if verification is None:
        # A TLS failure after the handshake may come after the request was
        # written, so the request may have reached the server.
        return TLSError(f"{operation_id}: TLS failed ({_reason(exc)})", operation_id=operation_id)

    # Verification fails during the handshake, before any request byte.
    message = verification.verify_message or "certificate verify failed"
    if "mismatch" in message or "Hostname" in message:
        advice = (
            "the certificate is for another host name: connect by a name the certificate "
            "lists, or set Configuration.tls_server_name"
        )
    else:
        advice = "set Configuration.ssl_ca_cert to the CA that signed the server certificate"
    return TLSError(
        f"{operation_id}: TLS certificate verification failed ({message}); {advice}",
        operation_id=operation_id,
        request_sent=False,
    )


def _find_cause(exc: BaseException, kind: type) -> Any:
    """Return the first exception of `kind` in the cause and context chain of `exc`."""
    seen = 0
    current: Optional[BaseException] = exc
    while current is not None and seen < 10:
        if isinstance(current, kind):
            return current
        inner = getattr(current, "reason", None)
        if isinstance(inner, BaseException) and inner is not current:
            current = inner
        else:
            current = current.__cause__ or current.__context__
        seen += 1
    return None


def _translate_read_error(
    exc: Exception, operation_id: str, response: urllib3.BaseHTTPResponse, partial: bytes
) -> Exception:
    """Map an error raised while the body was read to our exception."""
    if isinstance(exc, urllib3_errors.ReadTimeoutError):
        return ReadTimeoutError(
            f"{operation_id}: the response stopped arriving within the read timeout",
            operation_id=operation_id,
        )
    if isinstance(exc, urllib3_errors.DecodeError):
        return InvalidResponseError(
            f"{operation_id}: the body could not be decompressed ({_reason(exc)})",
            status=response.status,
            headers=response.headers,
            body=partial,
            operation_id=operation_id,
        )
    if isinstance(exc, urllib3_errors.SSLError):
        return TLSError(f"{operation_id}: TLS failed while reading the response", operation_id=operation_id)
    return ApiConnectionError(
        f"{operation_id}: the connection broke after {len(partial)} bytes of the body",
        operation_id=operation_id,
    )


def _reason(exc: BaseException) -> str:
    """Return a short description of a socket-level error without its addresses."""
    cause = exc
    for attribute in ("reason", "__cause__", "__context__"):
        inner = getattr(cause, attribute, None)
        if isinstance(inner, BaseException):
            cause = inner
            break
    if isinstance(cause, ssl.SSLCertVerificationError):
        return cause.verify_message or "certificate verify failed"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return type(cause).__name__
