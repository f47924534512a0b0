"""The GIL is released while Cairn waits (another Python thread keeps running
during a 256 MiB restore and during run.flush), and Ctrl-C interrupts a long
restore within a second, leaving a resumable partial and no target."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Callable

import cairn
from conftest import MiB, Env, python_child, sha256_file, write_random


class Ticker:
    """A Python thread that counts 1 ms sleeps: each needs the GIL back, so
    while another thread holds it for a long call the count stops (a GIL held
    in 100 ms slices would allow about 10 a second; released, hundreds)."""

    def __init__(self) -> None:
        self.ticks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            time.sleep(0.001)
            self.ticks += 1

    def during(self, call: Callable[[], object]) -> tuple[float, float]:
        """Runs call() with the ticker going; returns (seconds, ticks per second)."""
        self._thread.start()
        time.sleep(0.05)
        start_ticks, start = self.ticks, time.monotonic()
        call()
        seconds, ticks = time.monotonic() - start, self.ticks - start_ticks
        self._stop.set()
        self._thread.join()
        return seconds, ticks / seconds


def test_another_thread_runs_during_a_256_mib_restore(env: Env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    sha = env.save("gil", "big.bin", size=256 * MiB, seed=2)
    # At most 256 MiB/s, so the call lasts at least a second whatever the machine.
    monkeypatch.setenv("CAIRN_MAX_RECV_BYTES_PER_SEC", str(256 * MiB))
    seconds, rate = Ticker().during(lambda: cairn.restore("big.bin", run_path="alice/p/gil").close())  # type: ignore[union-attr]
    assert seconds >= 0.9
    assert rate > 100, f"the other thread ticked {rate:.0f}/s during the restore: the GIL was held"
    assert sha256_file(Path.cwd() / "big.bin") == sha


def test_another_thread_runs_during_run_flush(env: Env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CAIRN_MAX_SEND_BYTES_PER_S", str(32 * MiB))
    with cairn.init(project="p", dir=env.tmp / "d") as run:
        write_random(Path(run.dir) / "ckpt.bin", 48 * MiB, seed=3)
        run.save("ckpt.bin", policy="now")
        seconds, rate = Ticker().during(lambda: run.flush(timeout=120))
        assert seconds >= 0.9
        assert rate > 100, f"the other thread ticked {rate:.0f}/s during flush: the GIL was held"
        assert run.upload_stats()["committed"] == 1


CHILD = """
import sys, time, cairn
print("started", flush=True)
try:
    cairn.restore("big.bin", run_path="alice/p/intr")
except KeyboardInterrupt:
    print("interrupted at", time.monotonic(), flush=True)
    sys.exit(0)
print("finished without interruption", flush=True)
sys.exit(1)
"""


def test_ctrl_c_interrupts_a_long_restore_within_a_second_and_leaves_a_resumable_partial(env: Env) -> None:
    size = 128 * MiB
    sha = env.save("intr", "big.bin", size=size, seed=4)
    work = Path.cwd()
    sidecar = work / ".big.bin.cairn-partial.json"
    child = python_child(
        CHILD,
        {"CAIRN_MAX_RECV_BYTES_PER_SEC": str(16 * MiB), "CAIRN_CACHE_MAX_BYTES": "0"},  # about 8 s in all
        cwd=work,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 30
        while not sidecar.exists() and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)
        time.sleep(0.5)  # well into the transfer
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, f"stdout: {out}\nstderr: {err}"
    interrupted_at = float(out.split("interrupted at")[1])
    assert interrupted_at - sent < 1.0, f"KeyboardInterrupt came {interrupted_at - sent:.2f} s after SIGINT"
    assert not (work / "big.bin").exists(), "an interrupted restore must not leave a target"
    assert sidecar.exists()
    kept = sum(end - begin for begin, end in json.loads(sidecar.read_text())["done"])
    assert 0 < kept < size

    # The next restore continues from the partial and publishes the verified file.
    with cairn.restore("big.bin", run_path="alice/p/intr") as f:  # type: ignore[union-attr]
        assert f.name == str(work / "big.bin")
    assert sha256_file(work / "big.bin") == sha
    assert not sidecar.exists()
