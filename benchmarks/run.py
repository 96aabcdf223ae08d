"""Run every benchmark and rewrite benchmarks/RESULTS.md (``make benchmark``).

Benchmarks measure; they never fail the test command. Compare figures as ratios measured
in the same run: machines are noisy.
"""
from __future__ import annotations

import datetime
import importlib
import os
import platform
import sys
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["book_build", "suite_times", "attention", "translation", "gpt_training"]  # modules in this folder with a run() -> Markdown section


def header() -> str:
    packages = ", ".join(f"{name} {version(name)}" for name in ("torch", "numpy"))
    return "\n".join([
        "# Benchmark results",
        "",
        "Written by `make benchmark` (benchmarks/run.py); do not edit by hand.",
        "",
        f"- date: {datetime.date.today().isoformat()}",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPU cores, {platform.platform()}",
        f"- Python {platform.python_version()}; {packages}",
        "",
    ])


def main() -> None:
    sys.path.insert(0, str(HERE))
    sections = [importlib.import_module(name).run() for name in BENCHMARKS]
    (HERE / "RESULTS.md").write_text(header() + "\n" + "\n\n".join(sections) + "\n")
    print((HERE / "RESULTS.md").read_text())


if __name__ == "__main__":
    main()
