import numpy as np
import pytest

from course_lib.translation import SOURCE_VOCAB, TARGET_VOCAB, bleu, exact_match, make_splits, number_to_words


@pytest.mark.parametrize("n, words", [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (40, "forty"), (142, "one hundred forty two"),
    (1000, "one thousand"), (1005, "one thousand five"), (20_019, "twenty thousand nineteen"),
    (99_999, "ninety nine thousand nine hundred ninety nine"), (300_000, "three hundred thousand"),
])
def test_number_to_words(n, words):
    assert number_to_words(n) == words


def test_number_to_words_rejects_out_of_range():
    with pytest.raises(ValueError):
        number_to_words(1_000_000)


def test_splits_do_not_overlap_and_encode_round_trip():
    splits = make_splits(n_train=500, n_val=100, n_test=100, max_number=1000, seed=3)
    sets = [set(s.numbers.tolist()) for s in splits.values()]
    assert all(not (a & b) for i, a in enumerate(sets) for b in sets[i + 1 :])
    test = splits["test"]
    assert test.tgt[:, 0].tolist() == [TARGET_VOCAB.bos_id] * 100
    for n, src, tgt in zip(test.numbers[:20], test.src, test.tgt):
        assert "".join(SOURCE_VOCAB.decode(src)) == str(n)
        assert " ".join(TARGET_VOCAB.decode(tgt)) == number_to_words(int(n))
        assert TARGET_VOCAB.eos_id in tgt.tolist()


def test_splits_are_reproducible():
    a, b = make_splits(100, 10, 10, 1000, seed=5), make_splits(100, 10, 10, 1000, seed=5)
    np.testing.assert_array_equal(a["test"].numbers, b["test"].numbers)


def test_metrics():
    refs = ["one hundred", "two", "forty two"]
    assert exact_match(refs, refs) == 1.0 and exact_match(["one hundred", "three", "forty"], refs) == pytest.approx(1 / 3)
    long_refs = [number_to_words(n) for n in (12_345, 99_999, 70_707)]  # BLEU needs 4-grams
    assert bleu(long_refs, long_refs) == pytest.approx(100.0)
    assert bleu(["zero"] * 3, long_refs) < 10


def test_the_shipped_small_translator_loads_and_speaks_numbers():
    from course_lib.translation import small_translator, translate

    model = small_translator()
    split = make_splits(600, 100, 100, 1000, seed=0)["test"]
    sentences = translate(model, split)
    # under-trained on purpose: the shape of the answers, few of the digits
    assert sum(s.split()[1:2] == ["hundred"] for s in sentences) > 50
    assert 0.0 < exact_match(sentences, split.references()) < 0.5


BLEU_CASES = {
    "perfect": (["one hundred forty two", "twenty thousand nineteen"], ["one hundred forty two", "twenty thousand nineteen"]),
    "partial, longer than the references": (
        ["the cat sat on the mat today", "one two three four five six"],
        ["the cat sat on the mat", "one two three four five"]),
    "brevity penalty": (["the cat sat on", "one two three four"], ["the cat sat on the mat", "one two three four five six"]),
    "clipping": (["the the the the the the the"], ["the cat is on the mat and"]),
    "a zero 4-gram count": (["a b c x d e f", "one two"], ["a b c d e f g", "one two"]),
    "no 4-grams at all": (["a b c", "d e"], ["a b c", "d e"]),
    "many sentences": ([number_to_words(n) for n in (12_345, 99_998, 70_707, 8_000, 41)],
                       [number_to_words(n) for n in (12_345, 99_999, 70_070, 8_001, 42)]),
}


@pytest.mark.parametrize("case", BLEU_CASES, ids=list(BLEU_CASES))
def test_corpus_bleu_equals_sacrebleu(case):
    import sacrebleu

    from course_lib import corpus_bleu

    hypotheses, references = BLEU_CASES[case]
    ours = corpus_bleu([h.split() for h in hypotheses], [r.split() for r in references])
    theirs = sacrebleu.corpus_bleu(hypotheses, [references], tokenize="none", smooth_method="none")
    assert ours == pytest.approx(theirs.score, abs=1e-6)
    assert 0 <= ours <= 100


def test_corpus_bleu_by_hand():
    from course_lib import corpus_bleu

    # 4 of 4 unigrams, 3 of 3 bigrams, 2 trigrams, 1 four-gram: all precisions 1, c = 4 < r = 6.
    assert corpus_bleu([["the", "cat", "sat", "on"]], [["the", "cat", "sat", "on", "the", "mat"]]) == pytest.approx(
        100 * np.exp(1 - 6 / 4))
    # "the" seven times against a reference with two: unigram precision 2/7, no bigram matches -> 0.
    assert corpus_bleu([["the"] * 7], [["the", "cat", "is", "on", "the", "mat", "and"]]) == 0.0
    assert corpus_bleu([["the"] * 7], [["the", "cat", "is", "on", "the", "mat", "and"]], max_n=1) == pytest.approx(
        100 * 2 / 7)
    with pytest.raises(ValueError):
        corpus_bleu([["a"]], [])
