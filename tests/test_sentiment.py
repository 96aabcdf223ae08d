"""Chapter 11's review language: the labelling rules, the splits, held-out combinations."""
import numpy as np
import pytest

from course_lib.sentiment import (NEGATIVE_LABEL, POSITIVE_LABEL, VOCAB, analyse, bag_of_words_ceiling, decode, encode,
                                  held_out_pairs, label_of, make_splits)

P, N = POSITIVE_LABEL, NEGATIVE_LABEL


@pytest.fixture(scope="module")
def splits():
    return make_splits(n_train=1200, n_val=200, n_test=300, seed=4)


@pytest.mark.parametrize("sentence, label", [
    ("the plot was good", P),
    ("the plot was not bad", P),  # negation flips the clause
    ("the plot was not very good", N),
    ("the acting is really dull", N),
    ("a dull story", N),
    ("an awful script", N),
    ("a very clever ending", P),
    ("a clever script but the acting was really dull", N),  # the clause after "but" decides
    ("the acting was really dull but a clever script", P),
    ("the plot was not bad but the music was dull", N),  # "not" belongs to the first clause only
    ("the plot was bad but the music was not dull", P),
    ("the music was great although the ending was weak", P),  # the clause before "although" decides
    ("the ending was weak although the music was great", N),
    ("the ending was not weak although the music was not great", P),
    ("the cast is funny and the script was clever", P),
    ("a slow plot and the ending was not good", N),
    ("the cast was not only funny but also clever", P),  # "not only" negates nothing
    ("the cast was not only silly but also boring", N),
])
def test_labelling_rules_on_hand_written_reviews(sentence, label):
    assert label_of(sentence) == label


@pytest.mark.parametrize("sentence", [
    "the plot was good but the music was lovely",  # "but" joins clauses that disagree
    "the plot was good although the music was not bad",  # so does "although"
    "the plot was good and the music was dull",  # "and" joins clauses that agree
    "the cast was not only funny but also dull",  # "not only ... but also": one polarity
    "the plot was purple",
    "plot the was good",
])
def test_sentences_outside_the_language_are_refused(sentence):
    with pytest.raises(ValueError):
        label_of(sentence)


def test_splits_share_no_sentence_and_are_balanced(splits):
    sets = {name: set(split.sentences) for name, split in splits.items()}
    assert [len(s) for s in sets.values()] == [1200, 200, 300]  # no duplicate inside a split either
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
    for split in splits.values():
        assert 0.4 < split.labels.mean() < 0.6
        assert [label_of(s) for s in split.sentences] == split.labels.tolist()
        assert set(split.kinds) == {"single", "and", "but", "although", "not only"}


def test_held_out_combinations_never_occur_in_training_and_always_in_test(splits):
    held = held_out_pairs(seed=4)
    assert len(held) == 24  # 15 % of the 80 positive and of the 80 negative (noun, adjective) pairs
    for name in ("train", "val"):
        for sentence in splits[name].sentences:
            assert not held & set(analyse(sentence)[2]), f"{name}: {sentence!r} uses a held-out pair"
    for sentence in splits["test"].sentences:
        assert held & set(analyse(sentence)[2]), f"test: {sentence!r} uses no held-out pair"
    # every word of the test sentences was seen in training: only the combinations are new
    train_words = {w for s in splits["train"].sentences for w in s.split()}
    assert {w for s in splits["test"].sentences for w in s.split()} <= train_words


def test_contrasts_come_with_their_mirror_image_in_the_same_split(splits):
    split = splits["train"]
    for group in np.unique(split.groups):
        members = np.flatnonzero(split.groups == group)
        if split.kinds[members[0]] in ("but", "although"):
            a, b = (split.sentences[i] for i in members)
            assert sorted(a.split()) == sorted(b.split())  # (opposite labels: analyse() allows no other contrast)
        else:
            assert len(members) == 1


def test_no_bag_of_words_model_can_be_right_on_both_mirror_images(splits):
    for split in splits.values():
        contrast = np.isin(split.kinds, ["but", "although"]).mean()
        assert bag_of_words_ceiling(split) <= 1 - contrast / 2 + 1e-12
        assert bag_of_words_ceiling(split) < 0.8
    one_pair = splits["train"].subset(np.flatnonzero(np.isin(splits["train"].kinds, ["but"]))[:2])
    assert bag_of_words_ceiling(one_pair) == 0.5


def test_splits_are_reproducible_and_depend_on_the_seed():
    a, b, c = make_splits(100, 20, 20, seed=1), make_splits(100, 20, 20, seed=1), make_splits(100, 20, 20, seed=2)
    assert a["test"].sentences == b["test"].sentences and a["test"].sentences != c["test"].sentences


def test_encoding_pads_with_zero_and_masks_the_padding():
    sentences = ["the plot was good", "a clever script but the acting was really dull"]
    ids, mask = encode(sentences)
    assert ids.shape == mask.shape == (2, 9) and mask.dtype == bool
    assert mask.sum(axis=1).tolist() == [4, 9] and (ids[~mask] == VOCAB.pad_id).all()
    assert [decode(row) for row in ids] == sentences
    assert encode(sentences, max_len=12)[0].shape == (2, 12)
    with pytest.raises(ValueError):
        encode(sentences, max_len=5)


def test_fraction_is_a_seeded_subset(splits):
    small = splits["train"].fraction(0.1, seed=3)
    assert len(small) == 120 and set(small.sentences) <= set(splits["train"].sentences)
    assert small.sentences == splits["train"].fraction(0.1, seed=3).sentences
