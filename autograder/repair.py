"""Sanitising a submission's structure before it is graded: nbgrader's cells as the course made them.

:class:`CheckSubmission` runs in autograde's sanitize step, before nbgrader's own checks (see
nbgrader_config.py). Deleted test or locked cells are put back, changed nbgrader metadata
(points, grade ids, cell types) is set back, added cells claiming grade ids lose them, and
every such repair is one ``[intake] student ...`` line in autograde's output.
"""
from __future__ import annotations

import json
import os

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor

from autograder.intake import FLAGS, SCHEMA_VERSION, unique_id, where_in_course

__all__ = ["CheckSubmission"]



class _Master:
    """The assignment's notebook as the gradebook and the release know it."""

    def __init__(self, gb, notebook: str, assignment: str, release_path: str | None):
        from types import SimpleNamespace

        from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme

        record = gb.find_notebook(notebook, assignment)
        self.kernelspec = json.loads(record.kernelspec) if record.kernelspec else None
        self.cells = {c.name: SimpleNamespace(cell_type=c.cell_type, locked=bool(c.locked), source=c.source or "",
                                              checksum=c.checksum) for c in record.source_cells}
        self.grade = {c.name: c.max_score for c in record.grade_cells}
        self.task = {c.name: c.max_score for c in record.task_cells}
        self.solution = {c.name for c in record.solution_cells}
        release = {}
        if release_path and os.path.isfile(release_path):
            try:
                for cell in nbformat.read(release_path, as_version=4).cells:
                    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                    if grade_id in self.cells:
                        release[grade_id] = cell.source
            except Exception:  # noqa: BLE001 (then the gradebook's order and nbgrader's rules)
                release = {}
        self.order = list(release) + [name for name in self.cells if name not in release]
        self.release = {}
        for name, cell in self.cells.items():
            if name in release:
                self.release[name] = release[name]
            else:  # what generate_assignment shows students: hidden tests and marking schemes removed
                copy = nbformat.v4.new_markdown_cell(cell.source)
                try:
                    ClearHiddenTests()._remove_hidden_test_region(copy)
                    ClearMarkScheme()._remove_mark_scheme_region(copy)
                except RuntimeError:
                    pass
                self.release[name] = copy.source

    def metadata(self, name: str) -> dict:
        """nbgrader's cell metadata for the cell, as the release has it."""
        cell = self.cells[name]
        meta = {
            "cell_type": cell.cell_type,
            "grade": name in self.grade,
            "grade_id": name,
            "locked": cell.locked,
            "schema_version": SCHEMA_VERSION,
            "solution": name in self.solution,
            "task": name in self.task,
        }
        if name in self.grade or name in self.task:
            meta["points"] = self.grade.get(name, self.task.get(name))
        if cell.checksum:
            meta["checksum"] = cell.checksum
        return meta

    def kind(self, name: str) -> str:
        if name in self.grade and name not in self.solution:
            return "test cell" if self.cells[name].cell_type == "code" else "graded cell"
        if name in self.solution:
            return "written answer cell" if self.cells[name].cell_type == "markdown" else "answer cell"
        if name in self.task:
            return "task cell"
        return "locked cell" if self.cells[name].locked else "cell"

    def restorable(self, name: str, graded_only: bool = False) -> bool:
        """Put back when deleted: graded cells (a written answer as released, so it scores 0) and,
        unless graded_only, the locked cells the student may not change. Code answers stay deleted."""
        if name in self.grade or name in self.task:
            return True
        return not graded_only and self.cells[name].locked and name not in self.solution


def _grading(cell) -> dict | None:
    meta = cell.get("metadata", {})
    return meta.get("nbgrader") if "nbgrader" in meta else None


def _retyped(cell, cell_type: str):
    """The cell as another cell type, with its id, source and metadata."""
    make = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell}.get(
        cell_type, nbformat.v4.new_raw_cell)
    return make(cell.source, metadata=cell.metadata, id=cell.get("id") or "cell")


