"""Fixtures: the real `cairn server` on a free loopback port, keys, and a
clean environment per test (as tests/testing/server_fixture.cc does in C++).

The binary is $CAIRN_BINARY, else <repo>/build/bin/cairn (CAIRN_BUILD_DIR).
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
MiB = 1 << 20


def cairn_binary() -> Path:
    if os.environ.get("CAIRN_BINARY"):
        return Path(os.environ["CAIRN_BINARY"])
    return Path(os.environ.get("CAIRN_BUILD_DIR") or REPO / "build") / "bin" / "cairn"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `cairn server --data DIR --listen 127.0.0.1:PORT` child process."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.port = 0
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        out = self.data.parent / (self.data.name + ".stdout")
        log = self.data.parent / (self.data.name + ".log")
        for _attempt in range(20):
            port = self.port or free_port()  # a restart keeps its port, so clients keep their URL
            out.unlink(missing_ok=True)
            with open(out, "wb") as o, open(log, "ab") as e:
                self.proc = subprocess.Popen(
                    [str(cairn_binary()), "server", "--data", str(self.data), "--listen", f"127.0.0.1:{port}"],
                    stdout=o,
                    stderr=e,
                )
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                text = out.read_text() if out.exists() else ""
                if re.search(r"cairn server listening on http\S+\n", text):
                    self.port = port
                    return
                if self.proc.poll() is not None:
                    break  # e.g. the port was taken meanwhile: try again
                time.sleep(0.02)
            else:
                self.kill()
                raise RuntimeError(f"cairn server did not start; log:\n{log.read_text()}")
            time.sleep(0.1)
        raise RuntimeError(f"cairn server failed to start; log:\n{log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    @property
    def admin_key(self) -> str:
        return (self.data / "admin.key").read_text().strip()

    def create_key(self, entity: str) -> str:
        r = cli(["--base-url", self.url, "keys", "create", "--entity", entity],
                {"CAIRN_API_KEY": self.admin_key, "HOME": "/nonexistent"})
        return r.stdout.strip()

    def blob_path(self, sha256: str) -> Path:
        return self.data / "blobs" / sha256[:2] / sha256[2:4] / sha256


def cli(args: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([str(cairn_binary()), *args], env={**os.environ, **env}, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"cairn {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r


def write_random(path: Path, size: int, seed: int = 1) -> str:
    """Writes `size` pseudo-random bytes to `path`; returns their SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    block = hashlib.sha256(str(seed).encode()).digest() * (MiB // 32)  # 1 MiB, varied per MiB below
    with open(path, "wb") as f:
        for i in range(0, size, MiB):
            chunk = (i.to_bytes(8, "little") + block)[: min(MiB, size - i)]
            f.write(chunk)
            h.update(chunk)
    return h.hexdigest()


def sha256_file(path: os.PathLike[str] | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MiB), b""):
            h.update(chunk)
    return h.hexdigest()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("server") / "data")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def alice_key(server: Server) -> str:
    return server.create_key("alice")


class Env:
    """The test's environment: settings for `server` as alice, a private HOME
    and cache off, the working directory a fresh temporary directory."""

    def __init__(self, server: Server, key: str, tmp: Path) -> None:
        self.server, self.key, self.tmp = server, key, tmp
        self.src = tmp / "src"

    def vars(self) -> dict[str, str]:
        return {"CAIRN_BASE_URL": self.server.url, "CAIRN_API_KEY": self.key, "HOME": str(self.tmp)}

    def save(self, run: str, name: str, data: bytes | None = None, size: int = 0, seed: int = 1) -> str:
        """Saves `name` to alice/p/<run> through the CLI; returns its SHA-256."""
        path = self.src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is not None:
            path.write_bytes(data)
            sha = hashlib.sha256(data).hexdigest()
        else:
            sha = write_random(path, size, seed)
        cli(["save", str(path), "--run", f"alice/p/{run}", "--base", str(self.src)], self.vars())
        return sha


@pytest.fixture
def env(server: Server, alice_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    e = Env(server, alice_key, tmp_path)
    for var in list(os.environ):
        if var.startswith("CAIRN_") and var not in ("CAIRN_BINARY", "CAIRN_BUILD_DIR"):
            monkeypatch.delenv(var)
    for k, v in e.vars().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("CAIRN_CACHE_MAX_BYTES", "0")  # the downloads are what these tests are about
    monkeypatch.setenv("CAIRN_RETRY_MAX_SECONDS", "2")
    # What the SDK puts in the system's temp directory (a disabled run's scratch
    # files) goes with the test's own directory.
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return e


def python_child(code: str, env: dict[str, str], **kw: object) -> subprocess.Popen[str]:
    """Runs `code` in a child of this interpreter (the same venv)."""
    return subprocess.Popen([sys.executable, "-c", code], env={**os.environ, **env}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)  # type: ignore[call-overload]
