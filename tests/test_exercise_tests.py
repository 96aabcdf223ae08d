"""Tests of the exercises' tests: each graded test cell passes the model solution and fails
every plausible wrong answer in wrong_answers.py — and its hidden part fails it on its own,
so the grade really depends on the hidden tests, not only on the tests learners can see.

Cells are executed in this process (no kernel), the way a notebook would run them.
"""
from __future__ import annotations

import functools

import matplotlib
import numpy as np
import pytest

from notebooks import answer_cells, as_submitted, cells_by_id, grading, hidden_part, solution_notebook
from wrong_answers import OTHER_CORRECT_ANSWERS, WRONG_ANSWERS

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

CASES = [
    (chapter, function, label)
    for chapter, functions in WRONG_ANSWERS.items()
    for function, answers in functions.items()
    for label in answers
]


@functools.cache
def _setup_and_answers(chapter: str) -> tuple[str, ...]:
    """The notebook's locked set-up code and every model answer, in notebook order."""
    sources = []
    for cell in solution_notebook(chapter).cells:
        role = grading(cell)
        if cell.cell_type == "code" and role.get("locked") and not role.get("grade"):
            sources.append(cell.source)
        elif cell.cell_type == "code" and role.get("solution"):
            sources.append(as_submitted(cell.source))
    return tuple(sources)


@functools.cache
def _executed(chapter: str) -> dict:
    namespace: dict = {"__name__": "__main__"}
    for source in _setup_and_answers(chapter):
        exec(source, namespace)
    plt.close("all")
    return namespace


def _namespace(chapter: str) -> dict:
    """The notebook's set-up cells and model answers, executed as in a kernel (once per
    chapter; each test gets its own copy of the names, so a wrong answer replaces a function
    only for the test that defines it)."""
    return dict(_executed(chapter))


def _test_source(chapter: str, function: str) -> str:
    return cells_by_id(solution_notebook(chapter))[f"test_{function}"].source


def test_every_graded_function_has_wrong_answers():
    for chapter in WRONG_ANSWERS:
        graded = {grading(c)["grade_id"] for c in answer_cells(solution_notebook(chapter))}
        assert graded == set(WRONG_ANSWERS[chapter]), f"{chapter}: wrong answers must cover every graded function"
        assert all(len(answers) >= 3 for answers in WRONG_ANSWERS[chapter].values())


@pytest.mark.parametrize("chapter, function", [(c, f) for c, fs in WRONG_ANSWERS.items() for f in fs])
def test_model_solution_passes_its_tests(chapter, function):
    exec(_test_source(chapter, function), _namespace(chapter))


@pytest.mark.parametrize("chapter, function, label", CASES)
def test_wrong_answer_fails_the_tests_and_the_hidden_tests_alone(chapter, function, label):
    wrong = WRONG_ANSWERS[chapter][function][label]
    source = _test_source(chapter, function)
    for part, code in [("whole test cell", source), ("hidden tests alone", hidden_part(source))]:
        namespace = _namespace(chapter)
        exec(wrong, namespace)
        # an assertion, or an error the wrong answer causes (overflow warnings are expected)
        with pytest.raises(Exception) as caught, np.errstate(all="ignore"):
            exec(code, namespace)
            pytest.fail(f"{part} of {chapter}/{function} accepted the wrong answer: {label}")
        # A wrong answer that cannot even run would make this test pass for nothing.
        assert not isinstance(caught.value, (NameError, SyntaxError, ImportError)), f"broken wrong answer: {caught.value!r}"


# -- inputs overwritten in place (issue 25) --------------------------------------------------
# For every graded function, an answer that computes the right result, then writes zeros into every
# array and tensor it was given and returns zeros of the right shape: a test that computed its
# expected values from its own arrays after the call would accept it. call_own_code passes copies.


def _zeroed_in_place(value) -> bool:
    """Write zeros into every array and plain tensor in value (lists, tuples, dicts too); whether any was."""
    import sys

    torch = sys.modules.get("torch")
    if isinstance(value, np.ndarray) and value.flags.writeable and value.size:
        value[...] = 0
        return True
    if torch is not None and isinstance(value, torch.Tensor) and not value.requires_grad and value.numel():
        with torch.no_grad():
            value.zero_()
        return True
    if isinstance(value, (list, tuple)):
        return any([_zeroed_in_place(v) for v in value])
    if isinstance(value, dict):
        return any([_zeroed_in_place(v) for v in value.values()])
    return False


def _zeros_like(value):
    import sys

    torch = sys.modules.get("torch")
    if isinstance(value, np.ndarray):
        return np.zeros_like(value)
    if torch is not None and isinstance(value, torch.Tensor):
        return torch.zeros_like(value)
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return type(value)(0)
    if isinstance(value, (list, tuple)):
        return type(value)(_zeros_like(v) for v in value)
    return value


