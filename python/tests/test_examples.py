"""The training programs users copy: killed with SIGKILL twice and started
again in the same directory, each ends with the digest of an uninterrupted run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import cairn
from conftest import REPO, Env, cairn_binary

TRAIN_TORCH = REPO / "examples" / "python" / "train_torch.py"
TRAIN_LIBTORCH = cairn_binary().parent / "train_libtorch"
LIBTORCH_INSTALLED = Path("/usr/lib/x86_64-linux-gnu/cmake/Torch/TorchConfig.cmake").exists()


def train(cmd: list[str], env: Env, workdir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [*cmd, "--steps", "40", "--checkpoint-every", "5", "--step-ms", "30", "--project", "examples", *extra],
        env={**os.environ, **env.vars(), "CAIRN_DIR": str(workdir)},
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )


def digest(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    m = re.search(r"^final weights sha256 ([0-9a-f]{64})$", result.stdout, re.M)
    assert m, result.stdout
    return m.group(1)


def crash_twice_then_finish(cmd: list[str], env: Env, name: str) -> None:
    clean = digest(train(cmd, env, env.tmp / f"{name}-clean"))
    crashy = env.tmp / f"{name}-crashy"
    first = train(cmd, env, crashy, "--crash-at", "12")
    assert first.returncode == -9, first.stdout + first.stderr
    assert "started run" in first.stdout
    second = train(cmd, env, crashy, "--crash-at", "27")
    assert second.returncode == -9, second.stdout + second.stderr
    assert "resumed run" in second.stdout and "restored checkpoint at step" in second.stdout
    last = train(cmd, env, crashy)
    assert "resumed run" in last.stdout and "restored checkpoint at step" in last.stdout
    assert digest(last) == clean
    restored = re.findall(r"restored checkpoint at step (\d+)", second.stdout + last.stdout)
    assert all(int(s) > 0 for s in restored)


def test_train_torch_resumes_after_two_sigkills_to_the_same_digest(env: Env) -> None:
    crash_twice_then_finish([sys.executable, str(TRAIN_TORCH)], env, "torch")


def test_train_torch_checkpoint_loads_with_torch_load_from_its_run_path(env: Env) -> None:
    import torch

    out = train([sys.executable, str(TRAIN_TORCH)], env, env.tmp / "w")
    digest(out)
    run_path = re.search(r"started run (\S+)", out.stdout).group(1)  # type: ignore[union-attr]
    f = cairn.restore("checkpoint.pt", run_path=run_path, root=env.tmp / "inspect")
    assert f is not None
    with f:
        assert torch.load(f)["step"] == 40
    assert torch.load(f.name)["step"] == 40


@pytest.mark.skipif(not LIBTORCH_INSTALLED, reason="libtorch-dev is not installed")
def test_train_libtorch_resumes_after_two_sigkills_to_the_same_digest(env: Env) -> None:
    assert TRAIN_LIBTORCH.exists(), f"{TRAIN_LIBTORCH} was not built although LibTorch is installed"
    crash_twice_then_finish([str(TRAIN_LIBTORCH)], env, "libtorch")
