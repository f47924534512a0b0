"""``cairn.init`` and the ``Run`` it returns."""

from __future__ import annotations

import io
import json
import os
from types import TracebackType
from typing import Any, Literal, Mapping, Optional

from . import _native
from ._errors import Error, InvalidArgumentError
from ._restore import PathLike, _restore

Policy = Literal["live", "now", "end"]


class Run:
    """A run started (or resumed) by :func:`cairn.init`.

    A context manager: ``with cairn.init(...) as run:`` finishes the run when
    the block ends. When the block raises, the run is finished as *failed*:
    everything saved is still uploaded, but the resume file is kept, so
    ``init(resume="auto")`` in the same directory continues the run.
    Thread-safe.
    """

    def __init__(self, native: _native.Run) -> None:
        self._native = native

    @property
    def id(self) -> str:
        """The run id (8 characters of [a-z0-9] unless given)."""
        return self._native.id

    @property
    def entity(self) -> str:
        return self._native.entity

    @property
    def project(self) -> str:
        return self._native.project

    @property
    def path(self) -> str:
        """``"entity/project/id"``: what ``restore(run_path=...)`` takes."""
        return self._native.path

    @property
    def dir(self) -> str:
        """The run's local files directory (fresh for every init)."""
        return self._native.dir

    @property
    def resumed(self) -> bool:
        """True when init resumed an existing run rather than creating one."""
        return self._native.resumed

    def save(self, glob_str: str, base_path: Optional[PathLike] = None, policy: Policy = "live") -> list[str]:
        """Saves the files matching ``glob_str`` to the run; returns their names.

        ``policy``: ``"live"`` (default) uploads now and again whenever a file
        changes, and at finish; ``"now"`` uploads now; ``"end"`` uploads the
        content as it is at finish. Names are paths relative to ``base_path``
        (default: the run's files directory when the glob names files under
        it, else the working directory). Does not wait for the network: the
        background uploader (which never needs the GIL) sends the bytes while
        the program goes on. ``InvalidArgumentError`` when nothing matches.
        """
        base = os.fspath(base_path) if base_path is not None else ""
        return self._native.save(glob_str, base, policy, False)

    def restore(
        self,
        name: str,
        run_path: Optional[str] = None,
        replace: bool = False,
        root: Optional[PathLike] = None,
        *,
        version: Optional[int] = None,
    ) -> Optional[io.BufferedReader]:
        """:func:`cairn.restore` with this run as the default ``run_path`` and its
        files directory as the default ``root``."""
        return _restore(name, run_path, replace, root, version, self)

    def flush(self, timeout: Optional[float] = None) -> None:
        """Waits until every upload queued so far has committed, at most
        ``timeout`` seconds (default 10 minutes). Raises when some did not
        (``DeadlineExceededError`` when time ran out); uploads go on. The GIL
        is released and Ctrl-C interrupts the wait."""
        self._native.flush(timeout)

    def finish(self, *, failed: bool = False, timeout: Optional[float] = None) -> None:
        """Uploads what is pending, waits for it (at most ``timeout`` seconds,
        default 10 minutes) and closes the run. Unless ``failed``, the resume
        file is deleted. Raises naming the files that could not be uploaded
        (they stay local and the run stays resumable). Idempotent."""
        try:
            self._native.flush(timeout)  # interruptible; finish() then has little left to wait for
        except Error:
            pass  # finish() reports every file that could not be uploaded
        self._native.finish(failed, timeout)

    def last_saved(self, name: str) -> Optional[dict]:
        """What this run last committed for ``name`` (name, size, sha256, version)."""
        return self._native.last_saved(name)

    def upload_stats(self) -> dict:
        """The background uploader's counters (queued, committed, unchanged, failed...)."""
        return self._native.upload_stats()

    def __enter__(self) -> "Run":
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if exc_type is None:
            self.finish()
            return
        try:
            self.finish(failed=True)
        except Exception:  # noqa: BLE001 -- the block's exception is the one to see
            pass

    def __repr__(self) -> str:
        return f"<cairn.Run {self.path} dir={self.dir!r}>"


def init(
    project: Optional[str] = None,
    entity: Optional[str] = None,
    id: Optional[str] = None,  # noqa: A002 -- the reference's name
    resume: Optional[str] = None,
    dir: Optional[PathLike] = None,  # noqa: A002
    mode: Optional[str] = None,
    config: Optional[Mapping[str, Any]] = None,
    *,
    base_url: Optional[str] = None,
    api_key: Optional[str] = None,
) -> Run:
    """Starts or resumes a run and makes it the process's current run.

    ``resume``: ``"never"`` (default: the id must be new), ``"allow"``
    (resume when it exists), ``"must"`` (it must exist) or ``"auto"`` (resume
    the run that an unfinished process left in ``<dir>/cairn/resume.json``).
    ``mode``: ``"online"`` (default), ``"offline"`` or ``"disabled"`` (every
    call a cheap no-op). ``config``: a JSON-serializable mapping stored with
    the run (merged key by key into the stored one on resume; at most 64 KiB
    as JSON), shown by ``cairn runs --json`` and filterable through the W&B
    endpoint. Each argument wins over its ``CAIRN_*`` variable,
    which wins over the config file / ``~/.netrc``.

    Raises ``InvalidArgumentError``, ``AlreadyExistsError`` (resume "never"
    and the id exists), ``NotFoundError`` (resume "must" and it does not),
    ``PermissionDeniedError``, ``UnavailableError``.
    """
    client = _native.ClientOptions(
        base_url=base_url or "",
        api_key=api_key or "",
        entity=entity or "",
        project=project or "",
        dir=os.fspath(dir) if dir is not None else "",
        mode=mode or "",
    )
    if config is not None and not isinstance(config, Mapping):
        raise InvalidArgumentError(f"config must be a mapping (a dict), not {type(config).__name__}")
    try:
        config_json = json.dumps(dict(config), allow_nan=False) if config is not None else ""
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"config must be JSON-serializable: {e}") from e
    return Run(_native.init(id or "", resume or "", client, config_json))
