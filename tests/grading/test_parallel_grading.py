"""Parallel autograding (autograder/parallel.py) writes the gradebook serial
`nbgrader autograde` writes.

One small class of exercise 1 is graded twice from identical copies of the course: by plain
`nbgrader autograde` and by `python -m autograder.parallel` with two workers. The class:
a correct submission; a partly wrong, late one that also tries to read the gradebook (which, under
parallel grading, is no longer the database nbgrader is told about); a blank one; one that kills
its own kernel; one whose notebook file is not JSON; and one whose timestamp.txt is garbage, which
nbgrader fails to grade (an error for that student only); and one graded before (nbgrader skips
it without --force)."""
from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.limits import descendants as _descendants

import hostile_submissions as hostile
from conftest import nbgrader, tool_env
from grading_helpers import filled_in, make_course, require_sandbox, submit
from notebooks import as_submitted, cells_by_id, grading, solution_notebook

CHAPTER = "01_embeddings"
# Late submissions score zero, so that the late penalty (and the submission time) are in the gradebook too.
OPTIONS = ["--log-level=WARN", "--ExecutePreprocessor.timeout=20", "--LateSubmissionPlugin.penalty_method=zero"]
EXPECTED = {"a_correct": 9, "b_partial_late": 6, "c_blank": 0, "d_crasher": 6, "e_broken_file": 0}
FAILING = "f_bad_timestamp"
SKIPPED = "g_graded_before"


def _answer(grade_id: str) -> str:
    return as_submitted(cells_by_id(solution_notebook(CHAPTER))[grade_id].source)


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=tool_env(), capture_output=True, text=True, timeout=300)


def _parallel(course: Path, *args: str) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "autograder.parallel", *args], course)


def _make_class(course: Path) -> None:
    make_course(course, CHAPTER)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.update_or_create_assignment(CHAPTER, duedate="2026-11-21 00:00:00 UTC")

    def hand_in(student, nb, when="2026-11-20 12:00:00.000000 UTC"):
        submit(course, student, CHAPTER, nb)
        (course / "submitted" / student / CHAPTER / "timestamp.txt").write_text(when)

    hand_in("a_correct", filled_in(CHAPTER, course))
    partial = filled_in(CHAPTER, course, {"embed": "def embed(ids, table):\n    return table\n"})
    next(c for c in partial.cells if c.cell_type == "code" and not grading(c)).source = hostile.READS
    hand_in("b_partial_late", partial, "2026-11-22 08:30:00.250000 UTC")
    submit(course, "c_blank", CHAPTER, nbformat.read(course / "exercises" / CHAPTER / f"{CHAPTER}.ipynb", 4))
    hand_in("d_crasher", filled_in(CHAPTER, course, {"one_hot": hostile.EXIT_PROCESS + _answer("one_hot")}))
    broken = course / "submitted" / "e_broken_file" / CHAPTER
    broken.mkdir(parents=True)
    (broken / f"{CHAPTER}.ipynb").write_text('{"cells": [')
    hand_in(FAILING, filled_in(CHAPTER, course), "handed in on Tuesday")
    hand_in(SKIPPED, filled_in(CHAPTER, course))
    (course / "autograded" / SKIPPED / CHAPTER).mkdir(parents=True)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """(serial course, parallel course, serial run, parallel run): the same class graded both ways."""
    require_sandbox()
    base = tmp_path_factory.mktemp("parallel_grading")
    _make_class(base / "serial")
    shutil.copytree(base / "serial", base / "parallel", symlinks=True)
    serial = _run([sys.executable, "-m", "nbgrader", "autograde", CHAPTER, *OPTIONS], base / "serial")
    parallel = _parallel(base / "parallel", CHAPTER, "--jobs", "2", *OPTIONS)
    return base / "serial", base / "parallel", serial, parallel


