"""Chapter 13's subword tokens: a byte-level BPE tokenizer on the grammar's text against the
word-level vocabulary, and its round trip through transformers' save_pretrained / AutoTokenizer."""
import os

import pytest

from course_lib.embeddings import WordTokenizer
from course_lib.subword import EOS, compare_tokenizers, encode_documents, grammar_sentences, sentence_lengths, \
    to_fast_tokenizer, train_bpe

os.environ.setdefault("HF_HUB_OFFLINE", "1")
NEW_WORDS = ["the puppies that the gardener sees are sleeping .", "a café cat sleeps ."]  # puppies, gardener, ...


@pytest.fixture(scope="module")
def train_text():
    return grammar_sentences(600, seed=0)


@pytest.fixture(scope="module")
def bpe(train_text):
    return train_bpe(train_text, vocab_size=512)


def test_bpe_has_eos_first_and_every_byte(bpe):
    from tokenizers.pre_tokenizers import ByteLevel

    vocab = bpe.get_vocab()
    assert vocab[EOS] == 0
    assert set(ByteLevel.alphabet()) <= set(vocab)  # 256 byte symbols: any text can be written
    assert bpe.get_vocab_size() < 512  # the language ran out of pairs to merge before the budget


def test_training_is_deterministic(train_text, bpe):
    again = train_bpe(train_text, vocab_size=512)
    assert again.get_vocab() == bpe.get_vocab()


def test_with_enough_merges_every_word_of_the_language_is_one_token(bpe, train_text):
    words = WordTokenizer.fit(train_text)
    held_out = grammar_sentences(200, seed=1)
    counts = compare_tokenizers(words, bpe, held_out)
    assert counts["tokens"]["bpe"] == counts["tokens"]["word"]
    assert counts["unknown"] == {"word": 0, "bpe": 0}


def test_new_words_are_unknown_to_the_word_vocabulary_but_not_to_bpe(bpe, train_text):
    words = WordTokenizer.fit(train_text)
    counts = compare_tokenizers(words, bpe, NEW_WORDS)
    assert counts["unknown"]["word"] >= 5  # puppies, gardener, are, sleeping, caf + é
    assert counts["unknown"]["bpe"] == 0
    assert counts["tokens"]["bpe"] > counts["tokens"]["word"]  # a new word costs several pieces
    for text in NEW_WORDS:
        assert bpe.decode(bpe.encode(text).ids) == " " + text  # lossless; every word carries its space


def test_a_smaller_vocabulary_writes_longer_sequences(train_text):
    lengths = []
    for size in (257, 290, 330, 512):
        bpe = train_bpe(train_text, vocab_size=size)
        lengths.append(sum(sentence_lengths(WordTokenizer.fit(train_text), bpe, train_text[:50])[1]))
    assert lengths == sorted(lengths, reverse=True) and lengths[0] > 3 * lengths[-1]


def test_too_small_a_vocabulary_is_refused(train_text):
    with pytest.raises(ValueError, match="vocab_size"):
        train_bpe(train_text, vocab_size=100)


def test_encode_documents_ends_each_text_with_eos(bpe):
    texts = ["the dog runs .", "a cat sleeps ."]
    ids, starts = encode_documents(bpe, texts)
    assert starts == [0, 5] and ids[4] == ids[9] == 0 and len(ids) == 10


def test_fast_tokenizer_saves_and_reloads_with_identical_ids(bpe, tmp_path):
    from transformers import AutoTokenizer

    fast = to_fast_tokenizer(bpe)
    fast.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    for text in NEW_WORDS + ["every old teacher likes some birds ."]:
        assert reloaded.encode(text) == fast.encode(text) == bpe.encode(text).ids
    assert reloaded.eos_token == EOS and reloaded.eos_token_id == 0 < len(reloaded)
    assert encode_documents(reloaded, NEW_WORDS) == encode_documents(bpe, NEW_WORDS)
