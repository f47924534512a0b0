"""``cairn.restore``: the restore contract (docs/spec/restore.md) from Python."""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Optional, Union

from . import _native

if TYPE_CHECKING:
    from ._run import Run

PathLike = Union[str, "os.PathLike[str]"]


def _open(placed: Optional[tuple[str, str, bool]]) -> Optional[io.BufferedReader]:
    if placed is None:
        return None
    path, _sha256, _downloaded = placed
    reader = open(path, "rb")  # noqa: SIM115 -- handed to the caller, who closes it
    assert isinstance(reader, io.BufferedReader)
    return reader


def _restore(
    name: str,
    run_path: Optional[str],
    replace: bool,
    root: Optional[PathLike],
    version: Optional[int],
    run: Optional["Run"],
) -> Optional[io.BufferedReader]:
    native_run = run._native if run is not None else None
    placed = _native.restore(
        name,
        run_path or "",
        bool(replace),
        os.fspath(root) if root is not None else "",
        version,
        native_run,
    )
    return _open(placed)


def restore(
    name: str,
    run_path: Optional[str] = None,
    replace: bool = False,
    root: Optional[PathLike] = None,
    *,
    version: Optional[int] = None,
) -> Optional[io.BufferedReader]:
    """Brings the file ``name`` of a run back to ``root/name`` and opens it.

    Returns the file open for reading in binary mode, positioned at 0, whose
    ``.name`` is the local path ``root/name`` (``torch.load(f)`` and
    ``torch.load(f.name)`` both work); the caller closes it. Returns ``None``
    when the run exists but has no such file (or version) -- the "no
    checkpoint yet" case.

    - ``run_path``: ``"entity/project/run_id"``, ``"entity/project/runs/run_id"``,
      ``"project/run_id"`` or a web UI URL. Default: the run ``cairn.init``
      started in this process.
    - ``replace``: fetch the store's copy over an existing local file. By
      default an existing local file is returned as it is, with no network.
    - ``root``: the directory to restore into. Default: the current run's
      files directory, else the working directory.
    - ``version``: an earlier version (1-based). Default: the latest.

    The bytes are verified against the store's SHA-256 before they replace
    anything; an interrupted download (Ctrl-C, a kill, a network failure)
    leaves a partial beside the target that the next call continues. Settings
    (``CAIRN_BASE_URL``, ``CAIRN_API_KEY``, ...) come from the environment,
    the config file or ``~/.netrc``, or from the current run.

    Raises ``InvalidArgumentError`` (bad name or run path; nothing is
    written), ``NotFoundError`` (no such run, project or entity),
    ``PermissionDeniedError``, ``UnavailableError``, ``IntegrityError``
    (the stored copy is damaged; the target is untouched) and
    ``KeyboardInterrupt`` within about a second of Ctrl-C. The GIL is
    released while it waits.
    """
    return _restore(name, run_path, replace, root, version, None)


def restore_many(
    pattern: str,
    run_path: Optional[str] = None,
    root: Optional[PathLike] = None,
    *,
    replace: bool = False,
    all_or_nothing: bool = False,
    parallel_files: int = 0,
) -> list[str]:
    """Restores every file of a run whose name matches ``pattern`` (a glob such
    as ``"ckpt/*"``, or a directory prefix such as ``"ckpt"``) and returns
    their local paths, sorted by name. ``all_or_nothing=True`` places none of
    them unless all were fetched and verified. Errors as for :func:`restore`.
    """
    placed = _native.restore_many(
        pattern,
        run_path or "",
        bool(replace),
        os.fspath(root) if root is not None else "",
        int(parallel_files),
        bool(all_or_nothing),
        _native.ClientOptions(),
    )
    return [path for _name, path, _sha256, _downloaded in placed]
