"""Collecting submissions exported from an LMS into nbgrader's ``submitted/`` folder.

Run it from the course root (where ``nbgrader_config.py`` is), then grade as usual::

    python -m autograder.collection 01_embeddings ~/Downloads/export.zip
    python -m autograder.collection 01_embeddings ~/Downloads/export/ --dry-run
    nbgrader autograde 01_embeddings

The export (a folder, or a zip of one) holds ``<student>/<assignment>/<notebook>.ipynb``, and may hold
nbgrader's ``timestamp.txt`` next to the notebooks. Each notebook of the assignment is copied to
``submitted/<student>/<assignment>/`` (the folders come from the course's nbgrader configuration).
One line is printed for every file taken or skipped, and why.

An export is untrusted input, so:

* only regular files are taken: a path that leaves the export (``../``, zip slip), an absolute path,
  a symbolic link (in the zip or in the folder) or any other special file is skipped;
* sizes are capped while reading (what a zip declares is not trusted): a file over
  ``--max-file-size`` is skipped; an export over ``--max-total-size`` (a zip bomb) or with more than
  ``--max-entries`` entries is refused as a whole, before anything is written;
* a student name must match ``[A-Za-z0-9][A-Za-z0-9_.@+-]*`` (at most 64 characters) and a file name
  must be plain; others are skipped (names are printed escaped);
* duplicates are skipped, never guessed at: a path that appears twice in the zip, students whose
  names differ only in case, two notebooks that could both be the expected one;
* only the assignment's notebooks (named as in the release) and ``timestamp.txt`` are taken; nested
  archives and other files are skipped. A notebook renamed by the LMS or a browser
  (``01_embeddings (1).ipynb``, ``01_embeddings-1.ipynb``, or the only notebook of a one-notebook
  assignment) is saved under the expected name, with a line that says so;
* a student who already has a submission of the assignment is skipped, unless ``--force``, which
  replaces their notebooks and timestamp; nothing is written through a symbolic link.

Exit status: 0 when every file was taken, 1 when some were skipped, 2 when nothing was collected
(no such export or assignment, or the export is refused).

nbgrader's own ``nbgrader zip_collect`` is not used: it expects flat file names matched by a regular
expression (not ``<student>/<assignment>/`` folders), extracts archives with setuptools'
``unpack_archive`` without any size limit and then extracts the archives found inside them, stops the
whole collection on a duplicate without timestamps, and with ``--force`` deletes the student's whole
submitted folder. This module reuses nbgrader's course directory configuration and timestamp parser,
and shares its renamed-notebook rule (:func:`autograder.names.lms_renamed`) with ``nbgrader autograde``
(:mod:`autograder.intake`).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import stat
import sys
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from autograder.names import STUDENT, lms_renamed, printable as _show

__all__ = ["CollectionRefused", "Report", "collect", "lms_renamed", "main"]

MiB = 1024**2
_PLAIN_NAME = re.compile(r"^[^/\\\x00-\x1f\x7f]{1,200}$")
TIMESTAMP = "timestamp.txt"


class CollectionRefused(RuntimeError):
    """Nothing was collected; the message says why."""


@dataclass
class Report:
    """What a collection did: one line per file taken, renamed, replaced or skipped."""

    lines: list[str] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)  # destination paths, relative to the course root
    skipped: list[str] = field(default_factory=list)  # entry names in the export

    def take(self, entry: str, dest: str, note: str = "") -> None:
        self.taken.append(dest)
        self.lines.append(f"took     {_show(entry)} -> {dest}{note}")

    def skip(self, entry: str, why: str) -> None:
        self.skipped.append(entry)
        self.lines.append(f"skipped  {_show(entry)}: {why}")


# --------------------------------------------------------------------------------------
# Reading an export: a zip or a folder, as a list of entries
# --------------------------------------------------------------------------------------


@dataclass
class _Entry:
    name: str  # as in the export
    kind: str  # "file", "dir", "link", "other", "encrypted"
    size: int  # declared size (a zip's header may lie)
    ref: object  # ZipInfo or absolute path


def _zip_entries(archive: zipfile.ZipFile) -> list[_Entry]:
    entries = []
    for info in archive.infolist():
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            kind = "link"
        elif info.is_dir():
            kind = "dir"
        elif info.flag_bits & 0x1:
            kind = "encrypted"
        elif mode and not stat.S_ISREG(mode):
            kind = "other"
        else:
            kind = "file"
        entries.append(_Entry(info.filename, kind, info.file_size, info))
    return entries


def _folder_entries(root: Path, max_entries: int) -> list[_Entry]:
    entries = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in sorted(dirs + files):
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, root).replace(os.sep, "/")
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                kind = "link"
            elif stat.S_ISDIR(info.st_mode):
                kind = "dir"
            elif stat.S_ISREG(info.st_mode):
                kind = "file"
            else:
                kind = "other"
            entries.append(_Entry(relative, kind, info.st_size, path))
            if len(entries) > max_entries:
                raise CollectionRefused(f"the export has more than {max_entries} entries")
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
    return entries


def _parts(name: str) -> tuple[list[str] | None, str | None]:
    """The path's parts, or why the path may not be used."""
    if "\x00" in name:
        return None, "a NUL character in the path"
    path = name.replace("\\", "/")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        return None, "an absolute path"
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        return None, "the path leaves the export (zip slip)"
    return parts, None


