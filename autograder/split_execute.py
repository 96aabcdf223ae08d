"""The Execute step of ``nbgrader autograde`` with two sandboxed kernels per notebook.

:class:`SplitExecute` extends :class:`autograder.execute.SandboxedExecute` (both kernels run
in the sandbox). It sorts the notebook's code cells by what nbgrader's gradebook says they
are, never by what the submitted notebook claims:

* a **test cell** (a grade cell of the assignment that is not an answer) runs in the
  **trusted kernel** only, with its source taken from the gradebook. Its outputs, which
  decide the points, are the trusted kernel's;
* a **locked cell** whose source is the instructor's (imports, set-up, plots) runs in the
  learner kernel, where the answers may use what it defines, and again, silently, in the
  trusted kernel, where the tests do;
* **every other cell** (answers, and any cell the learner added) runs in the learner kernel.

Before a trusted cell runs, the names it uses that the answers define become
:class:`autograder.trusted_tests.LearnerFunction` stand-ins; while it runs, this class
carries each call to the learner kernel and the data-only reply back (the trusted kernel
asks through its stdin channel). A call that runs past the time limit, or loses the learner
kernel, fails that test; the learner kernel is then replaced and its cells replayed, as
:class:`SandboxedExecute` does for any cell.

So nothing a submission does (patching numpy's or torch's comparisons, the course's
helpers or IPython itself) reaches the process that decides its grade.
"""
from __future__ import annotations

import ast
import asyncio
import contextlib
import copy
import json
import queue
import shutil
import tempfile
import time
from dataclasses import dataclass, field

from jupyter_core.utils import run_sync
from nbformat import NotebookNode

from autograder.cell_plan import CellPlan, used_names
from autograder.execute import SandboxedExecute

__all__ = ["SplitExecute"]

@dataclass
class _Kernel:
    """One of the two kernels, with what SandboxedExecute keeps about the one it is using."""

    name: str
    km: object = None
    kc: object = None
    replayable: list[int] = field(default_factory=list)
    restarts: int = 0
    gave_up: str | None = None


def _failure(name: str, text: str) -> str:
    return json.dumps({"error": [name, text]})


