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
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["book_build", "suite_times", "attention", "translation", "gpt_training", "classification", "grading"]  # modules in this folder with a run() -> Markdown section


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


def main(names: list[str] | None = None) -> None:
    """Every benchmark, RESULTS.md written anew; or only the named ones (`python benchmarks/run.py
    grading`), their sections replaced in the RESULTS.md there is."""
    names = sys.argv[1:] if names is None else names
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        sys.exit(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    sys.path.insert(0, str(HERE))
    results = HERE / "RESULTS.md"
    if names:
        sections = [importlib.import_module(name).run() for name in names]
        text = results.read_text() if results.exists() else header()
        results.write_text(replace_sections(text, sections))
    else:
        sections = [importlib.import_module(name).run() for name in BENCHMARKS]
        results.write_text(header() + "\n" + "\n\n".join(sections) + "\n")
    print(results.read_text())


if __name__ == "__main__":
    main()
