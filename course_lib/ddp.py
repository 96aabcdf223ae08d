"""Chapter 9 — data parallelism: one copy of the model per process, the gradients averaged.

``torch.nn.parallel.DistributedDataParallel`` (DDP) runs the same model in ``world_size``
processes. Every process reads a different share of the batch; during ``backward`` DDP
all-reduces the gradients (sums them and divides by ``world_size``), so every copy takes the
same optimizer step and the copies never drift apart. With equal shares, the mean of the
shares' mean-loss gradients is the gradient of the whole batch's mean loss: two processes
on a batch of 16 train the same model as one process on all 16, up to float rounding.

Conventions:

* ``global_batch`` windows per optimizer step, all ranks together; rank ``r`` of
  ``world_size`` trains on the contiguous rows ``[r * B / world_size, (r + 1) * B / world_size)``
  of a batch that every rank draws identically from a generator seeded with ``seed``.
* ``world_size == 1`` means one process and no process group (:func:`train_single_process`).
* backend ``nccl`` with one GPU per process (``cuda:LOCAL_RANK``) when there are enough
  GPUs, else ``gloo`` on the CPU.
* the optimizer, schedule, clipping and batch generator are :class:`Trainer`'s, so a
  DDP run and a one-process run differ only in who computes which rows.

Run it with ``torchrun`` (``python -m torch.distributed.run``)::

    python -m torch.distributed.run --standalone --nproc_per_node=2 -m course_lib.ddp \\
        --steps 20 --global-batch 16 --seed 0 --out runs/ddp

Each rank writes ``rank{r}.pt`` (its final weights); rank 0 also writes ``losses.json``.
:func:`launch` does that from Python and reads the files back.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .gpt import GPT, GPTConfig
from .grammar import Grammar
from .training_torch import TextData, Trainer, TrainingSettings, accumulate_gradients, seed_everything

NUM_TOKENS = 20_000  # the training text: about 2,700 sentences of the toy grammar
SETTINGS = TrainingSettings()  # Trainer's defaults: AdamW, warm-up schedule, clipping at 1.0


def model_config() -> GPTConfig:
    """A GPT small enough that two processes train it on two CPU cores in seconds."""
    return GPTConfig(vocab_size=len(Grammar()), block_size=32, d_model=32, num_heads=2, num_layers=2)


def rank_rows(global_batch: int, rank: int, world_size: int) -> slice:
    """The rows of the global batch that ``rank`` trains on: a contiguous ``B / world_size``."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in a world of {world_size} processes")
    if global_batch % world_size:
        raise ValueError(
            f"global batch {global_batch} is not divisible by {world_size} processes: every rank "
            "must get the same number of rows, or the averaged gradients are not the batch's gradient"
        )
    share = global_batch // world_size
    return slice(rank * share, (rank + 1) * share)


def rank_device(local_rank: int = 0, local_world_size: int = 1, preferred: str | None = None) -> torch.device:
    """``cuda:local_rank`` if ``preferred == "cuda"`` or, by default, if every process on this
    machine can have a GPU of its own; else the CPU. (Two NCCL ranks cannot share a GPU.)"""
    kind = preferred or ("cuda" if torch.cuda.device_count() >= local_world_size else "cpu")
    return torch.device(f"cuda:{local_rank}" if kind == "cuda" else kind)


def global_mean(value: float, world_size: int, device) -> float:
    """The mean of every rank's ``value``; with one process, ``value`` itself."""
    if world_size == 1:
        return value
    total = torch.tensor(value, dtype=torch.float64, device=device)
    dist.all_reduce(total, op=dist.ReduceOp.SUM)  # every rank gets the sum
    return total.item() / world_size


