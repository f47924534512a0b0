#!/usr/bin/env python3
"""A PyTorch training loop that survives being killed (Cairn's main job, in Python).

    train_torch.py --steps 200 --checkpoint-every 10 [--crash-at S] [--step-ms M] [--project P]

A small MLP (32 -> 64 -> 1, tanh) learns a fixed function from synthetic
batches with SGD + momentum, on the CPU, nothing downloaded. Everything is
deterministic: the weights start from torch.manual_seed(42), the batch of
step s comes from a generator seeded with s, and one intra-op thread keeps
float sums in one order -- so a run resumed from any checkpoint computes
exactly what an uninterrupted run computes. Every K steps it writes
checkpoint.pt (torch.save of the model, the optimizer, the step and the RNG
states) the way checkpoint writers do (temp file + rename) into run.dir and
saves it with run.save(policy="now"). It starts with resume="auto": after a
crash, the next start in the same CAIRN_DIR resumes the same run, restores
checkpoint.pt with cairn.restore and continues. --crash-at S kills the
process with SIGKILL right after step S. At the end it prints

    final weights sha256 <hex>

(the SHA-256 of the final state_dict: names and raw little-endian bytes, in
order), the same for an uninterrupted run and any sequence of crashes.

Connection settings: CAIRN_BASE_URL, CAIRN_API_KEY (or ~/.netrc), CAIRN_DIR.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import sys
import time

import torch

import cairn

IN, HIDDEN, BATCH = 32, 64, 64


def make_model() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(42)
    model = torch.nn.Sequential(torch.nn.Linear(IN, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    return model, optimizer


def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch of step `step` (1-based), the same in every process."""
    g = torch.Generator().manual_seed(1000003 * step)
    x = torch.rand(BATCH, IN, generator=g) * 2 - 1
    weights = torch.arange(IN, dtype=torch.float32) % 5 + 1
    y = torch.sin(x * weights).sum(dim=1, keepdim=True) / IN
    return x, y


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int) -> float:
    x, y = batch(step)
    optimizer.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
    return float(loss)


def weights_digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().astype("<f4").tobytes())
    return h.hexdigest()


def write_checkpoint(path: str, state: dict) -> None:
    """torch.save to a temp file, then rename: a reader never sees half a file."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--checkpoint-every", type=int, default=10)
    p.add_argument("--crash-at", type=int, default=-1, help="SIGKILL this process right after step S")
    p.add_argument("--step-ms", type=int, default=0, help="sleep this long per step (a slower model)")
    p.add_argument("--project", default="train-torch")
    p.add_argument("--mode", default=None, help="online (default) | offline | disabled")
    args = p.parse_args(argv)
    if args.steps <= 0 or args.checkpoint_every <= 0:
        p.error("--steps and --checkpoint-every must be positive")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)  # one order of float sums: bit-for-bit the same every run
    model, optimizer = make_model()
    step = 0
    with cairn.init(project=args.project, resume="auto", mode=args.mode) as run:
        print(("resumed" if run.resumed else "started") + f" run {run.path}", flush=True)
        # A fresh start finds nothing (None); a resumed run gets its last checkpoint back.
        ckpt = cairn.restore("checkpoint.pt")
        if ckpt is not None:
            with ckpt:
                state = torch.load(ckpt)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["rng"])
            step = state["step"]
            print(f"restored checkpoint at step {step}", flush=True)

        path = os.path.join(run.dir, "checkpoint.pt")
        first_step, loop_start = step, time.monotonic()
        while step < args.steps:
            step += 1
            loss = train_step(model, optimizer, step)
            if step % args.checkpoint_every == 0 or step == args.steps:
                write_checkpoint(path, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                        "step": step, "rng": torch.get_rng_state()})
                run.save("checkpoint.pt", policy="now")
                print(f"step {step} loss {loss:.6f} (checkpoint)", flush=True)
            if args.step_ms > 0:
                time.sleep(args.step_ms / 1000)
            if step == args.crash_at:
                print(f"crashing at step {step} (SIGKILL)", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
        loop_seconds = time.monotonic() - loop_start
    stats = run.upload_stats()
    print(f"train loop {loop_seconds:.3f} s for {step - first_step} steps", flush=True)
    print(f"finished: {stats['committed']} versions committed, {stats['unchanged']} unchanged", flush=True)
    print(f"final weights sha256 {weights_digest(model)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
