"""Chapter 13 — subword tokens: a byte-level BPE tokenizer trained on the course's own text.

Chapter 1's :class:`~course_lib.embeddings.WordTokenizer` gives every word it has seen one
id and every other word the same ``<unk>`` id: what it never saw, a model reading its ids
cannot even tell apart. Byte-pair encoding (BPE, Sennrich et al. 2016; byte-level as in
GPT-2, Radford et al. 2019) starts instead from the 256 byte values, so *any* text can be
written with it, and learns merges: the most frequent adjacent pair of tokens in the
training text becomes a new token, again and again, until the vocabulary has the size
asked for. Frequent words end up as one token, rare ones as a few pieces, and nothing is
ever unknown.

Conventions (GPT-2's): a word carries the space before it (``"Ġdog"`` is `` dog``; every
word gets one here, also the first, ``add_prefix_space``), and one special token,
:data:`EOS` = ``"<|endoftext|>"``, ends each document. It is id 0, inside the vocabulary.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .embeddings import UNK, WordTokenizer
from .grammar import Grammar

EOS = "<|endoftext|>"  # ends every document; GPT-2's name for it


def grammar_sentences(num_sentences: int, seed: int = 0) -> list[str]:
    """``num_sentences`` sentences of chapter 9's language, as text: ``"the old dog runs ."``."""
    rng = np.random.default_rng(seed)
    grammar = Grammar()
    return [" ".join(grammar.sample_sentence(rng)) for _ in range(num_sentences)]


def train_bpe(texts: Iterable[str], vocab_size: int = 512, min_frequency: int = 2):
    """A byte-level BPE ``tokenizers.Tokenizer`` learned from ``texts``.

    The vocabulary is :data:`EOS` (id 0), the 256 bytes, then one token per merge, in the
    order learned, until ``vocab_size`` tokens or until no pair occurs ``min_frequency``
    times (on a small language that can come first: then the vocabulary is smaller).
    Deterministic: the same texts give the same merges.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size < 257:
        raise ValueError(f"vocab_size must be at least 257 (256 bytes and {EOS}), got {vocab_size}")
    tokenizer = Tokenizer(models.BPE())
    # Split at spaces first (a token never crosses a word boundary), bytes mapped to printable characters.
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[EOS], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes, seen in the text or not
    )
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def to_fast_tokenizer(tokenizer, model_max_length: int | None = None):
    """Wrap a ``tokenizers.Tokenizer`` as a ``transformers.PreTrainedTokenizerFast``.

    :data:`EOS` is its end-of-text token, and also the padding token (GPT-2 has none of its
    own). ``save_pretrained(folder)`` writes ``tokenizer.json`` and its settings, and
    ``AutoTokenizer.from_pretrained(folder)`` reads them back, offline.
    """
    from transformers import PreTrainedTokenizerFast

    if tokenizer.token_to_id(EOS) is None:
        raise ValueError(f"the tokenizer has no {EOS} token: train it with train_bpe")
    kwargs = {} if model_max_length is None else {"model_max_length": model_max_length}
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token=EOS, bos_token=EOS, pad_token=EOS,
        clean_up_tokenization_spaces=False,  # decode gives back exactly the text's spaces
        **kwargs,
    )


def encode_documents(tokenizer, texts: Iterable[str]) -> tuple[list[int], list[int]]:
    """One token stream for a language model: each text's ids followed by :data:`EOS`.

    ``tokenizer``: a ``tokenizers.Tokenizer`` or a transformers tokenizer. Returns ``(ids,
    starts)``, where ``starts`` are the indices where texts begin, as
    :class:`course_lib.training_torch.TextData` wants them.
    """
    eos = _eos_id(tokenizer)
    ids, starts = [], []
    for text in texts:
        starts.append(len(ids))
        ids += _ids(tokenizer, text) + [eos]
    return ids, starts


def _eos_id(tokenizer) -> int:
    if hasattr(tokenizer, "eos_token_id"):
        return tokenizer.eos_token_id
    return tokenizer.token_to_id(EOS)


def _ids(tokenizer, text: str) -> list[int]:
    if hasattr(tokenizer, "eos_token_id"):  # transformers: plain ids, no special tokens added
        return tokenizer.encode(text, add_special_tokens=False)
    return tokenizer.encode(text).ids


def compare_tokenizers(word_tokenizer: WordTokenizer, bpe, texts: Iterable[str]) -> dict:
    """How a word-level vocabulary and a BPE tokenizer write the same ``texts``.

    Returns ``vocab_size`` and, over all texts, ``tokens`` (sequence length), ``unknown``
    (tokens that stand for a word the vocabulary lacks: ``<unk>`` for the words, the
    tokenizer's unknown id for BPE, which a byte-level vocabulary never produces) and
    ``tokens_per_word`` (per whitespace-separated word), each as ``{"word": ..., "bpe": ...}``.
    """
    texts = list(texts)
    unk = word_tokenizer.token_to_id[UNK]
    word_ids = [word_tokenizer.encode(text) for text in texts]
    bpe_ids = [_ids(bpe, text) for text in texts]
    bpe_unk = _unk_id(bpe)
    words = sum(len(text.split()) for text in texts)
    tokens = {"word": sum(map(len, word_ids)), "bpe": sum(map(len, bpe_ids))}
    return {
        "vocab_size": {"word": len(word_tokenizer), "bpe": _vocab_size(bpe)},
        "tokens": tokens,
        "unknown": {"word": int(sum((ids == unk).sum() for ids in word_ids)),
                    "bpe": sum(ids.count(bpe_unk) for ids in bpe_ids) if bpe_unk is not None else 0},
        "tokens_per_word": {name: count / words for name, count in tokens.items()},
    }


def _vocab_size(tokenizer) -> int:
    return len(tokenizer) if hasattr(tokenizer, "eos_token_id") else tokenizer.get_vocab_size()


def _unk_id(tokenizer) -> int | None:
    if hasattr(tokenizer, "unk_token_id"):
        return tokenizer.unk_token_id
    unk = tokenizer.model.unk_token
    return None if unk is None else tokenizer.token_to_id(unk)


def sentence_lengths(word_tokenizer: WordTokenizer, bpe, texts: Iterable[str]) -> tuple[list[int], list[int]]:
    """Tokens per text, word-level and BPE (the ``.`` at a sentence's end is a token in both)."""
    texts = list(texts)
    return [len(word_tokenizer.encode(t)) for t in texts], [len(_ids(bpe, t)) for t in texts]
