"""Hardened autograding: plain `nbgrader autograde` with the course's nbgrader_config.py runs
hostile submissions (tests/grading/hostile_submissions.py) in the sandbox of autograder/kernel_manager.py.

One class of nine students grades exercise 1 once: two good students, and seven who each
attack with answers (some parts left correct) or with free cells: endless loops, memory,
process and forked-memory bombs, crashes and kills, output and disk floods, snooping and
writing outside the sandbox, patching the checks. For every case the
hostile student gets the grade the work deserves, the instructor's log says what happened,
the good students get exactly full marks, and the course directory is untouched."""
from __future__ import annotations

import csv
import html
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

import hostile_submissions as hostile
from conftest import ROOT, nbgrader, tool_env
from grading_helpers import course_tree, filled_in, make_course, require_sandbox, submit
from notebooks import as_submitted, cells_by_id, grading, solution_notebook

from autograder.feedback import unsafe_markup

limits = pytest.importorskip("autograder.limits")
kernel_manager = pytest.importorskip("autograder.kernel_manager")

CHAPTER = "01_embeddings"
TIMEOUT = 10  # seconds per cell for these tests (the course's default is 120)
MEMORY = 1 << 30  # 1 GiB of data memory per kernel process for these tests (the default is 4 GiB)
TOTAL_MEMORY = 3 << 29  # 1.5 GiB for all of a kernel's processes together (the default is 6 GiB)
DISK, FILES = 64 << 20, 1000  # what a kernel may add on disk in these tests (defaults: 256 MiB, 4096 files)
PERFECT = 9.0  # three autograded parts of 3 points (the written answer is graded by hand)


def _answer(grade_id: str) -> str:
    return as_submitted(cells_by_id(solution_notebook(CHAPTER))[grade_id].source)


def _student(course: Path, name: str, answers: dict[str, str] | None = None, free: list[str] | None = None) -> None:
    """Submit the model answers, with `answers` replacing some (by grade id) and `free` filling
    the free cells that follow the three test cells."""
    nb = filled_in(CHAPTER, course, answers)
    free_cells = [c for c in nb.cells if c.cell_type == "code" and not grading(c)]
    for cell, source in zip(free_cells, free or []):
        cell.source = source
    submit(course, name, CHAPTER, nb)


