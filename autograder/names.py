"""What a submission's names may be: student ids, and notebooks renamed by an LMS or a browser.

Shared by the collection of an LMS export (:mod:`autograder.collection`) and by autograde's intake
(:mod:`autograder.intake`), so that both apply the same rule.
"""
from __future__ import annotations

import re

__all__ = ["LMS_SUFFIX", "STUDENT", "lms_renamed", "printable"]

STUDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")
# What LMSs and browsers append to a downloaded file's name: "name (1)", "name-1", "name_2", "name copy".
LMS_SUFFIX = re.compile(r"(?:\s*\(\d+\)|[-_ ]\d+|\s+-?\s*copy(?:\s*\d+)?)$", re.I)


def lms_renamed(expected: list[str], present: list[str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Which present notebook stands for each expected one that is missing: a name that is the
    expected name with an LMS's or browser's suffix (``01_embeddings (1)``, ``01_embeddings-1``),
    or, for an assignment of one notebook, the only notebook there is. Names are stems (no
    ``.ipynb``). Returns (found: expected -> present, ambiguous: expected -> candidates)."""
    missing = [e for e in expected if e not in present]
    unknown = [p for p in present if p not in expected]
    found, ambiguous = {}, {}
    for name in missing:
        candidates = [p for p in unknown if LMS_SUFFIX.sub("", p).strip() == name]
        if len(candidates) == 1:
            found[name] = candidates[0]
        elif candidates:
            ambiguous[name] = sorted(candidates)
    if len(expected) == 1 and missing and not found and not ambiguous:
        if len(unknown) == 1:
            found[missing[0]] = unknown[0]
        elif len(unknown) > 1:
            ambiguous[missing[0]] = sorted(unknown)
    return found, ambiguous


def printable(name: str) -> str:
    """A name as it can be printed safely (control and other unprintable characters escaped)."""
    return name if name.isprintable() else ascii(name)[1:-1]
