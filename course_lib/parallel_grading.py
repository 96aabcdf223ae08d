"""Autograde a whole class in parallel, into one consistent gradebook.

Run it from the course root, like ``nbgrader autograde``::

    python -m course_lib.parallel_grading 01_embeddings              # every submission, one worker per CPU
    python -m course_lib.parallel_grading 01_embeddings --jobs 4 --student 'a*' bob --force --log-level=WARN

Options it does not know (``--force``, ``--log-level=WARN``, ``--ExecutePreprocessor.timeout=300``,
``--SandboxedKernelManager.memory_limit=...``) are nbgrader's, passed on as they are; give them as
``--name=value``. The course's ``nbgrader_config.py`` is loaded exactly as ``nbgrader autograde`` loads
it, so every submission runs in the sandbox of :mod:`course_lib.sandbox` (the command refuses to run
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
  the gradebook serial ``nbgrader autograde`` would have written; tests/test_parallel_grading.py checks
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
* the processes skip building jsonschema's IRI parser (see :func:`_skip_slow_imports`), about 2 s each;
* the workers leave without Python's slow finalization of everything nbgrader imported.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import fnmatch
import glob
import io
import json
import logging
import os
import queue
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback

__all__ = ["main", "gradebook_rows"]


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# --------------------------------------------------------------------------------------
# The gradebook rows of one student, and the merge
# --------------------------------------------------------------------------------------


def _quiet_known_warnings() -> None:
    """SQLAlchemy 2.1 warns "Object of type <SubmittedAssignment> not in session" whenever nbgrader
    creates a submission; the rows are right (the same warning comes from plain nbgrader autograde)."""
    import warnings

    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", message=r"Object of type <\w+> not in session", category=SAWarning)


def _encode(value):
    if isinstance(value, _dt.datetime):
        return {"$datetime": value.isoformat()}
    return value


def _decode(value):
    if isinstance(value, dict) and "$datetime" in value:
        return _dt.datetime.fromisoformat(value["$datetime"])
    return value


def _columns(row) -> dict:
    """Every stored column of an nbgrader ORM row but its keys (ids and references), JSON-ready."""
    return {c.key: _encode(getattr(row, c.key)) for c in type(row).__table__.columns
            if not c.primary_key and not c.foreign_keys}


def _student_rows(gb, assignment: str, student: str) -> dict:
    """What autograding `student` may write: the student, the submission, and per notebook its
    row, grades and comments (by cell name)."""
    from nbgrader.api import MissingEntry

    rows = {"student": None, "submission": None, "notebooks": {}}
    try:
        rows["student"] = _columns(gb.find_student(student))
        submission = gb.find_submission(assignment, student)
    except MissingEntry:
        return rows
    rows["submission"] = _columns(submission)
    for notebook in submission.notebooks:
        rows["notebooks"][notebook.name] = {
            "row": _columns(notebook),
            "grades": {grade.name: _columns(grade) for grade in notebook.grades},
            "comments": {comment.name: _columns(comment) for comment in notebook.comments},
        }
    return rows


def gradebook_rows(db_url: str, assignment: str, course_id: str = "") -> dict[str, dict]:
    """Every submission of `assignment` in a gradebook, by student: each stored column of the
    student, submission, notebook, grade and comment rows (ids left out). Two gradebooks that
    graded the same class the same way give equal results."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course_id) as gb:
        return {s.student.id: _student_rows(gb, assignment, s.student.id)
                for s in gb.find_assignment(assignment).submissions}


def _apply(row, before: dict | None, after: dict) -> None:
    """Set the columns that grading changed (after differs from before); with no before (a row
    this gradebook did not have), every column that differs from the row as it is."""
    for key, value in after.items():
        old = before[key] if before is not None else _encode(getattr(row, key))
        if value != old:
            setattr(row, key, _decode(value))


def _merge(gb, assignment: str, student: str, before: dict, after: dict) -> None:
    """Apply one student's grading, read from a worker's gradebook, to `gb` (nbgrader's API)."""
    from nbgrader.api import MissingEntry

    if after["student"] is None:
        return  # nbgrader failed before writing anything
    try:
        row = gb.find_student(student)
        known = before["student"] is not None
    except MissingEntry:
        row, known = gb.update_or_create_student(student), False
    _apply(row, before["student"] if known else None, after["student"])
    if after["submission"] is not None:
        try:
            submission = gb.find_submission(assignment, student)
            known = known and before["submission"] is not None
        except MissingEntry:  # created with every notebook, grade and comment of the assignment
            submission, known = gb.update_or_create_submission(assignment, student), False
        _apply(submission, before["submission"] if known else None, after["submission"])
        for name, notebook in after["notebooks"].items():
            old = before["notebooks"].get(name) if known else None
            _apply(gb.find_submission_notebook(name, assignment, student), old and old["row"], notebook["row"])
            for cell, grade in notebook["grades"].items():
                _apply(gb.find_grade(cell, name, assignment, student), old and old["grades"].get(cell), grade)
            for cell, comment in notebook["comments"].items():
                _apply(gb.find_comment(cell, name, assignment, student), old and old["comments"].get(cell), comment)
    gb.db.commit()


