"""A submission that floods the grader with output while a hidden test runs (issue 25): the grader's
memory stays bounded (its sockets queue few messages, and the kernel is killed when it makes the grader
grow past SandboxedKernelManager.max_grader_growth); that test scores 0, its output says why, the log
names the student, and the control student graded beside it keeps every point."""
from __future__ import annotations

import subprocess
import sys

import pytest
from nbgrader.api import Gradebook

import hostile_submissions as hostile
from conftest import tool_env
from grading_helpers import filled_in, make_course, require_sandbox, submit

CHAPTER = "01_embeddings"
GROWTH = 256 << 20  # what the grader may grow by in this test (the default is 1 GiB)


@pytest.mark.slow
def test_a_flood_of_output_is_stopped_before_it_fills_the_grader(tmp_path):
    require_sandbox()
    course = make_course(tmp_path / "course", CHAPTER)
    submit(course, "a_control", CHAPTER, filled_in(CHAPTER, course))
    submit(course, "b_flooder", CHAPTER, filled_in(CHAPTER, course, {"embed": hostile.FLOODS_THE_GRADER}))
    # nbgrader in a process that says, at its end, the most memory it ever held (VmHWM, in KiB).
    run_and_measure = ("import sys\nfrom nbgrader.apps.nbgraderapp import main\nsys.argv[0] = 'nbgrader'\ntry:\n"
                       "    main()\nfinally:\n"
                       "    print(*[l for l in open('/proc/self/status') if l.startswith('VmHWM')])")
    result = subprocess.run(
        [sys.executable, "-c", run_and_measure, "autograde", CHAPTER, "--log-level=WARN",
         f"--SandboxedKernelManager.max_grader_growth={GROWTH}"],
        cwd=course, env=tool_env(), capture_output=True, text=True, timeout=600)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    peak = int(result.stdout.split("VmHWM:")[1].split()[0]) << 10
    assert peak < 768 << 20, f"the grader grew to {peak >> 20} MiB"  # about 250 MiB when bounded
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        parts = {s: {g.name: g.score for g in gradebook.find_submission_notebook(CHAPTER, CHAPTER, s).grades
                     if g.cell_type == "code"} for s in ("a_control", "b_flooder")}
    assert parts["a_control"] == {"test_one_hot": 3, "test_embed": 3, "test_cosine_similarity": 3}, log[-3000:]
    assert parts["b_flooder"]["test_embed"] == 0 and parts["b_flooder"]["test_one_hot"] == 3, log[-3000:]
    assert "'b_flooder'" in log and "it flooded the grader with output" in log, log[-3000:]
    graded = (course / "autograded" / "b_flooder" / CHAPTER / f"{CHAPTER}.ipynb").read_text()
    assert "it flooded the grader with output" in graded  # in the test's output, so in the feedback
