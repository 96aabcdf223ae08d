"""Chapter 9 on a GPU: tokens/s and MFU of the chapter's GPT code in bf16 with fused attention.

Run on a machine with a CUDA GPU (the course's CI has none)::

    PYTHONPATH=. python benchmarks/gpu.py benchmarks/RESULTS_GPU.md

It trains ``course_lib.gpt.GPT`` through ``course_lib.training_torch.Trainer`` (the code the
chapter runs on a CPU) at a few sizes, with ``torch.compile``, bf16 autocast and
``F.scaled_dot_product_attention``, and writes a Markdown table. MFU counts the model's
FLOPs (``GPT.flops_per_token``: 6N + 12·layers·d·L) against the datasheet's dense bf16 peak.
Each table row is written as soon as it is measured, so a run cut short keeps what it has.
"""
from __future__ import annotations

import datetime
import statistics
import sys
import time
import traceback
from pathlib import Path

import torch

from course_lib.gpt import GPT, GPTConfig, generate
from course_lib.grammar import Grammar
from course_lib.training_torch import (
    TextData,
    Trainer,
    TrainingSettings,
    measured_matmul_flops,
    peak_flops,
    perfect_model_loss,
)
from course_lib.training_torch import _synchronize

# (d_model, heads, layers, block, batch): GPT-2-like shapes, head size 64.
SIZES = [(512, 8, 8, 1024, 32), (768, 12, 12, 1024, 32), (1024, 16, 24, 1024, 16)]
ABLATION = (768, 12, 12, 1024, 32)


class Report:
    def __init__(self, path: Path):
        self.path, self.lines = path, []

    def add(self, *lines: str) -> None:
        self.lines += lines
        self.path.write_text("\n".join(self.lines) + "\n")
        print(*lines, sep="\n", flush=True)


def throughput(grammar, data, size, compile: bool, fused: bool = True, bf16: bool = True,
               warmup: int = 4, steps: int = 15, device: str = "cuda") -> dict:
    d_model, heads, layers, block, batch = size
    torch.manual_seed(0)
    model = GPT(GPTConfig(len(grammar), block_size=block, d_model=d_model, num_heads=heads, num_layers=layers,
                          fused=fused))
    trainer = Trainer(model, data, TrainingSettings(steps=warmup + steps, batch_size=batch, warmup_steps=100,
                                                    compile=compile, eval_every=10**9), device=device)
    if not bf16:
        trainer.autocast = None
    start = time.perf_counter()
    trainer.train(warmup, progress=False)  # compiles, fills the caches
    warmup_seconds = time.perf_counter() - start
    trainer.history.seconds, trainer.history.tokens = 0.0, 0
    trainer.train(steps, progress=False)
    report = trainer.report(peak=peak_flops(device))
    report.update(params=model.num_parameters(), warmup_seconds=warmup_seconds,
                  step_ms=1000 * trainer.history.seconds / steps, loss=trainer.history.loss[-1],
                  memory_gb=torch.cuda.max_memory_allocated() / 1e9 if device == "cuda" else float("nan"))
    del trainer, model
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    return report


