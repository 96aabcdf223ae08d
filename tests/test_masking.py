import numpy as np
import pytest

from course_lib import causal_mask, masked_softmax, padding_mask, scaled_dot_product_attention


def test_causal_mask_allows_the_past_and_the_present_only():
    mask = causal_mask(4)
    assert mask.dtype == bool and mask.shape == (4, 4)
    for i in range(4):
        for j in range(4):
            assert mask[i, j] == (j <= i)


def test_padding_mask_hides_padding_keys_and_broadcasts():
    ids = np.array([[7, 3, 0, 0], [1, 2, 3, 4]])
    mask = padding_mask(ids, pad_id=0)
    assert mask.shape == (2, 1, 4) and mask.dtype == bool
    np.testing.assert_array_equal(mask[:, 0], ids != 0)
    combined = mask & causal_mask(4)
    assert combined.shape == (2, 4, 4)
    assert not combined[0, 3, 2] and combined[0, 3, 1] and not combined[1, 0, 1]


def test_padding_mask_other_pad_id():
    np.testing.assert_array_equal(padding_mask(np.array([[3, 9, 9]]), pad_id=9), [[[True, False, False]]])


def test_masked_softmax_with_all_true_mask_is_softmax():
    from course_lib import softmax

    scores = np.random.default_rng(0).standard_normal((3, 5)) * 50
    np.testing.assert_allclose(masked_softmax(scores, np.ones((3, 5), bool)), softmax(scores))


def test_masked_softmax_ignores_huge_scores_at_masked_positions():
    scores = np.array([[1e308, 1.0, 2.0]])
    weights = masked_softmax(scores, np.array([False, True, True]))
    assert np.isfinite(weights).all() and weights[0, 0] == 0.0
    np.testing.assert_allclose(weights.sum(), 1.0)


def test_rejects_integer_masks():
    with pytest.raises(TypeError, match="boolean"):
        masked_softmax(np.zeros((2, 2)), np.array([[1, 0], [1, 1]]))


def test_no_peeking_changing_future_tokens_leaves_earlier_outputs_unchanged():
    rng = np.random.default_rng(4)
    n, d = 6, 4
    x = rng.standard_normal((n, d))
    w_q, w_k, w_v = (rng.standard_normal((d, d)) for _ in range(3))

    def causal_self_attention(x):
        return scaled_dot_product_attention(x @ w_q, x @ w_k, x @ w_v, causal_mask(n))[0]

    before = causal_self_attention(x)
    for t in range(n):
        changed = x.copy()
        changed[t:] = rng.standard_normal((n - t, d))  # rewrite token t and everything after it
        after = causal_self_attention(changed)
        np.testing.assert_allclose(after[:t], before[:t], err_msg=f"outputs before {t} saw the future")
        assert not np.allclose(after[t:], before[t:])  # and the changed tokens do matter


def test_the_tutorial_mask_bug_lets_the_model_see_the_future():
    # 1 - triu(ones, k=1) is 1 on and below the diagonal: the positions to KEEP. Adding
    # mask * -1e9 then blocks exactly those and leaves only the future visible.
    n = 4
    tutorial_mask = 1 - np.triu(np.ones((n, n)), k=1)
    scores = np.zeros((n, n))
    from course_lib import softmax

    weights = softmax(scores + tutorial_mask * -1e9)
    assert (weights[:-1][~causal_mask(n)[:-1]] > 0).any()  # future keys get weight
    np.testing.assert_allclose(np.tril(weights)[:-1], 0.0)  # and the past none (but the last row)
