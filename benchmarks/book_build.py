"""The book's build time: cold (empty execution cache), warm (nothing changed), and each
chapter's notebook execution time, read from the execution cache the cold build filled.

The build runs on a copy of the working tree in a temporary folder, so the repository's own
``_build`` and cache are left alone; it uses ``make book``'s flags (warnings are errors).
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ["build", ".", "--builder", "html", "--warningiserror", "--nitpick", "--keep-going"]


def copy_tree(target: Path) -> None:
    """Tracked and untracked-but-not-ignored files: what a fresh clone plus local edits holds."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def build(folder: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # as make book does
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    start = time.perf_counter()
    result = subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), *BUILD], cwd=folder, env=env,
                            capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"the book build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds


def execution_seconds(folder: Path) -> dict[str, float]:
    """Per notebook, the seconds its execution took (jupyter-cache records them)."""
    from jupyter_cache import get_cache

    cache = get_cache(folder / "_build" / ".jupyter_cache")
    return {Path(r.uri).stem: r.data.get("execution_seconds", float("nan")) for r in cache.list_cache_records()}


def run(warm_builds: int = 3) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        copy_tree(folder)
        cold = build(folder)
        chapters = execution_seconds(folder)
        warm = [build(folder) for _ in range(warm_builds)]
    lines = [
        "## The book",
        "",
        f"`jupyter-book build` with `make book`'s flags on a copy of the working tree. Cold: empty execution cache "
        f"(every notebook executed), one build. Warm: nothing changed, median of {warm_builds}.",
        "",
        "| build | seconds |",
        "| --- | ---: |",
        f"| cold | {cold:.1f} |",
        f"| warm (median) | {statistics.median(warm):.1f} |",
        "",
        "| chapter notebook | execution (s) |",
        "| --- | ---: |",
    ]
    lines += [f"| {name} | {seconds:.1f} |" for name, seconds in sorted(chapters.items())]
    lines += [f"| **all** | {sum(chapters.values()):.1f} |"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
