"""Autograding untrusted submissions: nbgrader runs each student's kernel in a sandbox.

A submission is code written by someone else, run on the instructor's machine. Plain
nbgrader runs it with the grader's rights: it can read the solutions and the gradebook,
overwrite ``gradebook.db``, fill the memory, start processes without end, or print
gigabytes into the graded notebook. The course's ``nbgrader_config.py`` replaces
nbgrader's ``Execute`` step of ``nbgrader autograde`` by :class:`SandboxedExecute`,
which starts every kernel through :class:`SandboxedKernelManager`:

* **bubblewrap** (``bwrap``, Debian package ``bubblewrap``) gives the kernel its own
  mount, process, network, IPC and hostname namespaces: the file system is read-only;
  ``/tmp``, ``/dev/shm`` and ``/run`` are small private tmpfs; the grader's home and the
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
  as the grader's own user inside bubblewrap's user namespace: the same mounts and limits,
  but a file the instructor can read that lies outside the hidden paths stays readable.

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

import contextlib
import copy
import errno
import fcntl
import json
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import zmq
from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Integer, List, Unicode, default

__all__ = ["SandboxUnavailableError", "SandboxedKernelManager", "SandboxedExecute", "check_sandbox"]

GiB = 1024**3
MiB = 1024**2

# The kernel's environment is an allowlist: these variables of the grader's (and jupyter_client's
# own, JPY_*), nothing else. A secret under any name (DATABASE_URL, MYSQL_PWD, ...) never reaches a
# submission, nor, through it, its feedback.
_PASSED_ENV = re.compile(r"^(PATH|LANG|LANGUAGE|LC_[A-Z]+|TZ|TERM|JPY_[A-Z_]+|CUDA_VISIBLE_DEVICES)$")
# Thread pools of the numeric libraries (OpenBLAS, MKL, OpenMP/torch, numexpr, Rayon/tokenizers).
_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "RAYON_NUM_THREADS",
)
_TOOLS = ("bwrap", "prlimit")


class SandboxUnavailableError(RuntimeError):
    """The sandbox cannot be set up here; nothing was run."""


# --------------------------------------------------------------------------------------
# Checking the tools once per process
# --------------------------------------------------------------------------------------

_checked: dict[bool, str | None] = {}


def check_sandbox(as_root: bool | None = None) -> str | None:
    """Why the sandbox cannot run on this machine, or None when it can (cached per process).

    Runs a trivial command in a bubblewrap sandbox with the namespaces the kernels get.
    """
    as_root = os.geteuid() == 0 if as_root is None else as_root
    if as_root in _checked:
        return _checked[as_root]
    tools = _TOOLS + (("setpriv",) if as_root else ())
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        problem = (
            f"{', '.join(missing)} not found. The sandbox needs bubblewrap and util-linux: "
            "`apt-get install bubblewrap util-linux` on Debian/Ubuntu (`make setup` installs bubblewrap on CI)."
        )
    else:
        probe = [shutil.which("bwrap"), "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
                 "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "true"]
        try:
            result = subprocess.run(probe, capture_output=True, text=True, timeout=30)
            problem = None if result.returncode == 0 else (
                "bubblewrap cannot create its namespaces here "
                f"({result.stderr.strip() or 'exit status %d' % result.returncode}). Without root it needs "
                "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu 24.04 an "
                "AppArmor profile for bwrap); in a container it needs to be allowed to create namespaces."
            )
        except (OSError, subprocess.SubprocessError) as error:
            problem = f"bubblewrap could not be run: {error}"
    _checked[as_root] = problem
    return problem


# --------------------------------------------------------------------------------------
# Processes, paths and the mount plan
# --------------------------------------------------------------------------------------


def _process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, real uid) for every visible process."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            uid = os.stat(f"/proc/{entry.name}").st_uid
        except (OSError, IndexError):
            continue
        table[int(entry.name)] = (int(fields[1]), uid)
    return table


def _descendants(pid: int) -> list[tuple[int, int]]:
    """(pid, depth) of every descendant of pid, breadth first."""
    children: dict[int, list[int]] = {}
    for child, (parent, _) in _process_table().items():
        children.setdefault(parent, []).append(child)
    found, frontier, depth = [], [pid], 0
    while frontier:
        depth += 1
        frontier = [c for p in frontier for c in children.get(p, [])]
        found += [(c, depth) for c in frontier]
    return found


def _pids_of_uid(uid: int) -> list[int]:
    return [pid for pid, (_, owner) in _process_table().items() if owner == uid]


def _ancestors(path: str) -> list[str]:
    """Proper ancestors of an absolute path, from the top ('/' excluded)."""
    parts = Path(path).parts[1:-1]
    return [os.path.join("/", *parts[: i + 1]) for i in range(len(parts))]


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _searchable_by(path: str, uid: int, gid: int) -> bool:
    """Whether uid (with primary group gid and no other group) may traverse the directory."""
    try:
        st = os.stat(path)
    except OSError:
        return True  # missing paths are created inside the sandbox, if at all
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


class _MountPlan:
    """bubblewrap's mount arguments, keeping track of which paths are fresh tmpfs (where
    mount points must be created, world-traversable) and which show the real file system."""

    def __init__(self):
        self.args: list[str] = ["--ro-bind", "/", "/"]
        self.mounts: list[tuple[str, str]] = [("/", "real")]
        self.made: set[str] = set()

    def covering(self, path: str) -> tuple[str, str]:
        """The deepest mount containing path (itself included): (mount point, 'real' or 'tmpfs')."""
        best = ("/", "real")
        for point, kind in self.mounts:
            if _within(path, point) and len(point) >= len(best[0]):
                best = (point, kind)
        return best

    def visible(self, path: str) -> bool:
        """Whether the real path shows at the same place in the sandbox (every bind is at its own path)."""
        return self.covering(path)[1] == "real"

    def _mount_point(self, path: str) -> None:
        for folder in _ancestors(path):
            point, kind = self.covering(folder)
            if kind == "tmpfs" and point != folder and folder not in self.made:
                self.args += ["--perms", "0755", "--dir", folder]
                self.made.add(folder)

    def tmpfs(self, path: str, size: int | None = None, perms: str = "0755") -> None:
        self._mount_point(path)
        if size:
            self.args += ["--size", str(size)]
        self.args += ["--perms", perms, "--tmpfs", path]
        self.mounts.append((path, "tmpfs"))

    def bind(self, source: str, writable: bool = False) -> None:
        self._mount_point(source)
        self.args += ["--bind" if writable else "--ro-bind", source, source]
        self.mounts.append((source, "real"))

    def hide_file(self, path: str) -> None:
        self._mount_point(path)
        self.args += ["--ro-bind", "/dev/null", path]


def _python_paths() -> list[str]:
    """What a Python kernel started from this interpreter reads: its prefixes and import path."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, os.path.dirname(sys.executable)}
    paths.update(p for p in sys.path if p and os.path.isabs(p))
    # course_lib itself: an editable install finds it through an import hook, not sys.path,
    # and its folder may lie under a path the sandbox hides (a clone in /tmp, say).
    paths.add(os.path.dirname(os.path.abspath(__file__)))
    real = {os.path.realpath(p) for p in paths if os.path.exists(p)}
    real.add(os.path.dirname(os.path.realpath(sys.executable)))
    return sorted(p for p in real if not any(q != p and _within(p, q) for q in real))


