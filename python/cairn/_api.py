"""``cairn.Api``: the stored runs and files, without starting a run."""

from __future__ import annotations

import io
import json
import os
from typing import Iterator, Optional

from . import _native
from ._restore import PathLike, _open, restore_many


class File:
    """One version of a stored file: ``name``, ``size``, ``sha256``,
    ``version`` (1-based) and ``updated_at`` (RFC 3339 UTC)."""

    def __init__(self, run: "ApiRun", info: dict) -> None:
        self._run = run
        self.name: str = info["name"]
        self.size: int = info["size"]
        self.sha256: str = info["sha256"]
        self.version: int = info["version"]
        self.updated_at: str = info["updated_at"]

    def versions(self) -> list["File"]:
        """Every version of this file, oldest first."""
        return self._run._versions(self.name)

    def download(
        self, root: PathLike = ".", replace: bool = False, version: Optional[int] = None, *, exist_ok: bool = False
    ) -> io.BufferedReader:
        """Downloads this file (or ``version`` of it) to ``root/name`` with the
        verified, resumable engine of :func:`cairn.restore` and returns it open
        for reading in binary mode. When ``root/name`` exists already: with
        ``replace`` the store's copy goes over it, with ``exist_ok`` it is
        returned as it is, else ``AlreadyExistsError``."""
        stored = self._run._handle.file(self.name, self.version if version is None else version)
        placed = stored.download(os.fspath(root), bool(replace), bool(exist_ok))
        reader = _open(placed)
        assert reader is not None
        return reader

    def __repr__(self) -> str:
        return f"<cairn.File {self.name} v{self.version} {self.size} bytes>"


class ApiRun:
    """A run in the store: ``entity``, ``project``, ``id``, ``path``,
    ``created_at``, ``updated_at``, ``state`` (``"running"``, ``"finished"``
    or ``"crashed"``) and ``config`` (a dict, as given to ``cairn.init``)."""

    def __init__(self, api: _native.Api, info: dict, native: Optional[_native.StoredRun] = None) -> None:
        self._api = api
        self._stored = native
        self.entity: str = info["entity"]
        self.project: str = info["project"]
        self.id: str = info["id"]
        self.created_at: str = info["created_at"]
        self.updated_at: str = info["updated_at"]
        self.state: str = info["state"]
        self.config: dict = json.loads(info["config"] or "{}")

    @property
    def path(self) -> str:
        return f"{self.entity}/{self.project}/{self.id}"

    @property
    def _handle(self) -> _native.StoredRun:
        # Runs listed by Api.runs() are looked up only when their files are asked for.
        if self._stored is None:
            self._stored = self._api.run(self.path)
        return self._stored

    def files(self, prefix: Optional[str] = None) -> Iterator[File]:
        """Every file's latest version, by name, over every page of the
        listing; only names starting with ``prefix`` when given."""
        for info in self._handle.files():
            if prefix is None or info["name"].startswith(prefix):
                yield File(self, info)

    def file(self, name: str) -> File:
        """The latest version of ``name``; ``NotFoundError`` when the run lacks it."""
        return File(self, self._handle.file(name, None).info)

    def _versions(self, name: str) -> list[File]:
        return [File(self, info) for info in self._handle.versions(name)]

    def __repr__(self) -> str:
        return f"<cairn.ApiRun {self.path}>"


class Api:
    """Reads stored runs and files. Settings as for :func:`cairn.init`:
    arguments > ``CAIRN_*`` environment > config file / ``~/.netrc``."""

    def __init__(
        self, *, base_url: Optional[str] = None, api_key: Optional[str] = None, entity: Optional[str] = None
    ) -> None:
        self._client = _native.ClientOptions(base_url=base_url or "", api_key=api_key or "", entity=entity or "")
        self._native = _native.Api(self._client)

    def run(self, path: str) -> ApiRun:
        """The run at ``path`` (any run path form); ``NotFoundError`` when it does not exist."""
        stored = self._native.run(path)
        return ApiRun(self._native, stored.info, stored)

    def runs(self, path: str) -> list[ApiRun]:
        """Every run of ``"entity/project"`` (or ``"project"``), oldest first."""
        return [ApiRun(self._native, info) for info in self._native.runs(path)]

    def restore_many(
        self, glob: str, run_path: str, root: Optional[PathLike] = None, *, replace: bool = False
    ) -> list[str]:
        """:func:`cairn.restore_many` with this Api's settings."""
        placed = _native.restore_many(
            glob, run_path, bool(replace), os.fspath(root) if root is not None else "", 0, False, self._client
        )
        return [path for _name, path, _sha256, _downloaded in placed]


__all__ = ["Api", "ApiRun", "File", "restore_many"]
