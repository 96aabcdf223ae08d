"""What autograde's preflight costs: the reference solution graded in the sandbox before a class.

For three chapters (the lightest, numpy only; a torch one; the heaviest, with MiniLM), in a course
with the real nbgrader_config.py: the preflight on its own, first run and remembered (the pass is
kept, keyed on what decides it), against `nbgrader autograde` of one correct submission with the
preflight off (wall time of the command, start-up included). One run each.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "grading"))
from conftest import tool_env  # noqa: E402

CHAPTERS = ("01_embeddings", "08_transformer", "10_pretrained")

# Runs in the course folder: the preflight twice, in one process, as autograde calls it.
_TIMED = """
import json, sys, time
from nbgrader.apps.autogradeapp import AutogradeApp
from autograder.preflight import check_reference
app = AutogradeApp()
app.initialize([sys.argv[1], "--log-level=ERROR"])
times, summaries = [], []
for _ in range(2):
    start = time.perf_counter()
    summaries.append(check_reference(sys.argv[1], app.coursedir, app.config, app.log))
    times.append(time.perf_counter() - start)
print(json.dumps({"times": times, "summaries": summaries}))
"""


def _run(args: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=tool_env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return time.perf_counter() - start, result.stdout


def run() -> str:
    from grading_helpers import filled_in, make_course, submit

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for chapter in CHAPTERS:
            course = make_course(Path(tmp) / chapter, chapter)
            submit(course, "alice", chapter, filled_in(chapter, course))
            _, out = _run([sys.executable, "-c", _TIMED, chapter], course)
            timed = json.loads(out.strip().splitlines()[-1])
            one, _ = _run([sys.executable, "-m", "nbgrader", "autograde", chapter, "--log-level=ERROR",
                           "--SubmissionExporter.preflight=False"], course)
            points = timed["summaries"][0].split(" scores ")[1].split(" ")[0]
            rows.append((chapter, points, *timed["times"], one))
    lines = [
        "## Autograde's preflight (the reference solution, graded in the sandbox first)",
        "",
        "Before a class is graded, `nbgrader autograde` (and `python -m autograder.parallel`, once per run) grades "
        "the reference solution through the same steps and sandbox (two kernels per notebook: the learner's and "
        "the tests'), and refuses to grade unless it earns every automatic point. A pass is remembered under "
        "`autograded/.preflight/`, keyed on the solution, the code of course_lib and autograder, the grading "
        "settings, the course folder and the installed packages. One run each; seconds.",
        "",
        "| chapter | reference's points | preflight, first run | preflight, remembered | "
        "`nbgrader autograde` of one submission, preflight off |",
        "| --- | ---: | ---: | ---: | ---: |",
        *[f"| {c} | {p} | {cold:.1f} | {warm:.2f} | {one:.1f} |" for c, p, cold, warm, one in rows],
        "",
        "The first run costs about what grading one more submission costs (the submission's own figure includes "
        "nbgrader's start-up, about a second); a remembered pass costs the hashing of the files that decide it.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
