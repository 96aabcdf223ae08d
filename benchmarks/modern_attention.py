"""Chapter 12: attention at scale (issue 21), on the CPU.

* the KV cache per token at Llama 2's shapes, MHA / GQA / MQA (arithmetic);
* tiled (online-softmax) attention against naive attention: peak memory (tracemalloc) and time,
  up to 16k tokens; target: tiled memory grows linearly, naive quadratically;
* sliding-window attention computing only the band against full causal attention;
* generation with the preallocated KV cache against chapter 9's torch.cat cache and no cache;
  target: 1 sequence × 200 new tokens ≥ 3× faster with the cache than without;
* gradient checkpointing of Llama-style blocks: bytes saved for backward and step time.
"""
from __future__ import annotations

import os
import statistics
import time
import tracemalloc

import numpy as np
import torch

from course_lib.gpt import GPT, GPTConfig, KVCache, generate
from course_lib.attention import masked_attention
from course_lib.modern_attention import kv_cache_table, sliding_window_attention, sliding_window_mask, tiled_attention
from course_lib.modern_blocks import LlamaBlock, run_blocks
from course_lib.training_torch import saved_activation_bytes

CHAPTER_MODEL = dict(d_model=64, num_heads=4, num_layers=2)  # chapter 9's GPT


def naive_attention(q, k, v):
    scores = q @ k.T / np.sqrt(q.shape[-1])  # (n, m): the matrix tiling avoids
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights @ v


def peak_bytes_and_seconds(fn, *args) -> tuple[int, float]:
    """Peak bytes numpy allocated while ``fn(*args)`` ran (tracemalloc sees numpy's buffers), and seconds."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    start = time.perf_counter()
    fn(*args)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, seconds


def _mib(n_bytes: float) -> str:
    return f"{n_bytes / 2 ** 20:,.1f}"


def kv_cache_section(context: int = 4096) -> list[str]:
    lines = [
        "### The KV cache at Llama 2's shapes (arithmetic)",
        "",
        "Bytes per token = 2 (key and value) · layers · kv heads · head_dim · 2 (bfloat16). Shapes from the Llama 2 "
        "paper (Touvron et al. 2023, table 1) and the models' configs: 7B = 32 layers, 32 heads of 128, MHA; "
        "70B = 80 layers, 64 query heads of 128, 8 kv heads (GQA). The other rows change only the kv heads.",
        "",
        f"| model | attention | kv heads | KiB / token | MiB / {context} tokens | published |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for row in kv_cache_table(context):
        lines.append(f"| {row['model']} | {row['attention']} | {row['kv_heads']} | {row['bytes_per_token'] / 1024:,.0f} | "
                     f"{row['bytes_per_context'] / 2 ** 20:,.0f} | {'yes' if row['published'] else ''} |")
    return lines


def tiled_section(lengths, naive_up_to: int, d: int = 64, block_size: int = 256) -> list[str]:
    lines = [
        f"### Tiled (online-softmax) attention against naive attention (numpy, float32, one head, d = {d})",
        "",
        f"Peak memory numpy allocated during the call (tracemalloc), inputs excluded; tiled with block_size = "
        f"{block_size}; naive (the (n, n) scores) only up to {naive_up_to} tokens. Target: tiled O(n), naive O(n²).",
        "",
        "| n | naive peak (MiB) | tiled peak (MiB) | naive (s) | tiled (s) | max abs difference |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    peaks = {}
    for n in lengths:
        rng = np.random.default_rng(n)
        q, k, v = (rng.standard_normal((n, d), dtype=np.float32) for _ in range(3))
        tiled_peak, tiled_s = peak_bytes_and_seconds(tiled_attention, q, k, v, block_size)
        peaks[n] = tiled_peak
        if n <= naive_up_to:
            naive_peak, naive_s = peak_bytes_and_seconds(naive_attention, q, k, v)
            diff = np.abs(naive_attention(q, k, v) - tiled_attention(q, k, v, block_size)).max()
            lines.append(f"| {n} | {_mib(naive_peak)} | {_mib(tiled_peak)} | {naive_s:.3f} | {tiled_s:.3f} | {diff:.1e} |")
        else:
            lines.append(f"| {n} | – | {_mib(tiled_peak)} | – | {tiled_s:.3f} | – |")
    first, last = min(lengths), max(lengths)
    lines += ["", f"Tiled peak grew {peaks[last] / peaks[first]:.1f}× for {last / first:.0f}× the length "
              f"(naive: the (n, n) float32 scores alone are {_mib(4 * last * last)} MiB at n = {last})."]
    return lines


def sliding_section(lengths, window: int, d: int = 64, repeats: int = 3) -> list[str]:
    lines = [
        f"### Sliding-window attention (window {window}) against full causal attention (numpy, float64, d = {d})",
        "",
        "Full: chapter 5's masked attention with the (n, n) sliding-window mask (it computes every score); "
        "banded: only the n · w scores in the band. Same outputs; median of "
        f"{repeats}.",
        "",
        "| n | full causal (s) | banded (s) | speed-up | scores computed, full / banded |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for n in lengths:
        rng = np.random.default_rng(n)
        q, k, v = (rng.standard_normal((n, d)) for _ in range(3))
        mask = sliding_window_mask(n, window)
        full, banded = [], []
        for _ in range(repeats):
            full.append(peak_bytes_and_seconds(masked_attention, q, k, v, mask)[1])
            banded.append(peak_bytes_and_seconds(sliding_window_attention, q, k, v, window)[1])
        assert np.allclose(masked_attention(q, k, v, mask)[0], sliding_window_attention(q, k, v, window))
        f, b = statistics.median(full), statistics.median(banded)
        lines.append(f"| {n} | {f:.3f} | {b:.3f} | {f / b:.1f}× | {n / window:.0f}× |")
    return lines


class ConcatCache(KVCache):
    """Chapter 9's first cache, for comparison: ``torch.cat`` of the whole past every step."""

    def append(self, layer, k, v):
        if self._keys[layer] is not None:
            k, v = torch.cat([self._keys[layer], k], dim=-2), torch.cat([self._values[layer], v], dim=-2)
        self._keys[layer], self._values[layer], self._lengths[layer] = k, v, k.shape[-2]
        return k, v


