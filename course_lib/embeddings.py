"""Chapter 1 — from text to vectors.

Text becomes tokens, tokens become integer ids, and ids become vectors by looking
them up in an embedding table. Everything here is numpy and works on ids of any
shape, so the same functions serve one sentence ``(n,)`` or a batch ``(B, n)``.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

PAD, UNK = "<pad>", "<unk>"

_WORD = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def tokenize(text: str) -> list[str]:
    """Split text into lower-case word and punctuation tokens.

    >>> tokenize("This is book.")
    ['this', 'is', 'book', '.']
    """
    return _WORD.findall(text.lower())


class WordTokenizer:
    """A word-level tokenizer with a fixed vocabulary.

    Id 0 is the padding token ``<pad>`` and id 1 the unknown token ``<unk>``; the
    words seen by :meth:`fit` follow in order of first appearance, so the ids are
    reproducible for the same texts.
    """

    def __init__(self, vocab: Iterable[str] = ()):
        self.id_to_token: list[str] = [PAD, UNK]
        self.token_to_id: dict[str, int] = {PAD: 0, UNK: 1}
        for token in vocab:
            self._add(token)

    @classmethod
    def fit(cls, texts: Iterable[str]) -> "WordTokenizer":
        """Build a vocabulary from every token that occurs in ``texts``."""
        return cls(token for text in texts for token in tokenize(text))

    def _add(self, token: str) -> None:
        if token not in self.token_to_id:
            self.token_to_id[token] = len(self.id_to_token)
            self.id_to_token.append(token)

    def __len__(self) -> int:
        return len(self.id_to_token)

    def encode(self, text: str) -> np.ndarray:
        """Token ids of ``text``, shape ``(n_tokens,)``; unseen words map to ``<unk>``."""
        unk = self.token_to_id[UNK]
        return np.array([self.token_to_id.get(t, unk) for t in tokenize(text)], dtype=np.int64)

    def encode_batch(self, texts: Iterable[str]) -> np.ndarray:
        """Ids of several texts, right-padded with ``<pad>`` (id 0): shape ``(B, n_max)``."""
        rows = [self.encode(text) for text in texts]
        batch = np.zeros((len(rows), max(map(len, rows), default=0)), dtype=np.int64)
        for i, row in enumerate(rows):
            batch[i, : len(row)] = row
        return batch

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The tokens for ``ids`` (the inverse of :meth:`encode` for known words)."""
        return [self.id_to_token[int(i)] for i in ids]


def _check_ids(ids, vocab_size: int) -> np.ndarray:
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"token ids must be integers, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(
            f"token ids must lie in [0, {vocab_size}), got values from {ids.min()} to {ids.max()}"
        )
    return ids


def one_hot(ids, vocab_size: int) -> np.ndarray:
    """One-hot vectors for integer token ids.

    ids: integer array of any shape ``(...)``, values in ``[0, vocab_size)``.
    Returns a float array of shape ``(..., vocab_size)`` with a single 1.0 per vector,
    at the position given by the id.
    """
    ids = _check_ids(ids, vocab_size)
    vectors = np.zeros(ids.shape + (vocab_size,))  # (..., V)
    # Put a 1 at position ids[...] of every vector. (np.eye(vocab_size)[ids] reads the same
    # rows but first builds a V x V matrix: 20 GB for a 50 000-word vocabulary.)
    np.put_along_axis(vectors, ids[..., None], 1.0, axis=-1)
    return vectors


def embed(ids, table: np.ndarray) -> np.ndarray:
    """Look up the embedding of every id.

    ids:   integer array of any shape ``(...)``.
    table: embedding table ``(V, d)``, one row per vocabulary entry.
    Returns ``(..., d)``: the same as ``one_hot(ids, V) @ table``, without building the
    one-hot vectors.
    """
    table = np.asarray(table)
    if table.ndim != 2:
        raise ValueError(f"the embedding table must be 2-D (V, d), got shape {table.shape}")
    ids = _check_ids(ids, table.shape[0])
    return table[ids]  # (..., d)


def cosine_similarity(a: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Cosine of the angle between every row of ``a`` and every row of ``b``.

    a: ``(n, d)``, b: ``(m, d)``. Returns ``(n, m)`` with entry ``[i, j] = cos(a_i, b_j)``,
    in ``[-1, 1]``. A zero row has no direction; ``eps`` keeps it from dividing by zero
    and gives it cosine 0 with everything.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"expected a (n, d) and b (m, d), got {a.shape} and {b.shape}")
    a_unit = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), eps)  # (n, d)
    b_unit = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), eps)  # (m, d)
    return a_unit @ b_unit.T  # (n, m)


def random_embedding_table(vocab_size: int, d: int, seed: int = 0) -> np.ndarray:
    """A ``(vocab_size, d)`` table of standard-normal entries, reproducible from ``seed``.

    A model starts from such a table and learns better rows by gradient descent.
    """
    return np.random.default_rng(seed).standard_normal((vocab_size, d))
