"""Collecting an LMS export (autograder/collection.py) into nbgrader's submitted/ folder: the happy path
and one test per kind of hostile export. None of them runs nbgrader: the collected export that
`nbgrader autograde` then grades is in tests/grading/test_autograde_tampering.py."""
from __future__ import annotations

import shutil
import stat
import struct
import warnings
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT
from autograder.collection import CollectionRefused, collect, main

CHAPTER = "01_embeddings"
NOTEBOOK = f"{CHAPTER}.ipynb"
RELEASE = (ROOT / "exercises" / CHAPTER / NOTEBOOK).read_bytes()
RENAMED = ROOT / "tests" / "grading" / "submissions" / "renamed_dash" / f"{CHAPTER}-1.ipynb"


@pytest.fixture
def course(tmp_path) -> Path:
    """A course with the real configuration and exercise 1's release (as generate_assignment writes it)."""
    folder = tmp_path / "course"
    (folder / "exercises" / CHAPTER).mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", folder)
    (folder / "exercises" / CHAPTER / NOTEBOOK).write_bytes(RELEASE)
    return folder


class Link(str):
    """A zip entry that is a symbolic link to this target."""


def _zip(path: Path, entries: list[tuple[str, bytes | Link]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name" is what one test wants
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in entries:
                info = zipfile.ZipInfo(name)
                info.compress_type = zipfile.ZIP_DEFLATED
                if isinstance(data, Link):
                    info.external_attr = (stat.S_IFLNK | 0o777) << 16
                    data = str(data).encode()
                else:
                    info.external_attr = (stat.S_IFREG | 0o644) << 16
                archive.writestr(info, data)
    return path


def _submitted(course: Path) -> dict[str, bytes]:
    folder = course / "submitted"
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} \
        if folder.exists() else {}


def _skipped(report, entry: str) -> str:
    """The reason the entry was skipped ('' if it was not)."""
    for line in report.lines:
        if line.startswith("skipped") and line.split(None, 1)[1].startswith(f"{entry}: "):
            return line
    return ""


def _everything_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_help_explains_the_command(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit.value.code == 0 and "usage: python -m autograder.collection" in out
    for option in ("--force", "--dry-run", "--max-file-size", "--max-total-size", "--course"):
        assert option in out


def test_zip_slip_and_absolute_paths_are_skipped(course, tmp_path):
    export = _zip(tmp_path / "export.zip", [
        ("../evil.ipynb", b"{}"),
        (f"alice/{CHAPTER}/../../../evil.ipynb", b"{}"),
        ("..\\..\\evil.ipynb", b"{}"),
        ("/tmp/evil-absolute.ipynb", b"{}"),
        ("C:/evil.ipynb", b"{}"),
        (f"bob/{CHAPTER}/{NOTEBOOK}", RELEASE),
    ])
    report = collect(export, CHAPTER, course)
    assert _submitted(course) == {f"bob/{CHAPTER}/{NOTEBOOK}": RELEASE}
    for entry in ("../evil.ipynb", f"alice/{CHAPTER}/../../../evil.ipynb", "..\\..\\evil.ipynb"):
        assert "the path leaves the export (zip slip)" in _skipped(report, entry), report.lines
    for entry in ("/tmp/evil-absolute.ipynb", "C:/evil.ipynb"):
        assert "an absolute path" in _skipped(report, entry), report.lines
    assert not any("evil" in p for p in _everything_under(tmp_path)) and not Path("/tmp/evil-absolute.ipynb").exists()
    assert report.lines[-1] == "1 file(s) taken for 1 student(s), 5 skipped"


def test_symbolic_links_are_skipped(course, tmp_path):
    secret = ROOT / "solutions" / CHAPTER / NOTEBOOK
    export = _zip(tmp_path / "export.zip", [
        (f"alice/{CHAPTER}/{NOTEBOOK}", Link(str(secret))),
        (f"bob/{CHAPTER}/{NOTEBOOK}", RELEASE),
    ])
    report = collect(export, CHAPTER, course)
    assert "a symbolic link" in _skipped(report, f"alice/{CHAPTER}/{NOTEBOOK}")
    assert list(_submitted(course)) == [f"bob/{CHAPTER}/{NOTEBOOK}"]

    folder = tmp_path / "folder_export"
    (folder / "carol" / CHAPTER).mkdir(parents=True)
    (folder / "carol" / CHAPTER / NOTEBOOK).symlink_to(secret)
    (folder / "dave").symlink_to(ROOT / "solutions")  # a whole student folder
    report = collect(folder, CHAPTER, course)
    assert "a symbolic link" in _skipped(report, f"carol/{CHAPTER}/{NOTEBOOK}")
    assert "a symbolic link" in _skipped(report, "dave")
    assert list(_submitted(course)) == [f"bob/{CHAPTER}/{NOTEBOOK}"]


def test_zip_bombs_are_capped(course, tmp_path):
    zeros = b"0" * (3 << 20)  # 3 MiB, a few KiB once compressed
    report = collect(_zip(tmp_path / "big.zip", [(f"alice/{CHAPTER}/{NOTEBOOK}", zeros),
                                                 (f"bob/{CHAPTER}/{NOTEBOOK}", RELEASE)]),
                     CHAPTER, course, max_file_size=1 << 20)
    assert f"{len(zeros)} bytes, more than the limit of {1 << 20}" in _skipped(report, f"alice/{CHAPTER}/{NOTEBOOK}")
    assert list(_submitted(course)) == [f"bob/{CHAPTER}/{NOTEBOOK}"]

    # A zip that declares a small size for a large file: what is read never exceeds the declared size.
    lying = tmp_path / "lying.zip"
    data = _zip(tmp_path / "honest.zip", [(f"carol/{CHAPTER}/{NOTEBOOK}", zeros)]).read_bytes()
    assert data.count(struct.pack("<I", len(zeros))) == 2  # the local header and the central directory
    lying.write_bytes(data.replace(struct.pack("<I", len(zeros)), struct.pack("<I", 1000)))
    report = collect(lying, CHAPTER, course, max_file_size=1 << 20)
    assert "could not be read" in _skipped(report, f"carol/{CHAPTER}/{NOTEBOOK}"), report.lines
    assert "carol" not in str(list(_submitted(course)))

    # Many files, each under the cap, that add up to too much: nothing at all is collected.
    many = _zip(tmp_path / "many.zip", [(f"s{i}/{CHAPTER}/{NOTEBOOK}", zeros[: 900_000]) for i in range(5)])
    with pytest.raises(CollectionRefused, match="unpacks to more than 2097152 bytes"):
        collect(many, CHAPTER, course, max_total_size=2 << 20)
    assert main([CHAPTER, str(many), "--course", str(course), "--max-total-size", str(2 << 20)]) == 2
    assert list(_submitted(course)) == [f"bob/{CHAPTER}/{NOTEBOOK}"]
    with pytest.raises(CollectionRefused, match="more than 3"):
        collect(many, CHAPTER, course, max_entries=3)


def test_odd_student_names_are_skipped(course, tmp_path):
    odd = [".hidden", "al ice", "al*ce", "a;rm -rf ~", "\u00e5lice", "x" * 65, "-dash", "bob\x1b[31m", "a?b"]
    export = _zip(tmp_path / "export.zip", [(f"{name}/{CHAPTER}/{NOTEBOOK}", RELEASE) for name in odd]
                  + [(f"ok_name.1@uni/{CHAPTER}/{NOTEBOOK}", RELEASE)])
    report = collect(export, CHAPTER, course)
    assert list(_submitted(course)) == [f"ok_name.1@uni/{CHAPTER}/{NOTEBOOK}"]
    assert len(report.skipped) == len(odd)
    assert all("not allowed" in line for line in report.lines if line.startswith("skipped"))
    assert not any("\x1b" in line for line in report.lines), "a name reached the terminal unescaped"
    assert any("bob\\x1b[31m" in line for line in report.lines)


def test_duplicates_are_skipped_not_guessed(course, tmp_path):
    export = _zip(tmp_path / "export.zip", [
        (f"alice/{CHAPTER}/{NOTEBOOK}", RELEASE),
        (f"alice/{CHAPTER}/{NOTEBOOK}", RELEASE + b" "),  # the same path twice in the zip
        (f"Carol/{CHAPTER}/{NOTEBOOK}", RELEASE),
        (f"carol/{CHAPTER}/{NOTEBOOK}", RELEASE),  # names that differ only in case
        (f"dave/{CHAPTER}/{NOTEBOOK}", RELEASE),
        (f"dave/{CHAPTER}/{CHAPTER} (1).ipynb", b"{}"),  # the expected name is there too
        (f"erin/{CHAPTER}/{CHAPTER} (1).ipynb", RELEASE),
        (f"erin/{CHAPTER}/{CHAPTER} (2).ipynb", RELEASE),  # two candidates: no guess
    ])
    report = collect(export, CHAPTER, course)
    assert list(_submitted(course)) == [f"dave/{CHAPTER}/{NOTEBOOK}"]
    assert "appears 2 times in the export (duplicate)" in _skipped(report, f"alice/{CHAPTER}/{NOTEBOOK}")
    assert "differs only in case" in _skipped(report, f"Carol/{CHAPTER}/{NOTEBOOK}")
    assert "differs only in case" in _skipped(report, f"carol/{CHAPTER}/{NOTEBOOK}")
    assert "a second copy" in _skipped(report, f"dave/{CHAPTER}/{CHAPTER} (1).ipynb")
    for n in (1, 2):
        assert "one of 2 notebooks that could be 01_embeddings.ipynb" in \
            _skipped(report, f"erin/{CHAPTER}/{CHAPTER} ({n}).ipynb")


def test_an_existing_submission_is_replaced_only_with_force(course, tmp_path, capsys):
    first = _zip(tmp_path / "first.zip", [(f"alice/{CHAPTER}/{NOTEBOOK}", RELEASE),
                                          (f"alice/{CHAPTER}/timestamp.txt", b"2026-01-10 12:00:00 UTC")])
    second = _zip(tmp_path / "second.zip", [(f"alice/{CHAPTER}/{CHAPTER} (1).ipynb", b"{}")])
    assert main([CHAPTER, str(first), "--course", str(course)]) == 0
    kept = _submitted(course)
    assert set(kept) == {f"alice/{CHAPTER}/{NOTEBOOK}", f"alice/{CHAPTER}/timestamp.txt"}

    assert main([CHAPTER, str(second), "--course", str(course)]) == 1
    assert "alice already has a submission in submitted/alice/01_embeddings (--force replaces it)" in \
        capsys.readouterr().out
    assert _submitted(course) == kept
    assert main([CHAPTER, str(second), "--course", str(course), "--dry-run", "--force"]) == 0
    assert "(dry run: not written)" in capsys.readouterr().out and _submitted(course) == kept

    assert main([CHAPTER, str(second), "--course", str(course), "--force"]) == 0
    out = capsys.readouterr().out
    assert "removed  submitted/alice/01_embeddings/timestamp.txt (--force)" in out
    assert f"took     alice/{CHAPTER}/{CHAPTER} (1).ipynb -> submitted/alice/{CHAPTER}/{NOTEBOOK} " \
           f"(renamed from {CHAPTER} (1).ipynb)" in out
    assert _submitted(course) == {f"alice/{CHAPTER}/{NOTEBOOK}": b"{}"}

    # Never written through a link planted where a student's folder goes.
    (course / "submitted" / "mallory").symlink_to(tmp_path)
    report = collect(_zip(tmp_path / "third.zip", [(f"mallory/{CHAPTER}/{NOTEBOOK}", RELEASE)]), CHAPTER, course)
    assert "could not be written" in _skipped(report, f"mallory/{CHAPTER}/{NOTEBOOK}")
    assert not (tmp_path / CHAPTER).exists()


def test_only_the_assignments_notebooks_and_timestamp_are_taken(course, tmp_path):
    export = _zip(tmp_path / "export.zip", [
        (f"alice/{CHAPTER}/{NOTEBOOK}", RELEASE),
        (f"alice/{CHAPTER}/data.csv", b"1,2"),
        (f"alice/{CHAPTER}/inner.zip", b"PK"),
        (f"alice/{CHAPTER}/notes/{NOTEBOOK}", RELEASE),
        ("alice/02_qkv/02_qkv.ipynb", RELEASE),
        ("README.txt", b"exported"),
        (f"bob/{CHAPTER}/timestamp.txt", b"2026-01-10 12:00:00"),  # and no notebook
        (f"carol/{CHAPTER}/my work.ipynb", RELEASE),  # the only notebook: renamed
        (f"carol/{CHAPTER}/timestamp.txt", b"yesterday-ish"),
    ])
    report = collect(export, CHAPTER, course)
    assert _submitted(course) == {f"alice/{CHAPTER}/{NOTEBOOK}": RELEASE, f"carol/{CHAPTER}/{NOTEBOOK}": RELEASE}
    assert "not a notebook" in _skipped(report, f"alice/{CHAPTER}/data.csv")
    assert "not a notebook" in _skipped(report, f"alice/{CHAPTER}/inner.zip")
    assert "not <student>/<assignment>/<file>" in _skipped(report, f"alice/{CHAPTER}/notes/{NOTEBOOK}")
    assert "another assignment (02_qkv)" in _skipped(report, "alice/02_qkv/02_qkv.ipynb")
    assert "not <student>/<assignment>/<file>" in _skipped(report, "README.txt")
    assert "no notebook of the assignment with it" in _skipped(report, f"bob/{CHAPTER}/timestamp.txt")
    assert "not a timestamp" in _skipped(report, f"carol/{CHAPTER}/timestamp.txt")
    assert f"-> submitted/carol/{CHAPTER}/{NOTEBOOK} (renamed from my work.ipynb)" in "\n".join(report.lines)
    with pytest.raises(CollectionRefused, match="no released notebooks for assignment '02_qkv'"):
        collect(export, "02_qkv", course)
    with pytest.raises(CollectionRefused, match="not a readable zip file"):
        collect(ROOT / "README.md", CHAPTER, course)


def test_a_folder_or_a_zip_export_is_collected(tmp_path):
    """The happy path, as a folder and as a zip of it: the same submitted/ tree, the renamed notebook
    under its expected name. (tests/grading/test_autograde_tampering.py collects an export with the command
    and then grades it with `nbgrader autograde`.)"""
    export = tmp_path / "export"
    (export / "alice" / CHAPTER).mkdir(parents=True)
    (export / "alice" / CHAPTER / NOTEBOOK).write_bytes(RELEASE)
    (export / "bob" / CHAPTER).mkdir(parents=True)
    shutil.copy(RENAMED, export / "bob" / CHAPTER)
    (export / "bob" / CHAPTER / "timestamp.txt").write_text("2026-01-10 12:00:00 UTC")
    archive = shutil.make_archive(str(tmp_path / "export"), "zip", export)
    trees = []
    for source in (export, archive):
        course = tmp_path / f"course_{len(trees)}"
        (course / "exercises" / CHAPTER).mkdir(parents=True)
        shutil.copy(ROOT / "nbgrader_config.py", course)
        (course / "exercises" / CHAPTER / NOTEBOOK).write_bytes(RELEASE)
        report = collect(source, CHAPTER, course)
        assert report.lines == [
            f"took     alice/{CHAPTER}/{NOTEBOOK} -> submitted/alice/{CHAPTER}/{NOTEBOOK}",
            f"took     bob/{CHAPTER}/{CHAPTER}-1.ipynb -> submitted/bob/{CHAPTER}/{NOTEBOOK} "
            f"(renamed from {CHAPTER}-1.ipynb)",
            f"took     bob/{CHAPTER}/timestamp.txt -> submitted/bob/{CHAPTER}/timestamp.txt",
            "3 file(s) taken for 2 student(s), 0 skipped",
        ]
        trees.append(_submitted(course))
    assert trees[0] == trees[1] == {
        f"alice/{CHAPTER}/{NOTEBOOK}": RELEASE,
        f"bob/{CHAPTER}/{NOTEBOOK}": RENAMED.read_bytes(),
        f"bob/{CHAPTER}/timestamp.txt": b"2026-01-10 12:00:00 UTC",
    }