# --------------------------------------------------------------------------------------
# Collecting
# --------------------------------------------------------------------------------------


def _course(course_root: Path):
    """nbgrader's CourseDirectory as the course's nbgrader_config.py sets it."""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config_file = course_root / "nbgrader_config.py"
    config = Config()
    if config_file.is_file():
        config = PyFileConfigLoader(config_file.name, path=str(course_root)).load_config()
    coursedir = CourseDirectory(config=config)
    if "root" not in config.get("CourseDirectory", {}):
        coursedir.root = str(course_root)
    return coursedir


def _expected_notebooks(coursedir, assignment: str) -> list[str]:
    for directory in (coursedir.release_directory, coursedir.source_directory):
        folder = Path(coursedir.format_path(directory, ".", assignment))
        if folder.is_dir():
            names = sorted(p.stem for p in folder.glob("*.ipynb") if p.is_file())
            if names:
                return names
    raise CollectionRefused(f"no released notebooks for assignment {assignment!r} (run nbgrader generate_assignment)")


def _copy_capped(source, target, limit: int) -> int:
    """Copies at most limit bytes; returns the number of bytes, or -1 when there were more."""
    copied = 0
    while True:
        chunk = source.read(min(1 << 16, limit + 1 - copied))
        if not chunk:
            return copied
        copied += len(chunk)
        if copied > limit:
            return -1
        target.write(chunk)


def _safe_folder(root: Path, folder: Path) -> Path:
    """Creates folder under root (made if missing), refusing to pass through a symbolic link below root."""
    root.mkdir(parents=True, exist_ok=True)
    current = root
    for part in folder.relative_to(root).parts:
        current = current / part
        if current.is_symlink():
            raise OSError(f"{current} is a symbolic link")
        if not current.exists():
            current.mkdir()
        elif not current.is_dir():
            raise OSError(f"{current} is not a folder")
    return current


