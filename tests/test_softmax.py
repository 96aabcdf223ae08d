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


def test_softmax_is_finite_and_sums_to_one_for_huge_and_tiny_scores():
    from course_lib import naive_softmax

    scores = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1001.0, -1002.0], [1e300, -1e300, 0.0]])
    p = softmax(scores)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(-1), 1.0)
    np.testing.assert_allclose(p[0], softmax(np.array([1.0, 2.0, 0.0])))
    assert np.isnan(naive_softmax(scores[:1])).all()  # the textbook formula overflows: inf / inf


def test_softmax_is_shift_invariant_but_not_scale_invariant():
    x = np.array([0.5, 1.5, -0.3])
    np.testing.assert_allclose(softmax(x + 123.0), softmax(x))
    assert softmax(10 * x).max() > softmax(x).max()


def test_temperature_sharpens_and_flattens():
    from course_lib import entropy, softmax_with_temperature

    x = np.array([2.0, 1.0, 0.0, -1.0])
    entropies = [entropy(softmax_with_temperature(x, t)) for t in (0.1, 1.0, 10.0)]
    assert entropies[0] < entropies[1] < entropies[2] < np.log(4)
    np.testing.assert_allclose(softmax_with_temperature(x, 1.0), softmax(x))


def test_entropy_of_one_hot_and_uniform_rows():
    from course_lib import entropy

    rows = np.array([[0.0, 1.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]])
    np.testing.assert_allclose(entropy(rows), [0.0, np.log(4)])
