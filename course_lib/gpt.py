"""Chapter 9 — a decoder-only (GPT-style) language model, with a key/value cache.

Only the decoder of chapter 8 remains: causal self-attention and a feed-forward network
in pre-norm residual blocks, learned position embeddings, and an output layer that shares
its weights with the token embeddings. Chapter 12 adds two other ways to give it positions
(``GPTConfig.position``): RoPE, which rotates queries and keys (optionally with position
interpolation, ``rope_scale``), and ALiBi, which adds a penalty growing with distance to the
scores; neither has a table of positions, so both may read past ``block_size``. Attention runs either

* ``fused=True``: ``torch.nn.functional.scaled_dot_product_attention``, one kernel that
  never stores the ``(L, L)`` weights (flash / memory-efficient attention), or
* ``fused=False``: chapter 6's explicit computation (:func:`explicit_attention`), which
  materialises them: the same numbers, slower and O(L²) in memory.

Generation keeps, for every layer, the keys and values of the tokens already seen (the
*KV cache*, written in place into buffers preallocated for the whole generation), so each
new token costs one row of attention instead of a whole forward pass;
:func:`course_lib.training.kv_cache_step` is the same idea in numpy for one head.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .modern_attention import alibi_slopes, rope_angles
from .modern_blocks import rotate
from .multi_head_torch import explicit_attention
from .sampling import sample_next  # noqa: F401  (chapter 9 imported it from here)
from .transformer_torch import FeedForward


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int = 64  # the longest context the model reads
    d_model: int = 64
    num_heads: int = 4
    num_layers: int = 2
    d_ff: int | None = None  # 4 * d_model when None
    dropout: float = 0.0
    fused: bool = True  # fused attention kernel, or chapter 6's explicit one
    position: str = "learned"  # "learned" embeddings (chapter 9), "rope" or "alibi" (chapter 12)
    rope_scale: float = 1.0  # RoPE reads position p as p · rope_scale (< 1: position interpolation)

    def __post_init__(self):
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model = {self.d_model} is not divisible by num_heads = {self.num_heads}")
        if self.position not in POSITIONS:
            raise ValueError(f"position must be one of {', '.join(POSITIONS)}, got {self.position!r}")
        if not self.rope_scale > 0:
            raise ValueError(f"rope_scale must be positive, got {self.rope_scale}")
        if self.position == "rope" and (self.d_model // self.num_heads) % 2:
            raise ValueError(f"RoPE rotates pairs of features: d_model / num_heads = {self.d_model // self.num_heads} must be even")
        self.d_ff = self.d_ff or 4 * self.d_model


POSITIONS = ("learned", "rope", "alibi")


class KVCache:
    """Per layer, the keys and values ``(B, H, t, d_head)`` of the ``t`` tokens seen so far.

    They live in buffers of ``max_length`` positions allocated at the first :meth:`append`;
    each step writes its new rows in place (no ``torch.cat``, which would copy the whole cache
    every step, O(t) per token and O(t²) in all) and attention reads the filled part as a view.
    ``max_length=None``: the buffers grow by doubling when full (copies only every doubling).
    """

    def __init__(self, num_layers: int, max_length: int | None = None):
        if max_length is not None and max_length <= 0:
            raise ValueError(f"max_length must be positive, got {max_length}")
        self.max_length = max_length
        self._keys: list[torch.Tensor | None] = [None] * num_layers  # (B, H, capacity, d_head)
        self._values: list[torch.Tensor | None] = [None] * num_layers
        self._lengths = [0] * num_layers

    @property
    def keys(self) -> list[torch.Tensor | None]:
        """Per layer, the cached keys ``(B, H, t, d_head)`` (views into the buffers)."""
        return [None if b is None else b[..., :t, :] for b, t in zip(self._keys, self._lengths)]

    @property
    def values(self) -> list[torch.Tensor | None]:
        return [None if b is None else b[..., :t, :] for b, t in zip(self._values, self._lengths)]

    def __len__(self) -> int:
        """How many tokens are cached (the position of the next token)."""
        return self._lengths[0]

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the new tokens' keys and values; return everything cached for ``layer``."""
        start = self._lengths[layer]
        end = start + k.shape[-2]  # (B, H, new, d_head): the time axis is -2
        if self._keys[layer] is None or end > self._keys[layer].shape[-2]:
            self._reserve(layer, k, v, end)
        self._keys[layer][..., start:end, :] = k
        self._values[layer][..., start:end, :] = v
        self._lengths[layer] = end
        return self._keys[layer][..., :end, :], self._values[layer][..., :end, :]

    def _reserve(self, layer: int, k: torch.Tensor, v: torch.Tensor, needed: int) -> None:
        if self.max_length is not None:
            if needed > self.max_length:
                raise ValueError(f"{needed} positions do not fit the cache's max_length = {self.max_length}")
            capacity = self.max_length
        else:
            capacity = max(needed, 2 * (0 if self._keys[layer] is None else self._keys[layer].shape[-2]))
        old_k, old_v, filled = self._keys[layer], self._values[layer], self._lengths[layer]
        self._keys[layer] = k.new_empty((*k.shape[:-2], capacity, k.shape[-1]))
        self._values[layer] = v.new_empty((*v.shape[:-2], capacity, v.shape[-1]))
        if old_k is not None:
            self._keys[layer][..., :filled, :] = old_k[..., :filled, :]
            self._values[layer][..., :filled, :] = old_v[..., :filled, :]


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.num_heads, self.fused = config.num_heads, config.fused
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)  # the three projections in one matmul
        self.out_proj = nn.Linear(config.d_model, config.d_model)
        self.dropout = config.dropout
        self.attention_dropout = nn.Dropout(config.dropout)

    def forward(self, x, cache: KVCache | None = None, layer: int = 0, rope=None, bias=None):
        """``rope``: ``(cos, sin)``, each ``(T, D/H/2)``, the angles of the new tokens' positions;
        ``bias``: ``(H, T, t + T)`` float, ALiBi's distance penalty with the causal mask in it."""
        batch, length, d_model = x.shape  # (B, T, D)
        q, k, v = self.qkv(x).split(d_model, dim=-1)
        q, k, v = (t.view(batch, length, self.num_heads, -1).transpose(1, 2) for t in (q, k, v))  # (B, H, T, D/H)
        if rope is not None:
            q, k = rotate(q, *rope), rotate(k, *rope)  # before caching: a cached key keeps its own position
        if cache is not None:
            k, v = cache.append(layer, k, v)  # (B, H, t + T, D/H): the past, then the T new tokens
        len_q, len_k = q.shape[-2], k.shape[-2]
        if bias is not None:  # ALiBi: the bias is the mask too (-inf above the diagonal)
            dropout_p = self.dropout if self.training else 0.0
            y = (F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), dropout_p=dropout_p) if self.fused
                 else _explicit_biased_attention(q, k, v, bias.to(q.dtype), self.attention_dropout))
        elif self.fused:
            # is_causal lets the kernel skip the blocks above the diagonal; with a cache the
            # new queries are the *last* len_q positions, so their mask is offset.
            if len_q == len_k:
                y = F.scaled_dot_product_attention(
                    q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
                )
            else:
                mask = None if len_q == 1 else _offset_causal_mask(len_q, len_k, x.device)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        else:
            y, _ = explicit_attention(q, k, v, _offset_causal_mask(len_q, len_k, x.device), self.attention_dropout)
        return self.out_proj(y.transpose(1, 2).reshape(batch, length, d_model))  # (B, T, D)


