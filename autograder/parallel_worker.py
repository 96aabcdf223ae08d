"""The workers of parallel grading: nbgrader's Autograde, one student after another.

A worker is a process (``python -m autograder.parallel_worker``) that imports nbgrader while the
parent prepares the run, then grades the students it is sent on a private copy of the gradebook
and answers, for each, the student's gradebook rows before and after (JSON lines).
:class:`Worker` is the parent's handle on one such process.
"""
from __future__ import annotations

import glob
import io
import json
import logging
import os
import queue
import subprocess
import sys
import time
import traceback

from autograder.gradebook_merge import copy_database, others_fingerprint, quiet_known_warnings, student_rows

__all__ = ["SetupError", "Worker", "serve"]

_FORMAT = "[%(name)s | %(levelname)s] %(message)s"


def serve() -> None:
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

    from autograder.kernel_manager import SandboxedKernelManager

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
    # The parent checked the reference solution once (autograder.preflight) before starting the run.
    extra = {"SandboxedKernelManager": {"extra_private_paths": spec["private_paths"]},
             "SubmissionExporter": {"preflight": False}}
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
    quiet_known_warnings()
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
            others = others_fingerprint(db_path, student)
            with Gradebook(spec["db_url"], course_id) as gb:
                before = student_rows(gb, assignment, student)
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
                    after = student_rows(gb, assignment, student)
                changed = sorted(t for t, d in others_fingerprint(db_path, student).items() if others.get(t) != d)
                if changed:
                    status, after = "failed", None
                    error = (f"grading this student changed gradebook rows that are not the student's own (tables "
                             f"{', '.join(changed)}): parallel grading cannot merge them; use nbgrader autograde")
            except Exception:  # noqa: BLE001
                status, error = "failed", traceback.format_exc()
        send({"student": student, "status": status, "error": error, "log": buffer.getvalue(),
              "seconds": time.perf_counter() - start, "before": before, "after": after})
    leave()




class SetupError(RuntimeError):
    """The class cannot be graded at all (nothing was run)."""


class Worker:
    """One worker process and the thread that feeds it students."""

    def __init__(self, private: str, slot: int):
        self.private, self.slot = private, slot
        self.run = None  # the autograder.parallel.Run it works for
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
            self.proc = subprocess.Popen([sys.executable, "-m", "autograder.parallel_worker"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env)

    def start(self) -> None:
        """Give the process its settings and its own copy of the gradebook; wait until it is ready."""
        run = self.run
        if self.proc is None:
            self.spawn()
        db = os.path.join(run.private, f"{self.name}.db")
        copy_database(run.main_db, db)
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
            raise SetupError(f"a grading worker could not start:\n{self.stderr_tail()}")
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
        except SetupError as error:
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


if __name__ == "__main__":
    serve()