def generation_seconds(model, ids, new_tokens: int, mode: str) -> float:
    if mode == "concat":
        model.new_cache = lambda max_length=None: ConcatCache(len(model.blocks))
    start = time.perf_counter()
    generate(model, ids, new_tokens, temperature=0.0, use_cache=mode != "none")
    seconds = time.perf_counter() - start
    model.__dict__.pop("new_cache", None)
    return seconds


def generation_section(generations, rounds: int, prompt: int = 16) -> list[str]:
    lines = [
        "### Generation: no cache, chapter 9's torch.cat cache, the preallocated cache (16-token prompt)",
        "",
        f"Chapter 9's model ({CHAPTER_MODEL}, untrained, float32), greedy; the three modes alternate, {rounds} rounds, "
        f"median time and median of the per-round ratios. torch threads: {torch.get_num_threads()}. "
        "Target: ≥ 3× faster with the cache than without for 1 sequence × 200 tokens.",
        "",
        "| sequences | new tokens | no cache (s) | torch.cat cache (s) | preallocated (s) | speed-up, preallocated | speed-up, torch.cat |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    results = {}
    for batch, new_tokens in generations:
        torch.manual_seed(0)
        model = GPT(GPTConfig(35, block_size=prompt + new_tokens, **CHAPTER_MODEL)).eval()
        ids = torch.randint(35, (batch, prompt))
        generate(model, ids, 4)  # warm-up
        times = {mode: [] for mode in ("none", "concat", "prealloc")}
        for _ in range(rounds):
            for mode in times:
                times[mode].append(generation_seconds(model, ids, new_tokens, mode))
        ratio = statistics.median(n / p for n, p in zip(times["none"], times["prealloc"]))
        cat_ratio = statistics.median(n / c for n, c in zip(times["none"], times["concat"]))
        med = {mode: statistics.median(t) for mode, t in times.items()}
        results[batch, new_tokens] = ratio
        lines.append(f"| {batch} | {new_tokens} | {med['none']:.3f} | {med['concat']:.3f} | {med['prealloc']:.3f} | "
                     f"{ratio:.1f}× | {cat_ratio:.1f}× |")
    target = results.get((1, 200))
    if target is not None:
        lines += ["", f"Target {'met' if target >= 3 else 'NOT met'}: {target:.1f}× for 1 sequence × 200 tokens."
                  + ("" if target >= 3 else " A model this small is bound by the fixed cost of each of a step's "
                     "~60 small torch calls, which no cache removes; the cache removes re-reading the context, "
                     "which grows with the context, the batch and the model's width (the other rows).")]
    return lines


def checkpoint_section(num_blocks: int, d_model: int, length: int, batch: int, rounds: int) -> list[str]:
    torch.manual_seed(0)
    blocks = torch.nn.ModuleList(LlamaBlock(d_model, num_heads=d_model // 32, num_kv_heads=max(1, d_model // 128))
                                 for _ in range(num_blocks))
    x = torch.randn(batch, length, d_model, requires_grad=True)

    def step(checkpointing):
        run_blocks(blocks, x, checkpointing).square().mean().backward()

    saved = {c: saved_activation_bytes(lambda c=c: run_blocks(blocks, x, c).square().mean()) for c in (False, True)}
    times = {False: [], True: []}
    step(False)  # warm-up
    for _ in range(rounds):
        for c in (False, True):
            start = time.perf_counter()
            step(c)
            times[c].append(time.perf_counter() - start)
    plain, ckpt = (statistics.median(times[c]) for c in (False, True))
    return [
        f"### Gradient checkpointing ({num_blocks} Llama-style blocks, d_model {d_model}, batch {batch} × {length} tokens, float32)",
        "",
        "Bytes autograd keeps for backward (counted exactly with saved_tensors_hooks) and the time of forward + "
        f"backward, median of {rounds}; the gradients are identical (tests/test_modern_blocks.py).",
        "",
        "| | saved for backward (MiB) | forward + backward (s) |",
        "| --- | ---: | ---: |",
        f"| plain | {_mib(saved[False])} | {plain:.3f} |",
        f"| checkpointed | {_mib(saved[True])} | {ckpt:.3f} |",
        "",
        f"Checkpointing keeps {saved[True] / saved[False]:.0%} of the activations and costs {ckpt / plain:.2f}× the time "
        "(one more forward of every block during backward).",
    ]


def run(lengths=(512, 1024, 2048, 4096, 8192, 16384), naive_up_to: int = 8192,
        window_lengths=(1024, 2048, 4096), window: int = 128,
        generations=((1, 200), (8, 200), (1, 500)), rounds: int = 5,
        checkpoint_shape=(4, 256, 256, 4)) -> str:
    """The section of RESULTS.md."""
    load = os.getloadavg()[0]
    lines = ["## Chapter 12: attention at scale (CPU)", "",
             f"Load average {load:.1f} on {os.cpu_count()} cores when this run started"
             + (" (above the core count, other jobs shared the machine: compare the ratios within a table, not the "
                "seconds across sections)." if load > os.cpu_count() else "."), "",
             *kv_cache_section(), ""]
    lines += [*tiled_section(lengths, naive_up_to), ""]
    lines += [*sliding_section(window_lengths, window), ""]
    threads = torch.get_num_threads()
    # The torch parts are small models, bound by the per-call overhead: one thread is faster, and with
    # two threads on a shared machine every op waits at OpenMP's barrier for a descheduled thread.
    torch.set_num_threads(1)
    try:
        lines += [*generation_section(generations, rounds), ""]
        lines += checkpoint_section(*checkpoint_shape, rounds=max(1, rounds // 2))
    finally:
        torch.set_num_threads(threads)
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
