"""Retries, rate limits and the errors destinations raise to steer them.

- `TransientError`: worth retrying (429, 5xx, timeouts, dropped connections). Retried with
  exponential backoff and full jitter (tenacity); a `retry_after` from the server (HTTP Retry-After)
  is honoured as the minimum wait, up to the destination's `max_retry_after_seconds`: a server that
  asks for longer is not waited for (a sync holds the warehouse while it waits). Past that cap, or after
  `max_attempts`, the sync stops with `DestinationUnavailable`; its unsent batches stay in the outbox
  and the next run resumes them.
- `BatchRejected`: the destination refused the whole batch (HTTP 400/413/422, a PostgreSQL data
  error). The engine splits the batch in halves until the bad rows are isolated; a single row that is
  still rejected fails with the destination's reason and is retried on the next run.
- `DestinationError`: not retryable and not about rows (bad credentials, missing endpoint): stop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import ClassVar, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from reverse_etl.config import DestinationDefinition

T = TypeVar("T")


class TransientError(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BatchRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DestinationError(RuntimeError):
    """The destination cannot be used as configured; the message says what to fix."""


class DestinationUnavailable(RuntimeError):
    """Retries are exhausted; the sync stops and resumes next run."""


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from an HTTP Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _asked_wait(state: RetryCallState) -> float | None:
    error = state.outcome.exception() if state.outcome else None
    return getattr(error, "retry_after", None)


class _StopWhenAskedToWaitTooLong(stop_base):
    """Stop at once when the server asks to wait longer than the destination's cap."""

    def __init__(self, cap: float) -> None:
        self.cap = cap

    def __call__(self, state: RetryCallState) -> bool:
        asked = _asked_wait(state)
        return asked is not None and asked > self.cap


class _BackoffHonouringRetryAfter:
    def __init__(self, destination: DestinationDefinition) -> None:
        self._jitter = wait_random_exponential(multiplier=destination.backoff_seconds,
                                               max=destination.max_backoff_seconds)

    def __call__(self, state: RetryCallState) -> float:
        jittered = self._jitter(state)
        retry_after = _asked_wait(state)
        return max(retry_after, jittered) if retry_after is not None else jittered


def call_with_retries(destination: DestinationDefinition, call: Callable[[], T], what: str,
                      on_retry: Callable[[str], None] | None = None) -> T:
    def before_sleep(state: RetryCallState) -> None:
        if on_retry and state.outcome is not None and state.next_action is not None:
            on_retry(f"{what}: attempt {state.attempt_number} failed ({state.outcome.exception()}); "
                     f"retrying in {state.next_action.sleep:.2f}s")

    retrying = Retrying(stop=stop_after_attempt(destination.max_attempts)
                        | _StopWhenAskedToWaitTooLong(destination.max_retry_after_seconds),
                        wait=_BackoffHonouringRetryAfter(destination),
                        retry=retry_if_exception_type(TransientError), before_sleep=before_sleep, reraise=True)
    try:
        return retrying(call)
    except TransientError as exc:
        if exc.retry_after is not None and exc.retry_after > destination.max_retry_after_seconds:
            raise DestinationUnavailable(
                f"{what}: {destination.name} asked to wait {exc.retry_after:,.0f}s ({exc}), more than its "
                f"max_retry_after_seconds of {destination.max_retry_after_seconds:g}s; not waiting: the batch stays "
                "in the outbox and the next run resumes it") from exc
        raise DestinationUnavailable(
            f"{what}: {destination.name} still failing after {destination.max_attempts} attempts: {exc}") from exc


class RateLimiter:
    """At most `per_second` calls per second per destination (shared by every sync in the process)."""

    _registry: ClassVar[dict[str, RateLimiter]] = {}
    _registry_lock = threading.Lock()

    def __init__(self, per_second: float | None) -> None:
        self.interval = 0.0 if not per_second else 1.0 / per_second
        self._next = 0.0
        self._lock = threading.Lock()

    @classmethod
    def for_destination(cls, destination: DestinationDefinition) -> RateLimiter:
        with cls._registry_lock:
            limiter = cls._registry.get(destination.name)
            if limiter is None or limiter.interval != (1.0 / destination.requests_per_second
                                                        if destination.requests_per_second else 0.0):
                limiter = cls._registry[destination.name] = cls(destination.requests_per_second)
            return limiter

    def acquire(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(now, self._next) + self.interval
        if wait > 0:
            time.sleep(wait)