# --------------------------------------------------------------------------------------
# The kernel manager
# --------------------------------------------------------------------------------------


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
        "more than the machine's cores nor than the grader's own OMP_NUM_THREADS: more threads than cores make "
        "OpenMP's barriers wait on descheduled threads (measured: a torch notebook 3.5x slower)."
    ).tag(config=True)

    @default("threads")
    def _threads_default(self) -> int:
        limits = [4, os.cpu_count() or 1]
        if os.environ.get("OMP_NUM_THREADS", "").isdigit():
            limits.append(int(os.environ["OMP_NUM_THREADS"]))
        return max(1, min(limits))
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
        256 * MiB, help="Larger messages from the kernel are refused by the grader's sockets (ZMQ_MAXMSGSIZE)."
    ).tag(config=True)

    # Filled in by SandboxedExecute before the kernel starts.
    course_root: str | None = None
    private_paths: list[str] = []
    hidden_files: list[str] = []
    extra_env: dict[str, str] = {}
    label: str = "kernel"

    _sandbox_dir: str | None = None
    _sandboxed = False
    _uid: int | None = None
    _uid_lock: int | None = None
    _workdir: str | None = None
    _workdir_owner: tuple[int, int] | None = None
    _workdir_before: frozenset[str] = frozenset()  # the paths in the working folder before the kernel
    _watch_stop: threading.Event | None = None
    _disk_exceeded: str | None = None  # why the limits watch killed the kernel, if it did
    _memory_exceeded: str | None = None

    def _context_default(self) -> zmq.asyncio.Context:
        context = super()._context_default()
        # Every socket of this manager and of its clients refuses oversized messages and keeps
        # few of them queued: a flood of output cannot fill the grader's memory.
        context.setsockopt(zmq.MAXMSGSIZE, self.max_message_size)
        context.setsockopt(zmq.RCVHWM, 64)
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
        self._workdir_before, self._disk_exceeded, self._memory_exceeded = _paths_under(self._workdir), None, None
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
            self._watch_limits()

    def _watch_limits(self) -> None:
        """A thread that measures, twice a second, what the kernel added on disk and the memory of
        all its processes, and kills the sandbox (bwrap; its PID namespace and every process in
        it go too) past the limits."""
        stop = self._watch_stop = threading.Event()
        process = self.provisioner.process
        folders = [(self._workdir, self._workdir_before), (self._sandbox_dir, frozenset())]

        def watch() -> None:
            failed = False
            while not stop.wait(0.5) and process.returncode is None:
                try:
                    why = check()
                except Exception:  # noqa: BLE001 (a bug here must not stop grading: said once, tried again)
                    if not failed:
                        self.log.warning("[sandbox] %s: the disk and memory check failed", self.label, exc_info=True)
                    failed = True
                    continue
                if why:
                    process.kill()
                    return

        def check() -> str | None:
            """Sets and returns why the kernel must go, if it must."""
            used = files = 0
            for folder, before in folders:
                more_bytes, more_files = _added_on_disk(folder, before, self.max_disk_files - files)
                used, files = used + more_bytes, files + more_files
            if used > self.max_disk_bytes or files > self.max_disk_files:
                self._disk_exceeded = (
                    f"disk limit reached: it wrote {used / MiB:.0f} MiB in {files} file(s) in its folders "
                    f"(limits: {self.max_disk_bytes / MiB:.0f} MiB, {self.max_disk_files} files); "
                    "killed, and what it wrote was removed")
                return self._disk_exceeded
            pids = [pid for pid, _ in _descendants(process.pid)]
            memory = _memory_of(pids)
            if memory > self.max_total_memory:
                self._memory_exceeded = (
                    f"memory limit of all its processes together reached: {len(pids)} process(es) held "
                    f"{memory / MiB:.0f} MiB (limit {self.max_total_memory / MiB:.0f} MiB)")
                return self._memory_exceeded
            return None

        threading.Thread(target=watch, name=f"limits watch: {self.label}", daemon=True).start()

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
            if _pids_of_uid(uid):
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
        env.update({name: str(self.threads) for name in _THREAD_VARIABLES})
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
        plan = _MountPlan()
        uid = self._uid
        plan.args += ["--dev", "/dev", "--proc", "/proc"]
        plan.tmpfs("/tmp", size=self.tmp_size, perms="1777")
        plan.tmpfs("/dev/shm", size=self.tmp_size, perms="1777")
        hidden = [h for h in ("/run", "/root", os.path.expanduser("~")) if os.path.isdir(h) and h != "/"]
        for folder in hidden:
            if plan.covering(folder) != (folder, "tmpfs"):
                plan.tmpfs(folder)

        # What the kernel needs to read, shown again if hidden above or behind a folder its
        # user may not traverse (e.g. a Python installed under /root); never a whole hidden
        # folder, nor the course (its public entries are shown below).
        needed = [
            p for p in _python_paths()
            if not (self.course_root and _within(p, self.course_root)) and not any(_within(h, p) for h in hidden)
        ]
        if uid is not None:
            blocked = set()
            for path in needed + [self._workdir, self._sandbox_dir] + ([self.course_root] if self.course_root else []):
                for folder in _ancestors(path) + [path]:
                    if plan.visible(folder) and not _searchable_by(folder, uid, uid):
                        blocked.add(folder)
                        break
            for folder in sorted(blocked, key=len):
                if plan.visible(folder):
                    plan.tmpfs(folder)
        for path in needed:
            if not plan.visible(path):
                plan.bind(path)

        # The course: only its public entries, never the private ones.
        private = [os.path.realpath(os.path.join(self.course_root or "/", p))
                   for p in [*self.private_paths, *self.extra_private_paths]]
        if self.course_root and os.path.isdir(self.course_root):
            root = self.course_root
            plan.tmpfs(root)
            for entry in sorted(os.listdir(root)):
                path = os.path.join(root, entry)
                real = os.path.realpath(path)
                if not os.path.exists(path) or any(_within(path, p) or _within(real, p) for p in private):
                    continue  # private, or a link to something private
                if os.path.islink(path) and any(_within(p, real) for p in private):
                    continue  # a link to a folder holding something private
                plan.bind(path)  # a folder holding private paths is bound; they are hidden below
            for path in private:  # nested private paths inside public folders
                if os.path.exists(path) and plan.visible(path):
                    plan.tmpfs(path) if os.path.isdir(path) else plan.hide_file(path)
        else:
            for path in private:
                if os.path.exists(path) and plan.visible(path):
                    plan.tmpfs(path) if os.path.isdir(path) else plan.hide_file(path)

        plan.bind(self._workdir, writable=True)
        for path in self.hidden_files:
            if os.path.isfile(path):
                plan.hide_file(path)
        plan.bind(self._sandbox_dir, writable=True)

        wrapped = [shutil.which("bwrap") or "bwrap", *plan.args, "--chdir", self._workdir,
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
        for pid, depth in _descendants(self.provisioner.pid):
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
        table = _process_table()
        keep, pid = set(), kernel
        while pid in table and pid != self.provisioner.pid:
            keep.add(pid)
            pid = table[pid][0]
        victims = [p for p, _ in _descendants(self.provisioner.pid) if p not in keep]
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
        if self._disk_exceeded or self._memory_exceeded:
            return f"the kernel was killed ({self._disk_exceeded or self._memory_exceeded})"
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
        if self._watch_stop is not None:
            self._watch_stop.set()
            self._watch_stop = None
        if self._uid is not None:
            # The PID namespace dies with the kernel; anything left under the uid is killed.
            for _ in range(50):
                pids = _pids_of_uid(self._uid)
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.1)
        if self._workdir:
            if self._disk_exceeded:  # every process of the sandbox is gone: remove what it wrote
                _remove_added(self._workdir, self._workdir_before)
            _clean_workdir(self._workdir, self._workdir_owner, self.log, self.label)
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