class CheckSubmission(NbGraderPreprocessor):
    """Checks a submitted notebook's nbgrader structure against the gradebook and sets it back.

    In ``Autograde.sanitize_preprocessors``, before nbgrader's DeduplicateIds, OverwriteKernelspec,
    OverwriteCells and CheckCellMetadata, which then find a notebook they can handle: every cell with
    nbgrader metadata has one of the notebook's grade ids, once, with the release's metadata."""

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook

        info = resources["nbgrader"]
        student, where = where_in_course(resources)
        placeholder = info.get("intake_problem") is not None  # already reported by the exporter
        with Gradebook(info["db_url"]) as gb:
            master = _Master(gb, info["notebook"], info["assignment"], self._release_path(info))
        self._findings: list[str] = []
        self._check_kernelspec(nb, master)
        kept, foreign = self._check_cells(nb, master)
        answers = set(master.grade) | set(master.task) | master.solution
        if placeholder or kept & answers or not (foreign or nb.cells):
            self._restore_missing(nb, master, kept, graded_only=placeholder)
            if not placeholder:
                for finding in self._findings:
                    self.log.warning("[intake] student %r, %s: %s", student, where, finding)
        else:  # none of this notebook's answers or tests: one line, not one per cell
            what = f"grade ids {', '.join(repr(g) for g in foreign[:4])}{', ...' if len(foreign) > 4 else ''}" \
                if foreign else "no nbgrader cells"
            self._restore_missing(nb, master, kept)
            self.log.error("[intake] student %r, %s: none of its answer or test cells belong to this notebook "
                           "(%s): another assignment's notebook, or a new one? Its cells run as ordinary cells, "
                           "with the course's cells put back (their tests fail unless the code they test is "
                           "there)", student, where, what)
        return nb, resources

    def _release_path(self, info) -> str | None:
        coursedir = getattr(getattr(self.parent, "parent", None), "coursedir", None)
        if coursedir is None:
            return None
        return os.path.join(coursedir.format_path(coursedir.release_directory, ".", info["assignment"]),
                            f"{info['notebook']}.ipynb")

    def _check_kernelspec(self, nb, master: _Master) -> None:
        wanted = (master.kernelspec or {}).get("name")
        spec = nb.metadata.get("kernelspec")
        got = spec.get("name") if isinstance(spec, dict) else spec
        if wanted and got != wanted:
            self._findings.append(f"kernelspec {got!r} instead of {wanted!r}: graded with the course's kernel")

    def _check_cells(self, nb, master: _Master) -> tuple[set[str], list[str]]:
        """Strips foreign and repeated nbgrader metadata, sets the rest back; returns the grade ids
        kept and the foreign ones."""
        owners: dict[str, int] = {}
        foreign: list[str] = []
        for index, cell in enumerate(nb.cells):
            meta = _grading(cell)
            if meta is None:
                continue
            grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
            if not isinstance(grade_id, str) or grade_id not in master.cells:
                del cell.metadata["nbgrader"]
                if isinstance(grade_id, str):
                    foreign.append(grade_id)
                    self._findings.append(f"cell {index} claims grade id {grade_id!r}, which this notebook does "
                                          "not have: an ordinary cell now (no points)")
                elif isinstance(meta, dict) and any(meta.get(f) for f in FLAGS):
                    self._findings.append(f"cell {index} has nbgrader metadata without a grade id: removed")
                continue
            owners[grade_id] = index  # the last one wins, as in nbgrader's DeduplicateIds
        for index, cell in enumerate(nb.cells):
            meta = _grading(cell)
            if meta is not None and owners[meta["grade_id"]] != index:
                del cell.metadata["nbgrader"]
                self._findings.append(f"cell {index} repeats grade id {meta['grade_id']!r} of cell "
                                      f"{owners[meta['grade_id']]}: an ordinary cell now (the last one is graded)")
        for grade_id, index in owners.items():
            nb.cells[index] = self._set_back(nb.cells[index], index, grade_id, master)
        return set(owners), foreign

    def _set_back(self, cell, index: int, grade_id: str, master: _Master):
        wanted = master.metadata(grade_id)
        meta = cell.metadata["nbgrader"]
        meta = meta if isinstance(meta, dict) else {}
        changed = []
        if cell.cell_type != wanted["cell_type"]:
            changed.append(f"cell type {cell.cell_type} instead of {wanted['cell_type']}")
            cell = _retyped(cell, wanted["cell_type"])
        for flag in FLAGS:
            if bool(meta.get(flag, False)) != wanted[flag]:
                changed.append(f"{flag} {bool(meta.get(flag, False))} instead of {wanted[flag]}")
        if "points" in wanted:
            try:
                points = float(meta.get("points"))
            except (TypeError, ValueError):
                points = None
            if points != float(wanted["points"]):
                changed.append(f"points {meta.get('points')!r} instead of {wanted['points']:g}")
        elif meta.get("points"):
            changed.append(f"points {meta.get('points')!r} on a cell that is not graded")
        what = f"{master.kind(grade_id)} {grade_id!r} (cell {index})"
        if changed:
            self._findings.append(f"{what}: nbgrader metadata changed ({'; '.join(changed)}): set back")
        cell.metadata["nbgrader"] = wanted
        if wanted["locked"] and cell.source.rstrip() not in (master.release[grade_id].rstrip(),
                                                             master.cells[grade_id].source.rstrip()):
            self._findings.append(f"{what} was edited: graded in the course's version")
        return cell

    def _restore_missing(self, nb, master: _Master, kept: set[str], graded_only: bool = False) -> None:
        used = {c.get("id") for c in nb.cells}
        for position, name in enumerate(master.order):
            if name in kept:
                continue
            if not master.restorable(name, graded_only):
                if name in master.solution:
                    self._findings.append(f"{master.kind(name)} {name!r} was deleted: its tests fail unless "
                                          "the code is elsewhere")
                continue
            at = self._insertion_point(nb, master.order, position)
            cell_id = unique_id(f"restored-{name}", used)
            used.add(cell_id)
            make = nbformat.v4.new_code_cell if master.cells[name].cell_type == "code" else \
                nbformat.v4.new_markdown_cell
            nb.cells.insert(at, make(master.release[name], id=cell_id, metadata={
                "nbgrader": master.metadata(name), "deletable": False,
                **({} if name in master.solution else {"editable": False})}))
            kept.add(name)
            self._findings.append(f"{master.kind(name)} {name!r} was deleted: put back from the course's copy "
                                  f"(cell {at})")

    @staticmethod
    def _insertion_point(nb, order: list[str], position: int) -> int:
        """After the nearest earlier course cell present; else before the nearest later one;
        else at the end (after the student's cells)."""
        where = {}
        for index, cell in enumerate(nb.cells):
            meta = _grading(cell)
            if meta is not None:
                where[meta["grade_id"]] = index
        for name in reversed(order[:position]):
            if name in where:
                return where[name] + 1
        for name in order[position + 1:]:
            if name in where:
                return where[name]
        return len(nb.cells)
