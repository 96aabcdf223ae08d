"""Attention, from scratch — the course's reference implementation.

One module per chapter's concept; the graded functions of every chapter are also
importable from here (``from course_lib import one_hot``).

=========  ==========================  ===========================================
chapter    module                      graded functions
=========  ==========================  ===========================================
1          :mod:`course_lib.embeddings`  one_hot, embed, cosine_similarity
2          :mod:`course_lib.qkv`         project_qkv, hard_lookup, mix_values
3          :mod:`course_lib.scores`      attention_scores, scaled_attention_scores,
                                       self_attention_scores
=========  ==========================  ===========================================

Conventions, everywhere in the course:

* shapes are ``(..., n, d)``: any leading batch axes, then tokens, then features;
* ``d_k`` is the size of the keys (and queries), and scores are scaled by ``sqrt(d_k)``;
* softmax runs over the last axis, the keys;
* a boolean mask holds ``True`` where a query **may** attend to a key, as in
  ``torch.nn.functional.scaled_dot_product_attention``.
"""
from .embeddings import WordTokenizer, cosine_similarity, embed, one_hot, random_embedding_table, tokenize
from .qkv import hard_lookup, init_projection, mix_values, project_qkv
from .scores import attention_scores, scaled_attention_scores, score_statistics, self_attention_scores
from .softmax import softmax

__all__ = [
    "WordTokenizer",
    "attention_scores",
    "cosine_similarity",
    "embed",
    "hard_lookup",
    "init_projection",
    "mix_values",
    "one_hot",
    "project_qkv",
    "random_embedding_table",
    "scaled_attention_scores",
    "score_statistics",
    "self_attention_scores",
    "softmax",
    "tokenize",
]
