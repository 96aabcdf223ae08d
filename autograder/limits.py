"""The sandbox's limits: what a kernel may use, and the watchdog that enforces what rlimits cannot.

``prlimit`` caps each process (data memory, CPU seconds, file size, processes and threads of
the sandbox's user). What no rlimit can bound is watched from outside by :func:`watch_limits`:
the disk space and files the kernel adds in its folders, and the memory of all its processes
together (a process bomb multiplies the per-process cap). Past either, the sandbox is killed.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import stat
import threading

GiB = 1024**3
MiB = 1024**2

# Thread pools of the numeric libraries (OpenBLAS, MKL, OpenMP/torch, numexpr, Rayon/tokenizers).
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "RAYON_NUM_THREADS",
)


def default_threads() -> int:
    """Threads per numeric library in a kernel: 4, but never more than the machine's cores nor the
    grader's own OMP_NUM_THREADS (more threads than cores make OpenMP's barriers wait on
    descheduled threads: measured, a torch notebook 3.5x slower)."""
    limits = [4, os.cpu_count() or 1]
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        limits.append(int(os.environ["OMP_NUM_THREADS"]))
    return max(1, min(limits))


def process_table() -> dict[int, tuple[int, int]]:
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


def descendants(pid: int) -> list[tuple[int, int]]:
    """(pid, depth) of every descendant of pid, breadth first."""
    children: dict[int, list[int]] = {}
    for child, (parent, _) in process_table().items():
        children.setdefault(parent, []).append(child)
    found, frontier, depth = [], [pid], 0
    while frontier:
        depth += 1
        frontier = [c for p in frontier for c in children.get(p, [])]
        found += [(c, depth) for c in frontier]
    return found


def pids_of_uid(uid: int) -> list[int]:
    return [pid for pid, (_, owner) in process_table().items() if owner == uid]



def memory_of(pids: list[int]) -> int:
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


def paths_under(folder: str) -> frozenset[str]:
    """Every path below ``folder`` (links not followed)."""
    found = set()
    for parent, dirs, files in os.walk(folder):
        found.update(os.path.join(parent, name) for name in dirs + files)
    return frozenset(found)


def added_on_disk(folder: str, before: frozenset[str], max_files: int) -> tuple[int, int]:
    """(bytes, entries) of what lies below ``folder`` and is not in ``before`` (a file counts the larger
    of its allocated and its apparent size); the count stops a little past ``max_files`` (a folder of
    a million files is not read to its end)."""
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
                        # The larger of what is allocated and what the file says it holds: a sparse file
                        # allocates little, but whoever copies it (generate_feedback does) writes it in full.
                        size = max(st.st_blocks * 512, st.st_size if stat.S_ISREG(st.st_mode) else 0)
                        used, added = used + size, added + 1
                        if added > max_files:
                            break
        except OSError:
            continue
    return used, added


def remove_added(folder: str, before: frozenset[str]) -> None:
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


def clean_workdir(workdir: str, owner: tuple[int, int] | None, log, label: str) -> None:
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


def _resident() -> int:
    """Bytes of memory this process holds (resident set; /proc/self/statm, cheap to read)."""
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Watchdog:
    """A thread that measures, twice a second, what the kernel added on disk and the memory of
    all its processes, and kills ``process`` (bwrap: its PID namespace and every process in it go
    too) past the limits. ``exceeded`` then says why, in words."""

    def __init__(self, process, folders: list[tuple[str, frozenset[str]]], *, max_disk_bytes: int,
                 max_disk_files: int, max_total_memory: int, label: str, log, max_grader_growth: int | None = None):
        self.process, self.folders, self.label, self.log = process, folders, label, log
        self.max_disk_bytes, self.max_disk_files = max_disk_bytes, max_disk_files
        self.max_total_memory = max_total_memory
        # What the kernel makes the grader hold (messages queued in its sockets): the grader's own growth
        # while this kernel lives. None for a kernel that runs only the course's code (the trusted one).
        self.max_grader_growth, self.grader_base = max_grader_growth, _resident()
        self.disk_exceeded: str | None = None
        self.memory_exceeded: str | None = None
        self.grader_exceeded: str | None = None
        self._stop = threading.Event()
        threading.Thread(target=self._watch, name=f"limits watch: {label}", daemon=True).start()

    @property
    def exceeded(self) -> str | None:
        return self.disk_exceeded or self.memory_exceeded or self.grader_exceeded

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        failed, tick = False, 0
        # The grader's own memory every 0.1 s (a flood fills it in a second); the kernel's files and
        # processes every 0.5 s (walking its folders costs more).
        while not self._stop.wait(0.1) and self.process.returncode is None:
            tick += 1
            try:
                why = self.check_grader() or (self.check() if tick % 5 == 0 else None)
            except Exception:  # noqa: BLE001 (a bug here must not stop grading: said once, tried again)
                if not failed:
                    self.log.warning("[sandbox] %s: the disk and memory check failed", self.label, exc_info=True)
                failed = True
                continue
            if why:
                self.process.kill()
                return

    def check_grader(self) -> str | None:
        """Sets and returns why the kernel must go, if it made the grader grow past its limit."""
        if self.max_grader_growth is None:
            return None
        grown = _resident() - self.grader_base
        if grown > self.max_grader_growth:
            self.grader_exceeded = (
                f"it flooded the grader with output: the grader's memory grew by {grown / MiB:.0f} MiB "
                f"while it ran (limit {self.max_grader_growth / MiB:.0f} MiB)")
        return self.grader_exceeded

    def check(self) -> str | None:
        """Sets and returns why the kernel must go, if it must."""
        used = files = 0
        for folder, before in self.folders:
            more_bytes, more_files = added_on_disk(folder, before, self.max_disk_files - files)
            used, files = used + more_bytes, files + more_files
        if used > self.max_disk_bytes or files > self.max_disk_files:
            self.disk_exceeded = (
                f"disk limit reached: it wrote {used / MiB:.0f} MiB in {files} file(s) in its folders "
                f"(limits: {self.max_disk_bytes / MiB:.0f} MiB, {self.max_disk_files} files); "
                "killed, and what it wrote was removed")
            return self.disk_exceeded
        pids = [pid for pid, _ in descendants(self.process.pid)]
        memory = memory_of(pids)
        if memory > self.max_total_memory:
            self.memory_exceeded = (
                f"memory limit of all its processes together reached: {len(pids)} process(es) held "
                f"{memory / MiB:.0f} MiB (limit {self.max_total_memory / MiB:.0f} MiB)")
            return self.memory_exceeded
        return None
