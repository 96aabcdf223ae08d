"""nbgrader's Execute step in the sandbox, surviving whatever a submission does to its kernel.

:class:`SandboxedExecute` starts every kernel through
:class:`autograder.kernel_manager.SandboxedKernelManager`, tells it the course's private paths,
and keeps the grading going: a cell past the timeout is interrupted (the kernel replaced if it
ignores the interrupt); a kernel that dies is replaced and the cells that had run are replayed,
so only the parts that depended on the fatal cell lose their points; output beyond a budget
per cell and per notebook is dropped with a note. Each incident is logged as a warning naming
the student, notebook and cell.
"""
from __future__ import annotations

import copy
import json
import math
import os
import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Integer

from autograder.kernel_manager import SandboxedKernelManager
from autograder.limits import MiB

__all__ = ["SandboxedExecute"]


def _message_size(msg: dict) -> int:
    content = msg.get("content", {})
    if msg.get("msg_type") == "stream":
        return len(content.get("text", ""))
    if msg.get("msg_type") == "error":
        return len(content.get("evalue", "")) + sum(len(line) for line in content.get("traceback", []))
    return sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in content.get("data", {}).values())


def _shorten_error(output: NotebookNode, limit: int = 2000, lines: int = 40) -> None:
    """Keep an error (it decides the grade) but not megabytes of it."""
    if len(output.get("evalue", "")) > limit:
        output["evalue"] = output["evalue"][:limit] + " ... [truncated]"
    traceback = output.get("traceback", [])
    if len(traceback) > lines or any(len(line) > limit for line in traceback):
        keep = traceback[: lines // 2] + ["... [traceback truncated] ..."] + traceback[-(lines // 2):] \
            if len(traceback) > lines else traceback
        output["traceback"] = [line if len(line) <= limit else line[:limit] + " ... [truncated]" for line in keep]


class SandboxedExecute(Execute):
    """nbgrader's Execute step, run in :class:`SandboxedKernelManager`, which survives what a
    submission does to its kernel, caps the output it keeps and reports every incident."""

    max_output_bytes = Integer(
        256 * 1024, help="Output kept per cell, in bytes (characters); the rest is dropped."
    ).tag(config=True)
    max_notebook_output_bytes = Integer(2 * MiB, help="Output kept per notebook, in bytes (characters).").tag(
        config=True
    )
    max_notebook_seconds = Integer(
        300, help="Time a notebook may take in all (its cells in both kernels, restarts and replays included); "
        "past it the remaining cells are not run and score 0. The per-cell limit (ExecutePreprocessor.timeout) "
        "alone would let a notebook of many slow cells hold the grading for hours."
    ).tag(config=True)
    max_kernel_restarts = Integer(
        3, help="Kernels replaced per notebook (after a death or an ignored interrupt) before the rest is not run."
    ).tag(config=True)

    def __init__(self, **kw):
        # Always the sandbox: nbgrader's Execute would pass its own AsyncKernelManager.
        kw["kernel_manager_class"] = SandboxedKernelManager
        kw.setdefault("store_widget_state", False)
        super().__init__(**kw)

    # -- the notebook -------------------------------------------------------------------

    def preprocess(self, nb, resources=None, km=None):
        info = (resources or {}).get("nbgrader", {})
        self._student = info.get("student", "?")
        self._where = f"{info.get('assignment', '?')}/{info.get('notebook', '?')}.ipynb"
        self._private, self._course_root = self._private_paths(resources or {})
        self._incidents: list[str] = []
        self._replayable: list[int] = []
        self._restarts = 0
        self._gave_up: str | None = None
        self._replaying = False
        self._usage: dict[int, int] = {}
        self._truncated: set[int] = set()
        self._last_status: str | None = None
        self._deadline = time.monotonic() + self.max_notebook_seconds
        self._out_of_time: str | None = None
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if self._incidents:
                self.log.warning("[sandbox] student %r, %s: %d incident(s) in all: %s", self._student, self._where,
                                 len(self._incidents), "; ".join(self._incidents))

    def _private_paths(self, resources) -> tuple[list[str], str | None]:
        coursedir = getattr(getattr(self.parent, "parent", None), "coursedir", None)
        if coursedir is None:
            from nbgrader.coursedir import CourseDirectory

            coursedir = CourseDirectory(config=self.config)
        root = os.path.realpath(coursedir.root)
        paths = [os.path.join(root, getattr(coursedir, name)) for name in
                 ("source_directory", "submitted_directory", "autograded_directory", "feedback_directory")]
        paths += [os.path.join(root, name) for name in
                  (".git", ".nbgrader.log", "nbgrader.log", "grades.csv", "nbgrader_config.py")]
        db_url = resources.get("nbgrader", {}).get("db_url") or coursedir.db_url
        if db_url.startswith("sqlite:///"):
            db = os.path.join(root, db_url[len("sqlite:///"):])
            folder, name = os.path.split(db)
            if os.path.isdir(folder):  # the database and its journals
                paths += [os.path.join(folder, n) for n in os.listdir(folder) if n.startswith(name)]
            paths.append(db)
        paths.append(self.config.get("Exchange", {}).get("root", "/srv/nbgrader/exchange"))
        return sorted({os.path.realpath(p) for p in paths}), root

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        km.course_root = self._course_root
        km.private_paths = self._private
        km.label = f"student {self._student!r}, {self._where}"
        workdir = os.path.realpath((self.resources or {}).get("metadata", {}).get("path") or os.getcwd())
        km.hidden_files = [os.path.join(workdir, n) for n in os.listdir(workdir) if n.endswith(".ipynb")]
        return km

    def _get_timeout(self, cell) -> int | None:
        """The cell's time limit, never past the notebook's time budget."""
        timeout = super()._get_timeout(cell)
        deadline = getattr(self, "_deadline", None)
        if deadline is None:
            return timeout
        left = max(1, math.ceil(deadline - time.monotonic()))
        return left if timeout is None else min(timeout, left)

    def _incident(self, cell_index: int, what: str) -> None:
        cell = self.nb.cells[cell_index]
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        where = f"cell {cell_index}" + (f" ({grade_id})" if grade_id else "")
        self._incidents.append(f"{where}: {what}")
        self.log.warning("[sandbox] student %r, %s, %s: %s", self._student, self._where, where, what)

    # -- cells --------------------------------------------------------------------------

    def preprocess_cell(self, cell, resources, index):
        self._check_assign_resources(resources)
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, self.resources
        if self._out_of_time is None and time.monotonic() >= self._deadline:
            self._out_of_time = f"the notebook used up its time budget of {self.max_notebook_seconds} s"
            self.log.warning("[sandbox] student %r, %s: %s; the remaining cells are not run (score 0)",
                             self._student, self._where, self._out_of_time)
        if self._gave_up or self._out_of_time:
            cell.outputs = [self._error("SandboxError", f"not run: {self._gave_up or self._out_of_time}")]
            return cell, self.resources
        self._last_status = None
        try:
            cell = self.execute_cell(cell, index, store_history=True)
        except (DeadKernelError, CellTimeoutError, RuntimeError) as error:
            self._kernel_lost(cell, index, error)
        else:
            if self._last_status == "ok":
                self._replayable.append(index)
        return cell, self.resources

    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)
        cell, reply = kwargs["cell"], kwargs["execute_reply"]
        content = reply.get("content", {})
        self._last_status = content.get("status")
        for output in cell.outputs:
            if output.output_type == "error":
                _shorten_error(output)
        if self._replaying or content.get("status") != "error":
            return
        ename, evalue = content.get("ename", ""), str(content.get("evalue", ""))
        index = kwargs["cell_index"]
        if ename == "CellTimeoutError":
            self._incident(index, f"stopped after {self._get_timeout(cell)} s (time limit), kernel interrupted")
        elif ename == "SystemExit":
            self._incident(index, "the code called sys.exit(); the kernel went on")
        elif ename == "MemoryError":
            self._incident(index, f"MemoryError (memory limit of {self.km.memory_limit} bytes per process)")
        elif ename in ("BlockingIOError", "OSError", "RuntimeError") and "Resource temporarily unavailable" in evalue \
                or "can't start new thread" in evalue:
            killed = self.km.kill_strays()
            self._incident(index, f"{ename}: {evalue[:200]} (process limit of {self.km.max_processes}; "
                                  f"{killed} process(es) it left were killed)")
        elif "File too large" in evalue:
            self._incident(index, f"{ename}: {evalue[:200]} (file size limit of {self.km.max_file_size} bytes)")

    async def _async_handle_timeout(self, timeout, cell=None):
        # Processes the cell started (a fork bomb) could keep the kernel from answering the interrupt.
        if self.km is not None and not self._replaying:
            self.km.kill_strays()
        return await super()._async_handle_timeout(timeout, cell)

    def _error(self, ename: str, evalue: str) -> NotebookNode:
        return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                            traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"])

    def _kernel_lost(self, cell, index: int, error: Exception) -> None:
        """The kernel died or ignored an interrupt: the cell fails, a new kernel replays the
        cells that had run, and grading goes on."""
        km = self.km
        if isinstance(error, CellTimeoutError):
            what = f"did not stop when interrupted after the {self._get_timeout(cell)} s time limit; kernel replaced"
            ename = "CellTimeoutError"
        else:
            what = km.exit_description() if km is not None else "the kernel died"
            ename = "DeadKernelError"
            if isinstance(error, RuntimeError) and not isinstance(error, DeadKernelError):
                what += f" ({error})"
        if km is not None and not isinstance(error, CellTimeoutError):
            tail = km.kernel_output().strip()
            if tail:
                self.log.debug("[sandbox] kernel output before it died:\n%s", tail)
        cell.outputs.append(self._error(ename, what))
        self._incident(index, what)
        self._restart_and_replay()

    def _restart_and_replay(self) -> None:
        """A new kernel, in which the cells that had run without error are run again (their
        outputs are not kept). A cell that loses the kernel again while replayed is left out."""
        while True:
            shutdown = self.shutdown_kernel
            self.shutdown_kernel = "immediate"
            try:
                self._cleanup_kernel()
            finally:
                self.shutdown_kernel = shutdown
                self.km, self.kc = None, None
            self._restarts += 1
            if self._restarts > self.max_kernel_restarts:
                self._give_up(f"the kernel was lost {self._restarts} times")
                return
            try:
                self.km = self.create_kernel_manager()
                self.start_new_kernel()
                self.start_new_kernel_client()
            except Exception as error:  # noqa: BLE001 (reported, and the rest of the notebook scores 0)
                self._give_up(f"no new kernel could be started ({error})")
                return
            self.log.warning("[sandbox] student %r, %s: new kernel, replaying %d cell(s) that had run",
                             self._student, self._where, len(self._replayable))
            self._replaying = True
            try:
                for j in list(self._replayable):
                    original = self.nb.cells[j]
                    try:
                        self.execute_cell(copy.deepcopy(original), j, store_history=True)
                    except (DeadKernelError, CellTimeoutError, RuntimeError) as error:
                        self._replayable.remove(j)
                        self.log.warning("[sandbox] student %r, %s: cell %d lost the kernel when replayed (%s); "
                                         "replaying without it", self._student, self._where, j, type(error).__name__)
                        break
                    finally:
                        self.nb.cells[j] = original
                else:
                    return
            finally:
                self._replaying = False

    def _give_up(self, why: str) -> None:
        self._gave_up = why
        self.log.warning("[sandbox] student %r, %s: %s; the remaining cells are not run (score 0)",
                         self._student, self._where, why)

    # -- output -------------------------------------------------------------------------

    def output(self, outs, msg, display_id, cell_index):
        if self._replaying:
            return None
        if self.clear_before_next_output or not outs:
            self._usage[cell_index] = 0
        size = _message_size(msg)
        used = self._usage.get(cell_index, 0)
        left = min(self.max_output_bytes - used, self.max_notebook_output_bytes - sum(self._usage.values()))
        if size <= left and cell_index not in self._truncated:
            self._usage[cell_index] = used + size
            return super().output(outs, msg, display_id, cell_index)
        if msg.get("msg_type") == "error":  # always kept: it decides the grade
            out = super().output(outs, msg, display_id, cell_index)
            if out is not None:
                _shorten_error(out)
            return out
        if cell_index in self._truncated:
            return None
        self._truncated.add(cell_index)
        kept = ""
        if msg.get("msg_type") == "stream" and left > 0:
            kept = msg["content"]["text"][:left]
            self._usage[cell_index] = used + len(kept)
            msg = copy.copy(msg)
            msg["content"] = dict(msg["content"], text=kept)
            super().output(outs, msg, display_id, cell_index)
        limit = min(self.max_output_bytes, self.max_notebook_output_bytes)
        note = NotebookNode(output_type="stream", name="stdout",
                            text=f"\n... [output truncated by the grader: more than {limit} characters] ...\n")
        outs.append(note)
        self._incident(cell_index, f"output truncated (over {limit} characters)")
        return None

    def _update_display_id(self, display_id, msg):
        if self._replaying or _message_size(msg) > self.max_output_bytes:
            return
        super()._update_display_id(display_id, msg)
