"""Autograde a whole class in parallel, into one consistent gradebook.

Run it from the course root, like ``nbgrader autograde``::

    python -m autograder.parallel 01_embeddings              # every submission, one worker per CPU
    python -m autograder.parallel 01_embeddings --jobs 4 --student 'a*' bob --force --log-level=WARN

Options it does not know (``--force``, ``--log-level=WARN``, ``--ExecutePreprocessor.timeout=300``,
``--SandboxedKernelManager.memory_limit=...``) are nbgrader's, passed on as they are; give them as
``--name=value``. The course's ``nbgrader_config.py`` is loaded exactly as ``nbgrader autograde`` loads
it, so every submission runs in the sandbox of :mod:`autograder.kernel_manager` (the command refuses to run
with a configuration that would not sandbox the kernels).

How it works, and why the gradebook stays consistent
----------------------------------------------------
* **Workers.** ``--jobs`` processes start at once and import nbgrader while this one prepares the run
  (importing nbgrader costs a process seconds, as much as grading a submission, so each worker does
  it once); each then runs nbgrader's own ``Autograde`` converter, the one behind
  ``nbgrader autograde ASSIGNMENT --student S``, for one student at a time, taking the next student as
  soon as it is free. A failure is contained: nbgrader reports it for that student only, and a
  worker that dies is replaced (its student is reported as failed, its autograded folder removed so
  that a later run grades it again).
* **One writer to the gradebook.** Each worker writes to a private copy of ``gradebook.db`` (made with
  SQLite's backup API, in a 0700 folder outside the course). Concurrent nbgrader processes on one SQLite
  file do work on a local disk while every write transaction is short (pysqlite waits 5 s for a lock),
  but a lock held longer (an export, the formgrader, a slow or network file system, where SQLite's
  locking is unreliable) makes nbgrader abort the whole run with a "database" error. Here only this
  process writes ``gradebook.db``: for each student the worker sends back the student's rows (student,
  submission, its notebooks, grades and comments) as they were before and after grading, and this
  process applies, with nbgrader's API, exactly the columns that grading changed (a three-way merge:
  a manual grade entered meanwhile in the formgrader is kept). Autograding one student writes no other
  rows (assignments, notebooks and source cells belong to ``generate_assignment``), so the result is
  the gradebook serial ``nbgrader autograde`` would have written; tests/grading/test_parallel_grading.py checks
  it row by row. A worker checks that claim for every student (a digest of every other row of its
  gradebook before and after) and reports the student as failed, unmerged, if grading changed
  anything else. The merge happens as each student finishes, so an interrupted run keeps what was
  graded.
* **The sandbox, per worker.** The private copies, and the course's ``gradebook.db`` itself (no longer
  the database nbgrader is told about), are added to the sandbox's hidden paths. As root, the
  sandbox locks each kernel's uid for as long as the kernel lives, so kernels of different workers
  never share one (the clean-up of one would kill the other).
* **Output.** Each student's log is captured in its worker and printed as one block, in the students'
  order, followed by a summary; the exit status is 1 when any student failed.

Speed, beyond running ``--jobs`` submissions at once (benchmarks/grading.py, benchmarks/RESULTS.md):

* kernels are stopped at once (``NotebookClient.shutdown_kernel = "immediate"``, unless the course
  configured it) instead of nbgrader's graceful shutdown (an interrupt, a request, then 0.1 s polls:
  0.22 s against 0.12 s per kernel on a quiet machine, up to 0.8 s against 0.12 s on a busy one);
  every output of the notebook has arrived by then, so the grades are the same, and the sandbox is
  cleaned up as before;
* the workers leave without Python's slow finalization of everything nbgrader imported.
"""
from __future__ import annotations

import argparse
import fnmatch
import glob
import os
import queue
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback

from autograder.gradebook_merge import merge, quiet_known_warnings
from autograder.parallel_worker import SetupError, Worker

