"""The test command's time, split by suite, read from the JUnit report that `make test` writes.

Running the whole suite here would double the benchmark's time, so this section reports the
last `make test` run on this machine (``_build/test-report.xml``); run `make test` first.
"""
from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

REPORT = Path(__file__).resolve().parents[1] / "_build" / "test-report.xml"
# The last measurement before the tests ran in parallel and the book's notebooks were executed once
# (this table, 2026-11-26: 1020 tests, one process, nbval and the book build each executing them).
BEFORE, BEFORE_TOTAL = "2026-11-26, one process, the book's notebooks executed twice", 960

# The first matching prefix of a test's JUnit class name decides its suite.
SUITES = [
    ("solutions.", "nbval: solution notebooks executed"),
    ("tests.test_book", "book build (every book notebook executed; warnings are errors) and page checks"),
    ("tests.grading.test_nbgrader", "nbgrader round trip (release; one class autograded, feedback, export; "
                                    "answers that warn keep their points)"),
    ("tests.test_exercise_tests", "exercise tests against plausible wrong answers"),
    ("tests.grading.test_autograde_sandbox", "sandboxed autograding of hostile submissions"),
    ("tests.grading.test_autograde_tampering", "autograding tampered and broken submissions"),
    ("tests.grading.test_parallel_grading", "parallel against serial autograding"),
    ("tests.grading.test_autograde_environment", "autograding from a copy of the course; the kernel's environment"),
    ("tests.grading.test_collection", "LMS collection (hostile archives)"),
    ("tests.grading.test_preflight", "autograde's preflight: the reference solution first, refusals"),
    ("tests.test_browser", "browser (Chromium)"),
    ("tests.test_ddp", "DistributedDataParallel (2 processes)"),
    ("tests.test_benchmarks", "benchmark smoke runs"),
    ("tests.test_setup", "set-up: the README's commands; the lock resolved on Python 3.12 and 3.13"),
    ("tests.grading.", "unit tests of the autograder"),
    ("tests.", "unit tests of course_lib"),
]


def suite_of(classname: str) -> str:
    return next((suite for prefix, suite in SUITES if classname.startswith(prefix)), "other")


def run(report: Path = REPORT) -> str:
    lines = ["## The test command (`make test`)", ""]
    if not report.exists():
        return "\n".join(lines + [f"No report: run `make test` first (it writes {report.relative_to(report.parents[1])})."])
    root = ET.parse(report).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    seconds, counts = defaultdict(float), defaultdict(int)
    for case in suite.iter("testcase"):
        name = suite_of(case.get("classname", ""))
        seconds[name] += float(case.get("time", 0))
        counts[name] += 1
    when = datetime.datetime.fromisoformat(suite.get("timestamp")).strftime("%Y-%m-%d %H:%M")
    lines += [
        f"From the last run's JUnit report ({when}, {suite.get('tests')} tests, {suite.get('failures')} failures, "
        f"{suite.get('errors')} errors, {suite.get('skipped')} skipped): pytest's own total "
        f"{float(suite.get('time')):.0f} s; per suite, the sum of its tests' times (set-up included). The tests "
        "run on parallel workers (pytest-xdist; one more than the cores, so 3 on 2 cores), so the suites add up to "
        f"more than the total, and each test takes longer than alone. Before the tests ran in parallel ({BEFORE}) "
        f"the total was {BEFORE_TOTAL} s.",
        "",
        "| suite | tests | seconds |",
        "| --- | ---: | ---: |",
    ]
    order = [s for _, s in SUITES] + ["other"]
    lines += [f"| {name} | {counts[name]} | {seconds[name]:.0f} |" for name in order if counts[name]]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