def _memory_of(pids: list[int]) -> int:
    """Bytes of memory the processes hold together: the sum of their proportional set sizes (a
    page shared by n of them counts 1/n to each, so forked children are not counted twice), or
    of their resident sets where /proc does not say."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                total += 1024 * next(int(line.split()[1]) for line in f if line.startswith(b"Pss:"))
        except (OSError, StopIteration, ValueError):
            try:
                with open(f"/proc/{pid}/statm", "rb") as f:
                    total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            except (OSError, IndexError, ValueError):
                pass  # gone meanwhile
    return total


def _paths_under(folder: str) -> frozenset[str]:
    """Every path below ``folder`` (links not followed)."""
    found = set()
    for parent, dirs, files in os.walk(folder):
        found.update(os.path.join(parent, name) for name in dirs + files)
    return frozenset(found)


def _added_on_disk(folder: str, before: frozenset[str], max_files: int) -> tuple[int, int]:
    """(bytes allocated, entries) of what lies below ``folder`` and is not in ``before``; the
    count stops a little past ``max_files`` (a folder of a million files is not read to its end)."""
    used = added = 0
    stack = [folder]
    while stack and added <= max_files:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue  # removed meanwhile
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(entry.path)
                    if entry.path not in before:
                        used, added = used + st.st_blocks * 512, added + 1
                        if added > max_files:
                            break
        except OSError:
            continue
    return used, added


def _remove_added(folder: str, before: frozenset[str]) -> None:
    """Remove what was added below ``folder`` since ``before`` was taken."""
    for parent, dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(parent, name)
            if path not in before:
                with contextlib.suppress(OSError):
                    os.unlink(path)
        for name in list(dirs):
            path = os.path.join(parent, name)
            if path not in before:
                dirs.remove(name)
                if os.path.islink(path):
                    with contextlib.suppress(OSError):
                        os.unlink(path)
                else:
                    shutil.rmtree(path, ignore_errors=True)


def _clean_workdir(workdir: str, owner: tuple[int, int] | None, log, label: str) -> None:
    """After the kernel: remove what the submission left in its folder that is not a plain
    file or folder (a link there could redirect nbgrader's own writes), drop set-id bits and,
    as root, give everything back to the folder's owner."""
    removed = []
    stack = [workdir]
    while stack:
        folder = stack.pop()
        if owner:
            os.lchown(folder, *owner)
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                stack.append(entry.path)
            elif stat.S_ISREG(st.st_mode):
                if owner:
                    os.lchown(entry.path, *owner)
                if st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                    os.chmod(entry.path, st.st_mode & 0o777)
            else:
                os.unlink(entry.path)
                removed.append(os.path.relpath(entry.path, workdir))
    if removed:
        log.warning("[sandbox] %s: removed links/special files the submission left in its folder: %s",
                    label, ", ".join(sorted(removed)[:20]))


# --------------------------------------------------------------------------------------
# The Execute step of nbgrader autograde
# --------------------------------------------------------------------------------------

from nbclient.exceptions import CellTimeoutError, DeadKernelError  # noqa: E402
from nbformat import NotebookNode  # noqa: E402
from nbgrader.preprocessors import Execute  # noqa: E402


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
        if self._gave_up:
            cell.outputs = [self._error("SandboxError", f"not run: {self._gave_up}")]
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
