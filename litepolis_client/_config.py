"""Settings of a client: host, credentials, timeouts, retries, limits and TLS.

The generated ``Configuration`` subclasses ``ConfigurationBase`` and adds
what comes from the spec: the default host and the security schemes.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import os
import stat
import threading
from typing import Any, Callable, ClassVar, Dict, List, Mapping, Optional, Tuple, Union

import urllib3

from litepolis_client._exceptions import ApiTypeError, ApiValueError
from litepolis_client._redact import REDACTED, display_url
from litepolis_client._retry import RetryPolicy

DEFAULT_CONNECT_TIMEOUT_SECONDS = 5.0
DEFAULT_READ_TIMEOUT_SECONDS = 60.0
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
# Upper bound of a timeout: a week. Sockets reject much larger values.
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600.0
# One connection per thread for up to this many threads sharing a client
# without urllib3 discarding connections ("Connection pool is full").
DEFAULT_CONNECTION_POOL_MAXSIZE = 32

# Environment variables that fill in what the caller did not pass.
ENV_HOST = "LITEPOLIS_HOST"
ENV_API_KEY = "LITEPOLIS_API_KEY"
ENV_API_KEY_FILE = "LITEPOLIS_API_KEY_FILE"


class _NotGiven:
    """Type of ``NOT_GIVEN``: an argument the caller left out, unlike ``None``."""

    _instance: ClassVar[Optional["_NotGiven"]] = None

    def __new__(cls) -> "_NotGiven":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN = _NotGiven()


@dataclasses.dataclass(frozen=True)
class Timeout:
    """Connect and read timeouts in seconds; ``None`` turns one off.

    ``connect`` bounds the TCP and TLS handshake. ``read`` bounds the whole
    response, from the moment the request is sent until the last byte of the
    body, so a server that trickles its body slowly also times out (at most
    0.25 s after the deadline).
    """

    connect: Optional[float] = DEFAULT_CONNECT_TIMEOUT_SECONDS
    read: Optional[float] = DEFAULT_READ_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        for name in ("connect", "read"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ApiValueError(f"Timeout.{name} must be a number of seconds or None, got {value!r}")
            try:
                seconds = float(value)
            except OverflowError:
                seconds = math.inf
            if not math.isfinite(seconds) or not 0 < seconds <= MAX_TIMEOUT_SECONDS:
                raise ApiValueError(
                    f"Timeout.{name} must be more than 0 and at most {MAX_TIMEOUT_SECONDS:.0f} seconds, "
                    f"got {value!r}; use None to wait forever"
                )

    @classmethod
    def disabled(cls) -> "Timeout":
        """Return a timeout that waits forever; a silent server then blocks the call."""
        return cls(connect=None, read=None)

    @functools.cached_property
    def for_urllib3(self) -> urllib3.Timeout:
        """The same timeouts as a urllib3 Timeout, built once per instance."""
        return urllib3.Timeout(connect=self.connect, read=self.read)


TimeoutArg = Union[None, float, int, Tuple[Optional[float], Optional[float]], Timeout, _NotGiven]
"""Timeout forms a caller may pass. NOT_GIVEN means the configured timeout."""


def to_timeout(value: Any) -> Timeout:
    """Convert what a caller may pass as a timeout into a ``Timeout``.

    A number sets both timeouts, a ``(connect, read)`` pair sets each, and
    ``None`` turns both off.
    """
    if isinstance(value, Timeout):
        return value
    if value is None:
        return Timeout.disabled()
    if isinstance(value, tuple) and len(value) == 2:
        return Timeout(connect=value[0], read=value[1])
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Timeout(connect=value, read=value)
    raise ApiValueError(
        f"unsupported timeout {value!r}: pass seconds as a number, a "
        "(connect, read) tuple, a Timeout, or None to wait forever"
    )


# A key file is a UUID and a newline; anything much larger is the wrong file.
MAX_KEY_FILE_BYTES = 4096


def read_key_file(path: str, *, missing_ok: bool = False) -> Optional[str]:
    """Return the first line of a key file, stripped; raise ApiValueError naming the file.

    With `missing_ok`, a file that does not exist or has an empty first line
    gives None. No message or chained exception contains the file's content.
    """
    try:
        status = os.stat(path)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise ApiValueError(f"cannot read the API key file {path!r}: it does not exist") from None
    except OSError as exc:
        raise ApiValueError(f"cannot read the API key file {path!r}: {exc.strerror}") from None
    # A FIFO would block and a device could be endless.
    if not stat.S_ISREG(status.st_mode):
        raise ApiValueError(f"the API key file {path!r} is not a regular file")
    if status.st_size > MAX_KEY_FILE_BYTES:
        raise ApiValueError(f"the API key file {path!r} is larger than {MAX_KEY_FILE_BYTES} bytes")

    try:
        with open(path, "rb") as key_file:
            content = key_file.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise ApiValueError(f"cannot read the API key file {path!r}: {exc.strerror}") from None
    line = content.split(b"\n", 1)[0].strip()
    if not line:
        if missing_ok:
            return None
        raise ApiValueError(f"the API key file {path!r} is empty")
    # Checked without decoding errors, whose messages quote the bytes.
    if not line.isascii():
        raise ApiValueError(f"the API key file {path!r} contains characters that are not ASCII")
    return line.decode("ascii")


class ConfigurationBase:
    """Settings shared by every call of an ``ApiClient``.

    :param host: Base URL of the LitePolis server, for example
        ``https://litepolis.example.org``.
    :param api_key: API keys by security scheme name, for example
        ``{"APIKeyHeader": key}``.
    :param api_key_prefix: Optional prefix per scheme, sent before the key.
    :param timeout: ``Timeout``, seconds, a ``(connect, read)`` pair, or
        ``None`` to wait forever. Default 5 s to connect, 60 s to read.
    :param retry: ``RetryPolicy``. Default 3 attempts; see ``RetryPolicy``.
    :param max_response_bytes: Largest body the client reads, after
        decompression. Default 16 MiB; ``None`` removes the limit.
    :param verify_ssl: Verify the server's TLS certificate. Default True.
    :param ssl_ca_cert: Path of a CA bundle to trust instead of the system's.
    :param ca_cert_data: PEM text of CA certificates to trust.
    :param cert_file: Client certificate for mutual TLS.
    :param key_file: Private key of the client certificate.
    :param assert_hostname: Host name to match the certificate against, or
        False to skip the match (the chain is still verified).
    :param tls_server_name: Server name sent in the TLS handshake (SNI).
    :param connection_pool_maxsize: Connections kept per host. Default 32,
        enough for 32 threads sharing one client.
    :param proxy: URL of an HTTP proxy.
    :param proxy_headers: Headers for the proxy.
    :param debug: Log each request and response at DEBUG on the
        ``litepolis_client`` logger, with credentials and key fields
        redacted. Nothing is printed and no global state changes.
    :param update_api_key_on_renewal: After a call that replaces the
        caller's key succeeds (renewal, ``POST /users/profile``), send the
        new key from then on. Default True.
    :param on_api_key_renewed: Called with the new key after such a call
        succeeds and before it returns, so the key can be stored first. If it
        raises, the call raises ``RenewalHookError``, which carries the key.

    Where ``host`` or ``api_key`` is not given (None), the environment fills
    it in: ``LITEPOLIS_HOST``, then ``LITEPOLIS_API_KEY``, then the first
    line of the file named by ``LITEPOLIS_API_KEY_FILE``. Explicit arguments
    always win.
    """

    #: Default base URL; the generated subclass sets it from the spec.
    DEFAULT_HOST: ClassVar[str] = "http://localhost"
    #: API key schemes of the spec: name -> (location, header or parameter name).
    #: The first one receives the key from the environment.
    API_KEY_SCHEMES: ClassVar[Dict[str, Tuple[str, str]]] = {}

    _default: ClassVar[Optional["ConfigurationBase"]] = None
    _default_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        host: Optional[str] = None,
        api_key: Optional[Mapping[str, str]] = None,
        api_key_prefix: Optional[Mapping[str, str]] = None,
        *,
        timeout: TimeoutArg = Timeout(),
        retry: Optional[RetryPolicy] = None,
        max_response_bytes: Optional[int] = DEFAULT_MAX_RESPONSE_BYTES,
        verify_ssl: bool = True,
        ssl_ca_cert: Optional[str] = None,
        ca_cert_data: Optional[Union[str, bytes]] = None,
        cert_file: Optional[str] = None,
        key_file: Optional[str] = None,
        assert_hostname: Optional[Union[str, bool]] = None,
        tls_server_name: Optional[str] = None,
        connection_pool_maxsize: int = DEFAULT_CONNECTION_POOL_MAXSIZE,
        proxy: Optional[str] = None,
        proxy_headers: Optional[Mapping[str, str]] = None,
        safe_chars_for_path_param: str = "",
        debug: bool = False,
        update_api_key_on_renewal: bool = True,
        on_api_key_renewed: Optional[Callable[[str], None]] = None,
    ) -> None:
        if host is None:
            host = os.environ.get(ENV_HOST) or self.DEFAULT_HOST
        if api_key is None:
            api_key = self._api_key_from_environment()
        self.host = host
        # Copies, so that two configurations built from one dict stay apart.
        self.api_key: Dict[str, str] = dict(api_key)
        self.api_key_prefix: Dict[str, str] = dict(api_key_prefix or {})
        self.timeout = timeout
        self.retry = retry if retry is not None else RetryPolicy()
        self.max_response_bytes = max_response_bytes
        self.verify_ssl = verify_ssl
        self.ssl_ca_cert = ssl_ca_cert
        self.ca_cert_data = ca_cert_data
        self.cert_file = cert_file
        self.key_file = key_file
        self.assert_hostname = assert_hostname
        self.tls_server_name = tls_server_name
        self.connection_pool_maxsize = connection_pool_maxsize
        self.proxy = proxy
        self.proxy_headers = dict(proxy_headers or {})
        self.safe_chars_for_path_param = safe_chars_for_path_param
        self.debug = debug
        self.update_api_key_on_renewal = update_api_key_on_renewal
        self.on_api_key_renewed = on_api_key_renewed
        # Guards api_key when one thread replaces a key while others read it.
        self._key_lock = threading.Lock()

    # Validated setters: a wrong value fails where it is set, not at the
    # first request.

    @property
    def timeout(self) -> Timeout:
        return self._timeout

    @timeout.setter
    def timeout(self, value: TimeoutArg) -> None:
        self._timeout = to_timeout(value)

    @property
    def retry(self) -> RetryPolicy:
        return self._retry

    @retry.setter
    def retry(self, value: RetryPolicy) -> None:
        if not isinstance(value, RetryPolicy):
            raise ApiTypeError(f"retry must be a RetryPolicy, got {type(value).__name__}")
        self._retry = value

    @property
    def max_response_bytes(self) -> Optional[int]:
        return self._max_response_bytes

    @max_response_bytes.setter
    def max_response_bytes(self, value: Optional[int]) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ApiValueError(f"max_response_bytes must be a positive int or None, got {value!r}")
        self._max_response_bytes = value

    @property
    def verify_ssl(self) -> bool:
        return self._verify_ssl

    @verify_ssl.setter
    def verify_ssl(self, value: bool) -> None:
        # Only False turns verification off; None, 0 or "" are mistakes.
        if not isinstance(value, bool):
            raise ApiTypeError(f"verify_ssl must be True or False, got {value!r}")
        self._verify_ssl = value

    @property
    def connection_pool_maxsize(self) -> int:
        return self._connection_pool_maxsize

    @connection_pool_maxsize.setter
    def connection_pool_maxsize(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ApiValueError(f"connection_pool_maxsize must be a positive int, got {value!r}")
        self._connection_pool_maxsize = value

    @classmethod
    def _api_key_from_environment(cls) -> Dict[str, str]:
        if not cls.API_KEY_SCHEMES:
            return {}
        scheme = next(iter(cls.API_KEY_SCHEMES))
        key = os.environ.get(ENV_API_KEY, "").strip()
        if key:
            return {scheme: key}

        path = os.environ.get(ENV_API_KEY_FILE)
        if not path:
            return {}
        file_key = read_key_file(path)
        return {scheme: file_key} if file_key is not None else {}

    def credentials_for(self, schemes: Tuple[str, ...]) -> List[Tuple[str, str, str, str]]:
        """Return (scheme, header name, key, header value) for each scheme that has a key."""
        credentials = []
        for scheme in schemes:
            location = self.API_KEY_SCHEMES.get(scheme)
            if location is None or location[0] != "header":
                continue
            # A dict read is atomic; the lock only orders writes (replace_api_key).
            key = self.api_key.get(scheme)
            if key is None:
                continue
            credentials.append((scheme, location[1], key, self._with_prefix(scheme, key)))
        return credentials

    def _with_prefix(self, scheme: str, key: Any) -> Any:
        """Return `key` as sent in the header: after the scheme's prefix, if it has one."""
        prefix = self.api_key_prefix.get(scheme)
        return f"{prefix} {key}" if prefix and isinstance(key, str) else key

    def get_api_key_with_prefix(self, identifier: str, alias: Optional[str] = None) -> Optional[str]:
        """Return the key for a security scheme with its prefix, or None when unset."""
        with self._key_lock:
            key = self.api_key.get(identifier)
            if key is None and alias is not None:
                key = self.api_key.get(alias)
        if key is None:
            return None
        value: Optional[str] = self._with_prefix(identifier, key)
        return value

    def replace_api_key(self, identifier: str, old_key: Optional[str], new_key: str) -> bool:
        """Set the key of `identifier` to `new_key` if it is still `old_key`.

        Returns whether the key was replaced. The check and the write happen
        under one lock, so a concurrent change by another thread is not lost.
        """
        with self._key_lock:
            if self.api_key.get(identifier) != old_key:
                return False
            self.api_key[identifier] = new_key
            return True

    def auth_settings(self) -> Dict[str, Dict[str, Any]]:
        """Return the credentials to send, by security scheme name."""
        return {
            scheme: {
                "type": "api_key",
                "in": location,
                "key": name,
                "value": self.get_api_key_with_prefix(scheme),
            }
            for scheme, (location, name) in self.API_KEY_SCHEMES.items()
        }

    @classmethod
    def set_default(cls, default: Optional["ConfigurationBase"]) -> None:
        """Make a copy of `default` the configuration of clients built without one."""
        with cls._default_lock:
            cls._default = copy.deepcopy(default)

    @classmethod
    def get_default_copy(cls) -> "ConfigurationBase":
        """Return a copy of the default configuration, or a new one."""
        with cls._default_lock:
            if cls._default is not None:
                return copy.deepcopy(cls._default)
        return cls()

    @classmethod
    def get_default(cls) -> "ConfigurationBase":
        """Return a copy of the default configuration; changing it changes no other client."""
        return cls.get_default_copy()

    def __deepcopy__(self, memo: Dict[int, Any]) -> "ConfigurationBase":
        clone = self.__class__.__new__(self.__class__)
        memo[id(self)] = clone
        for name, value in self.__dict__.items():
            if name == "_key_lock":
                setattr(clone, name, threading.Lock())
            elif name in ("_retry", "on_api_key_renewed"):
                # Callbacks stay the same objects; RetryPolicy is frozen.
                setattr(clone, name, value)
            else:
                setattr(clone, name, copy.deepcopy(value, memo))
        return clone

    def __copy__(self) -> "ConfigurationBase":
        clone = self.__class__.__new__(self.__class__)
        clone.__dict__.update(self.__dict__)
        # The key dicts are mutable; a copy must not share them.
        clone.api_key = dict(self.api_key)
        clone.api_key_prefix = dict(self.api_key_prefix)
        clone.proxy_headers = dict(self.proxy_headers)
        clone._key_lock = threading.Lock()
        return clone

    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        del state["_key_lock"]
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._key_lock = threading.Lock()

    def __repr__(self) -> str:
        keys = {scheme: REDACTED for scheme in self.api_key}
        host = display_url(self.host) if isinstance(self.host, str) else self.host
        return (
            f"{type(self).__name__}(host={host!r}, api_key={keys!r}, "
            f"timeout={self.timeout!r}, retry={self.retry!r}, "
            f"max_response_bytes={self.max_response_bytes!r}, verify_ssl={self.verify_ssl!r})"
        )