def main(path: str = "benchmarks/RESULTS_GPU.md", device: str = "cuda", sizes=SIZES, ablation=ABLATION,
         matmul_size: int = 8192, small_steps: int = 600) -> None:
    """Measure and write the report; ``device="cpu"`` and tiny sizes make a smoke run."""
    report = Report(Path(path))
    name = torch.cuda.get_device_name() if device == "cuda" else device
    torch.backends.cuda.matmul.allow_tf32 = True  # fp32 matmuls (the ablation row) use tensor cores
    matmul = measured_matmul_flops(device, size=matmul_size, repeats=10,
                                   dtype=torch.bfloat16 if device == "cuda" else torch.float32)
    peak = peak_flops(device) or float("nan")
    report.add(
        "# Chapter 9 on a GPU",
        "",
        "Written by `benchmarks/gpu.py` on a lent GPU machine; do not edit by hand.",
        "",
        f"- date: {datetime.date.today().isoformat()}",
        f"- device: {name}; datasheet dense bf16 peak {peak / 1e12:.0f} TFLOP/s; "
        f"measured {matmul_size}³ bf16 matmul {matmul / 1e12:.0f} TFLOP/s",
        f"- torch {torch.__version__}, CUDA {torch.version.cuda}, Python {sys.version.split()[0]}",
        "",
        "## Training throughput: bf16 autocast, fused attention, torch.compile",
        "",
        "`course_lib.training_torch.Trainer` on the chapter's grammar; tokens/s over 15 steps after 4 warm-up "
        "steps (compilation included in warm-up); MFU against the datasheet peak.",
        "",
        "| d_model | heads | layers | block | batch | parameters | step (ms) | tokens / s | MFU | tokens in 5 min | peak memory (GB) | warm-up (s) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    )
    grammar = Grammar()
    data = TextData.from_grammar(grammar, 300_000 if device == "cuda" else 5_000, max(s[3] for s in sizes), seed=0)
    for size in sizes:
        try:
            r = throughput(grammar, data, size, compile=device == "cuda", device=device)
        except Exception:  # noqa: BLE001 - a failed size is reported, the others still run
            report.add(f"| {' | '.join(map(str, size))} | failed: {traceback.format_exc(limit=1).splitlines()[-1]} |")
            continue
        report.add(
            f"| {' | '.join(map(str, size))} | {r['params'] / 1e6:.0f} M | {r['step_ms']:.0f} | "
            f"{r['tokens_per_second']:,.0f} | {100 * r['mfu']:.0f} % | {300 * r['tokens_per_second'] / 1e6:,.0f} M | "
            f"{r['memory_gb']:.1f} | {r['warmup_seconds']:.0f} |"
        )

    report.add(
        "",
        f"## What each ingredient buys (d_model {ablation[0]}, {ablation[2]} layers, block {ablation[3]}, "
        f"batch {ablation[4]}, eager: no torch.compile)",
        "",
        "| attention | precision | compile | tokens / s | MFU | peak memory (GB) |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    )
    # Eager only: compiling costs a minute per model; the compiled figure is the first table's row.
    for fused, bf16, compile in [(False, False, False), (False, True, False), (True, False, False), (True, True, False)]:
        try:
            r = throughput(grammar, data, ablation, compile=compile, fused=fused, bf16=bf16, device=device)
        except Exception:  # noqa: BLE001
            report.add(f"| {'fused' if fused else 'explicit'} | failed: {traceback.format_exc(limit=1).splitlines()[-1]} |")
            continue
        report.add(
            f"| {'fused (F.sdpa)' if fused else 'explicit (chapter 6)'} | {'bf16 autocast' if bf16 else 'fp32 (TF32 matmuls)'} | "
            f"{'yes' if compile else 'no'} | {r['tokens_per_second']:,.0f} | {100 * r['mfu']:.0f} % | {r['memory_gb']:.1f} |"
        )

    # The chapter's own small run, unchanged, on the GPU: the same code reaches the entropy.
    train = TextData.from_grammar(grammar, 200_000, 64, seed=1)
    val = TextData.from_grammar(grammar, 20_000, 64, seed=2)
    torch.manual_seed(0)
    model = GPT(GPTConfig(len(grammar), block_size=64, d_model=64, num_heads=4, num_layers=2))
    trainer = Trainer(model, train, TrainingSettings(steps=small_steps, batch_size=32, warmup_steps=100,
                                                     eval_every=small_steps), val, device=device)
    trainer.train(progress=False)
    x, y = val.windows(64)
    small = trainer.report()
    cached = []
    for use_cache in (False, True):
        ids = torch.zeros(8, 16, dtype=torch.long, device=device)
        big = GPT(GPTConfig(len(grammar), block_size=216, d_model=64, num_heads=4, num_layers=2)).to(device)
        generate(big, ids, 200, use_cache=use_cache)  # warm-up
        times = []
        for _ in range(3):
            _synchronize(device)
            start = time.perf_counter()
            generate(big, ids, 200, use_cache=use_cache)
            _synchronize(device)
            times.append(time.perf_counter() - start)
        cached.append(statistics.median(times))
    report.add(
        "",
        "## The chapter's small model on the GPU",
        "",
        f"- {small_steps} steps of the chapter's run (d_model 64, 2 layers, block 64, batch 32, {small['dtype']}): "
        f"{trainer.history.seconds:.1f} s, {trainer.history.tokens_per_second:,.0f} tokens/s, validation loss "
        f"{trainer.history.eval_loss[-1]:.3f} against the perfect model's {perfect_model_loss(grammar, x, y):.3f} "
        f"(a model this small is bound by kernel launches, not arithmetic: MFU {100 * small['mfu']:.2f} %).",
        f"- generating 200 tokens for 8 sequences: {cached[0]:.3f} s without the KV cache, {cached[1]:.3f} s with it "
        f"({cached[0] / cached[1]:.1f}×).",
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
