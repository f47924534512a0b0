"""Cairn's exceptions: one per status code of the C++ SDK (cairn/status.h).

Each derives from :class:`cairn.Error` *and* the builtin exception that
ordinary Python code already catches, so ``except ValueError`` or
``except PermissionError`` work as they would for any library. The message
is the SDK's: it names the input and says what to do.
"""

from __future__ import annotations


class Error(Exception):
    """Base class of every Cairn error. ``code`` is the SDK's status code name
    (``"not_found"``, ``"data_loss"``...)."""

    code: str = "unknown"


class InvalidArgumentError(Error, ValueError):
    """An invalid file name, run path, id or option: change the input."""

    code = "invalid_argument"


class NotFoundError(Error, LookupError):
    """The run, project or entity does not exist. (A run that exists but lacks
    the file is not an error: ``restore`` returns ``None``.)"""

    code = "not_found"


class AlreadyExistsError(Error):
    """E.g. ``init(id=..., resume="never")`` for a run that exists."""

    code = "already_exists"


class PermissionDeniedError(Error, PermissionError):
    """A missing or unknown API key, or a key that may not touch that entity."""

    code = "permission_denied"


class UnavailableError(Error, ConnectionError):
    """The server cannot be reached (or answers 5xx): retrying may help."""

    code = "unavailable"


class IntegrityError(Error):
    """Bytes do not match their SHA-256 or size: the stored copy is damaged.
    The local target was left as it was."""

    code = "data_loss"


class DeadlineExceededError(Error, TimeoutError):
    """A timeout fired (e.g. ``run.flush(timeout=...)``)."""

    code = "deadline_exceeded"


class FailedPreconditionError(Error):
    """The state is wrong for the call: offline and the file is not local, a
    directory in the way, a finished run."""

    code = "failed_precondition"


class ResourceExhaustedError(Error, OSError):
    """A full disk, a quota, a body too large."""

    code = "resource_exhausted"


class CancelledError(Error):
    """The transfer was cancelled; its bytes are kept for the next attempt."""

    code = "cancelled"


_BY_CODE: dict[str, type[Error]] = {
    "invalid_argument": InvalidArgumentError,
    "not_found": NotFoundError,
    "already_exists": AlreadyExistsError,
    "unauthenticated": PermissionDeniedError,
    "permission_denied": PermissionDeniedError,
    "unavailable": UnavailableError,
    "data_loss": IntegrityError,
    "deadline_exceeded": DeadlineExceededError,
    "failed_precondition": FailedPreconditionError,
    "resource_exhausted": ResourceExhaustedError,
    "cancelled": CancelledError,
}


def _from_status(code: str, message: str) -> Error:
    """The exception for an SDK status (called by the native module)."""
    error = _BY_CODE.get(code, Error)(message)
    error.code = code
    return error
