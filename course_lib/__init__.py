"""Attention, from scratch — the course's reference implementation.

One module per chapter's concept; the graded functions of every chapter are also
importable from here (``from course_lib import one_hot``).

=======  =================================  ==========================================
chapter  module                             graded functions
=======  =================================  ==========================================
1        :mod:`course_lib.embeddings`       one_hot, embed, cosine_similarity
2        :mod:`course_lib.qkv`              project_qkv, hard_lookup, mix_values
3        :mod:`course_lib.scores`           attention_scores, scaled_attention_scores,
                                            self_attention_scores
4        :mod:`course_lib.softmax`,         softmax, entropy,
         :mod:`course_lib.attention`        scaled_dot_product_attention
5        :mod:`course_lib.masking`          causal_mask, padding_mask, masked_attention
6        :mod:`course_lib.multi_head`,      split_heads, merge_heads, multi_head_attention;
         :mod:`course_lib.multi_head_torch` the torch module MultiHeadAttention
7        :mod:`course_lib.positional`       sinusoidal_positional_encoding, shift_matrix,
                                            apply_rope
8        :mod:`course_lib.transformer`,     layer_norm, feed_forward, decoder_self_mask;
         :mod:`course_lib.transformer_torch` EncoderLayer, DecoderLayer, Transformer,
                                            greedy_decode, beam_search;
         :mod:`course_lib.translation`      the numbers-to-words task; corpus_bleu
9        :mod:`course_lib.training`,        warmup_inverse_sqrt_lr, label_smoothed_targets,
         :mod:`course_lib.gpt`,             kv_cache_step; the torch GPT, generate,
         :mod:`course_lib.training_torch`,  Trainer; a language with known entropy
         :mod:`course_lib.grammar`,         (grammar); DistributedDataParallel (ddp)
         :mod:`course_lib.ddp`
10       :mod:`course_lib.pretrained`,      additive_attention_mask, mean_pool,
         :mod:`course_lib.minilm`           best_matching_head; load_minilm (the real
                                            all-MiniLM-L6-v2 in the course's own encoder)
11       :mod:`course_lib.classification`,  attention_pool, accuracy, train_step; the
         :mod:`course_lib.classifier_torch`, classifiers (bag of embeddings, attention,
         :mod:`course_lib.sentiment`        MiniLM + head); a review language (sentiment)
12       :mod:`course_lib.modern_attention`, grouped_query_attention, kv_cache_bytes_per_token,
         :mod:`course_lib.modern_blocks`,   sliding_window_mask, tiled_attention, alibi_bias,
         :mod:`course_lib.sampling`         rope_angles; rms_norm, SwiGLU, LlamaBlock,
                                            run_blocks (checkpointing); top_p_filter,
                                            sample_next, perplexity
13       :mod:`course_lib.subword`,         train_bpe, to_fast_tokenizer, compare_tokenizers;
         :mod:`course_lib.huggingface`,     to_transformers, from_transformers, generate_text
                                            (the GPT as a transformers GPT-2, both ways);
         :mod:`course_lib.extractive_qa`,   context_windows, best_span, no_answer_score,
                                            answer_question; exact_match, f1;
         :mod:`course_lib.qa_training`      template questions, the span head's training
=======  =================================  ==========================================

Conventions, everywhere in the course:

* shapes are ``(..., n, d)``: any leading batch axes, then tokens, then features;
* ``d_k`` is the size of the keys (and queries), and scores are scaled by ``sqrt(d_k)``;
* softmax runs over the last axis, the keys;
* a boolean mask holds ``True`` where a query **may** attend to a key, as in
  ``torch.nn.functional.scaled_dot_product_attention``.

torch is imported only when one of its classes or functions (``MultiHeadAttention``,
``Transformer``, ``greedy_decode``, ...) is first used, so the numpy chapters start fast.
"""
from .attention import masked_attention, scaled_dot_product_attention
from .classification import accuracy, attention_pool
from .extractive_qa import answer_question, best_span, context_windows, exact_match, f1, no_answer_score
from .embeddings import WordTokenizer, cosine_similarity, embed, one_hot, random_embedding_table, tokenize
from .masking import causal_mask, masked_softmax, padding_mask
from .modern_attention import (
    alibi_bias, alibi_slopes, apply_rope_scaled, grouped_query_attention, kv_cache_bytes_per_token, kv_cache_table,
    rope_angles, sliding_window_attention, sliding_window_mask, tiled_attention,
)
from .multi_head import flop_count, merge_heads, multi_head_attention, parameter_count, split_heads
from .positional import apply_rope, shift_matrix, sinusoidal_positional_encoding
from .pretrained import additive_attention_mask, best_matching_head, load_minilm, mean_pool, pattern_score
from .qa_training import make_qa_examples, train_span_head
from .qkv import hard_lookup, init_projection, mix_values, project_qkv
from .scores import (additive_attention_scores, attention_scores, scaled_attention_scores, score_statistics,
                     self_attention_scores)