__all__ = ["main"]


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class _Run:
    def __init__(self, app, assignment: str, students: list[str], workers: list[Worker], private: str,
                 nbgrader_args: list[str]):
        from autograder.kernel_manager import SandboxedKernelManager

        self.app, self.assignment, self.students = app, assignment, students
        self.nbgrader_args, self.workers, self.jobs = nbgrader_args, workers, len(workers)
        self.root = os.path.realpath(app.coursedir.root)
        db_url = app.coursedir.db_url
        if not db_url.startswith("sqlite:///"):
            raise SetupError(f"only an SQLite gradebook can be graded in parallel (db_url is {db_url!r}); "
                         "use nbgrader autograde")
        self.main_url = db_url
        self.main_db = os.path.join(self.root, db_url[len("sqlite:///"):])
        km = SandboxedKernelManager(config=app.config)
        self.private = private
        self.private_paths = list(km.extra_private_paths) + [self.private] + [
            self.main_db + suffix for suffix in ("", "-journal", "-wal", "-shm")]
        self.pending: queue.Queue[str] = queue.Queue()
        for student in students:
            self.pending.put(student)
        self.results: queue.Queue[dict] = queue.Queue()
        self.stopping = threading.Event()

    def execute(self, report) -> None:
        """Grade every pending student; `report` (called in this thread) merges and prints each
        result. Whatever happens (a worker that cannot start, Ctrl-C), the results of the students
        being graded are still reported before this returns or raises."""
        workers = self.workers
        for worker in workers:
            worker.run = self
        threads = [threading.Thread(target=w.loop, name=f"grading-worker-{w.slot}", daemon=True) for w in workers]
        for thread in threads:
            thread.start()
        fatal = []

        def drain() -> None:
            while True:
                alive = any(t.is_alive() for t in threads)
                try:
                    message = self.results.get(timeout=0.2)
                except queue.Empty:
                    if not alive:
                        return
                    continue
                if "fatal" in message:
                    fatal.append(message["fatal"])
                    self.stopping.set()  # no new student; those being graded finish
                else:
                    report(message)

        try:
            drain()
        except KeyboardInterrupt:
            self.stopping.set()
            print("interrupted: finishing the submissions being graded (Ctrl-C again to abandon them)",
                  file=sys.stderr, flush=True)
            drain()
            raise
        finally:
            self.stopping.set()
            for thread in threads:
                thread.join(timeout=60)
        if fatal:
            raise SetupError(fatal[0])



def _first_error(log: str, error: str | None) -> str:
    """The most telling line of a failure: the last 'SomethingError: ...' of its log or traceback."""
    pattern = re.compile(r"^\s*([\w.]+(Error|Exception|Exit|Interrupt)\b.*)$")
    for text in (log, error or ""):
        found = [m.group(1) for line in text.splitlines() if (m := pattern.match(line))]
        if found:
            return found[-1][:300]
    return (error or "unknown error").strip().splitlines()[-1][:300]


def _list_students(app, assignment: str, patterns: list[str] | None) -> list[str]:
    """The students with notebooks submitted for the assignment, as nbgrader finds them."""
    from nbgrader.converters import Autograde, NbGraderException

    converter = Autograde(coursedir=app.coursedir, parent=app)
    saved = app.coursedir.assignment_id, app.coursedir.student_id
    app.coursedir.assignment_id = assignment  # student_id: "*" unless configured (CourseDirectory.student_id)
    try:
        converter.init_notebooks()
        regexp = converter._format_source("(?P<assignment_id>.*)", "(?P<student_id>.*)", escape=True)
        # Also the submission folders without a notebook: autograder.intake grades them 0 (with a line
        # saying why), as plain `nbgrader autograde` does with the course's config.
        folders = {f for f in glob.glob(converter._format_source(assignment, app.coursedir.student_id))
                   if os.path.isdir(f) and not os.path.islink(f)} | set(converter.assignments)
        students = sorted({m.group("student_id") for m in (re.match(regexp, f) for f in folders) if m})
    except NbGraderException as error:
        raise SetupError(str(error)) from None
    finally:
        app.coursedir.assignment_id, app.coursedir.student_id = saved
    if patterns:
        students = [s for s in students if any(fnmatch.fnmatchcase(s, p) for p in patterns)]
        if not students:
            raise SetupError(f"no submission of {assignment} matches --student {' '.join(patterns)}")
    return students