def train(steps: int, global_batch: int, seed: int, rank: int = 0, world_size: int = 1, device=None):
    """Train :func:`model_config`'s GPT for ``steps`` steps; returns ``(losses, state_dict)``.

    ``losses``: one float per step, the mean loss over the whole global batch (all ranks).
    ``state_dict``: the final weights of the unwrapped model, on the CPU. With
    ``world_size > 1`` the process group must be initialised (:func:`main` does it).
    """
    rows = rank_rows(global_batch, rank, world_size)  # checked first: a bad batch fails before any work
    if world_size > 1 and not dist.is_initialized():
        raise RuntimeError(f"world_size = {world_size} needs torch.distributed.init_process_group first")
    device = torch.device(device) if device is not None else rank_device()
    seed_everything(seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    model = GPT(model_config())
    data = TextData.from_grammar(Grammar(), NUM_TOKENS, model.config.block_size, seed)
    # Trainer builds AdamW (weight decay on matrices only), the warm-up / inverse-sqrt
    # schedule and the batch generator (seeded with `seed`) exactly as a one-process run does.
    trainer = Trainer(model, data, replace(SETTINGS, steps=steps, batch_size=global_batch, seed=seed), device=device)
    forward = trainer.model
    if world_size > 1:
        # Wrapping registers hooks that all-reduce each gradient bucket as soon as backward
        # has produced it, overlapping communication with the rest of backward.
        forward = DistributedDataParallel(trainer.model, device_ids=[device.index] if device.type == "cuda" else None)
    losses = []
    for _ in range(steps):
        x, y = data.batch(global_batch, trainer.generator)  # (B, T) each: the same on every rank
        x, y = x[rows].to(device), y[rows].to(device)  # (B / world_size, T): this rank's share
        trainer.optimizer.zero_grad(set_to_none=True)
        loss = accumulate_gradients(forward, x, y, 1, autocast=trainer.autocast)  # DDP averages grads here
        # Every rank now holds the same averaged gradients, so each computes the same norm.
        torch.nn.utils.clip_grad_norm_(trainer.model.parameters(), SETTINGS.clip_norm)
        trainer.optimizer.step()
        trainer.schedule.step()
        losses.append(global_mean(loss, world_size, device))  # this rank's loss covers only its rows
    state = {name: tensor.detach().cpu() for name, tensor in trainer.model.state_dict().items()}
    return losses, state


def train_single_process(steps: int, global_batch: int, seed: int, device=None):
    """The reference: the same training in this process, on the whole global batch, no DDP."""
    return train(steps, global_batch, seed, rank=0, world_size=1, device=device)


def main(argv=None) -> None:
    """One rank of a torchrun job: ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` come from torchrun."""
    parser = argparse.ArgumentParser(description="Train a small GPT with DistributedDataParallel (run it with torchrun).")
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps")
    parser.add_argument("--global-batch", type=int, default=16, help="windows per step, all ranks together")
    parser.add_argument("--seed", type=int, default=0, help="weights, text and batches")
    parser.add_argument("--out", type=Path, required=True, help="folder for rank{r}.pt and losses.json")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None,
                        help="default: one GPU per process if there are enough, else the CPU")
    args = parser.parse_args(argv)
    rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    local_rank, local_world_size = int(os.environ.get("LOCAL_RANK", 0)), int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    rank_rows(args.global_batch, rank, world_size)  # fail on a bad batch before the processes meet
    device = rank_device(local_rank, local_world_size, args.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)  # NCCL uses the current device
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    try:
        losses, state = train(args.steps, args.global_batch, args.seed, rank, world_size, device)
        args.out.mkdir(parents=True, exist_ok=True)
        torch.save(state, args.out / f"rank{rank}.pt")
        if rank == 0:
            (args.out / "losses.json").write_text(json.dumps(losses))
    finally:
        dist.destroy_process_group()


def launch(out_dir, nproc: int = 2, steps: int = 20, global_batch: int = 16, seed: int = 0,
           timeout: float = 300, device: str | None = None) -> dict:
    """Run :func:`main` under torchrun with ``nproc`` processes; returns what they wrote.

    ``{"losses": [float per step], "weights": [state_dict of rank 0, rank 1, ...]}``.
    Raises RuntimeError with the job's output if it fails.
    """
    out_dir = Path(out_dir)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "course_lib.ddp", "--steps", str(steps), "--global-batch", str(global_batch),
               "--seed", str(seed), "--out", str(out_dir)] + (["--device", device] if device else [])
    # One thread per process: two processes with a thread per core each would oversubscribe.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"torchrun failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return {
        "losses": json.loads((out_dir / "losses.json").read_text()),
        "weights": [torch.load(out_dir / f"rank{r}.pt", map_location="cpu", weights_only=True) for r in range(nproc)],
    }


if __name__ == "__main__":
    main()
