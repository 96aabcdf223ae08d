"""Run every benchmark and rewrite benchmarks/RESULTS.md (``make benchmark``), or only some:
``python benchmarks/run.py grading`` replaces that benchmark's section and leaves the others.

Benchmarks measure; they never fail the test command. Compare figures as ratios measured
in the same run: machines are noisy.
"""
from __future__ import annotations

import datetime
import importlib
import os
import platform
import sys
import time
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["book_build", "suite_times", "attention", "translation", "gpt_training", "classification", "modern_attention", "position_extrapolation", "extractive_qa", "grading", "preflight"]  # modules in this folder with a run() -> Markdown section
TARGET_MINUTES = 15


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


def replace_sections(text: str, sections: list[str]) -> str:
    """RESULTS.md with each section replaced where its title line (the section's first line,
    "## ...") is, up to the next "## " title; a section whose title is not there is appended."""
    for section in sections:
        lines, title = text.rstrip("\n").split("\n"), section.split("\n")[0]
        if title in lines:
            start = lines.index(title)
            end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
            lines[start:end] = section.split("\n") + ([""] if end < len(lines) else [])
        else:
            lines += ["", *section.split("\n")]
        text = "\n".join(lines) + "\n"
    return text


def timed_sections(names: list[str]) -> tuple[list[str], dict[str, float]]:
    """Each named benchmark's section, and the seconds each took (printed as they finish)."""
    sections, seconds = [], {}
    for name in names:
        start = time.perf_counter()
        sections.append(importlib.import_module(name).run())
        seconds[name] = time.perf_counter() - start
        print(f"[benchmark] {name}: {seconds[name]:.0f} s", file=sys.stderr, flush=True)
    return sections, seconds


def run_time(seconds: dict[str, float]) -> str:
    """The section that records how long the whole command took, benchmark by benchmark."""
    total = sum(seconds.values())
    return "\n".join([
        "## How long `make benchmark` took",
        "",
        f"This run, benchmark by benchmark (the virtual environment already set up). Target: the whole command "
        f"under {TARGET_MINUTES} minutes on 2 cores; {'met' if total < 60 * TARGET_MINUTES else 'NOT met'}.",
        "",
        "| benchmark | seconds |",
        "| --- | ---: |",
        *[f"| {name} | {value:.0f} |" for name, value in seconds.items()],
        f"| **all** | {total:.0f} ({total / 60:.1f} min) |",
    ])


def main(names: list[str] | None = None) -> None:
    """Every benchmark, RESULTS.md written anew; or only the named ones (`python benchmarks/run.py
    grading`), their sections replaced in the RESULTS.md there is (the run-time section is only
    written by a whole run)."""
    names = sys.argv[1:] if names is None else names
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        sys.exit(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    sys.path.insert(0, str(HERE))
    results = HERE / "RESULTS.md"
    if names:
        sections, _ = timed_sections(names)
        text = results.read_text() if results.exists() else header()
        results.write_text(replace_sections(text, sections))
    else:
        sections, seconds = timed_sections(BENCHMARKS)
        results.write_text(header() + "\n" + "\n\n".join([*sections, run_time(seconds)]) + "\n")
    print(results.read_text())


if __name__ == "__main__":
    main()