def _check_sandboxed(app) -> None:
    from nbgrader.converters import Autograde
    from traitlets.utils.importstring import import_item

    from autograder.execute import SandboxedExecute
    from autograder.kernel_manager import SandboxedKernelManager, check_sandbox

    steps = [import_item(p) if isinstance(p, str) else p
             for p in Autograde(coursedir=app.coursedir, parent=app).autograde_preprocessors]
    if not any(isinstance(s, type) and issubclass(s, SandboxedExecute) for s in steps):
        raise SetupError("this nbgrader configuration does not run submissions in autograder's sandbox "
                     "(Autograde.autograde_preprocessors): run the command from the course root, where the "
                     "course's nbgrader_config.py is")
    problem = check_sandbox()
    if problem and not SandboxedKernelManager(config=app.config).allow_unsandboxed:
        raise SetupError(f"refusing to grade: the sandbox cannot run here: {problem}")


def _check_reference(app, assignment: str) -> None:
    """The reference solution must earn every automatic point in the sandbox (autograder.preflight),
    checked once here rather than in each worker; unless the course turned the check off."""
    from autograder.intake import SubmissionExporter
    from autograder.preflight import PreflightFailed, check_reference

    if not SubmissionExporter(config=app.config).preflight:
        return
    try:
        print(check_reference(assignment, app.coursedir, app.config, app.log), flush=True)
    except PreflightFailed as error:
        raise SetupError(str(error)) from None


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.parallel",
        description="Autograde every submission of an assignment with nbgrader, several at a time, "
        "into the course's one gradebook. Run it from the course root (its nbgrader_config.py, and so "
        "the sandbox, is used). Other --options are nbgrader autograde's, e.g. --force, --log-level=WARN, "
        "--ExecutePreprocessor.timeout=300 (give them as --name=value).",
    )
    parser.add_argument("assignment", help="the assignment to grade, e.g. 01_embeddings")
    parser.add_argument("--jobs", "-j", type=int, default=default_jobs(),
                        help="submissions graded at once (default: the number of CPUs, %(default)s here)")
    parser.add_argument("--student", nargs="+", action="extend", metavar="ID",  # repeatable: the lists add up
                        help="grade only these students (ids or nbgrader-style patterns such as 'a*')")
    args, nbgrader_args = parser.parse_known_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    stray = [a for a in nbgrader_args if not a.startswith("-")]
    if stray:
        parser.error(f"unexpected argument(s) {' '.join(stray)} (give nbgrader's options as --name=value)")
    return args, nbgrader_args


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, nbgrader_args = parse_args(argv)
    start = time.perf_counter()
    # The workers start first: each imports nbgrader (seconds) while this process does the same.
    private = tempfile.mkdtemp(prefix="nbgrader-parallel-")  # mode 0700; the gradebook copies, worker logs
    pool = [Worker(private, slot) for slot in range(args.jobs)]
    try:
        return _grade_class(args, nbgrader_args, pool, private, start)
    finally:
        for worker in pool:
            worker.stop()
        shutil.rmtree(private, ignore_errors=True)