def _offset_causal_mask(len_q: int, len_k: int, device) -> torch.Tensor:
    # Query i is position len_k - len_q + i: it may see keys 0 … that position (True = may attend).
    return torch.ones(len_q, len_k, dtype=torch.bool, device=device).tril(diagonal=len_k - len_q)


def _explicit_biased_attention(q, k, v, bias, dropout):
    # Chapter 6's explicit attention with an additive float mask: softmax(q kᵀ / sqrt(d) + bias) v.
    scores = (q / math.sqrt(q.shape[-1])) @ k.transpose(-2, -1) + bias  # (B, H, T, S)
    return dropout(torch.softmax(scores, dim=-1)) @ v


def rope_cos_sin(positions, head_dim: int, rope_scale: float = 1.0, like: torch.Tensor | None = None):
    """RoPE's ``(cos, sin)``, each ``(T, head_dim / 2)``, for ``positions`` (a sequence of ``T``)
    read as ``positions · rope_scale``: chapter 12's :func:`~course_lib.modern_attention.rope_angles`
    (the same ``scale``), in the dtype and on the device of ``like``."""
    angles = torch.from_numpy(rope_angles(positions, head_dim, scale=rope_scale))  # (T, d/2), float64
    like = angles if like is None else like
    return angles.cos().to(like), angles.sin().to(like)


def alibi_attention_bias(num_heads: int, start: int, length: int, device=None) -> torch.Tensor:
    """ALiBi's bias for ``length`` new queries at positions ``start …`` over keys ``0 … start + length - 1``:
    ``(H, T, S)`` float, ``-m_h · (i - j)`` for ``j <= i`` and ``-inf`` above the diagonal (the causal
    mask). With ``start = 0`` it is :func:`~course_lib.modern_attention.alibi_bias`."""
    slopes = torch.from_numpy(alibi_slopes(num_heads)).float().to(device)  # (H,)
    queries = torch.arange(start, start + length, device=device)
    distance = (queries[:, None] - torch.arange(start + length, device=device)[None, :]).float()  # (T, S): i - j
    return (-slopes[:, None, None] * distance).masked_fill(distance < 0, float("-inf"))  # (H, T, S)


