"""Chapter 13 — the course's GPT as a Hugging Face ``GPT2LMHeadModel``, and back.

Chapter 9's :class:`~course_lib.gpt.GPT` *is* GPT-2's architecture: learned positions,
pre-norm blocks, one fused query/key/value projection, an exact-GELU feed-forward layer and
an output layer tied to the token embeddings. Only the names and one storage convention
differ: GPT-2's projections are ``Conv1D`` layers, which keep their weight as ``(in, out)``
and compute ``x @ W + b``, where ``torch.nn.Linear`` keeps ``(out, in)`` and computes
``x @ W.T + b``. So every matrix is transposed on the way, and nothing else changes.

* :func:`to_transformers` / :func:`from_transformers`: the two directions; every tensor's
  shape is checked and every parameter of both models is accounted for.
* :func:`generate_text`: what ``pipeline("text-generation")`` does, in course code:
  tokenize, generate until ``max_new_tokens`` or the end-of-text token, decode.
"""
from __future__ import annotations

import torch

from .gpt import GPT, GPTConfig
from .sampling import sample_next

LAYER_NORM_EPS = 1e-5  # torch.nn.LayerNorm's default, which the course's GPT uses


def weight_map(num_layers: int) -> list[tuple[str, str, bool]]:
    """``(course name, transformers name, transpose)`` for every tensor of the two models.

    ``transpose`` marks the matrices of GPT-2's ``Conv1D`` layers, stored ``(in, out)``.
    ``lm_head.weight`` is the token embedding in both (tied); it is listed so that every
    entry of both state dicts has a partner.
    """
    pairs = [
        ("token_embedding.weight", "transformer.wte.weight", False),  # (V, D) in both
        ("position_embedding.weight", "transformer.wpe.weight", False),  # (T, D)
    ]
    for i in range(num_layers):
        ours, theirs = f"blocks.{i}.", f"transformer.h.{i}."
        pairs += [
            (ours + "norm1.weight", theirs + "ln_1.weight", False),
            (ours + "norm1.bias", theirs + "ln_1.bias", False),
            (ours + "attention.qkv.weight", theirs + "attn.c_attn.weight", True),  # (3D, D) vs (D, 3D)
            (ours + "attention.qkv.bias", theirs + "attn.c_attn.bias", False),  # q, k, v in the same order
            (ours + "attention.out_proj.weight", theirs + "attn.c_proj.weight", True),
            (ours + "attention.out_proj.bias", theirs + "attn.c_proj.bias", False),
            (ours + "norm2.weight", theirs + "ln_2.weight", False),
            (ours + "norm2.bias", theirs + "ln_2.bias", False),
            (ours + "feed_forward.linear1.weight", theirs + "mlp.c_fc.weight", True),  # (F, D) vs (D, F)
            (ours + "feed_forward.linear1.bias", theirs + "mlp.c_fc.bias", False),
            (ours + "feed_forward.linear2.weight", theirs + "mlp.c_proj.weight", True),
            (ours + "feed_forward.linear2.bias", theirs + "mlp.c_proj.bias", False),
        ]
    pairs += [
        ("norm.weight", "transformer.ln_f.weight", False),
        ("norm.bias", "transformer.ln_f.bias", False),
        ("lm_head.weight", "lm_head.weight", False),  # tied to the token embedding in both
    ]
    return pairs


@torch.no_grad()
def copy_weights(source, target, pairs, reverse: bool = False) -> None:
    """Copy every tensor of ``source`` into ``target`` along ``pairs`` (see :func:`weight_map`).

    ``reverse=False`` reads the pairs' first names from ``source``; ``True``, their second.
    Raises ValueError if a tensor's shape does not match, or if either model has a tensor
    that no pair names (a parameter left over would keep its random initial value).
    """
    src, dst = source.state_dict(), target.state_dict()  # tensors that share the parameters' storage
    pairs = [(b, a, t) for a, b, t in pairs] if reverse else pairs
    for names, model, side in ((src, "source", 0), (dst, "target", 1)):
        left_over = set(names) - {pair[side] for pair in pairs}
        missing = {pair[side] for pair in pairs} - set(names)
        if left_over or missing:
            raise ValueError(f"{model} tensors not mapped: {sorted(left_over)}; mapped but absent: {sorted(missing)}")
    for src_name, dst_name, transpose in pairs:
        value = src[src_name].t() if transpose else src[src_name]
        if value.shape != dst[dst_name].shape:
            raise ValueError(f"{src_name} {tuple(src[src_name].shape)} does not fit {dst_name} "
                             f"{tuple(dst[dst_name].shape)} (transpose={transpose})")
        dst[dst_name].copy_(value)


