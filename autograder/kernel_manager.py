"""Autograding untrusted submissions: nbgrader runs each student's kernel in a sandbox.

A submission is code written by someone else, run on the instructor's machine. Plain
nbgrader runs it with the grader's rights: it can read the solutions and the gradebook,
overwrite ``gradebook.db``, fill the memory, start processes without end, or print
gigabytes into the graded notebook. The course's ``nbgrader_config.py`` replaces
nbgrader's ``Execute`` step of ``nbgrader autograde`` by :class:`autograder.execute.SandboxedExecute`,
which starts every kernel through :class:`SandboxedKernelManager`:

* **bubblewrap** (``bwrap``, Debian package ``bubblewrap``) gives the kernel its own
  mount, process, network, IPC and hostname namespaces. It sees an allowlist of paths,
  read-only (:mod:`autograder.mounts`: the system's folders, the Python environment, the
  course's public files); ``/tmp`` and ``/dev/shm`` are small private tmpfs; the grader's home and the
  course's private paths (the source/solutions, ``submitted/``, ``autograded/``,
  ``feedback/``, the gradebook, ``.git``, nbgrader's logs and config, the exchange) are
  not there at all; the only writable folder on disk is the submission's own working
  folder (``autograded/<student>/<assignment>/``, where nbgrader runs the notebook), in
  which the notebook files themselves are hidden. There is no network, so the grader
  talks to the kernel over Unix sockets (jupyter_client's ``ipc`` transport) in a private
  folder.
* **resource limits** (``prlimit``): data memory, CPU seconds, processes/threads
  (``RLIMIT_NPROC``, counted for the sandbox alone), file size, no core dumps; numeric
  libraries are capped to a few threads each. The disk space and the number of files the
  kernel adds in its two writable folders on disk (its working folder and its socket folder)
  are checked twice a second, and so is the memory of all its processes together (each
  process alone is capped by ``RLIMIT_DATA``, but a process bomb multiplies that): past a
  limit the kernel is killed (and what it wrote removed), so a submission can fill neither
  the disk nor the memory that the rest of the class is graded with.
* **a separate user**: when the grader runs as root (``RLIMIT_NPROC`` does not apply to
  root, and root may write any file), the kernel runs as an otherwise unused uid
  (``setpriv``, all capabilities dropped, ``no_new_privs``). Without root the kernel runs
  as the grader's own user inside bubblewrap's user namespace, with the same mounts and limits.

:class:`SandboxedExecute` also keeps the grading going when a submission misbehaves:
a cell that runs past the timeout is interrupted (and the kernel replaced if it ignores
the interrupt); a kernel that dies (``os._exit``, ``exit()``, a kill, a limit) is
replaced and the cells that had run are replayed, so only the parts that depended on the
fatal cell lose their points; output beyond a byte budget per cell and per notebook is
dropped with a note in the notebook; and after the kernel is gone the working folder is
cleaned of links and special files the submission left (nbgrader writes the graded
notebook there as the instructor). Each incident is logged as a warning naming the
student, notebook and cell.

If bubblewrap is missing or cannot create namespaces, grading stops with an error rather
than running submissions unprotected (``SandboxedKernelManager.allow_unsandboxed`` turns
that into a loud warning, for trusted code only).
"""
from __future__ import annotations

import fcntl
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time

import zmq
from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Integer, List, Unicode, default

from autograder.limits import (GiB, MiB, THREAD_VARIABLES, Watchdog, clean_workdir, default_threads, descendants,
                               paths_under, pids_of_uid, process_table, remove_added)
from autograder.mounts import SandboxUnavailableError, check_sandbox, plan_mounts

__all__ = ["SandboxUnavailableError", "SandboxedKernelManager", "check_sandbox"]

# The kernel's environment is an allowlist: these variables of the grader's (and jupyter_client's
# own, JPY_*), nothing else. A secret under any name (DATABASE_URL, MYSQL_PWD, ...) never reaches a
# submission, nor, through it, its feedback.
_PASSED_ENV = re.compile(r"^(PATH|LANG|LANGUAGE|LC_[A-Z]+|TZ|TERM|JPY_[A-Z_]+|CUDA_VISIBLE_DEVICES)$")