class Block(nn.Module):
    """Pre-norm: ``x + attention(norm(x))``, then ``x + feed_forward(norm(x))``."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(config.d_model)
        self.attention = CausalSelfAttention(config)
        self.norm2 = nn.LayerNorm(config.d_model)
        self.feed_forward = FeedForward(config.d_model, config.d_ff, activation="gelu")
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x, cache=None, layer=0, rope=None, bias=None):
        x = x + self.dropout(self.attention(self.norm1(x), cache, layer, rope, bias))
        return x + self.dropout(self.feed_forward(self.norm2(x)))


class GPT(nn.Module):
    """``forward(ids (B, T), cache=None)`` → next-token logits ``(B, T, vocab_size)``.

    Positions (``config.position``): ``"learned"`` adds a learned vector per position (at most
    ``block_size`` of them); ``"rope"`` rotates every head's queries and keys by their positions
    (multiplied by ``config.rope_scale``: ``train_len / target_len`` interpolates); ``"alibi"`` adds ``-slope · distance`` to the scores. With a
    cache the new tokens' positions start at ``len(cache)``, so cached and uncached runs agree.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
        # RoPE and ALiBi act inside attention: no position vectors to add, and no limit to the length.
        self.position_embedding = nn.Embedding(config.block_size, config.d_model) if config.position == "learned" else None
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.num_layers))
        self.norm = nn.LayerNorm(config.d_model)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.lm_head.weight = self.token_embedding.weight  # tied: one matrix reads and writes tokens
        self.apply(self._init_weights)
        for name, parameter in self.named_parameters():
            if name.endswith("out_proj.weight") or name.endswith("linear2.weight"):
                # Each block adds two outputs to the residual stream; scale them so its
                # variance does not grow with depth (GPT-2).
                nn.init.normal_(parameter, std=0.02 / math.sqrt(2 * config.num_layers))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, ids, cache: KVCache | None = None):
        batch, length = ids.shape
        config = self.config
        start = len(cache) if cache is not None else 0
        if config.position == "learned" and start + length > config.block_size:
            raise ValueError(
                f"{start + length} positions, but the model was trained on at most block_size = "
                f"{config.block_size}: crop the context (generate() does when use_cache=False)"
            )
        x = self.token_embedding(ids)  # (B, T, D)
        rope = bias = None  # the new tokens are positions start … start + length - 1, past the cache
        if config.position == "learned":
            x = x + self.position_embedding(torch.arange(start, start + length, device=ids.device))
        elif config.position == "rope":
            rope = rope_cos_sin(range(start, start + length), config.d_model // config.num_heads, config.rope_scale, like=x)
        else:
            bias = alibi_attention_bias(config.num_heads, start, length, ids.device)
        for layer, block in enumerate(self.blocks):
            x = block(x, cache, layer, rope, bias)
        return self.lm_head(self.norm(x))  # (B, T, V)

    def new_cache(self, max_length: int | None = None) -> KVCache:
        """An empty cache with room for ``max_length`` positions (default: ``block_size``)."""
        return KVCache(len(self.blocks), max_length or self.config.block_size)

    def num_parameters(self, non_embedding: bool = True) -> int:
        """Parameters; by default without the position embeddings (they cost no FLOPs)."""
        total = sum(p.numel() for p in self.parameters())
        if non_embedding and self.position_embedding is not None:
            return total - self.position_embedding.weight.numel()
        return total

    def flops_per_token(self, length: int | None = None) -> int:
        """Training FLOPs (forward + backward) per token at context ``length``.

        ``6 N`` for the weight matrices (2 per multiply-add, forward; twice that backward)
        plus ``12 · layers · d_model · length`` for the attention scores and the weighted
        sum, the accounting of the PaLM paper (appendix B), which ignores the causal mask.
        """
        length = length or self.config.block_size
        return 6 * self.num_parameters() + 12 * self.config.num_layers * self.config.d_model * length

    def settings(self) -> dict:
        return asdict(self.config)


@torch.inference_mode()
def generate(model: GPT, ids, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
             use_cache: bool = True, generator: torch.Generator | None = None, top_p: float | None = None):
    """Continue ``ids (B, T)`` by ``max_new_tokens`` tokens; returns ``(B, T + max_new_tokens)``.

    With ``use_cache`` the prompt goes through the model once and every later step feeds
    only the newest token, reading the rest from the cache (preallocated for the prompt and
    the new tokens); the total must fit in ``block_size``. Without it each step re-reads the
    whole (cropped) context. Both give the same tokens for the same ``generator`` seed.
    Sampling: :func:`course_lib.sampling.sample_next` (temperature 0 is greedy).
    """
    model.eval()
    block_size = model.config.block_size
    batch, prompt = ids.shape
    if use_cache and prompt + max_new_tokens > block_size:
        raise ValueError(
            f"prompt ({prompt}) + max_new_tokens ({max_new_tokens}) exceeds block_size = {block_size}; "
            "generate fewer tokens or use use_cache=False, which crops the context"
        )
    cache = model.new_cache(prompt + max_new_tokens) if use_cache else None
    out = ids.new_empty((batch, prompt + max_new_tokens))  # filled in place, like the cache
    out[:, :prompt] = ids
    step_input = ids
    for end in range(prompt, prompt + max_new_tokens):
        logits = model(step_input if use_cache else out[:, max(0, end - block_size):end], cache)[:, -1]  # (B, V)
        next_id = sample_next(logits, temperature, top_k, top_p, generator)  # (B,)
        out[:, end] = next_id
        step_input = out[:, end:end + 1]  # with a cache, only the new token goes in next time
    return out