def collect(source, assignment: str, course_root=".", force: bool = False, dry_run: bool = False,
            max_file_size: int = 20 * MiB, max_total_size: int = 500 * MiB, max_entries: int = 100_000) -> Report:
    """Collect `assignment` from the export `source` (a folder or a zip file) into the course's
    submitted folder. Returns the report; raises CollectionRefused when nothing may be collected."""
    from nbgrader.utils import parse_utc

    course_root = Path(course_root).resolve()
    coursedir = _course(course_root)
    expected = _expected_notebooks(coursedir, assignment)
    submitted_root = Path(os.path.normpath(coursedir.format_path(coursedir.submitted_directory, ".", ".")))
    source = Path(source)
    report = Report()
    archive = None
    try:
        if source.is_dir():
            entries = _folder_entries(source, max_entries)
        elif source.is_file():
            try:
                archive = zipfile.ZipFile(source)
            except (zipfile.BadZipFile, OSError) as error:
                raise CollectionRefused(f"{source} is not a readable zip file ({error})") from None
            entries = _zip_entries(archive)
            if len(entries) > max_entries:
                raise CollectionRefused(f"the export has {len(entries)} entries, more than {max_entries}")
        else:
            raise CollectionRefused(f"no such folder or zip file: {source}")

        # 1. Which entries could be a student's file of this assignment.
        counts = Counter(e.name for e in entries)
        students: dict[str, dict[str, _Entry]] = {}
        for entry in entries:
            parts, problem = _parts(entry.name)
            if problem:
                report.skip(entry.name, problem)
                continue
            if entry.kind == "dir" and len(parts) <= 2:
                continue  # the student's and the assignment's folders themselves
            if counts[entry.name] > 1:
                report.skip(entry.name, f"appears {counts[entry.name]} times in the export (duplicate)")
            elif entry.kind in ("link", "other", "encrypted"):
                report.skip(entry.name, {"link": "a symbolic link", "other": "not a regular file",
                                         "encrypted": "encrypted"}[entry.kind])
            elif len(parts) != 3 or entry.kind != "file":
                report.skip(entry.name, "not <student>/<assignment>/<file>")
            elif not STUDENT.match(parts[0]):
                report.skip(entry.name, f"student name {_show(parts[0])!r} not allowed "
                                        "(letters, digits and _.@+- only, at most 64)")
            elif parts[1] != assignment:
                report.skip(entry.name, f"another assignment ({_show(parts[1])})")
            elif not _PLAIN_NAME.match(parts[2]) or parts[2].startswith("."):
                report.skip(entry.name, "file name not allowed")
            elif parts[2] != TIMESTAMP and not parts[2].endswith(".ipynb"):
                report.skip(entry.name, "not a notebook")
            elif entry.size > max_file_size:
                report.skip(entry.name, f"{entry.size} bytes, more than the limit of {max_file_size}")
            else:
                students.setdefault(parts[0], {})[parts[2]] = entry

        # 2. Per student: names that differ only in case, renamed notebooks, existing submissions.
        spellings = Counter(s.lower() for s in students)
        plan: list[tuple[str, _Entry, Path, str]] = []  # (student, entry, destination, note)
        for student in sorted(students):
            files = students[student]
            if spellings[student.lower()] > 1:
                for entry in files.values():
                    report.skip(entry.name, "another student's name differs only in case (duplicate)")
                continue
            present = sorted(name[: -len(".ipynb")] for name in files if name != TIMESTAMP)
            found, ambiguous = lms_renamed(expected, present)
            renamed = {actual: wanted for wanted, actual in found.items()}
            for wanted, candidates in ambiguous.items():
                for candidate in candidates:
                    report.skip(files[candidate + ".ipynb"].name,
                                f"one of {len(candidates)} notebooks that could be {wanted}.ipynb (duplicate)")
            folder = Path(coursedir.format_path(coursedir.submitted_directory, student, assignment))
            chosen = []
            for name, entry in sorted(files.items()):
                stem = name[: -len(".ipynb")]
                if name == TIMESTAMP or stem in expected:
                    chosen.append((entry, folder / name, ""))
                elif stem in renamed:
                    chosen.append((entry, folder / f"{renamed[stem]}.ipynb", f" (renamed from {_show(name)})"))
                elif not any(stem in c for c in ambiguous.values()):
                    report.skip(entry.name, f"not a notebook of {assignment} ({', '.join(expected)})"
                                if not any(e in stem for e in expected) else
                                "a second copy (the expected notebook is there too)")
            if not any(dest.suffix == ".ipynb" for _, dest, _ in chosen):
                for entry, _, _ in chosen:
                    report.skip(entry.name, "no notebook of the assignment with it")
                continue
            existing = [p for p in (folder.glob("*.ipynb") if folder.is_dir() else [])] + \
                [p for p in [folder / TIMESTAMP] if p.exists() or p.is_symlink()]
            if existing and not force:
                for entry, _, _ in chosen:
                    report.skip(entry.name, f"{student} already has a submission in "
                                            f"{os.path.relpath(folder, course_root)} (--force replaces it)")
                continue
            plan += [(student, entry, dest, note) for entry, dest, note in chosen]

        # 3. Read what is taken, with the caps, before writing anything.
        with tempfile.TemporaryDirectory(prefix="collect-") as staging:
            total = 0
            staged = []
            for index, (student, entry, dest, note) in enumerate(plan):
                path = os.path.join(staging, str(index))
                try:
                    with open(path, "xb") as target:
                        if archive is not None:
                            with archive.open(entry.ref) as stream:
                                size = _copy_capped(stream, target, max_file_size)
                        else:
                            fd = os.open(entry.ref, os.O_RDONLY | os.O_NOFOLLOW)
                            with os.fdopen(fd, "rb") as stream:
                                size = _copy_capped(stream, target, max_file_size)
                except (OSError, zipfile.BadZipFile, EOFError, RuntimeError) as error:
                    report.skip(entry.name, f"could not be read ({error})")
                    continue
                if size < 0:
                    report.skip(entry.name, f"more than {max_file_size} bytes once unpacked")
                    continue
                total += size
                if total > max_total_size:
                    raise CollectionRefused(f"the export unpacks to more than {max_total_size} bytes "
                                            "(--max-total-size); nothing was collected")
                if dest.name == TIMESTAMP:
                    try:
                        parse_utc(Path(path).read_text(encoding="utf-8").strip())
                    except (ValueError, UnicodeDecodeError, OverflowError) as error:
                        report.skip(entry.name, f"not a timestamp ({error})")
                        continue
                staged.append((student, entry, dest, note, path))

            # 4. Write: replace (with --force) a student's earlier notebooks and timestamp.
            cleared = set()
            for student, entry, dest, note, path in staged:
                relative = os.path.relpath(dest, course_root)
                if dry_run:
                    report.take(entry.name, relative, note + " (dry run: not written)")
                    continue
                try:
                    folder = _safe_folder(submitted_root, dest.parent)
                    if folder not in cleared:
                        cleared.add(folder)
                        for old in list(folder.glob("*.ipynb")) + [folder / TIMESTAMP]:
                            if old.is_symlink() or old.exists():
                                old.unlink()
                                report.lines.append(f"removed  {os.path.relpath(old, course_root)} (--force)")
                    temporary = folder / f".collect-{os.getpid()}-{dest.name}"
                    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                    with os.fdopen(fd, "wb") as target, open(path, "rb") as staged_file:
                        shutil.copyfileobj(staged_file, target)
                    os.replace(temporary, dest)
                except OSError as error:
                    report.skip(entry.name, f"could not be written ({error})")
                    continue
                report.take(entry.name, relative, note)
    finally:
        if archive is not None:
            archive.close()
    students_taken = {Path(p).parts[-3] for p in report.taken}
    report.lines.append(f"{len(report.taken)} file(s) taken for {len(students_taken)} student(s), "
                        f"{len(report.skipped)} skipped")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.collection",
        description="Copy the submissions of an LMS export (a folder or zip of <student>/<assignment>/"
                    "<notebook>.ipynb) into nbgrader's submitted/<student>/<assignment>/, safely. "
                    "One line per file taken or skipped. Exit status: 0 all taken, 1 some skipped, "
                    "2 nothing collected.",
    )
    parser.add_argument("assignment", help="the assignment to collect, e.g. 01_embeddings")
    parser.add_argument("source", help="the LMS export: a folder, or a zip file")
    parser.add_argument("--course", default=".", help="the course root, with nbgrader_config.py (default: .)")
    parser.add_argument("--force", action="store_true",
                        help="replace the notebooks and timestamp of students who already have a submission")
    parser.add_argument("--dry-run", action="store_true", help="report what would be taken; write nothing")
    parser.add_argument("--max-file-size", type=int, default=20 * MiB, metavar="BYTES",
                        help="skip a file larger than this once unpacked (default: %(default)s)")
    parser.add_argument("--max-total-size", type=int, default=500 * MiB, metavar="BYTES",
                        help="refuse an export that unpacks to more than this (default: %(default)s)")
    parser.add_argument("--max-entries", type=int, default=100_000, metavar="N",
                        help="refuse an export with more entries than this (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        report = collect(args.source, args.assignment, args.course, force=args.force, dry_run=args.dry_run,
                         max_file_size=args.max_file_size, max_total_size=args.max_total_size,
                         max_entries=args.max_entries)
    except CollectionRefused as error:
        print(f"nothing collected: {error}", file=sys.stderr)
        return 2
    print("\n".join(report.lines))
    return 1 if report.skipped else 0


if __name__ == "__main__":
    sys.exit(main())
