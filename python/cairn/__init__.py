"""Cairn from Python: keep the files of machine-learning runs and get them back.

    import cairn

    f = cairn.restore("ckpt.pt", run_path="alice/mnist/1a2b3c4d")  # open binary file, or None
    with cairn.init(project="mnist", resume="auto") as run:
        ...
        run.save("ckpt.pt")

This package is libcairn (the C++ SDK) with a pybind11 skin: the same
verified, resumable, crash-safe transfers, with the GIL released while they
wait. The restore contract is docs/spec/restore.md.
"""

from __future__ import annotations

from . import _native
from ._api import Api, ApiRun, File
from ._errors import (
    AlreadyExistsError,
    CancelledError,
    DeadlineExceededError,
    Error,
    FailedPreconditionError,
    IntegrityError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnavailableError,
)
from ._restore import restore, restore_many
from ._run import Run, init

__version__: str = _native.version()
"""The version of the loaded libcairn (the CMake project's VERSION)."""

__all__ = [
    "AlreadyExistsError",
    "Api",
    "ApiRun",
    "CancelledError",
    "DeadlineExceededError",
    "Error",
    "FailedPreconditionError",
    "File",
    "IntegrityError",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "Run",
    "UnavailableError",
    "__version__",
    "init",
    "restore",
    "restore_many",
]