def _token_id(name: str, value, vocab_size: int):
    if value is not None and not 0 <= value < vocab_size:
        raise ValueError(f"{name} = {value} is outside the vocabulary of {vocab_size} tokens")
    return value


def gpt2_config(config: GPTConfig, eos_token_id: int | None = None, bos_token_id: int | None = None):
    """The ``transformers.GPT2Config`` that describes a course :class:`GPTConfig`.

    Special-token ids must lie inside the vocabulary: GPT-2's defaults (50256) would not,
    so they are ``None`` unless given. The course has one dropout rate, used on the
    attention weights and on each block's two outputs (``attn_pdrop``, ``resid_pdrop``),
    and no dropout on the embeddings (``embd_pdrop = 0``).
    """
    from transformers import GPT2Config

    position = getattr(config, "position", "learned")
    if position != "learned":
        raise ValueError(f"position = {position!r}: GPT-2 has learned position embeddings only")
    vocab_size = config.vocab_size
    return GPT2Config(
        vocab_size=vocab_size, n_positions=config.block_size, n_embd=config.d_model,
        n_layer=config.num_layers, n_head=config.num_heads, n_inner=config.d_ff,
        activation_function="gelu",  # exact (erf) GELU, F.gelu, as the course's FeedForward; GPT-2's own is "gelu_new"
        layer_norm_epsilon=LAYER_NORM_EPS,
        resid_pdrop=config.dropout, attn_pdrop=config.dropout, embd_pdrop=0.0,
        scale_attn_weights=True, scale_attn_by_inverse_layer_idx=False, add_cross_attention=False,
        tie_word_embeddings=True,
        eos_token_id=_token_id("eos_token_id", eos_token_id, vocab_size),
        bos_token_id=_token_id("bos_token_id", bos_token_id, vocab_size),
    )


def to_transformers(gpt: GPT, tokenizer=None, eos_token_id: int | None = None, bos_token_id: int | None = None):
    """A ``transformers.GPT2LMHeadModel`` computing the same logits as the course ``gpt``.

    Special-token ids come from ``tokenizer`` (its ``eos_token_id`` and ``bos_token_id``)
    unless given. The weights are copied (the two models share no storage); in eval mode.
    """
    from transformers import GPT2LMHeadModel

    if tokenizer is not None:
        eos_token_id = tokenizer.eos_token_id if eos_token_id is None else eos_token_id
        bos_token_id = tokenizer.bos_token_id if bos_token_id is None else bos_token_id
    config = gpt2_config(gpt.config, eos_token_id, bos_token_id)
    model = GPT2LMHeadModel(config).to(next(gpt.parameters()).device)
    copy_weights(gpt, model, weight_map(gpt.config.num_layers))
    # GPT-2 has no padding token: generate() fills finished rows with end-of-text. Set for
    # generation only, so that the model does not take every end-of-text in its input for padding.
    model.generation_config.pad_token_id = eos_token_id
    return model.eval()