class SandboxedKernelManager(AsyncKernelManager):
    """Starts the kernel inside bubblewrap, with resource limits and, as root, another uid.

    :class:`SandboxedExecute` tells it the course's private paths and the student; used on
    its own it still hides the grader's home, ``/tmp`` and ``/run`` and applies the limits.
    """

    memory_limit = Integer(
        4 * GiB,
        help="Data memory per kernel process, in bytes (RLIMIT_DATA: heap and anonymous mappings). "
        "The heaviest chapter (10, torch and MiniLM) peaks at about 0.5 GB.",
    ).tag(config=True)
    cpu_time_limit = Integer(
        1200, help="CPU seconds per kernel process (RLIMIT_CPU; all threads count); past it the kernel is killed."
    ).tag(config=True)
    max_processes = Integer(
        128, help="Processes and threads the sandbox may hold at once (RLIMIT_NPROC); a kernel needs about 30."
    ).tag(config=True)
    max_file_size = Integer(64 * MiB, help="Largest file the kernel may write, in bytes (RLIMIT_FSIZE).").tag(
        config=True
    )
    tmp_size = Integer(256 * MiB, help="Size of the kernel's private /tmp (and of /dev/shm), in bytes.").tag(
        config=True
    )
    max_disk_bytes = Integer(
        256 * MiB, help="Disk space the kernel may add in its folders on disk (its working folder and socket "
        "folder), in bytes; checked twice a second, past it the kernel is killed and what it wrote is removed."
    ).tag(config=True)
    max_disk_files = Integer(
        4096, help="Files and folders the kernel may add in its folders on disk (see max_disk_bytes)."
    ).tag(config=True)
    max_total_memory = Integer(
        6 * GiB, help="Memory of all the kernel's processes together (their proportional set size), in bytes; "
        "checked twice a second, past it the kernel is killed."
    ).tag(config=True)
    threads = Integer(
        help="Threads per numeric library (OpenBLAS, MKL, OpenMP/torch, numexpr, Rayon). Default: 4, but never "
        "more than the machine's cores nor than the grader's own OMP_NUM_THREADS (limits.default_threads)."
    ).tag(config=True)

    @default("threads")
    def _threads_default(self) -> int:
        return default_threads()

    sandbox_uid = Integer(
        64900,
        help="When the grader runs as root, the kernel runs as this uid (and gid), which no account or "
        "process may use; while it is busy (parallel grading) the next of the following 63 is taken.",
    ).tag(config=True)
    extra_private_paths = List(
        Unicode(), help="More paths the kernel must not see (absolute, or relative to the course root)."
    ).tag(config=True)
    allow_unsandboxed = Bool(
        False,
        help="When bubblewrap cannot run here, run kernels unprotected (with a warning) instead of refusing. "
        "Only for code you trust.",
    ).tag(config=True)
    max_message_size = Integer(
        64 * MiB, help="Larger messages (each part of one) from the kernel are refused by the grader's sockets "
        "(ZMQ_MAXMSGSIZE); the sockets also queue at most 16 messages."
    ).tag(config=True)
    max_grader_growth = Integer(
        1 * GiB, help="How much the grader's own memory may grow while the kernel runs (messages it sends faster "
        "than they are read, parts of messages beyond the per-part limit); checked twice a second, past it the "
        "kernel is killed. Not applied to the trusted kernel, which runs only the course's code."
    ).tag(config=True)

    # Filled in by SandboxedExecute before the kernel starts.
    course_root: str | None = None
    private_paths: list[str] = []
    hidden_files: list[str] = []
    extra_env: dict[str, str] = {}
    label: str = "kernel"
    guards_grader = True  # whether its watchdog bounds the grader's growth (not for the trusted kernel)

    _sandbox_dir: str | None = None
    _sandboxed = False
    _uid: int | None = None
    _uid_lock: int | None = None
    _workdir: str | None = None
    _workdir_owner: tuple[int, int] | None = None
    _workdir_before: frozenset[str] = frozenset()  # the paths in the working folder before the kernel
    _watchdog: Watchdog | None = None  # its disk_exceeded/memory_exceeded: why it killed the kernel, if it did

    def _context_default(self) -> zmq.asyncio.Context:
        context = super()._context_default()
        # Every socket of this manager and of its clients refuses oversized messages and keeps
        # few of them queued: a flood of output cannot fill the grader's memory.
        context.setsockopt(zmq.MAXMSGSIZE, self.max_message_size)
        context.setsockopt(zmq.RCVHWM, 16)
        return context

    # -- start --------------------------------------------------------------------------

    async def _async_pre_start_kernel(self, **kw):
        problem = check_sandbox()
        self._sandboxed = problem is None
        if problem:
            if not self.allow_unsandboxed:
                raise SandboxUnavailableError(
                    f"refusing to run {self.label} without its sandbox: {problem} "
                    "(SandboxedKernelManager.allow_unsandboxed=True runs it unprotected)"
                )
            self.log.warning("RUNNING %s WITHOUT A SANDBOX (allow_unsandboxed): %s", self.label, problem)
            return await super()._async_pre_start_kernel(**kw)

        self._cleanup_sandbox()  # a restart of the same manager starts from scratch
        self._sandbox_dir = tempfile.mkdtemp(prefix="nbgrader-sandbox-")
        if os.geteuid() == 0:
            self._uid = self._free_uid()
            os.chown(self._sandbox_dir, self._uid, self._uid)
        # No network in the sandbox: the kernel's sockets are files in the private folder.
        self.transport = "ipc"
        self.ip = os.path.join(self._sandbox_dir, "kernel")
        self.connection_file = os.path.join(self._sandbox_dir, "connection.json")
        self._workdir = os.path.realpath(kw.get("cwd") or os.getcwd())
        self._workdir_before, self._watchdog = paths_under(self._workdir), None
        if self._uid is not None:
            self._hand_over_workdir()
        self._kernel_log = open(os.path.join(self._sandbox_dir, "kernel-output.log"), "wb")
        kw.update(stdout=self._kernel_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        cmd, kw = await super()._async_pre_start_kernel(**kw)
        kw["env"] = self._kernel_env(kw.get("env") or dict(os.environ))
        return cmd, kw

    async def _async_post_start_kernel(self, **kw) -> None:
        await super()._async_post_start_kernel(**kw)
        if self._sandboxed:
            self._watchdog = Watchdog(
                self.provisioner.process, [(self._workdir, self._workdir_before), (self._sandbox_dir, frozenset())],
                max_disk_bytes=self.max_disk_bytes, max_disk_files=self.max_disk_files,
                max_total_memory=self.max_total_memory, label=self.label, log=self.log,
                max_grader_growth=self.max_grader_growth if self.guards_grader else None)

    def _free_uid(self) -> int:
        """A uid no account has and no other sandbox holds. Graders running side by side
        (parallel grading) each lock their uid's file, so no two kernels ever share one:
        the clean-up of one kills every process of its uid."""
        for uid in range(self.sandbox_uid, self.sandbox_uid + 64):
            try:
                pwd.getpwuid(uid)
                continue  # an account: never act as it
            except KeyError:
                pass
            lock = os.open(os.path.join(tempfile.gettempdir(), f"course-sandbox-uid-{uid}.lock"),
                           os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(lock)
                continue  # another sandbox holds it
            if pids_of_uid(uid):
                os.close(lock)
                continue
            self._uid_lock = lock
            return uid
        raise SandboxUnavailableError(
            f"no free uid for the sandbox in {self.sandbox_uid}..{self.sandbox_uid + 63} "
            "(each is an account or runs processes); set SandboxedKernelManager.sandbox_uid"
        )

    def _hand_over_workdir(self) -> None:
        """The kernel's user may create files in its working folder (not change those there)."""
        st = os.stat(self._workdir)
        self._workdir_owner = (st.st_uid, st.st_gid)
        for folder, dirs, _ in os.walk(self._workdir):
            os.chown(folder, self._uid, self._uid)

    def _kernel_env(self, env: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in env.items() if _PASSED_ENV.match(k)}
        env.update(HOME="/tmp", TMPDIR="/tmp", MPLCONFIGDIR="/tmp/.config/matplotlib", PYTHONNOUSERSITE="1")
        # The course's own course_lib, the files the grader loaded, whichever clone the environment's
        # editable install points at (that clone may be hidden here: a copy of the course elsewhere).
        if self.course_root:
            env["PYTHONPATH"] = self.course_root
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")  # no network in here anyway: fail fast
        env.update({name: str(self.threads) for name in THREAD_VARIABLES})
        env["TOKENIZERS_PARALLELISM"] = "false"
        env.update(self.extra_env)
        return env

    def format_kernel_cmd(self, extra_arguments=None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        if not self._sandboxed:
            return cmd
        if self._uid is not None:
            os.chown(self.connection_file, self._uid, self._uid)
        return self.sandbox_command(cmd)

    def sandbox_command(self, cmd: list[str]) -> list[str]:
        """The kernel command wrapped in bwrap (mounts, namespaces), setpriv (as root) and prlimit."""
        private = [os.path.realpath(os.path.join(self.course_root or "/", p))
                   for p in [*self.private_paths, *self.extra_private_paths]]
        mounts = plan_mounts(uid=self._uid, tmp_size=self.tmp_size, course_root=self.course_root,
                             private_paths=private, workdir=self._workdir, sandbox_dir=self._sandbox_dir,
                             hidden_files=self.hidden_files)
        uid = self._uid
        wrapped = [shutil.which("bwrap") or "bwrap", *mounts, "--chdir", self._workdir,
                   "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                   "--hostname", "sandbox", "--die-with-parent",
                   # ipykernel would take bwrap's init (PID 1 of the sandbox) for an exited
                   # parent; --die-with-parent already ends the sandbox when the grader goes.
                   "--unsetenv", "JPY_PARENT_PID", "--"]
        if uid is not None:
            wrapped += [shutil.which("setpriv") or "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                        "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        data = self.memory_limit
        wrapped += [shutil.which("prlimit") or "prlimit", f"--data={data}:{data}", f"--nproc={self.max_processes}",
                    f"--cpu={self.cpu_time_limit}:{self.cpu_time_limit + 5}", f"--fsize={self.max_file_size}",
                    "--core=0", "--"]
        return wrapped + cmd

    # -- running ------------------------------------------------------------------------

    def kernel_pid(self) -> int | None:
        """The kernel's own process (bwrap's grandchild), as seen from the grader."""
        if not (self.provisioner and getattr(self.provisioner, "pid", None)):
            return None
        marker = self.connection_file.encode()
        best = None
        for pid, depth in descendants(self.provisioner.pid):
            try:
                with open(f"/proc/{pid}/comm", "rb") as f:
                    comm = f.read().strip()
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            wrapper = comm in (b"bwrap", b"setpriv", b"prlimit")
            if marker in cmdline and not wrapper and (best is None or depth < best[1]):
                best = (pid, depth)
        return best[0] if best else None

    def kill_strays(self) -> int:
        """Kill every process of the sandbox but the kernel (and bwrap above it): what a fork
        bomb or a timed-out cell left running. Returns how many were killed."""
        kernel = self.kernel_pid()
        if not kernel:
            return 0
        table = process_table()
        keep, pid = set(), kernel
        while pid in table and pid != self.provisioner.pid:
            keep.add(pid)
            pid = table[pid][0]
        victims = [p for p, _ in descendants(self.provisioner.pid) if p not in keep]
        for victim in victims:
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(victims)

    async def _async_signal_kernel(self, signum: int) -> None:
        # An interrupt goes to the kernel alone: sent to the process group (jupyter_client's
        # default) it would also reach bwrap, whose death takes the whole sandbox down.
        if self._sandboxed and signum == signal.SIGINT:
            pid = self.kernel_pid()
            if pid:
                try:
                    os.kill(pid, signum)
                except ProcessLookupError:
                    pass
                return
        await super()._async_signal_kernel(signum)

    def exit_description(self) -> str:
        """Why the kernel is gone, in words, from the sandbox's exit status."""
        if self._watchdog and self._watchdog.exceeded:
            return f"the kernel was killed ({self._watchdog.exceeded})"
        process = getattr(self.provisioner, "process", None)
        code = process.poll() if process is not None else None
        if code is None:
            return "the kernel stopped responding"
        if code == 0:
            return "the kernel exited (the code ended its own process: os._exit, exit(), a kill of its parent...)"
        if code > 128 and code - 128 in signal.Signals._value2member_map_:
            sig = signal.Signals(code - 128)
            reason = {
                signal.SIGKILL: "the code killed it, or the machine ran out of memory",
                signal.SIGXCPU: f"CPU time limit of {self.cpu_time_limit} s reached",
                signal.SIGXFSZ: f"file size limit of {self.max_file_size} bytes reached",
                signal.SIGSEGV: "it crashed",
                signal.SIGABRT: "it aborted, possibly out of memory or processes",
            }.get(sig, "")
            return f"the kernel was killed by {sig.name}" + (f" ({reason})" if reason else "")
        return f"the kernel exited with status {code}"

    def kernel_output(self, limit: int = 4000) -> str:
        """The end of what the kernel process wrote to its own stdout/stderr (startup errors)."""
        path = self._sandbox_dir and os.path.join(self._sandbox_dir, "kernel-output.log")
        try:
            with open(path, "rb") as f:
                f.seek(max(0, os.path.getsize(path) - limit))
                return f.read().decode(errors="replace")
        except (OSError, TypeError):
            return ""

    # -- clean-up -----------------------------------------------------------------------

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        try:
            await super()._async_cleanup_resources(restart=restart)
        finally:
            self._cleanup_sandbox()

    cleanup_resources = _async_cleanup_resources

    def _cleanup_sandbox(self) -> None:
        if self._watchdog is not None:
            self._watchdog.stop()  # kept: exit_description() still says why it killed the kernel
        if self._uid is not None:
            # The PID namespace dies with the kernel; anything left under the uid is killed.
            for _ in range(50):
                pids = pids_of_uid(self._uid)
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.1)
        if self._workdir:
            if self._watchdog and self._watchdog.disk_exceeded:  # every process of it is gone: remove what it wrote
                remove_added(self._workdir, self._workdir_before)
            clean_workdir(self._workdir, self._workdir_owner, self.log, self.label)
            self._workdir = None
        if getattr(self, "_kernel_log", None):
            self._kernel_log.close()
            self._kernel_log = None
        if self._sandbox_dir:
            shutil.rmtree(self._sandbox_dir, ignore_errors=True)
            self._sandbox_dir = None
        self._uid = None
        if self._uid_lock is not None:
            os.close(self._uid_lock)  # the uid is free for the next sandbox
            self._uid_lock = None