def _part_scores(course: Path) -> dict[str, dict[str, float | str | None]]:
    """Per student, each graded part's score, the late penalty and the submission time
    (read with nbgrader's API, independently of the module tested)."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {
            s.student.id: {g.name: g.score for nb in s.notebooks for g in nb.grades}
            | {"late penalty": s.late_submission_penalty, "timestamp": str(s.timestamp)}
            for s in gb.find_assignment(CHAPTER).submissions
        }


def _students(course: Path) -> list[str]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return sorted(s.id for s in gb.students)


@pytest.mark.slow
def test_parallel_grading_writes_the_gradebook_serial_autograde_writes(graded):
    from autograder.gradebook_merge import gradebook_rows

    serial_course, parallel_course, serial, parallel = graded
    # nbgrader's own verdict: one student's error, the others graded.
    assert serial.returncode == 1 and f"for student '{FAILING}'" in serial.stderr, serial.stderr[-3000:]
    scores = _part_scores(parallel_course)
    assert scores == _part_scores(serial_course), parallel.stdout[-3000:]
    assert {s: sum(v for k, v in parts.items() if k.startswith("test_")) for s, parts in scores.items()} == EXPECTED, \
        parallel.stdout[-3000:]
    assert scores["b_partial_late"]["late penalty"] == 6 and scores["a_correct"]["late penalty"] == 0
    assert scores["b_partial_late"]["timestamp"] == "2026-11-22 08:30:00.250000"
    # Every stored column of every row autograding writes (student, submission, notebook, grades, comments)...
    rows = gradebook_rows(f"sqlite:///{parallel_course / 'gradebook.db'}", CHAPTER)
    assert rows == gradebook_rows(f"sqlite:///{serial_course / 'gradebook.db'}", CHAPTER)
    # ...and the student nbgrader created before failing on the timestamp, in both.
    assert _students(parallel_course) == _students(serial_course) == sorted([*EXPECTED, FAILING])
    for student in EXPECTED:
        graded_notebook = f"autograded/{student}/{CHAPTER}/{CHAPTER}.ipynb"
        assert (parallel_course / graded_notebook).exists() and (serial_course / graded_notebook).exists()
    assert not (parallel_course / "autograded" / FAILING / CHAPTER).exists()
    assert SKIPPED not in rows and not any((parallel_course / "autograded" / SKIPPED / CHAPTER).iterdir())


@pytest.mark.slow
def test_a_failed_student_is_reported_in_order_and_the_others_are_graded(graded):
    _, _, _, parallel = graded
    out = parallel.stdout
    assert parallel.returncode == 1, out + parallel.stderr[-3000:]
    blocks = [line for line in out.splitlines() if line.startswith("[")]
    assert [b.split("]")[0] for b in blocks] == [f"[{i}/7" for i in range(1, 8)], out
    assert [b.split()[1].rstrip(":") for b in blocks] == sorted([*EXPECTED, FAILING, SKIPPED]), out
    assert f"{FAILING}: FAILED" in out and "ParserError: Unknown string format: handed in on Tuesday" in out, out
    for student in EXPECTED:
        assert f"{student}: graded" in out, out
    assert f"{SKIPPED}: skipped" in out, out
    assert "5 graded, 1 skipped" in out and "1 failed" in out and out.rstrip().endswith(f"FAILED: {FAILING}"), out
    # Each student's incidents are in its own block, between its header and the next student's.
    crasher = out.split("d_crasher: graded")[1].split("e_broken_file: graded")[0]
    assert "[sandbox] student 'd_crasher'" in crasher and "the kernel exited" in crasher, out
    assert "'d_crasher'" not in out.split("d_crasher: graded")[0] + out.split("e_broken_file: graded")[1]


@pytest.mark.slow
def test_the_gradebook_stays_hidden_from_submissions_and_exports(graded):
    serial_course, parallel_course, _, _ = graded
    nb = nbformat.read(parallel_course / "autograded" / "b_partial_late" / CHAPTER / f"{CHAPTER}.ipynb", 4)
    out = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "gradebook: denied" in out and "LEAKED" not in out, out
    exported = {}
    for course in (serial_course, parallel_course):
        nbgrader("export", "--to", "grades.csv", "--log-level=WARN", cwd=course)
        with open(course / "grades.csv", newline="") as table:
            exported[course.name] = {row["student_id"]: (row["raw_score"], row["late_submission_penalty"])
                                     for row in csv.DictReader(table)}
    assert exported["parallel"] == exported["serial"]
    assert exported["parallel"]["b_partial_late"] == ("6.0", "6.0")


@pytest.mark.slow
def test_regrading_keeps_a_manual_grade_entered_meanwhile(graded):
    """Regrading with --force keeps the manual grade given in the formgrader since the first run:
    only the columns autograding changed are written."""
    _, parallel_course, _, _ = graded
    url = f"sqlite:///{parallel_course / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.find_grade("explain_plot", CHAPTER, CHAPTER, "a_correct").manual_score = 1.5
        gb.db.commit()
    forced = _parallel(parallel_course, CHAPTER, "--student", "a_correct", "--force", *OPTIONS)
    assert forced.returncode == 0 and "1 graded, 0 skipped" in forced.stdout, forced.stdout + forced.stderr[-2000:]
    with Gradebook(url) as gb:
        assert gb.find_grade("explain_plot", CHAPTER, CHAPTER, "a_correct").manual_score == 1.5
        assert gb.find_submission(CHAPTER, "a_correct").score == 10.5


def test_the_command_refuses_what_it_cannot_grade(tmp_path):
    help_text = _parallel(tmp_path, "--help")
    assert help_text.returncode == 0 and "--jobs" in help_text.stdout and "--student" in help_text.stdout
    # Not a course root: no nbgrader_config.py, so nbgrader would run the submissions unsandboxed.
    outside = _parallel(tmp_path, CHAPTER)
    assert outside.returncode == 1 and "autograder's sandbox" in outside.stderr, outside.stderr[-2000:]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""  # ended meanwhile


@pytest.mark.slow
def test_a_worker_killed_mid_student_fails_that_student_only(graded):
    """kill -9 of the worker grading a student (as the out-of-memory killer would do): that student
    is reported FAILED, its half-written autograded folder is removed so the next run grades it, its
    sandboxed kernels die with it, a new worker grades the students after it, and the command ends.
    (Also: --student given more than once adds up.)"""
    import os
    import signal
    import time

    _, course, _, _ = graded
    slow = filled_in(CHAPTER, course)
    next(c for c in slow.cells if c.cell_type == "code" and not grading(c)).source = "import time\ntime.sleep(60)\n"
    submit(course, "h_slow", CHAPTER, slow)
    submit(course, "i_after", CHAPTER, filled_in(CHAPTER, course))
    command = [sys.executable, "-m", "autograder.parallel", CHAPTER, "--jobs", "1", "--force",
               "--student", "a_correct", "--student", "h_slow", "--student", "i_after", *OPTIONS]
    proc = subprocess.Popen(command, cwd=course, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline, workers, sandbox = time.monotonic() + 120, [], []
        while not any(b"ipykernel" in _cmdline(pid) for pid in sandbox):  # h_slow's kernel is running
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
            workers = [pid for pid, depth in _descendants(proc.pid) if depth == 1 and b"autograder.parallel_worker" in _cmdline(pid)]
            assert len(workers) <= 1, workers
            sandbox = [pid for pid, _ in _descendants(workers[0])] if workers else []  # bwrap and what runs in it
            if sandbox and not (course / "autograded" / "h_slow" / CHAPTER).exists():
                sandbox = []  # a kernel of a_correct, the student before
        os.kill(workers[0], signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    deadline = time.monotonic() + 10
    while [pid for pid in sandbox if Path(f"/proc/{pid}").exists()] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in sandbox if Path(f"/proc/{pid}").exists()], "the kernel outlived its worker"
    assert proc.returncode == 1, out + err[-3000:]
    assert "h_slow: FAILED" in out and "the grading worker died (exit status -9)" in out, out
    assert "a_correct: graded" in out and "i_after: graded" in out and out.rstrip().endswith("FAILED: h_slow"), out
    assert not (course / "autograded" / "h_slow" / CHAPTER).exists()
    scores = _part_scores(course)
    assert "h_slow" not in scores
    assert sum(v for k, v in scores["i_after"].items() if k.startswith("test_")) == EXPECTED["a_correct"]


# nbgrader's own Gradebook.add_submission builds the rows before it adds them to the session, which
# SQLAlchemy 2 reports as a warning (the rows are added a line later; the assertions below read them back).
@pytest.mark.filterwarnings("ignore:Object of type <Submitted:sqlalchemy.exc.SAWarning")
def test_the_merge_writes_only_what_grading_changed(tmp_path, monkeypatch):
    """A worker grades from a copy of the gradebook; a manual grade entered in the real one after
    that copy was taken survives the merge (a plain copy of the worker's rows would undo it)."""
    from autograder.gradebook_merge import copy_database as _copy_database, merge as _merge, student_rows as _student_rows

    monkeypatch.setenv("PATH", tool_env()["PATH"])  # a new gradebook runs alembic by name

    main, copy = tmp_path / "gradebook.db", tmp_path / "worker.db"
    with Gradebook(f"sqlite:///{main}") as gb:
        gb.add_assignment("a1")
        gb.add_notebook("nb", "a1")
        gb.add_grade_cell("test_code", "nb", "a1", max_score=3, cell_type="code")
        gb.add_grade_cell("written", "nb", "a1", max_score=2, cell_type="markdown")
        gb.add_student("s")
        gb.add_submission("a1", "s")
    _copy_database(str(main), str(copy))
    with Gradebook(f"sqlite:///{copy}") as worker:  # what autograding writes
        before = _student_rows(worker, "a1", "s")
        worker.find_grade("test_code", "nb", "a1", "s").auto_score = 3
        worker.db.commit()
        after = _student_rows(worker, "a1", "s")
    with Gradebook(f"sqlite:///{main}") as gb:
        gb.find_grade("written", "nb", "a1", "s").manual_score = 1.5  # meanwhile, in the formgrader
        gb.db.commit()
        _merge(gb, "a1", "s", before, after)
    with Gradebook(f"sqlite:///{main}") as gb:
        assert gb.find_grade("test_code", "nb", "a1", "s").auto_score == 3
        assert gb.find_grade("written", "nb", "a1", "s").manual_score == 1.5