from .softmax import entropy, naive_softmax, softmax, softmax_with_temperature
from .training import kv_cache_step, label_smoothed_targets, warmup_inverse_sqrt_lr
from .transformer import decoder_self_mask, feed_forward, layer_norm
from .translation import corpus_bleu

_TORCH_MODULES = {
    "MultiHeadAttention": "multi_head_torch",
    "EncoderLayer": "transformer_torch",
    "DecoderLayer": "transformer_torch",
    "Transformer": "transformer_torch",
    "greedy_decode": "transformer_torch",
    "beam_search": "transformer_torch",
    "GPT": "gpt",
    "GPTConfig": "gpt",
    "generate": "gpt",
    "Trainer": "training_torch",
    "TrainingSettings": "training_torch",
    "MiniLM": "minilm",
    "AttentionClassifier": "classifier_torch",
    "BagOfEmbeddings": "classifier_torch",
    "MiniLMClassifier": "classifier_torch",
    "train_step": "classifier_torch",
    "rms_norm": "modern_blocks",
    "RMSNorm": "modern_blocks",
    "swiglu": "modern_blocks",
    "SwiGLU": "modern_blocks",
    "LlamaAttention": "modern_blocks",
    "LlamaBlock": "modern_blocks",
    "run_blocks": "modern_blocks",
    "top_p_filter": "sampling",
    "top_k_filter": "sampling",
    "sample_next": "sampling",
    "perplexity": "sampling",
    # Chapter 13: tokenizers and transformers are imported when first used.
    "train_bpe": "subword",
    "to_fast_tokenizer": "subword",
    "compare_tokenizers": "subword",
    "encode_documents": "subword",
    "grammar_sentences": "subword",
    "to_transformers": "huggingface",
    "from_transformers": "huggingface",
    "generate_text": "huggingface",
    "weight_map": "huggingface",
}


def __getattr__(name):
    # PEP 562: import the torch-backed module on first use of one of its classes.
    if name in _TORCH_MODULES:
        import importlib

        return getattr(importlib.import_module(f".{_TORCH_MODULES[name]}", __name__), name)
    raise AttributeError(f"module 'course_lib' has no attribute {name!r}")


__all__ = [
    "AttentionClassifier",
    "BagOfEmbeddings",
    "MiniLMClassifier",
    "accuracy",
    "attention_pool",
    "train_step",
    "DecoderLayer",
    "EncoderLayer",
    "GPT",
    "GPTConfig",
    "MiniLM",
    "additive_attention_mask",
    "best_matching_head",
    "load_minilm",
    "mean_pool",
    "pattern_score",
    "Trainer",
    "TrainingSettings",
    "generate",
    "kv_cache_step",
    "label_smoothed_targets",
    "warmup_inverse_sqrt_lr",
    "MultiHeadAttention",
    "Transformer",
    "beam_search",
    "corpus_bleu",
    "decoder_self_mask",
    "feed_forward",
    "greedy_decode",
    "layer_norm",
    "WordTokenizer",
    "apply_rope",
    "additive_attention_scores",
    "attention_scores",
    "causal_mask",
    "cosine_similarity",
    "embed",
    "entropy",
    "flop_count",
    "hard_lookup",
    "init_projection",
    "masked_attention",
    "masked_softmax",
    "merge_heads",
    "mix_values",
    "multi_head_attention",
    "naive_softmax",
    "one_hot",
    "padding_mask",
    "parameter_count",
    "project_qkv",
    "random_embedding_table",
    "scaled_attention_scores",
    "scaled_dot_product_attention",
    "score_statistics",
    "self_attention_scores",
    "shift_matrix",
    "sinusoidal_positional_encoding",
    "softmax",
    "softmax_with_temperature",
    "split_heads",
    "tokenize",
    "alibi_bias",
    "alibi_slopes",
    "apply_rope_scaled",
    "grouped_query_attention",
    "kv_cache_bytes_per_token",
    "kv_cache_table",
    "rope_angles",
    "sliding_window_attention",
    "sliding_window_mask",
    "tiled_attention",
    "rms_norm",
    "RMSNorm",
    "swiglu",
    "SwiGLU",
    "LlamaAttention",
    "LlamaBlock",
    "run_blocks",
    "top_p_filter",
    "top_k_filter",
    "sample_next",
    "perplexity",
    "train_bpe",
    "to_fast_tokenizer",
    "compare_tokenizers",
    "encode_documents",
    "grammar_sentences",
    "to_transformers",
    "from_transformers",
    "generate_text",
    "weight_map",
    "answer_question",
    "best_span",
    "context_windows",
    "no_answer_score",
    "exact_match",
    "f1",
    "make_qa_examples",
    "train_span_head",
]
