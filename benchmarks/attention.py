"""Attention kernels on the CPU: course_lib against PyTorch's own, forward and forward+backward.

Batch 8, 8 heads of size 64 (d_model 512), self-attention over sequence lengths 64–1024:
- ``course_lib.multi_head_attention`` (numpy, forward only),
- ``course_lib.MultiHeadAttention`` (torch module, per-head weights returned),
- ``torch.nn.MultiheadAttention`` (batch_first, per-head weights returned: the same work),
- ``torch.nn.functional.scaled_dot_product_attention`` on already projected heads (the
  fused kernel alone: no projections, no weights returned).

Times are medians over rounds in which every torch implementation is called once
(interleaved, so a slow spell of the machine hits them all alike; numpy is timed apart, its
idle BLAS threads would slow the next call), reported as ratios to nn.MultiheadAttention.
Target: course_lib.MultiHeadAttention within 1.15x of nn.MultiheadAttention at every length.
Peak memory is how far the resident set rises during one call, measured in a fresh
process per cell (Linux /proc).
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import course_lib

HERE = Path(__file__).resolve().parent
BATCH, HEADS, HEAD_SIZE = 8, 8, 64
D_MODEL = HEADS * HEAD_SIZE
LENGTHS = (64, 128, 256, 512, 1024)
IMPLEMENTATIONS = ("numpy", "course_lib", "nn.MultiheadAttention", "F.sdpa (kernel only)")


def _setup(impl: str, length: int, seed: int = 0):
    """A callable doing one forward pass (and a backward pass when called with True)."""
    torch.manual_seed(seed)
    reference = torch.nn.MultiheadAttention(D_MODEL, HEADS, batch_first=True)
    x = torch.randn(BATCH, length, D_MODEL)
    if impl == "numpy":
        w_q, w_k, w_v = (w.detach().numpy().T.copy() for w in reference.in_proj_weight.chunk(3))
        w_o = reference.out_proj.weight.detach().numpy().T.copy()
        x_np = x.numpy()
        return lambda backward: course_lib.multi_head_attention(x_np, x_np, w_q, w_k, w_v, w_o, HEADS)
    if impl == "F.sdpa (kernel only)":
        q, k, v = (torch.randn(BATCH, HEADS, length, HEAD_SIZE, requires_grad=True) for _ in range(3))

        def run_kernel(backward):
            out = F.scaled_dot_product_attention(q, k, v)
            if backward:
                out.sum().backward()
        return run_kernel
    module = reference if impl == "nn.MultiheadAttention" else course_lib.MultiHeadAttention.from_torch(reference)
    x.requires_grad_(True)

    def run_module(backward):
        if impl == "nn.MultiheadAttention":
            out, _ = module(x, x, x, need_weights=True, average_attn_weights=False)
        else:
            out, _ = module(x, x, x)
        if backward:
            out.sum().backward()
    return run_module


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def _peak_growth_mb(run, backward: bool) -> float:
    """Peak resident memory during one call, above what the process held before it."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # reset the high-water mark VmHWM to the current resident set
    before = _status_kb("VmRSS")
    with torch.no_grad() if not backward else torch.enable_grad():
        run(backward)
    return (_status_kb("VmHWM") - before) / 1024


def peak_memory_mb(impl: str, length: int, backward: bool) -> float:
    """:func:`_peak_growth_mb` of one call, in a fresh process so earlier cells leave nothing behind."""
    code = (
        "import sys; sys.path.insert(0, 'benchmarks'); import attention as a;"
        f"print(a._peak_growth_mb(a._setup({impl!r}, {length}), {backward}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=HERE.parent)
    return float(out.stdout.strip().splitlines()[-1])


def measure(lengths=LENGTHS, repeats: int = 5, memory: bool = True) -> list[dict]:
    rows = []
    for length in lengths:
        for backward in (False, True):
            impls = [impl for impl in IMPLEMENTATIONS if not (impl == "numpy" and backward)]
            runs = {impl: _setup(impl, length) for impl in impls}
            times = {impl: [] for impl in impls}
            rounds = max(3, repeats if length < 512 else repeats // 2)
            with torch.no_grad() if not backward else torch.enable_grad():
                # numpy on its own: its BLAS threads keep spinning for a while after each call
                # and would slow whatever ran next. The torch implementations are interleaved,
                # one call each per round, so a slow spell of the machine hits them all alike.
                for group in ([i for i in impls if i == "numpy"], [i for i in impls if i != "numpy"]):
                    for impl in group:
                        runs[impl](backward)  # warm-up: first-call allocations and lazy initialisation
                    for _ in range(rounds):
                        for impl in group:
                            start = time.perf_counter()
                            runs[impl](backward)
                            times[impl].append(time.perf_counter() - start)
                    time.sleep(0.2)  # let idle BLAS threads go to sleep before the next group
            for impl in impls:
                rows.append({
                    "length": length, "pass": "forward+backward" if backward else "forward", "impl": impl,
                    "seconds": statistics.median(times[impl]),
                    "peak_mb": peak_memory_mb(impl, length, backward) if memory else float("nan"),
                })
    return rows


def run(lengths=LENGTHS, repeats: int = 5, memory: bool = True, save_to: Path | None = HERE / "attention.json") -> str:
    """Measure, write the rows to ``save_to`` (the book plots them; None: don't) and return the Markdown."""
    rows = measure(lengths, repeats, memory)
    if save_to is not None:
        save_to.write_text(json.dumps({"batch": BATCH, "heads": HEADS, "head_size": HEAD_SIZE,
                                       "torch_threads": torch.get_num_threads(), "rows": rows}, indent=1) + "\n")
    baseline = {(r["length"], r["pass"]): r["seconds"] for r in rows if r["impl"] == "nn.MultiheadAttention"}
    ratios = [r["seconds"] / baseline[r["length"], r["pass"]] for r in rows if r["impl"] == "course_lib"]
    lines = [
        "## Attention kernels on the CPU (batch 8, 8 heads × 64, self-attention)",
        "",
        "Median time per call (torch implementations interleaved, numpy timed apart); ratio = time / "
        "nn.MultiheadAttention's in the same run; peak = rise of the resident memory during one call (fresh process). "
        f"torch threads: {torch.get_num_threads()}.",
        "",
        "| length | pass | implementation | time (ms) | ratio | peak memory (MB) |",
        "| ---: | --- | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        ratio = r["seconds"] / baseline[r["length"], r["pass"]]
        lines.append(f"| {r['length']} | {r['pass']} | {r['impl']} | {1000 * r['seconds']:.1f} | {ratio:.2f} | {r['peak_mb']:.0f} |")
    verdict = "met" if max(ratios) <= 1.15 else "NOT met"
    lines += ["", "Target (course_lib.MultiHeadAttention ≤ 1.15 × nn.MultiheadAttention at every length and pass): "
              f"{verdict}; worst ratio {max(ratios):.2f}."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
