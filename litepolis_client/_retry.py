"""When the client sends a request again, and how long it waits first."""

from __future__ import annotations

import dataclasses
import email.utils
import math
import random
import time
from typing import Callable, FrozenSet, Optional

from litepolis_client._exceptions import ApiValueError

DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_BACKOFF_INITIAL_SECONDS = 0.5
DEFAULT_BACKOFF_MAX_SECONDS = 8.0
DEFAULT_RETRY_AFTER_MAX_SECONDS = 30.0
DEFAULT_RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Upper bound of every delay setting: a day. Longer waits are mistakes.
MAX_DELAY_SECONDS = 24 * 3600.0

# Tests replace these two to control time instead of waiting.
sleep: Callable[[float], None] = time.sleep
wall_clock: Callable[[], float] = time.time


@dataclasses.dataclass(frozen=True)
class RetryEvent:
    """One retry that is about to happen, passed to ``RetryPolicy.on_retry``."""

    operation_id: str
    attempt: int
    """The attempt that just failed, counting from 1."""
    reason: str
    """The failure, for example ``HTTP 503`` or ``connection refused``."""
    delay: float
    """Seconds the client waits before the next attempt."""


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Retry rules: which failures the client retries, how often, and how long it waits.

    Usage::

        Configuration(retry=RetryPolicy(max_attempts=5, backoff_max=20.0))
        Configuration(retry=RetryPolicy.disabled())

    A request is sent again only when doing so cannot repeat an effect on
    the server. A connection that failed before the request was written is
    retried for every operation. Timeouts, resets and the statuses in
    ``retry_statuses`` are retried only for operations that are safe to
    repeat. The spec marks the others (key renewal, login, registration and
    the creating POSTs) with ``x-never-replay``.

    :param max_attempts: Attempts in all, the first included. 1 turns
        retries off. Default 3.
    :param backoff_initial: Seconds before the second attempt; each later
        wait doubles. Default 0.5.
    :param backoff_max: Upper bound of one wait, in seconds. Default 8.
    :param jitter: Fraction of each wait that is random, from 0 (none) to 1
        (a wait anywhere between 0 and the computed delay). Default 1.
    :param retry_after_max: Longest ``Retry-After`` the client honours, in
        seconds. A longer one makes the call fail at once with the response's
        exception instead of sleeping. Default 30.
    :param retry_statuses: HTTP statuses retried for safe operations.
        Default 429, 502, 503 and 504.
    :param on_retry: Called with a ``RetryEvent`` before each wait, in the
        calling thread. Exceptions it raises end the call.
    """

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff_initial: float = DEFAULT_BACKOFF_INITIAL_SECONDS
    backoff_max: float = DEFAULT_BACKOFF_MAX_SECONDS
    jitter: float = 1.0
    retry_after_max: float = DEFAULT_RETRY_AFTER_MAX_SECONDS
    retry_statuses: FrozenSet[int] = DEFAULT_RETRY_STATUSES
    on_retry: Optional[Callable[[RetryEvent], None]] = None

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ApiValueError(f"RetryPolicy.max_attempts must be an int of at least 1, got {self.max_attempts!r}")
        for name in ("backoff_initial", "backoff_max", "retry_after_max"):
            value = getattr(self, name)
            if not _is_non_negative_number(value):
                raise ApiValueError(
                    f"RetryPolicy.{name} must be a number of seconds from 0 to {MAX_DELAY_SECONDS:.0f}, got {value!r}"
                )
        if not _is_non_negative_number(self.jitter) or self.jitter > 1:
            raise ApiValueError(f"RetryPolicy.jitter must be between 0 and 1, got {self.jitter!r}")
        if self.on_retry is not None and not callable(self.on_retry):
            raise ApiValueError(f"RetryPolicy.on_retry must be callable or None, got {type(self.on_retry).__name__}")
        try:
            statuses = frozenset(self.retry_statuses)
        except TypeError:
            raise ApiValueError(
                f"RetryPolicy.retry_statuses must be a set of HTTP statuses, got {self.retry_statuses!r}"
            ) from None
        if not all(_is_http_status(status) for status in statuses):
            raise ApiValueError(
                f"RetryPolicy.retry_statuses must hold ints from 100 to 599, got {sorted(statuses, key=str)!r}"
            )
        object.__setattr__(self, "retry_statuses", statuses)

    @classmethod
    def disabled(cls) -> "RetryPolicy":
        """Return a policy that sends every request once."""
        return cls(max_attempts=1)

    def backoff(self, attempt: int) -> float:
        """Return the seconds to wait after failed attempt number `attempt`."""
        # The exponent is capped so that thousands of attempts cannot overflow.
        delay = min(self.backoff_max, self.backoff_initial * 2.0 ** min(attempt - 1, 64))
        return delay * (1 - self.jitter * random.random())

    def retry_after(self, header: Optional[str]) -> Optional[float]:
        """Return the wait that a ``Retry-After`` header requests, in seconds.

        The header contains seconds or an HTTP date. Returns None when it is
        missing or unreadable, so the caller falls back to the backoff.
        """
        if header is None:
            return None
        value = header.strip()
        # isdigit() alone also accepts digits such as "²" that float() rejects.
        if value.isascii() and value.isdigit():
            return float(value)

        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if moment.tzinfo is None:
            return None
        return max(0.0, moment.timestamp() - wall_clock())


def _is_http_status(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599


def _is_non_negative_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        number = float(value)
    except OverflowError:
        return False
    return math.isfinite(number) and 0 <= number <= MAX_DELAY_SECONDS
