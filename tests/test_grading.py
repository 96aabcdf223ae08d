import numpy as np
import pytest

import course_lib
from course_lib.embeddings import one_hot as aliased_one_hot
from course_lib.grading import ReferenceCalledError, call_own_code, reference_blocked


def test_an_answer_that_calls_the_reference_is_caught_even_through_an_alias():
    def lazy_answer(ids, vocab_size):
        return aliased_one_hot(ids, vocab_size)

    with pytest.raises(ReferenceCalledError, match="embeddings.one_hot"):
        call_own_code(lazy_answer, np.array([1]), 3)


def test_methods_and_indirect_calls_are_blocked_too():
    def sneaky(text):
        return course_lib.WordTokenizer.fit([text]).encode(text)

    with pytest.raises(ReferenceCalledError):
        call_own_code(sneaky, "this is book")


def test_own_code_runs_and_the_reference_is_restored_afterwards():
    def own_answer(ids, vocab_size):
        return np.eye(vocab_size)[ids]

    np.testing.assert_array_equal(call_own_code(own_answer, np.array([2]), 3), [[0, 0, 1]])
    with pytest.raises(RuntimeError):
        with reference_blocked():
            raise RuntimeError("the answer crashed")
    np.testing.assert_array_equal(course_lib.one_hot(np.array([0]), 2), [[1, 0]])


def test_blocking_only_some_functions_leaves_the_rest_usable():
    from course_lib.grading import call_without

    def answer(ids, vocab_size):
        return course_lib.embed(ids, np.eye(vocab_size))  # uses embed, which is allowed here

    np.testing.assert_array_equal(call_without([course_lib.one_hot], answer, np.array([1]), 3), [[0, 1, 0]])
    with pytest.raises(ReferenceCalledError, match="one_hot"):
        call_without([course_lib.one_hot], lambda: course_lib.one_hot(np.array([0]), 2))
