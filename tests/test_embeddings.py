import numpy as np
import pytest

from course_lib import WordTokenizer, cosine_similarity, embed, one_hot, random_embedding_table, tokenize


def test_tokenize_lowercases_and_splits_punctuation():
    assert tokenize("This is book.") == ["this", "is", "book", "."]


def test_tokenizer_ids_are_reproducible_and_reserve_pad_and_unk():
    tok = WordTokenizer.fit(["This is book", "this is a cat"])
    assert tok.decode([0, 1]) == ["<pad>", "<unk>"]
    assert list(tok.encode("this is book")) == [2, 3, 4]
    assert list(tok.encode("this is dog")) == [2, 3, 1]  # unseen word -> <unk>
    assert tok.decode(tok.encode("a cat")) == ["a", "cat"]


def test_encode_batch_pads_with_zero():
    tok = WordTokenizer.fit(["this is book", "book"])
    batch = tok.encode_batch(["this is book", "book"])
    assert batch.shape == (2, 3)
    assert list(batch[1]) == [tok.token_to_id["book"], 0, 0]


def test_one_hot_keeps_leading_shape():
    ids = np.array([[0, 2], [1, 1]])
    out = one_hot(ids, 3)
    assert out.shape == (2, 2, 3) and out.dtype == np.float64
    assert np.array_equal(out.argmax(-1), ids)
    assert np.array_equal(out.sum(-1), np.ones((2, 2)))


@pytest.mark.parametrize("bad", [[3], [-1]])
def test_one_hot_rejects_out_of_range_ids(bad):
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        one_hot(np.array(bad), 3)


def test_one_hot_rejects_float_ids():
    with pytest.raises(TypeError, match="integers"):
        one_hot(np.array([1.0]), 3)


def test_embed_equals_one_hot_times_table():
    table = random_embedding_table(7, 5, seed=1)
    ids = np.array([[0, 6, 3], [2, 2, 1]])
    assert embed(ids, table).shape == (2, 3, 5)
    np.testing.assert_allclose(embed(ids, table), one_hot(ids, 7) @ table)


def test_embed_rejects_a_non_matrix_table():
    with pytest.raises(ValueError, match="2-D"):
        embed(np.array([0]), np.zeros(4))


def test_cosine_similarity_matches_definition():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 6)), rng.standard_normal((3, 6))
    out = cosine_similarity(a, b)
    assert out.shape == (4, 3)
    expected = np.array([[x @ y / np.linalg.norm(x) / np.linalg.norm(y) for y in b] for x in a])
    np.testing.assert_allclose(out, expected)
    np.testing.assert_allclose(np.diag(cosine_similarity(a, a)), 1.0)


def test_cosine_similarity_is_scale_invariant_and_safe_on_zero_rows():
    a = np.array([[1.0, 2.0], [0.0, 0.0]])
    out = cosine_similarity(a, 10 * a)
    np.testing.assert_allclose(out, [[1.0, 0.0], [0.0, 0.0]])
    assert np.isfinite(out).all()


def test_cosine_similarity_rejects_mismatched_sizes():
    with pytest.raises(ValueError, match="expected"):
        cosine_similarity(np.ones((2, 3)), np.ones((2, 4)))