def test_kernel_threads_never_exceed_the_cores_nor_the_graders_setting(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert kernel_manager.SandboxedKernelManager().threads == min(4, os.cpu_count())
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert kernel_manager.SandboxedKernelManager().threads == 1
    assert kernel_manager.SandboxedKernelManager(threads=3).threads == 3  # an explicit setting wins


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Autograde the whole class once; returns (course, nbgrader's log, course tree before)."""
    require_sandbox()
    course = make_course(tmp_path_factory.mktemp("sandboxed") / "course", CHAPTER)
    _student(course, "a_good")
    _student(
        course, "b_looper",
        {"one_hot": hostile.INFINITE_LOOP + _answer("one_hot"), "embed": hostile.SLEEPING_EMBED},
        ["", "", hostile.UNINTERRUPTIBLE_LOOP],
    )
    _student(
        course, "c_bomber",
        {"one_hot": hostile.MEMORY_BOMB + _answer("one_hot"), "embed": hostile.PROCESS_BOMB + _answer("embed")},
        [hostile.MEMORY_BOMB_REPORT, hostile.PROCESS_BOMB_REPORT],
    )
    _student(
        course, "d_crasher",
        {"one_hot": hostile.EXIT_PROCESS + _answer("one_hot"),
         "cosine_similarity": hostile.SYS_EXIT + _answer("cosine_similarity")},
        [hostile.FORKED_MEMORY_BOMB],
    )
    _student(course, "e_killer", {"embed": hostile.KILLS_ITS_PARENT, "cosine_similarity": hostile.KILLS_ITSELF})
    _student(
        course, "f_flooder",
        {"one_hot": hostile.PRINT_FLOOD + _answer("one_hot"), "embed": hostile.FD_FLOOD + _answer("embed")},
        [hostile.DISK_FLOOD, hostile.FILE_FLOOD, hostile.DISPLAY_FLOOD],
    )
    # The clone this test runs from lies outside the graded course, as the clone an editable install
    # points at does when a copy of the course is graded (issue 25): its solutions must not be readable.
    reads = hostile.READS.replace("CLONE_SOLUTIONS", str(ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb"))
    _student(course, "g_snooper", free=[reads, hostile.WRITES, hostile.TRAPS])
    _student(
        course, "h_patcher",
        {"one_hot": hostile.PATCHES_COMPARISONS + hostile.HIDES_FAILURES + hostile.WRONG_ONE_HOT,
         "embed": hostile.WRONG_EMBED + hostile.PATCHES_THE_REFERENCE,
         "cosine_similarity": hostile.CALLS_THE_REFERENCE},
    )
    _student(course, "i_overwriter", {"embed": hostile.OVERWRITES_ITS_INPUTS, "explain_plot": hostile.MARKDOWN_SCRIPTS},
             [hostile.REPORT_BOMB, hostile.SCRIPTS, hostile.SPARSE_FILES])
    _student(course, "z_good")
    Path("/tmp/pwned-g_snooper.txt").unlink(missing_ok=True)

    before = course_tree(course)
    result = nbgrader(
        "autograde", CHAPTER, "--log-level=WARN",
        f"--ExecutePreprocessor.timeout={TIMEOUT}", f"--SandboxedKernelManager.memory_limit={MEMORY}",
        f"--SandboxedKernelManager.max_disk_bytes={DISK}", f"--SandboxedKernelManager.max_disk_files={FILES}",
        f"--SandboxedKernelManager.max_total_memory={TOTAL_MEMORY}",
        cwd=course,
    )
    return course, result.stdout + result.stderr, before


def _scores(course: Path) -> dict[str, float]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return {
            s.student.id: s.code_score for s in gradebook.find_assignment(CHAPTER).submissions
        }


def _part_scores(course: Path, student: str) -> dict[str, float]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(CHAPTER, CHAPTER, student)
        return {g.name: g.score for g in notebook.grades if g.cell_type == "code"}


def _assert_parts(course: Path, log: str, student: str, **points: float) -> None:
    """The student's score on each autograded part (test_<name>), with the log's end if not."""
    expected = {f"test_{name}": score for name, score in points.items()}
    assert _part_scores(course, student) == expected, log[-3000:]


def _outputs(course: Path, student: str) -> dict[str, str]:
    """Text of each cell's outputs in the graded notebook, by grade id or 'free <n>'."""
    nb = nbformat.read(course / "autograded" / student / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    found, free = {}, 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if grading(cell):
            key = grading(cell)["grade_id"]
        else:
            free += 1
            key = f"free {free}"
        found[key] = "\n".join(
            o.get("text", "") if o.output_type == "stream" else f"{o.get('ename', '')}: {o.get('evalue', '')}"
            for o in cell.outputs
        )
    return found


def _log_lines(log: str, student: str) -> str:
    return "\n".join(line for line in log.splitlines() if "[sandbox]" in line and f"'{student}'" in line)


@pytest.mark.slow
def test_good_students_get_exactly_full_marks(graded):
    course, log, _ = graded
    scores = _scores(course)
    assert scores["a_good"] == scores["z_good"] == PERFECT, log[-3000:]
    assert not _log_lines(log, "a_good") and not _log_lines(log, "z_good")


@pytest.mark.slow
def test_infinite_loop_sleep_and_ignored_interrupt_stop_at_the_time_limit(graded):
    course, log, _ = graded
    _assert_parts(course, log, "b_looper", one_hot=0, embed=0, cosine_similarity=3)
    out = _outputs(course, "b_looper")
    assert "CellTimeoutError" in out["one_hot"]
    assert "TimeoutError: your function did not return" in out["test_embed"]  # stopped in the learner kernel
    assert "CellTimeoutError" in out["free 3"]  # the interrupt-proof loop, stopped by a new kernel
    lines = _log_lines(log, "b_looper")
    assert lines.count("time limit") >= 3, lines
    assert "kernel replaced" in lines and "replaying" in lines, lines


@pytest.mark.slow
def test_memory_and_process_bombs_are_stopped_by_the_limits(graded):
    course, log, _ = graded
    _assert_parts(course, log, "c_bomber", one_hot=0, embed=0, cosine_similarity=3)
    out = _outputs(course, "c_bomber")
    assert "MemoryError" in out["one_hot"]
    held = int(out["free 1"].split("memory bomb: ")[1].split()[0])
    assert 0 < held <= MEMORY >> 20, f"the memory bomb held {held} MiB, more than the limit"
    assert "BlockingIOError" in out["embed"]
    started = int(out["free 2"].split("process bomb: ")[1].split()[0])
    assert 0 < started < kernel_manager.SandboxedKernelManager().max_processes, out["free 2"]
    lines = _log_lines(log, "c_bomber")
    assert "memory limit" in lines and "process limit" in lines, lines
    # Forked children each under the per-process limit: stopped by the limit on them all together
    # (d_crasher's first free cell: here the process bomb's zombies would leave no room to fork).
    forked = _outputs(course, "d_crasher")["free 1"]
    assert "memory limit of all its processes together reached" in forked and "not stopped" not in forked, forked
    assert "memory limit of all its processes together" in _log_lines(log, "d_crasher")


@pytest.mark.slow
def test_a_kernel_that_exits_or_is_killed_is_replaced_and_the_other_parts_keep_their_points(graded):
    course, log, _ = graded
    _assert_parts(course, log, "d_crasher", one_hot=0, embed=3, cosine_similarity=0)
    _assert_parts(course, log, "e_killer", one_hot=3, embed=0, cosine_similarity=0)
    crasher, killer = _outputs(course, "d_crasher"), _outputs(course, "e_killer")
    assert "DeadKernelError" in crasher["one_hot"] and "SystemExit" in crasher["cosine_similarity"]
    assert "DeadKernelError" in killer["test_cosine_similarity"]
    # Its parent in the sandbox is bwrap's init: as root the kernel runs as another user and may
    # not signal it; without root the whole sandbox dies. Either way the part scores 0 (above).
    assert "PermissionError" in killer["test_embed"] or "DeadKernelError" in killer["test_embed"]
    assert "the kernel exited" in _log_lines(log, "d_crasher")
    assert "SIGKILL" in _log_lines(log, "e_killer")


@pytest.mark.slow
def test_output_floods_are_truncated_and_cost_no_points(graded):
    course, log, _ = graded
    _assert_parts(course, log, "f_flooder", one_hot=3, embed=3, cosine_similarity=3)
    graded_notebook = course / "autograded" / "f_flooder" / CHAPTER / f"{CHAPTER}.ipynb"
    assert graded_notebook.stat().st_size < 1_500_000, "the graded notebook kept the flood"
    out = _outputs(course, "f_flooder")
    for key in ("one_hot", "free 3"):
        assert "output truncated by the grader" in out[key], key
    # What is written straight to the file descriptor reaches the grader late, if at all (ipykernel
    # forwards it from a thread): either truncated or lost, never kept whole.
    assert len(out["embed"]) < 300_000
    assert _log_lines(log, "f_flooder").count("output truncated") >= 2


@pytest.mark.slow
def test_filling_the_disk_kills_the_kernel_and_what_it_wrote_is_removed(graded):
    """Big files, then many small ones, in the submission's own folder: each flood is stopped
    near the limit, its files are gone, and the parts after it still get their points."""
    course, log, _ = graded
    _assert_parts(course, log, "f_flooder", one_hot=3, embed=3, cosine_similarity=3)
    out, lines = _outputs(course, "f_flooder"), _log_lines(log, "f_flooder")
    for key, flood in (("free 1", "disk flood"), ("free 2", "file flood")):
        assert "disk limit reached" in out[key] and f"{flood}: all written" not in out[key], out[key]
    incidents = [line for line in lines.splitlines() if "disk limit reached" in line and "in all" not in line]
    assert len(incidents) == 2 and "MiB" in incidents[0] and "1001 file(s)" in incidents[1], lines
    folder = course / "autograded" / "f_flooder" / CHAPTER
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in (
        course / "submitted" / "f_flooder" / CHAPTER).iterdir()), "the floods' files were left"


@pytest.mark.slow
def test_sparse_files_count_at_their_apparent_size(graded):
    """Files of holes (next to nothing allocated, 512 MiB to copy) stop at the disk limit like real
    ones: the kernel is stopped, the files are gone, so feedback has nothing to copy (issue 25)."""
    course, log, _ = graded
    _assert_parts(course, log, "i_overwriter", one_hot=3, embed=0, cosine_similarity=3)
    out = _outputs(course, "i_overwriter")["free 3"]
    assert "disk limit reached" in out and "all written" not in out, out
    assert "disk limit reached" in _log_lines(log, "i_overwriter")
    folder = course / "autograded" / "i_overwriter" / CHAPTER
    assert not list(folder.glob("sparse_*")), "the sparse files were left"


def test_what_a_kernel_added_on_disk_is_measured_and_removed(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "given.csv").write_bytes(b"x" * 10_000)
    before = limits.paths_under(str(tmp_path))
    (tmp_path / "data" / "new.bin").write_bytes(b"y" * 100_000)
    (tmp_path / "made" / "deeper").mkdir(parents=True)
    (tmp_path / "made" / "deeper" / "a.bin").write_bytes(b"z" * 50_000)
    (tmp_path / "link").symlink_to(tmp_path / "made")
    used, added = limits.added_on_disk(str(tmp_path), before, max_files=100)
    assert added == 5 and 150_000 <= used < 400_000  # new.bin, made, deeper, a.bin, link
    # A sparse file allocates almost nothing but copies in full (nbgrader's feedback copies the folder):
    # it counts at its apparent size.
    with open(tmp_path / "made" / "sparse.bin", "wb") as f:
        f.truncate(1 << 30)
    assert (tmp_path / "made" / "sparse.bin").stat().st_blocks * 512 < 1 << 20
    assert limits.added_on_disk(str(tmp_path), before, max_files=100)[0] >= used + (1 << 30)
    assert limits.added_on_disk(str(tmp_path), before, max_files=2)[1] == 3  # stops counting past the cap
    limits.remove_added(str(tmp_path), before)
    assert limits.paths_under(str(tmp_path)) == before and (tmp_path / "data" / "given.csv").stat().st_size == 10_000


@pytest.mark.slow
def test_reading_private_files_gets_nothing(graded):
    course, log, _ = graded
    out = _outputs(course, "g_snooper")["free 1"]
    assert "LEAKED" not in out, out
    for name in ("solutions", "gradebook", "config", "other submission", "other graded notebook",
                 "own notebook with hidden tests", "grader's home", "another clone's solutions"):
        assert f"{name}: denied" in out, out
    assert "students visible: ['g_snooper']" in out and "notebooks with hidden tests: none" in out, out


@pytest.mark.slow
def test_writing_outside_its_folder_changes_nothing(graded):
    course, log, before = graded
    assert _scores(course)["g_snooper"] == PERFECT, log[-3000:]
    out = _outputs(course, "g_snooper")
    assert "write in own folder: done" in out["free 2"], out["free 2"]
    for attempt in ("overwrite gradebook", "delete gradebook", "delete solutions", "write into solutions",
                    "overwrite another submission", "write into another graded folder",
                    "overwrite own graded notebook", "delete own graded notebook"):
        assert f"{attempt}: denied" in out["free 2"], out["free 2"]
    assert "replacing the notebook: denied" in out["free 3"], out["free 3"]
    # The course directory (solutions/, submissions, config, release) is byte-identical...
    assert course_tree(course) == before
    assert not (course / "pwned.txt").exists() and not Path("/tmp/pwned-g_snooper.txt").exists()
    assert not (course / "autograded" / "a_good" / CHAPTER / "pwned.txt").exists()
    # ...and what it left in its own folder is harmless: links and FIFOs removed, files the grader's.
    own = course / "autograded" / "g_snooper" / CHAPTER
    assert not (own / "evil_link").exists() and not (own / "evil_link").is_symlink()
    assert not (own / "a_fifo").exists()
    assert (own / "notes.txt").read_text() == "mine" and (own / "notes.txt").stat().st_uid == os.getuid()
    assert "removed links/special files" in _log_lines(log, "g_snooper")


@pytest.mark.slow
def test_patching_the_checks_or_calling_the_reference_earns_nothing(graded):
    """Comparisons, tracebacks, the reference and the course's helper patched: the tests run in
    the trusted kernel (autograder/split_execute.py), where none of it happened."""
    course, log, _ = graded
    _assert_parts(course, log, "h_patcher", one_hot=0, embed=0, cosine_similarity=0)
    out = _outputs(course, "h_patcher")
    assert "AssertionError" in out["test_one_hot"]  # the shape check fails: the traceback is not hidden
    assert "Mismatch" in out["test_embed"] or "AssertionError" in out["test_embed"]
    assert "ReferenceCalledError" in out["test_cosine_similarity"]
    assert "calls course_lib.embeddings.cosine_similarity" in out["test_cosine_similarity"]
    lines = _log_lines(log, "h_patcher")
    assert "the notebook replaced checking code" in lines, lines
    for name in ("numpy.testing.assert_allclose", "numpy.array_equal", "torch.testing.assert_close",
                 "torch.allclose", "IPython shell.showtraceback", "course_lib.grading.call_own_code",
                 "course_lib.embed", "course_lib.embeddings.embed"):
        assert name in lines, (name, lines)


@pytest.mark.slow
def test_an_answer_that_overwrites_its_inputs_earns_nothing_and_a_report_bomb_stops_nothing(graded):
    """Zeros written into the arrays a test passed, zeros returned: the test compares with what it
    computed from its own arrays, which the answer never touched (course_lib.grading.inputs_copied,
    and the trusted kernel never takes an array's new values back from the learner's)."""
    course, log, _ = graded
    _assert_parts(course, log, "i_overwriter", one_hot=3, embed=0, cosine_similarity=3)
    # Its kernel's report of changed checks is a JSON nesting past the parser's limit: said, and graded.
    assert "(the report of the learner kernel was unreadable)" in _log_lines(log, "i_overwriter")


def _hidden_test_lines() -> list[str]:
    """Every line of the chapter's hidden tests that says something (not a bare bracket)."""
    lines, hidden = [], False
    for cell in solution_notebook(CHAPTER).cells:
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line or "END HIDDEN TESTS" in line:
                hidden = "BEGIN" in line
            elif hidden and len(line.strip()) > 12:
                lines.append(line.strip())
    return lines


@pytest.mark.slow
def test_feedback_shows_scores_and_messages_but_not_the_hidden_tests(graded):
    course, _, _ = graded
    nbgrader("generate_feedback", CHAPTER, "--log-level=WARN", cwd=course)
    hidden = _hidden_test_lines()
    assert len(hidden) >= 10
    for student in ("a_good", "h_patcher"):
        page = (course / "feedback" / student / CHAPTER / f"{CHAPTER}.html").read_text()
        text = html.unescape(re.sub(r"<[^>]+>", "", page))  # as a reader sees it
        assert f"Score: {PERFECT if student == 'a_good' else 0.0} / 11.0" in text  # 2 points graded by hand
        assert "BEGIN HIDDEN TESTS" not in text
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"{student}'s feedback shows hidden tests: {leaked[:3]}"
        assert "hidden tests: their result is above" in text
        assert not re.search(r"<script[^>]+src=|<link[^>]+href=\"http", page), "feedback loads from the web"
    # Scripts a submission displayed or printed are inert, in the graded notebook (what the formgrader
    # shows) and in the feedback page.
    graded_nb = nbformat.read(course / "autograded" / "i_overwriter" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    displayed = [o.get("data", {}) for c in graded_nb.cells if c.cell_type == "code" for o in c.outputs]
    html_out = "".join(d.get("text/html", "") + d.get("text/markdown", "") for d in displayed)
    assert "kept bold" in html_out and "&lt;script&gt;alert('html')" in html_out and "<script" not in html_out
    assert not any("application/javascript" in d for d in displayed)  # (printed text stays text: pages escape it)
    page = (course / "feedback" / "i_overwriter" / CHAPTER / f"{CHAPTER}.html").read_text()
    assert "kept bold" in page and "alert('printed')" in html.unescape(page)
    assert not re.search(r"<script[^>]*>\s*alert", page), "a submission's script is live in its feedback"
    # The written answer's script, event handler and javascript: links: the graded notebook shows the
    # answer as text (its rendering holds nothing active), and so do the page the formgrader makes of it
    # (nbgrader's template does not sanitise Markdown) and the feedback; the instructor can still grade it.
    answer = cells_by_id(graded_nb)["explain_plot"].source
    assert "The grader shows this cell as text" in answer and "orthogonal" in answer
    assert not unsafe_markup(answer), answer
    formgrade_page = _as_the_formgrader_shows(course / "autograded" / "i_overwriter" / CHAPTER / f"{CHAPTER}.ipynb")
    for shown in (formgrade_page, page):
        assert "alert('answer')" in html.unescape(shown)
        assert not _live_alerts(shown), _live_alerts(shown)
    patcher = html.unescape(re.sub(r"<[^>]+>", "", (course / "feedback" / "h_patcher" / CHAPTER /
                                                     f"{CHAPTER}.html").read_text()))
    assert "ReferenceCalledError: your answer calls course_lib.embeddings.cosine_similarity" in patcher


def _live_alerts(page: str) -> list[str]:
    """The `alert(` a browser would run in `page`: in a script element, an event handler or a
    javascript: link (text that merely shows such code, escaped, is not live)."""
    from html.parser import HTMLParser

    class Finder(HTMLParser):
        def __init__(self):
            super().__init__()
            self.live: list[str] = []
            self.in_script = False

        def handle_starttag(self, tag, attrs):
            self.in_script = tag == "script"
            self.live += [f"<{tag} {name}>" for name, value in attrs if "alert(" in (value or "") and (
                name.startswith("on") or name in ("href", "src"))]

        def handle_data(self, data):
            if self.in_script and "alert(" in data:
                self.live.append("<script>")

    finder = Finder()
    finder.feed(page)
    return finder.live


def _as_the_formgrader_shows(notebook: Path) -> str:
    """The page nbgrader's formgrader makes of a graded notebook: its HTMLExporter and template."""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers

    exporter = HTMLExporter(template_name="formgrade", extra_template_basedirs=[handlers.template_path])
    resources = {"assignment_id": CHAPTER, "notebook_id": CHAPTER, "submission_id": "x", "index": 0, "total": 1,
                 "base_url": "", "student": "s", "last_name": "", "first_name": "", "notebook_path": "x"}
    return exporter.from_filename(str(notebook), resources=resources)[0]


@pytest.mark.slow
def test_gradebook_is_intact_and_exports(graded):
    course, log, _ = graded
    with sqlite3.connect(course / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    nbgrader("export", "--to", "grades.csv", "--log-level=WARN", cwd=course)
    with open(course / "grades.csv", newline="") as table:
        exported = {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(table)}
    assert exported == {
        "a_good": 9, "b_looper": 3, "c_bomber": 3, "d_crasher": 3, "e_killer": 3,
        "f_flooder": 9, "g_snooper": 9, "h_patcher": 0, "i_overwriter": 6, "z_good": 9,
    }, log[-3000:]


@pytest.mark.slow
def test_autograde_refuses_to_run_without_bubblewrap(tmp_path):
    """Without bwrap on PATH nothing is run: the submission is not graded and the log says why."""
    course = make_course(tmp_path / "course", CHAPTER)
    _student(course, "a_good")
    env = tool_env()
    env["PATH"] = str(Path(sys.executable).parent)  # the venv only: no bwrap, prlimit or setpriv
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", "autograde", CHAPTER, "--log-level=WARN"],
        cwd=course, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0
    assert "refusing to run" in result.stderr and "bubblewrap" in result.stderr, result.stderr[-3000:]
    assert not (course / "autograded" / "a_good" / CHAPTER / f"{CHAPTER}.ipynb").exists()


def test_sandbox_command_hides_the_private_paths(tmp_path):
    """The bwrap command (no kernel started): only the course's public entries are shown."""
    course = tmp_path / "course"
    for folder in ("solutions/ch", "submitted/s/ch", "autograded/s/ch", "autograded/t/ch", "exercises/ch",
                   "public/private_inside", ".git"):
        (course / folder).mkdir(parents=True)
    for name in ("gradebook.db", "nbgrader_config.py", "README.md"):
        (course / name).write_text("x")
    (course / "link_to_solutions").symlink_to(course / "solutions")
    km = kernel_manager.SandboxedKernelManager()
    km.course_root = str(course)
    km.private_paths = [str(course / p) for p in ("solutions", "submitted", "autograded", "gradebook.db",
                                                  "nbgrader_config.py", ".git", "public/private_inside")]
    km._workdir = str(course / "autograded" / "s" / "ch")
    km._sandbox_dir = str(tmp_path / "sockets")
    km._uid = 64900 if os.geteuid() == 0 else None
    command = km.sandbox_command(["python", "-m", "ipykernel_launcher"])
    shown = {command[i + 1] for i, arg in enumerate(command) if arg in ("--bind", "--ro-bind")}
    assert {str(course / "exercises"), str(course / "README.md"), str(course / "public")} <= shown
    for private in ("solutions", "submitted", "gradebook.db", "nbgrader_config.py", ".git", "link_to_solutions",
                    "autograded/t/ch", "autograded"):
        assert str(course / private) not in shown, private
    def follows(*args):
        return any(command[i : i + len(args)] == list(args) for i in range(len(command)))

    assert follows("--tmpfs", str(course))  # the course root is rebuilt from its public entries
    assert follows("--tmpfs", str(course / "public" / "private_inside"))  # a private path inside a public one
    assert follows("--bind", km._workdir, km._workdir)  # the only writable folder on disk...
    assert follows("--bind", km._sandbox_dir, km._sandbox_dir)  # ...with the kernel's sockets
    # An allowlist: the machine's root is not shown, only the system's folders and what Python needs.
    assert not follows("--ro-bind", "/", "/") and follows("--ro-bind", "/usr", "/usr")
    assert str(ROOT / "solutions") not in shown and str(ROOT) not in shown  # the clone this test runs from
    assert follows("--unshare-net") and follows("--unshare-pid")
    assert command[-3:] == ["python", "-m", "ipykernel_launcher"]
    assert ("setpriv" in " ".join(command)) == (os.geteuid() == 0)