def check_expressible(config, dropout: float | None = None) -> None:
    """ValueError naming the first setting of a ``GPT2Config`` the course's GPT cannot express."""
    refused = {
        "activation_function": (config.activation_function, "gelu", "the course's feed-forward uses exact GELU"),
        "layer_norm_epsilon": (config.layer_norm_epsilon, LAYER_NORM_EPS, "the course's LayerNorms use 1e-5"),
        "scale_attn_weights": (config.scale_attn_weights, True, "the course scales scores by 1/sqrt(d_head)"),
        "scale_attn_by_inverse_layer_idx": (config.scale_attn_by_inverse_layer_idx, False,
                                            "the course scales every layer alike"),
        "add_cross_attention": (config.add_cross_attention, False, "the course's GPT is decoder-only"),
        "tie_word_embeddings": (config.tie_word_embeddings, True, "the course's output layer is the token embedding"),
    }
    if dropout is None:  # dropout only acts in training; dropout=... replaces GPT-2's three rates by one
        refused["embd_pdrop"] = (config.embd_pdrop, 0.0, "the course has no dropout on the embeddings; pass dropout=")
        refused["attn_pdrop"] = (config.attn_pdrop, config.resid_pdrop,
                                 "the course has one rate, resid_pdrop = attn_pdrop; pass dropout=")
    for name, (value, wanted, why) in refused.items():
        if value != wanted:
            raise ValueError(f"{name} = {value!r} cannot be expressed ({why}; needs {wanted!r})")


def from_transformers(model, dropout: float | None = None, fused: bool = True) -> GPT:
    """The course :class:`GPT` with the weights of a ``GPT2LMHeadModel``.

    Any GPT-2 whose settings the course's GPT can express converts; for any other setting
    (:func:`check_expressible`) a ValueError names it. GPT-2 has three dropout rates and
    the course one: they convert if ``embd_pdrop`` is 0 and the other two agree, or pass
    ``dropout`` to choose the course's rate (dropout changes training, not the logits).
    """
    from transformers import GPT2LMHeadModel

    if not isinstance(model, GPT2LMHeadModel):
        raise TypeError(f"expected a GPT2LMHeadModel, got {type(model).__name__}")
    hf = model.config
    check_expressible(hf, dropout)
    config = GPTConfig(
        vocab_size=hf.vocab_size, block_size=hf.n_positions, d_model=hf.n_embd, num_heads=hf.n_head,
        num_layers=hf.n_layer, d_ff=hf.n_inner or 4 * hf.n_embd,  # None means 4 * n_embd in both
        dropout=hf.resid_pdrop if dropout is None else dropout, fused=fused,
    )
    gpt = GPT(config).to(model.lm_head.weight.device)
    copy_weights(model, gpt, weight_map(config.num_layers), reverse=True)
    return gpt.eval()


def next_token_logits(model, ids) -> torch.Tensor:
    """Logits ``(B, V)`` for the token after ``ids (B, T)``, from a course GPT or a transformers model."""
    if isinstance(model, GPT):
        return model(ids[:, -model.config.block_size:])[:, -1]
    return model(input_ids=ids).logits[:, -1]


@torch.inference_mode()
def generate_text(model, tokenizer, prompt: str, max_new_tokens: int, temperature: float = 0.0,
                  top_k: int | None = None, top_p: float | None = None, generator: torch.Generator | None = None,
                  stop_at_eos: bool = True) -> str:
    """``pipeline("text-generation")``'s answer for one prompt, step by step in course code.

    1. tokenize the prompt with the tokenizer's defaults, as the pipeline does, ``(1, T)``
       (the course's BPE tokenizer adds no special tokens; one with a start token would add it);
    2. generate: each step, the next token's logits, then :func:`~course_lib.sampling.sample_next`
       (``temperature=0``: greedy), until ``max_new_tokens`` or the end-of-text token, which is
       kept (as ``generate()`` keeps it);
    3. decode the *new* tokens, leaving out special tokens, and put them after the prompt as
       it was written (the pipeline's default ``return_full_text=True``).

    ``model``: a course :class:`GPT` or a ``GPT2LMHeadModel``; the whole text is re-read
    every step (no cache: shorter, and the same tokens).
    """
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    model.eval()
    device = next(model.parameters()).device
    ids = torch.tensor([tokenizer.encode(prompt)], device=device)  # (1, T)
    prompt_length = ids.shape[1]
    for _ in range(max_new_tokens):
        next_id = sample_next(next_token_logits(model, ids), temperature, top_k, top_p, generator)  # (1,)
        ids = torch.cat([ids, next_id[:, None]], dim=1)
        if stop_at_eos and next_id.item() == tokenizer.eos_token_id:
            break
    new_text = tokenizer.decode(ids[0, prompt_length:].tolist(), skip_special_tokens=True)
    return prompt + new_text