@pytest.mark.parametrize("chapter, function", [(c, f) for c, fs in WRONG_ANSWERS.items() for f in fs])
def test_an_answer_that_zeroes_its_inputs_and_returns_zeros_fails(chapter, function):
    namespace = _namespace(chapter)
    model, zeroed = namespace[function], []

    def overwrites_its_inputs(*args, **kwargs):
        result = model(*args, **kwargs)
        zeroed.append(_zeroed_in_place((args, kwargs)))
        return _zeros_like(result)

    namespace[function] = overwrites_its_inputs
    with pytest.raises(Exception) as caught, np.errstate(all="ignore"):
        exec(_test_source(chapter, function), namespace)
        pytest.fail(f"the test of {chapter}/{function} accepted zeros after its inputs were overwritten with zeros")
    assert not isinstance(caught.value, (NameError, SyntaxError, ImportError)), f"broken: {caught.value!r}"
    assert zeroed, f"{chapter}/{function}: the test never called the answer"


# -- float32 is a correct choice where the learner picks the dtype (issue 20) ------------------
# These functions build their arrays from integers: an answer in float32 is as right as one in float64,
# so the tests compare at float32's precision (each wrong answer above still fails them).
FLOAT32_IS_A_CHOICE = [("07_positional", "sinusoidal_positional_encoding"), ("07_positional", "shift_matrix"),
                       ("09_training", "label_smoothed_targets")]


@pytest.mark.parametrize("chapter, function", FLOAT32_IS_A_CHOICE)
def test_a_correct_float32_answer_passes(chapter, function):
    namespace = _namespace(chapter)
    model = namespace[function]

    def in_float32(*args, **kwargs):
        return np.asarray(model(*args, **kwargs), dtype=np.float32)

    namespace[function] = in_float32
    exec(_test_source(chapter, function), namespace)




# -- one mistake costs one test (issue 20, exercises 3 to 6) ----------------------------------
# A later answer calls an earlier one (scaled scores call the learner's raw scores, attention the
# learner's softmax, multi-head attention the learner's split_heads and merge_heads). Its test grades
# the later function: the reference's parts pass, and so do the learner's own wrong ones, as long as
# they return values (a part that raises, or calls the reference, which raises while grading, still
# breaks the function that uses it; one that returns zeros in exercise 3 gives nothing to check a
# scale on, and its later parts are not excused).
# The answer cells are executed again with the wrong part in place, as a kernel would: the later
# function looks its helper up in the namespace it was defined in.
ONE_MISTAKE = {
    ("03_scores", "attention_scores"): ["scaled_attention_scores", "self_attention_scores"],
    ("03_scores", "scaled_attention_scores"): ["self_attention_scores"],
    ("04_softmax", "softmax"): ["entropy", "scaled_dot_product_attention"],
    ("05_masking", "causal_mask"): ["padding_mask", "masked_attention"],
    ("05_masking", "padding_mask"): ["masked_attention"],
    ("06_multi_head", "split_heads"): ["merge_heads", "multi_head_attention"],
    ("06_multi_head", "merge_heads"): ["multi_head_attention"],
}
NOTHING_TO_BUILD_ON = {"calls the reference", "heads after the tokens", "keeps only the first head",
                       "zeros its inputs in place"}


def _namespace_with(chapter: str, function: str, wrong: str) -> dict:
    namespace: dict = {"__name__": "__main__"}
    for cell in solution_notebook(chapter).cells:
        role = grading(cell)
        if cell.cell_type == "code" and role.get("locked") and not role.get("grade"):
            exec(cell.source, namespace)
        elif cell.cell_type == "code" and role.get("solution"):
            exec(wrong if role["grade_id"] == function else as_submitted(cell.source), namespace)
    plt.close("all")
    return namespace


@pytest.mark.parametrize("chapter, function, label, later", [
    (chapter, function, label, later)
    for (chapter, function), laters in ONE_MISTAKE.items()
    for label in WRONG_ANSWERS[chapter][function] if label not in NOTHING_TO_BUILD_ON
    for later in laters
])
def test_a_wrong_part_costs_only_its_own_test(chapter, function, label, later):
    namespace = _namespace_with(chapter, function, WRONG_ANSWERS[chapter][function][label])
    with np.errstate(all="ignore"):
        exec(_test_source(chapter, later), namespace)




# -- correct answers written another way (wrong_answers.OTHER_CORRECT_ANSWERS) -----------------
OTHER_CASES = [(c, f, label) for c, fs in OTHER_CORRECT_ANSWERS.items() for f, answers in fs.items() for label in answers]


@pytest.mark.parametrize("chapter, function, label", OTHER_CASES)
def test_another_correct_answer_passes(chapter, function, label):
    namespace = _namespace(chapter)
    exec("import math\nimport torch\n" + OTHER_CORRECT_ANSWERS[chapter][function][label], namespace)
    exec(_test_source(chapter, function), namespace)