# The tables of a student's rows; autograding one student must change nothing else.
_OWN_NOTEBOOKS = ("notebook_id IN (SELECT n.id FROM submitted_notebook n JOIN submitted_assignment a "
                  "ON n.assignment_id = a.id WHERE a.student_id = :s)")
_STUDENT_ROWS = {
    "student": "id = :s",
    "submitted_assignment": "student_id = :s",
    "submitted_notebook": "assignment_id IN (SELECT id FROM submitted_assignment WHERE student_id = :s)",
    "grade": _OWN_NOTEBOOKS,
    "comment": _OWN_NOTEBOOKS,
}


def _others_fingerprint(db_path: str, student: str) -> dict[str, str]:
    """A digest of every table of the gradebook, the student's own rows left out: if grading a
    student changed anything else, the merge (which copies the student's rows) would lose it."""
    import hashlib

    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        digests = {}
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
            where = f" WHERE NOT ({_STUDENT_ROWS[table]})" if table in _STUDENT_ROWS else ""
            digest = hashlib.sha256()
            for row in db.execute(f'SELECT * FROM "{table}"{where} ORDER BY rowid', {"s": student}):
                digest.update(repr(row).encode())
            digests[table] = digest.hexdigest()
        return digests
    finally:
        db.close()


def _copy_database(source: str, target: str) -> None:
    """A consistent copy of an SQLite database, even while it is being written (backup API)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
    finally:
        src.close()
        dst.close()


# --------------------------------------------------------------------------------------
# The worker: nbgrader's Autograde, one student after another
# --------------------------------------------------------------------------------------

_FORMAT = "[%(name)s | %(levelname)s] %(message)s"


def _worker() -> None:
    """A worker process: it imports nbgrader while the parent gets ready, then reads its settings
    and one student after another (JSON lines) on stdin, and answers each on stdout."""
    # Results go to the original stdout; anything else printed (by nbgrader, a library) goes to stderr.
    results = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def send(message: dict) -> None:
        results.write(json.dumps(message) + "\n")

    def leave() -> None:
        # Without Python's own finalization of everything nbgrader imported (a second or more).
        results.flush()
        sys.stderr.flush()
        os._exit(0)

    from nbgrader.apps.autogradeapp import AutogradeApp
    from nbgrader.api import Gradebook
    from nbgrader.converters import Autograde
    from traitlets.config import Config
    from traitlets.utils.importstring import import_item

    from course_lib.sandbox import SandboxedKernelManager

    class _Autograde(Autograde):
        processed = False

        def init_destination(self, assignment_id, student_id):
            self.processed = super().init_destination(assignment_id, student_id)
            return self.processed

    line = sys.stdin.readline()
    if not line:
        leave()  # not needed after all
    spec = json.loads(line)
    app = AutogradeApp.instance()  # the global application: the kernel managers log to its log
    app.initialize([spec["assignment"], *spec["nbgrader_args"]])
    for handler in list(app.log.handlers):  # nbgrader's log file, if configured: the parent writes it in order
        if isinstance(handler, logging.FileHandler):
            app.log.removeHandler(handler)
            handler.close()
    extra = {"SandboxedKernelManager": {"extra_private_paths": spec["private_paths"]}}
    steps = [import_item(p) if isinstance(p, str) else p
             for p in Autograde(coursedir=app.coursedir, parent=app).autograde_preprocessors]
    configurable = {c.__name__ for step in steps if isinstance(step, type) for c in step.__mro__}
    if not any("shutdown_kernel" in app.config.get(name, {}) for name in configurable):
        extra["NotebookClient"] = {"shutdown_kernel": "immediate"}  # unless the course chose
    app.update_config(Config(extra))
    app.coursedir.db_url = spec["db_url"]
    km = SandboxedKernelManager(config=app.config)
    assert km.extra_private_paths == spec["private_paths"] and app.coursedir.db_url == spec["db_url"]
    course_id, assignment = app.coursedir.course_id, spec["assignment"]
    db_path = spec["db_url"][len("sqlite:///"):]
    logging.captureWarnings(True)  # other warnings go to the student's block
    _quiet_known_warnings()
    send({"ready": os.getpid()})

    for line in sys.stdin:
        student = json.loads(line)["student"]
        start = time.perf_counter()
        buffer = io.StringIO()
        handler = logging.StreamHandler(buffer)
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.setLevel(app.log_level)  # as nbgrader's own handler (its logger lets everything through)
        loggers = [app.log, logging.getLogger("py.warnings")]
        for logger in loggers:
            logger.addHandler(handler)
        status, error, before, after = "graded", None, None, None
        try:
            others = _others_fingerprint(db_path, student)
            with Gradebook(spec["db_url"], course_id) as gb:
                before = _student_rows(gb, assignment, student)
            converter = _Autograde(coursedir=app.coursedir, parent=app)
            saved = app.coursedir.assignment_id, app.coursedir.student_id
            app.coursedir.assignment_id, app.coursedir.student_id = assignment, glob.escape(student)
            try:
                converter.start()
            finally:
                app.coursedir.assignment_id, app.coursedir.student_id = saved
            if not converter.processed:
                status = "skipped"
        except Exception:  # noqa: BLE001 (this student's failure, reported; the next one is graded)
            status, error = "failed", traceback.format_exc()
        finally:
            for logger in loggers:
                logger.removeHandler(handler)
        if before is not None:
            try:
                with Gradebook(spec["db_url"], course_id) as gb:
                    after = _student_rows(gb, assignment, student)
                changed = sorted(t for t, d in _others_fingerprint(db_path, student).items() if others.get(t) != d)
                if changed:
                    status, after = "failed", None
                    error = (f"grading this student changed gradebook rows that are not the student's own (tables "
                             f"{', '.join(changed)}): parallel grading cannot merge them; use nbgrader autograde")
            except Exception:  # noqa: BLE001
                status, error = "failed", traceback.format_exc()
        send({"student": student, "status": status, "error": error, "log": buffer.getvalue(),
              "seconds": time.perf_counter() - start, "before": before, "after": after})
    leave()


# --------------------------------------------------------------------------------------
# The parent: workers, merge, report
# --------------------------------------------------------------------------------------


class _Setup(RuntimeError):
    """The class cannot be graded at all (nothing was run)."""


class _Worker:
    """One worker process and the thread that feeds it students."""

    def __init__(self, private: str, slot: int):
        self.private, self.slot = private, slot
        self.run: _Run | None = None
        self.proc: subprocess.Popen | None = None
        self.generation = 0
        self.spawn()

    def spawn(self) -> None:
        """Start the process: it imports nbgrader (seconds) while this one prepares the run."""
        self.generation += 1
        self.name = f"worker-{self.slot}-{self.generation}"
        self.stderr_path = os.path.join(self.private, f"{self.name}.log")
        env = dict(os.environ)
        env["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{env.get('PATH', '')}"  # as nbgrader's tests
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen([sys.executable, "-m", "course_lib.parallel_grading", "--worker"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env)

    def start(self) -> None:
        """Give the process its settings and its own copy of the gradebook; wait until it is ready."""
        run = self.run
        if self.proc is None:
            self.spawn()
        db = os.path.join(run.private, f"{self.name}.db")
        _copy_database(run.main_db, db)
        spec = {
            "assignment": run.assignment,
            "nbgrader_args": run.nbgrader_args,
            "db_url": f"sqlite:///{db}",
            "private_paths": run.private_paths,
        }
        try:
            self.proc.stdin.write((json.dumps(spec) + "\n").encode())
            self.proc.stdin.flush()
            message = self._receive()
        except (BrokenPipeError, ValueError):
            message = None
        if message is None or "ready" not in message:
            raise _Setup(f"a grading worker could not start:\n{self.stderr_tail()}")
        self.ready = True

    def _receive(self) -> dict | None:
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def stderr_tail(self, limit: int = 3000) -> str:
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(max(0, os.path.getsize(self.stderr_path) - limit))
                return f.read().decode(errors="replace").strip()
        except OSError:
            return ""

    def grade(self, student: str) -> dict:
        try:
            self.proc.stdin.write((json.dumps({"student": student}) + "\n").encode())
            self.proc.stdin.flush()
            message = self._receive()
        except (BrokenPipeError, ValueError):
            message = None
        if message is not None:
            return message
        code = self.proc.wait()
        self.proc, self.ready = None, False
        return {"student": student, "status": "failed", "died": True, "log": self.stderr_tail(),
                "error": f"the grading worker died (exit status {code}) while grading this student"}

    ready = False

    def loop(self) -> None:
        run = self.run
        try:
            while not run.stopping.is_set():
                try:
                    student = run.pending.get_nowait()
                except queue.Empty:
                    break
                if self.proc is None or not self.ready:
                    self.ready = False
                    self.start()
                run.results.put(self.grade(student))
        except _Setup as error:
            run.results.put({"fatal": str(error)})
        except BaseException:  # noqa: BLE001 (reported by the parent)
            run.results.put({"fatal": traceback.format_exc()})
        finally:
            self.stop()

    def stop(self) -> None:
        """End the process: at once if it never got a student, else once it sees its input end."""
        if self.proc is not None:
            if not self.ready:
                self.proc.kill()  # still importing, or never used
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc, self.ready = None, False


class _Run:
    def __init__(self, app, assignment: str, students: list[str], workers: list[_Worker], private: str,
                 nbgrader_args: list[str]):
        from course_lib.sandbox import SandboxedKernelManager

        self.app, self.assignment, self.students = app, assignment, students
        self.nbgrader_args, self.workers, self.jobs = nbgrader_args, workers, len(workers)
        self.root = os.path.realpath(app.coursedir.root)
        db_url = app.coursedir.db_url
        if not db_url.startswith("sqlite:///"):
            raise _Setup(f"only an SQLite gradebook can be graded in parallel (db_url is {db_url!r}); "
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
            raise _Setup(fatal[0])



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
        # Also the submission folders without a notebook: course_lib.intake grades them 0 (with a line
        # saying why), as plain `nbgrader autograde` does with the course's config.
        folders = {f for f in glob.glob(converter._format_source(assignment, app.coursedir.student_id))
                   if os.path.isdir(f) and not os.path.islink(f)} | set(converter.assignments)
        students = sorted({m.group("student_id") for m in (re.match(regexp, f) for f in folders) if m})
    except NbGraderException as error:
        raise _Setup(str(error)) from None
    finally:
        app.coursedir.assignment_id, app.coursedir.student_id = saved
    if patterns:
        students = [s for s in students if any(fnmatch.fnmatchcase(s, p) for p in patterns)]
        if not students:
            raise _Setup(f"no submission of {assignment} matches --student {' '.join(patterns)}")
    return students


def _check_sandboxed(app) -> None:
    from nbgrader.converters import Autograde
    from traitlets.utils.importstring import import_item

    from course_lib.sandbox import SandboxedExecute, SandboxedKernelManager, check_sandbox

    steps = [import_item(p) if isinstance(p, str) else p
             for p in Autograde(coursedir=app.coursedir, parent=app).autograde_preprocessors]
    if not any(isinstance(s, type) and issubclass(s, SandboxedExecute) for s in steps):
        raise _Setup("this nbgrader configuration does not run submissions in course_lib.sandbox "
                     "(Autograde.autograde_preprocessors): run the command from the course root, where the "
                     "course's nbgrader_config.py is")
    problem = check_sandbox()
    if problem and not SandboxedKernelManager(config=app.config).allow_unsandboxed:
        raise _Setup(f"refusing to grade: the sandbox cannot run here: {problem}")


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.parallel_grading",
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


def _skip_slow_imports() -> None:
    """jsonschema (imported by nbformat) builds an Earley parser for IRIs when rfc3987_syntax is
    installed: about 2 s of the 3-4 s it takes a process to import nbgrader, paid by this process
    and every worker. nbformat's schemas use no "iri" format (and no format checker), so nothing
    changes for grading when jsonschema finds the module absent (an ImportError it expects)."""
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _skip_slow_imports()
    if argv == ["--worker"]:
        _worker()
    args, nbgrader_args = parse_args(argv)
    start = time.perf_counter()
    # The workers start first: each imports nbgrader (seconds) while this process does the same.
    private = tempfile.mkdtemp(prefix="nbgrader-parallel-")  # mode 0700; the gradebook copies, worker logs
    pool = [_Worker(private, slot) for slot in range(args.jobs)]
    try:
        return _grade_class(args, nbgrader_args, pool, private, start)
    finally:
        for worker in pool:
            worker.stop()
        shutil.rmtree(private, ignore_errors=True)


def _grade_class(args, nbgrader_args: list[str], pool: list[_Worker], private: str, start: float) -> int:
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.apps.autogradeapp import AutogradeApp

    _quiet_known_warnings()
    app = AutogradeApp()
    app.initialize([args.assignment, *nbgrader_args])
    out = sys.stdout
    try:
        _check_sandboxed(app)
        students = _list_students(app, args.assignment, args.student)
        for worker in pool[len(students):]:  # more workers than submissions
            worker.stop()
        run = _Run(app, args.assignment, students, pool[: len(students)], private, nbgrader_args)
        with Gradebook(run.main_url, app.coursedir.course_id) as gb:
            try:
                gb.find_assignment(args.assignment)
            except MissingEntry:
                raise _Setup(f"no assignment {args.assignment!r} in {run.main_db}: run nbgrader "
                             "generate_assignment first") from None
    except _Setup as error:
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
                    _merge(gb, args.assignment, student, message["before"], message["after"])
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
        except _Setup as error:
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
