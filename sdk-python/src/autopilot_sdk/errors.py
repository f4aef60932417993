"""`WorkerError`: how a handler fails, and the gRPC status code each failure becomes."""

from __future__ import annotations

import enum
from datetime import timedelta

import grpc


class ErrorKind(enum.Enum):
    """What kind of failure a `WorkerError` is; decides the gRPC code the scheduler sees."""

    RETRYABLE = "retryable"
    """Transient: the scheduler retries the phase with backoff (UNAVAILABLE)."""
    PERMANENT = "permanent"
    """The resource cannot make progress as it is (FAILED_PRECONDITION); shown as a condition."""
    INVALID = "invalid"
    """The request is unusable, for example a spec the handler cannot read (INVALID_ARGUMENT)."""


_CODES = {
    ErrorKind.RETRYABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorKind.PERMANENT: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorKind.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
}


class WorkerError(Exception):
    """A failed phase. Raise it from a handler; the SDK answers the call with its gRPC code.

    >>> err = WorkerError.retryable("canary not ready").with_retry_after(timedelta(seconds=5))
    >>> err.code.name, err.retry_after
    ('UNAVAILABLE', datetime.timedelta(seconds=5))
    >>> WorkerError.permanent("spec.target names no Deployment").is_retryable
    False
    """

    def __init__(self, kind: ErrorKind, message: str, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after

    @classmethod
    def retryable(cls, message: str) -> WorkerError:
        """A transient failure: the scheduler retries the phase with backoff (UNAVAILABLE)."""
        return cls(ErrorKind.RETRYABLE, message)

    @classmethod
    def permanent(cls, message: str) -> WorkerError:
        """A failure retrying will not fix (FAILED_PRECONDITION)."""
        return cls(ErrorKind.PERMANENT, message)

    @classmethod
    def invalid(cls, message: str) -> WorkerError:
        """The request is unusable, for example a spec that does not match (INVALID_ARGUMENT)."""
        return cls(ErrorKind.INVALID, message)

    def with_retry_after(self, delay: timedelta) -> WorkerError:
        """Asks the scheduler to wait at least `delay` before the next try (retryable only)."""
        self.retry_after = delay
        return self

    @property
    def code(self) -> grpc.StatusCode:
        """The gRPC status code this error is answered with."""
        return _CODES[self.kind]

    @property
    def is_retryable(self) -> bool:
        """True when the scheduler retries the phase soon."""
        return self.kind is ErrorKind.RETRYABLE

    def __repr__(self) -> str:
        return f"WorkerError.{self.kind.value}({self.message!r})"
