import numpy as np

from course_lib import softmax


def test_softmax_rows_are_distributions_over_the_last_axis():
    x = np.random.default_rng(0).standard_normal((2, 3, 5))
    p = softmax(x)
    np.testing.assert_allclose(p.sum(-1), 1.0)
    np.testing.assert_allclose(p[1, 2], np.exp(x[1, 2]) / np.exp(x[1, 2]).sum())


def test_softmax_is_stable_for_large_scores():
    p = softmax(np.array([1000.0, 1000.0, 999.0]))
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p, softmax(np.array([1.0, 1.0, 0.0])))


def test_softmax_other_axis():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(softmax(x, axis=0).sum(0), 1.0)
