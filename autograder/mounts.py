"""The sandbox's walls: whether bubblewrap runs here, and the mounts a kernel gets.

A kernel sees an allowlist of paths, read-only: the system's folders, the Python environment and
the course's public files; the grader's home, ``/run``, the grader's ``/tmp``, other checkouts and
the course's private paths (solutions, submissions, the gradebook, ...) are not there at all. Its
one writable folder on disk is its own working folder. :class:`MountPlan` builds bubblewrap's
arguments for that view; :func:`plan_mounts` fills it for one kernel.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

_TOOLS = ("bwrap", "prlimit")
# What a kernel sees of the machine besides Python, the course's public files and its own folders.
SYSTEM_PATHS = ("/usr", "/etc", "/sys")
TOP_LEVEL_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")  # links into /usr on merged systems


class SandboxUnavailableError(RuntimeError):
    """The sandbox cannot be set up here; nothing was run."""


# Checking the tools, once per process
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




def ancestors(path: str) -> list[str]:
    """Proper ancestors of an absolute path, from the top ('/' excluded)."""
    parts = Path(path).parts[1:-1]
    return [os.path.join("/", *parts[: i + 1]) for i in range(len(parts))]


def within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def searchable_by(path: str, uid: int, gid: int) -> bool:
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


class MountPlan:
    """bubblewrap's mount arguments, keeping track of which paths are fresh tmpfs (where
    mount points must be created, world-traversable) and which show the real file system.

    The root is bubblewrap's own empty tmpfs: nothing of the machine shows unless bound (an
    allowlist), so a file outside the bound paths (another clone's solutions, another user's
    home, /srv, /work) does not exist for the kernel, whoever may read it outside."""

    def __init__(self):
        self.args: list[str] = []
        self.mounts: list[tuple[str, str]] = [("/", "tmpfs")]
        self.made: set[str] = set()

    def covering(self, path: str) -> tuple[str, str]:
        """The deepest mount containing path (itself included): (mount point, 'real' or 'tmpfs')."""
        best = self.mounts[0]
        for point, kind in self.mounts:
            if within(path, point) and len(point) >= len(best[0]):
                best = (point, kind)
        return best

    def visible(self, path: str) -> bool:
        """Whether the real path shows at the same place in the sandbox (every bind is at its own path)."""
        return self.covering(path)[1] == "real"

    def _mount_point(self, path: str) -> None:
        for folder in ancestors(path):
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


def python_paths() -> list[str]:
    """What a Python kernel started from this interpreter reads: its prefixes and import path."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, os.path.dirname(sys.executable)}
    # The import path a new interpreter also gets (the standard library, site-packages, what .pth files
    # add), not what only this process has: its working folder or script's folder, its PYTHONPATH.
    own = {os.getcwd(), *os.environ.get("PYTHONPATH", "").split(os.pathsep)}
    paths.update(p for p in sys.path if p and os.path.isabs(p) and p not in own)
    # The course's packages: an editable install finds them through an import hook, not sys.path,
    # and their folder may lie under a path the sandbox hides (a clone in /tmp, say).
    for package in ("course_lib", "autograder"):
        spec = importlib.util.find_spec(package)
        if spec and spec.submodule_search_locations:
            paths.update(spec.submodule_search_locations)
    real = {os.path.realpath(p) for p in paths if os.path.exists(p)}
    real.add(os.path.dirname(os.path.realpath(sys.executable)))
    return sorted(p for p in real if not any(q != p and within(p, q) for q in real))


# --------------------------------------------------------------------------------------
# The kernel manager
# --------------------------------------------------------------------------------------



def plan_mounts(*, uid: int | None, tmp_size: int, course_root: str | None, private_paths: list[str],
                workdir: str, sandbox_dir: str, hidden_files: list[str]) -> list[str]:
    """bubblewrap's mount arguments for one kernel.

    ``uid``: the kernel's user when the grader is root (folders it may not traverse are replaced
    by empty ones, and what it needs is shown again), else None. ``private_paths``: absolute
    paths, inside the course or not, that the kernel must not see. ``workdir`` (writable, its
    ``hidden_files`` hidden) and ``sandbox_dir`` (the sockets) are the only writable folders.
    """
    plan = MountPlan()
    # The system, read-only: programs, libraries, configuration (the dynamic linker's cache, fonts,
    # time zones), /sys (CPU topology for the thread pools). /bin, /lib, ... as the links they are.
    for path in SYSTEM_PATHS:
        if os.path.isdir(path) and not os.path.islink(path):
            plan.bind(path)
    for path in TOP_LEVEL_LINKS:
        if os.path.islink(path):
            plan.args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            plan.bind(path)
    plan.args += ["--dev", "/dev", "--proc", "/proc"]
    plan.tmpfs("/tmp", size=tmp_size, perms="1777")
    plan.tmpfs("/dev/shm", size=tmp_size, perms="1777")
    hidden = [h for h in ("/run", "/root", os.path.expanduser("~")) if os.path.isdir(h) and h != "/"]
    for folder in hidden:
        if plan.covering(folder) != (folder, "tmpfs"):
            plan.tmpfs(folder)

    # What the kernel needs to read, shown again if hidden above or behind a folder its
    # user may not traverse (e.g. a Python installed under /root); never a whole hidden
    # folder, nor the course (its public entries are shown below).
    needed = [
        p for p in python_paths()
        if not (course_root and within(p, course_root)) and not any(within(h, p) for h in hidden)
    ]
    if uid is not None:
        blocked = set()
        for path in needed + [workdir, sandbox_dir] + ([course_root] if course_root else []):
            for folder in ancestors(path) + [path]:
                if plan.visible(folder) and not searchable_by(folder, uid, uid):
                    blocked.add(folder)
                    break
        for folder in sorted(blocked, key=len):
            if plan.visible(folder):
                plan.tmpfs(folder)
    for path in needed:
        if not plan.visible(path):
            plan.bind(path)

    # The course: only its public entries, never the private ones.
    if course_root and os.path.isdir(course_root):
        plan.tmpfs(course_root)
        for entry in sorted(os.listdir(course_root)):
            path = os.path.join(course_root, entry)
            real = os.path.realpath(path)
            if not os.path.exists(path) or any(within(path, p) or within(real, p) for p in private_paths):
                continue  # private, or a link to something private
            if os.path.islink(path) and any(within(p, real) for p in private_paths):
                continue  # a link to a folder holding something private
            plan.bind(path)  # a folder holding private paths is bound; they are hidden below
    for path in private_paths:  # private paths inside public folders, or outside the course
        if os.path.exists(path) and plan.visible(path):
            plan.tmpfs(path) if os.path.isdir(path) else plan.hide_file(path)

    plan.bind(workdir, writable=True)
    for path in hidden_files:
        if os.path.isfile(path):
            plan.hide_file(path)
    plan.bind(sandbox_dir, writable=True)
    return plan.args