class SplitExecute(SandboxedExecute):
    """nbgrader's Execute step with the tests in a kernel of their own (see the module)."""

    # -- the notebook -------------------------------------------------------------------

    def preprocess(self, nb, resources=None, km=None):
        self._plan = CellPlan.from_gradebook(resources)
        self._learner = _Kernel("learner")
        self._trusted = _Kernel("trusted")
        self._current = self._learner
        self._trusted_dir = tempfile.mkdtemp(prefix="nbgrader-trusted-")
        self._learner_lost: str | None = None
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if self._trusted.km is not None:
                with self._using(self._trusted):
                    shutdown, self.shutdown_kernel = self.shutdown_kernel, "immediate"  # nothing to save
                    try:
                        with contextlib.suppress(Exception):
                            self._cleanup_kernel()
                    finally:
                        self.shutdown_kernel = shutdown
            shutil.rmtree(self._trusted_dir, ignore_errors=True)

    @contextlib.contextmanager
    def _using(self, kernel: _Kernel):
        """Make ``kernel`` the one that SandboxedExecute (and nbclient) work with."""
        previous = self._current
        if previous is kernel:
            yield
            return
        self._save(previous)
        self._load(kernel)
        try:
            yield
        finally:
            self._save(kernel)
            self._load(previous)

    def _save(self, kernel: _Kernel) -> None:
        kernel.km, kernel.kc, kernel.replayable = self.km, self.kc, self._replayable
        kernel.restarts, kernel.gave_up = self._restarts, self._gave_up

    def _load(self, kernel: _Kernel) -> None:
        self.km, self.kc, self._replayable = kernel.km, kernel.kc, kernel.replayable
        self._restarts, self._gave_up = kernel.restarts, kernel.gave_up
        self._current = kernel

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if self._current is self._trusted:
            km.label += " (trusted kernel)"
            km.guards_grader = False  # it runs the course's code only; a flood can only come from the other
            km.hidden_files = []  # it never sees the submission's folder
            km.extra_env = {"MPLBACKEND": "agg"}  # its figures are never shown: not drawn either
        return km

    async def async_start_new_kernel(self, **kwargs):
        if self._current is self._trusted:
            kwargs["cwd"] = self._trusted_dir  # an empty folder, not the submission's
        await super().async_start_new_kernel(**kwargs)

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        if self._current is self._trusted:
            kc.allow_stdin = True  # the stand-ins ask for the learner's results through stdin
        else:  # before any learner code: what the report of changed checks compares with
            await self._ask_learner_kernel(kc, "__import__('autograder.trusted_tests', "
                                               "fromlist=['record_baseline']).record_baseline()")
        return kc

    async def _ask_learner_kernel(self, kc, code: str, expression: str | None = None, timeout: float = 30):
        """Run trusted code in the learner kernel; the text of ``expression`` after it, if given.
        Only the report of changed checks depends on it, so it never fails: None when no answer came."""
        try:
            msg_id = kc.execute(code, silent=True, store_history=False, allow_stdin=False, stop_on_error=False,
                                user_expressions={"value": expression} if expression else {})
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                try:
                    msg = await kc.shell_channel.get_msg(timeout=1)
                except queue.Empty:
                    continue
                if msg.get("parent_header", {}).get("msg_id") == msg_id:
                    value = msg["content"].get("user_expressions", {}).get("value", {})
                    return value.get("data", {}).get("text/plain")
        except Exception as error:  # noqa: BLE001 (the report never costs a grade)
            self.log.debug("[sandbox] the learner kernel did not answer %r: %s", code[:80], error)
        return None

    def _report_changed_checks(self) -> None:
        """A line in the instructor's report when the notebook replaced checking functions."""
        kc = self.kc if self._current is self._learner else self._learner.kc
        if kc is None or self._gave_up:
            return
        text = run_sync(self._ask_learner_kernel)(
            kc, "__course_changed__ = __import__('autograder.trusted_tests', fromlist=['changed_checks'])"
                ".changed_checks()", "__course_changed__", 10)
        # The learner kernel wrote this text: anything may be in it (a nesting deep enough to make the
        # parser recurse past its limit, megabytes): whatever it is, the report never stops a grading.
        try:
            if text and len(text) > 20_000:
                raise ValueError("too long")
            changed = json.loads(ast.literal_eval(text)) if text else []
            changed = [str(name)[:200] for name in changed][:30] if isinstance(changed, list) else [str(changed)[:200]]
        except Exception:  # noqa: BLE001 (RecursionError, MemoryError's cousins, anything the text provokes)
            changed = ["(the report of the learner kernel was unreadable)"]
        if changed:
            self.log.warning("[sandbox] student %r, %s: the notebook replaced checking code: %s (no effect on the "
                             "grade: the tests ran in a kernel of their own)", self._student, self._where,
                             ", ".join(changed))

    start_new_kernel = run_sync(async_start_new_kernel)
    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    # -- cells --------------------------------------------------------------------------

    def preprocess_cell(self, cell, resources, index):
        if index == 0 and self._plan.tests:  # the trusted kernel boots while the first cells run
            with self._using(self._trusted):
                self._launch_trusted_kernel()
        try:
            return self._preprocess_cell(cell, resources, index)
        finally:
            if index == len(self.nb.cells) - 1:
                try:
                    self._report_changed_checks()
                except Exception:  # noqa: BLE001 (a report for the instructor never stops a student's grading)
                    self.log.warning("[sandbox] student %r, %s: the report of changed checks failed", self._student,
                                     self._where, exc_info=True)

    def _preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return super().preprocess_cell(cell, resources, index)
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in self._plan.tests:
            if cell.source != self._plan.tests[grade_id]:
                self._incident(index, "the test cell had been changed; the original test was run")
                cell.source = self._plan.tests[grade_id]
            return self._run_trusted(cell, resources, index, keep=True)
        if cell.source in self._plan.locked_sources:
            cell, resources = super().preprocess_cell(cell, resources, index)
            if self.kc is not None and not self._gave_up:
                run_sync(self._ask_learner_kernel)(self.kc, "__import__('autograder.trusted_tests', fromlist=["
                                                            "'record_baseline']).record_baseline(new_only=True)",
                                                   None, 10)
            self._run_trusted(copy.deepcopy(cell), resources, index, keep=False)
            return cell, resources
        return super().preprocess_cell(cell, resources, index)

    def _run_trusted(self, cell, resources, index, keep: bool):
        with self._using(self._trusted):
            if self._gave_up:
                if keep:
                    cell.outputs = [self._error("SandboxError", f"not run: {self._gave_up}")]
                return cell, self.resources
            if self.kc is None:
                self._start_trusted_kernel()
                if self._gave_up:
                    return self._run_trusted(cell, resources, index, keep)
            self._silently(f"__import__('autograder.trusted_tests', fromlist=['install']).install("
                           f"get_ipython().user_ns, {used_names(cell.source)!r}, {self._plan.learner_names!r})",
                           index)
            if keep:
                cell, resources = super().preprocess_cell(cell, resources, index)
            else:
                self._silently(cell.source, index, replayable=True)
        if self._learner_lost:
            self._replace_learner_kernel(index)
        return cell, self.resources

    def _launch_trusted_kernel(self) -> None:
        try:
            self.km = self.create_kernel_manager()
            self.start_new_kernel()  # starts the process; start_new_kernel_client waits for it
        except Exception as error:  # noqa: BLE001 (reported; the tests then score 0)
            self.log.debug("[sandbox] trusted kernel not launched early: %s", error)
            self.km = None

    def _start_trusted_kernel(self) -> None:
        try:
            if self.km is None:
                self._launch_trusted_kernel()
            self.start_new_kernel_client()
        except Exception as error:  # noqa: BLE001 (reported; the tests then score 0)
            tail = self.km.kernel_output().strip() if self.km is not None else ""
            self.log.warning("[sandbox] trusted kernel output:\n%s", tail[-2000:])
            self._give_up(f"the trusted kernel could not be started ({error})")

    def _silently(self, source: str, index: int, replayable: bool = False) -> None:
        """Run ``source`` in the current kernel, keeping no output (errors are ignored)."""
        scratch = NotebookNode(cell_type="code", source=source, metadata={}, outputs=[], execution_count=None)
        original = self.nb.cells[index]  # nbclient stores the cell it ran at its index
        self._replaying = True
        try:
            self.execute_cell(scratch, index, store_history=False)
            if replayable and self._last_status == "ok":
                self._replayable.append(index)
        except Exception as error:  # noqa: BLE001
            self.log.debug("[sandbox] trusted kernel, cell %d: %s", index, error)
        finally:
            self._replaying = False
            self.nb.cells[index] = original

    def _replace_learner_kernel(self, index: int) -> None:
        why, self._learner_lost = self._learner_lost, None
        self._incident(index, f"{why}; the learner kernel was replaced")
        with self._using(self._learner):
            self._restart_and_replay()

    # -- carrying the trusted kernel's requests ------------------------------------------

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if self._current is not self._trusted:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        self._cell_started = time.monotonic()
        server = asyncio.ensure_future(self._serve(self.kc, cell_index))
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        finally:
            server.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await server
            if self._learner_busy:  # a call was cut short: the learner kernel may still be running it
                self._learner_lost = self._learner_lost or "a call of the answer was cut short by the time limit"

    execute_cell = run_sync(async_execute_cell)

    _learner_busy = False

    async def _serve(self, kc, index: int) -> None:
        while True:
            msg = await kc.stdin_channel.get_msg(timeout=None)
            if msg.get("msg_type") != "input_request":
                continue
            reply = await self._call_learner(str(msg["content"].get("prompt", "")), index)
            kc.input(reply)

    async def _call_learner(self, request: str, index: int) -> str:
        learner = self._learner
        if self._learner_lost or learner.kc is None or learner.gave_up:
            return _failure("RuntimeError", "your notebook's kernel was lost before this test")
        code = (f"__course_reply__ = __import__('autograder.trusted_tests', fromlist=['serve'])"
                f".serve({request!r})")
        msg_id = learner.kc.execute(code, silent=True, store_history=False, allow_stdin=False,
                                    stop_on_error=False, user_expressions={"reply": "__course_reply__"})
        self._learner_busy = True
        deadline = self._cell_started + max(1.0, (self._get_timeout(None) or 3600) - 2)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return await self._learner_timed_out(msg_id, index)
            try:
                msg = await learner.kc.shell_channel.get_msg(timeout=min(left, 1.0))
            except queue.Empty:
                if not await learner.km.is_alive():
                    self._learner_busy = False
                    self._learner_lost = learner.km.exit_description()
                    self._incident(index, f"a call of the answer lost the learner kernel: {self._learner_lost}")
                    return _failure("DeadKernelError", f"your code lost its kernel: {self._learner_lost}")
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            self._learner_busy = False
            return self._reply_of(msg)

    async def _learner_timed_out(self, msg_id: str, index: int) -> str:
        learner = self._learner
        timeout = self._get_timeout(None)
        self._incident(index, f"a call of the answer ran past the {timeout} s time limit; kernel interrupted")
        with contextlib.suppress(Exception):
            await learner.km.interrupt_kernel()
        end = time.monotonic() + 3
        while time.monotonic() < end:
            try:
                msg = await learner.kc.shell_channel.get_msg(timeout=0.5)
            except queue.Empty:
                continue
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                self._learner_busy = False
                break
        else:
            self._learner_lost = "a call of the answer ignored the interrupt at the time limit"
        self._learner_busy = False
        return _failure("TimeoutError", f"your function did not return within the {timeout} s time limit")

    @staticmethod
    def _reply_of(msg: dict) -> str:
        content = msg.get("content", {})
        if content.get("status") != "ok":
            return _failure("RuntimeError", f"the call failed in your kernel: {content.get('ename', '')}")
        expression = content.get("user_expressions", {}).get("reply", {})
        text = expression.get("data", {}).get("text/plain") if expression.get("status") == "ok" else None
        try:
            reply = ast.literal_eval(text) if isinstance(text, str) else None
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            reply = None
        if not isinstance(reply, str):
            return _failure("RuntimeError", "your kernel sent back something that is not a reply "
                                            "(was IPython or course_lib changed by the notebook?)")
        return reply