def _grade_class(args, nbgrader_args: list[str], pool: list[Worker], private: str, start: float) -> int:
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.apps.autogradeapp import AutogradeApp

    quiet_known_warnings()
    app = AutogradeApp()
    app.initialize([args.assignment, *nbgrader_args])
    out = sys.stdout
    try:
        _check_sandboxed(app)
        students = _list_students(app, args.assignment, args.student)
        _check_reference(app, args.assignment)
        for worker in pool[len(students):]:  # more workers than submissions
            worker.stop()
        run = _Run(app, args.assignment, students, pool[: len(students)], private, nbgrader_args)
        with Gradebook(run.main_url, app.coursedir.course_id) as gb:
            try:
                gb.find_assignment(args.assignment)
            except MissingEntry:
                raise SetupError(f"no assignment {args.assignment!r} in {run.main_db}: run nbgrader "
                             "generate_assignment first") from None
    except SetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    total, width = len(students), len(str(len(students)))
    print(f"Grading {total} submission(s) of {args.assignment} with {run.jobs} worker(s), sandboxed; "
          f"gradebook {run.main_db}", file=out, flush=True)
    done: dict[str, dict] = {}
    order = {s: i for i, s in enumerate(students)}
    printed = 0
    logfile = open(app.logfile, "a") if app.logfile else None  # noqa: SIM115 (closed below)
    interrupted = False

    with Gradebook(run.main_url, app.coursedir.course_id) as gb:

        def report(message: dict) -> None:
            nonlocal printed
            student = message["student"]
            if message.get("after") is not None:
                try:
                    merge(gb, args.assignment, student, message["before"], message["after"])
                except Exception:  # noqa: BLE001 (this student's grades could not be saved)
                    gb.db.rollback()
                    message.update(status="failed", error="could not save the grades in the gradebook:\n"
                                   + traceback.format_exc())
            if message.get("died"):
                folder = app.coursedir.format_path(app.coursedir.autograded_directory, student, args.assignment)
                if os.path.isdir(folder):
                    shutil.rmtree(folder, ignore_errors=True)
                    message["log"] += f"\nremoved {folder}, so that the next run grades it again"
            if message["status"] == "graded":
                try:
                    submission = gb.find_submission(args.assignment, student)
                    message["score"] = (submission.score, submission.max_score, submission.needs_manual_grade)
                except MissingEntry:
                    pass
            done[student] = message
            while printed < total and students[printed] in done:
                _print_block(done[students[printed]], printed + 1, total, width, out, logfile)
                printed += 1

        try:
            run.execute(report)
        except SetupError as error:
            print(f"error: {error}", file=sys.stderr)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if logfile:
                logfile.close()

    seconds = time.perf_counter() - start
    failed = [s for s in students if done.get(s, {}).get("status") == "failed"]
    skipped = [s for s in students if done.get(s, {}).get("status") == "skipped"]
    missing = [s for s in students if s not in done]
    graded = total - len(failed) - len(skipped) - len(missing)
    print(f"\n{graded} graded, {len(skipped)} skipped (already autograded; --force grades them again), "
          f"{len(failed)} failed, {len(missing)} not graded; {total} submission(s) of {args.assignment} in "
          f"{seconds:.1f} s with {run.jobs} worker(s) ({seconds / max(total, 1):.2f} s per submission)", file=out)
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=out)
    if missing:
        print(f"NOT GRADED: {', '.join(sorted(missing, key=order.get))}", file=out)
    out.flush()
    if interrupted:
        return 130
    return 1 if failed or missing else 0


def _print_block(message: dict, index: int, total: int, width: int, out, logfile) -> None:
    student, status = message["student"], message["status"]
    head = f"[{index:{width}d}/{total}] {student}: "
    seconds = f" ({message.get('seconds', 0):.1f} s)" if "seconds" in message else ""
    if status == "graded":
        score = message.get("score")
        head += "graded" + seconds
        if score:
            head += f", score {score[0]:g} of {score[1]:g}" + (" (needs manual grading)" if score[2] else "")
    elif status == "skipped":
        head += "skipped, already autograded (--force grades it again)"
    else:
        head += f"FAILED{seconds}: {_first_error(message.get('log', ''), message.get('error'))}"
    lines = [head]
    body = message.get("log", "").rstrip()
    if status == "failed" and message.get("error") and "| ERROR]" not in body:
        body = (body + "\n" + message["error"].rstrip()).strip()  # nbgrader logged nothing: the traceback
    lines += ["    " + line for line in body.splitlines()]
    text = "\n".join(lines) + "\n"
    out.write(text)
    out.flush()
    if logfile:
        logfile.write(text)
        logfile.flush()


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # without Python's finalization of everything nbgrader imported (a second or more)
