"""Chapter 8 — the encoder–decoder Transformer in PyTorch, small enough to read in one sitting.

Built from chapter 6's :class:`MultiHeadAttention` and chapter 7's sinusoidal encodings.
Masks follow the course convention (boolean, ``True`` = may attend); the layers can copy
the weights of ``torch.nn.TransformerEncoderLayer`` / ``TransformerDecoderLayer`` (which
use the opposite mask convention) and then compute the same outputs.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .multi_head_torch import MultiHeadAttention
from .positional import sinusoidal_positional_encoding

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


def _activation_name(activation) -> str:
    # torch layers hold either the function (F.relu) or a module (nn.ReLU()).
    for name, function in ACTIVATIONS.items():
        if activation is function or type(activation).__name__.lower() == name:
            return name
    raise ValueError(f"unsupported activation {activation!r}: expected relu or gelu")


class FeedForward(nn.Module):
    """``linear2(dropout(activation(linear1(x))))``, applied to every position on its own."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, activation: str = "relu", bias: bool = True):
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)
        self.activation = activation

    def forward(self, x):
        return self.linear2(self.dropout(ACTIVATIONS[self.activation](self.linear1(x))))


class _Sublayers(nn.Module):
    """What both layers share: the residual connection around a sublayer, pre- or post-norm."""

    norm_first: bool

    def _residual(self, x, sublayer, norm):
        if self.norm_first:  # pre-norm (modern models): x + f(norm(x)); the residual path stays clean
            return x + self.dropout(sublayer(norm(x)))
        return norm(x + self.dropout(sublayer(x)))  # post-norm (the original paper): norm(x + f(x))

    def _copy_common(self, layer) -> None:
        with torch.no_grad():
            self.feed_forward.linear1.load_state_dict(layer.linear1.state_dict())
            self.feed_forward.linear2.load_state_dict(layer.linear2.state_dict())
            for name in ("norm1", "norm2", "norm3"):
                if hasattr(self, name):
                    getattr(self, name).load_state_dict(getattr(layer, name).state_dict())

    @staticmethod
    def _settings(layer) -> dict:
        return dict(
            d_model=layer.linear1.in_features,
            num_heads=layer.self_attn.num_heads,
            d_ff=layer.linear1.out_features,
            dropout=layer.dropout.p,
            norm_first=layer.norm_first,
            activation=_activation_name(layer.activation),
            eps=layer.norm1.eps,
            bias=layer.linear1.bias is not None,
        )


class EncoderLayer(_Sublayers):
    """Self-attention, then the feed-forward network, each inside a residual connection.

    ``forward(x, mask=None)``: x ``(B, S, D)``; mask boolean broadcastable to ``(B, S, S)``.
    """

    def __init__(self, d_model, num_heads, d_ff, dropout=0.0, norm_first=True, activation="relu", eps=1e-5, bias=True):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, num_heads, bias=bias, dropout=dropout)
        self.feed_forward = FeedForward(d_model, d_ff, dropout, activation, bias)
        self.norm1 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, mask=None, return_weights: bool = False):
        """``(B, S, D)``; with ``return_weights`` also the attention weights ``(B, H, S, S)``."""
        weights = []

        def attend(h):
            output, head_weights = self.self_attn(h, h, h, mask)
            weights.append(head_weights)
            return output

        x = self._residual(x, attend, self.norm1)
        x = self._residual(x, self.feed_forward, self.norm2)
        return (x, weights[0]) if return_weights else x

    @classmethod
    def from_torch(cls, layer: nn.TransformerEncoderLayer) -> "EncoderLayer":
        """A copy of ``nn.TransformerEncoderLayer(batch_first=True)``; pass it ``~mask`` where ours takes ``mask``."""
        if not layer.self_attn.batch_first:
            raise ValueError("expected a layer built with batch_first=True")
        copy = cls(**cls._settings(layer))
        copy.self_attn = MultiHeadAttention.from_torch(layer.self_attn)
        copy._copy_common(layer)
        return copy


class DecoderLayer(_Sublayers):
    """Masked self-attention, cross-attention over the encoder's memory, then the feed-forward network.

    ``forward(x, memory, self_mask=None, cross_mask=None)``: x ``(B, T, D)``, memory ``(B, S, D)``;
    self_mask broadcastable to ``(B, T, T)`` (causal and padding), cross_mask to ``(B, T, S)``.
    """

    def __init__(self, d_model, num_heads, d_ff, dropout=0.0, norm_first=True, activation="relu", eps=1e-5, bias=True):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, num_heads, bias=bias, dropout=dropout)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, bias=bias, dropout=dropout)
        self.feed_forward = FeedForward(d_model, d_ff, dropout, activation, bias)
        self.norm1 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        self.norm3 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, memory, self_mask=None, cross_mask=None):
        x = self._residual(x, lambda h: self.self_attn(h, h, h, self_mask)[0], self.norm1)
        x = self._residual(x, lambda h: self.cross_attn(h, memory, memory, cross_mask)[0], self.norm2)
        return self._residual(x, self.feed_forward, self.norm3)

    @classmethod
    def from_torch(cls, layer: nn.TransformerDecoderLayer) -> "DecoderLayer":
        """A copy of ``nn.TransformerDecoderLayer(batch_first=True)``; torch's masks are ``~`` ours."""
        if not layer.self_attn.batch_first:
            raise ValueError("expected a layer built with batch_first=True")
        copy = cls(**cls._settings(layer))
        copy.self_attn = MultiHeadAttention.from_torch(layer.self_attn)
        copy.cross_attn = MultiHeadAttention.from_torch(layer.multihead_attn)
        copy._copy_common(layer)
        return copy


def source_mask(src_ids, pad_id: int):
    """``(B, S)`` ids → ``(B, 1, S)``: every query may attend to the real source tokens (chapter 5)."""
    return (src_ids != pad_id)[:, None, :]


def target_mask(tgt_ids, pad_id: int):
    """``(B, T)`` ids → ``(B, T, T)``: causal and padding, as :func:`course_lib.decoder_self_mask`."""
    length = tgt_ids.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=tgt_ids.device).tril()
    return source_mask(tgt_ids, pad_id) & causal


class Transformer(nn.Module):
    """An encoder–decoder Transformer for sequence-to-sequence tasks.

    Token embeddings are scaled by ``sqrt(d_model)`` and added to sinusoidal position codes
    (once, here, and nowhere else); a stack of encoder layers reads the source, a stack of
    decoder layers writes the target one token at a time, and a linear layer turns each
    decoder vector into logits over the target vocabulary.
    """

    def __init__(self, src_vocab_size, tgt_vocab_size, d_model=64, num_heads=4, num_layers=2, d_ff=256,
                 dropout=0.1, max_len=64, norm_first=True, activation="relu", pad_id=0):
        super().__init__()
        self.d_model, self.pad_id = d_model, pad_id
        self.src_embed = nn.Embedding(src_vocab_size, d_model, padding_idx=pad_id)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, d_model, padding_idx=pad_id)
        for table in (self.src_embed, self.tgt_embed):
            # Entries of size 1/sqrt(d_model), so that after the sqrt(d_model) scale tokens and
            # positions have the same size. (nn.Embedding's default N(0, 1) times sqrt(d_model)
            # would drown the position codes, and the model could barely tell digits apart by place.)
            nn.init.normal_(table.weight, std=d_model**-0.5)
            table.weight.data[pad_id].zero_()
        encoding = torch.tensor(sinusoidal_positional_encoding(max_len, d_model), dtype=torch.float32)
        self.register_buffer("positions", encoding, persistent=False)  # (max_len, D), not a parameter
        layer_args = (d_model, num_heads, d_ff, dropout, norm_first, activation)
        self.encoder_layers = nn.ModuleList(EncoderLayer(*layer_args) for _ in range(num_layers))
        self.decoder_layers = nn.ModuleList(DecoderLayer(*layer_args) for _ in range(num_layers))
        # Pre-norm stacks end un-normalised: one last LayerNorm each (post-norm ends with one already).
        self.encoder_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.decoder_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.generator = nn.Linear(d_model, tgt_vocab_size)

    def _embed(self, table, ids):
        if ids.shape[1] > len(self.positions):
            raise ValueError(f"sequence of length {ids.shape[1]} is longer than max_len = {len(self.positions)}")
        return self.dropout(table(ids) * math.sqrt(self.d_model) + self.positions[: ids.shape[1]])  # (B, L, D)

    def encode(self, src_ids):
        """Source ids ``(B, S)`` → ``(memory (B, S, D), mask (B, 1, S))``."""
        mask = source_mask(src_ids, self.pad_id)
        x = self._embed(self.src_embed, src_ids)
        for layer in self.encoder_layers:
            x = layer(x, mask)
        return self.encoder_norm(x), mask

    def decode(self, tgt_ids, memory, self_mask=None, cross_mask=None):
        """Target ids so far ``(B, T)`` and the memory → logits ``(B, T, V)`` for the next token at every position.

        The caller passes the masks: ``self_mask`` must be causal (see :func:`target_mask`).
        """
        x = self._embed(self.tgt_embed, tgt_ids)
        for layer in self.decoder_layers:
            x = layer(x, memory, self_mask, cross_mask)
        return self.generator(self.decoder_norm(x))

    def forward(self, src_ids, tgt_ids):
        """Teacher forcing: logits ``(B, T, V)`` for every position of ``tgt_ids`` at once."""
        memory, src_mask = self.encode(src_ids)
        return self.decode(tgt_ids, memory, target_mask(tgt_ids, self.pad_id), src_mask)


@torch.no_grad()
def greedy_decode(model: Transformer, src_ids, bos_id: int, eos_id: int, max_len: int):
    """Generate the target for every source, always taking the most likely next token.

    Returns ``(B, L)`` token ids without the leading ``bos_id``, ``L <= max_len``; each row
    stops at its first ``eos_id`` (kept) and is padded with ``model.pad_id`` after it.
    """
    model.eval()
    memory, src_mask = model.encode(src_ids)
    generated = torch.full((len(src_ids), 1), bos_id, dtype=torch.long, device=src_ids.device)
    finished = torch.zeros(len(src_ids), dtype=torch.bool, device=src_ids.device)
    for _ in range(max_len):
        logits = model.decode(generated, memory, target_mask(generated, model.pad_id), src_mask)  # (B, T, V)
        next_token = logits[:, -1].argmax(dim=-1)  # (B,) the prediction after the last position
        next_token = torch.where(finished, torch.full_like(next_token, model.pad_id), next_token)
        generated = torch.cat([generated, next_token[:, None]], dim=1)
        finished |= next_token == eos_id
        if finished.all():
            break
    return generated[:, 1:]


@torch.no_grad()
def beam_search(model: Transformer, src_ids, bos_id: int, eos_id: int, max_len: int, beam_size: int = 4,
                length_penalty: float = 1.0):
    """Keep the ``beam_size`` best partial translations instead of one; return the best finished one per source.

    A hypothesis is scored by its total log-probability divided by ``length ** length_penalty``
    (without that, shorter outputs would always win). Output as :func:`greedy_decode`.
    Written for reading, not speed: one source at a time, and a finished hypothesis keeps
    its slot among the ``beam_size`` best, so fewer live beams remain as hypotheses finish.
    """
    model.eval()
    results = []
    for source in src_ids:
        memory, src_mask = model.encode(source[None])  # (1, S, D)
        beams = [(0.0, [bos_id])]  # (total log-probability, tokens)
        finished = []
        for _ in range(max_len):
            tokens = torch.tensor([t for _, t in beams], device=src_ids.device)  # (K, T)
            logits = model.decode(tokens, memory.expand(len(beams), -1, -1), target_mask(tokens, model.pad_id), src_mask)
            log_probs = torch.log_softmax(logits[:, -1], dim=-1)  # (K, V)
            candidates = [
                (score + lp.item(), seq + [token.item()])
                for (score, seq), row in zip(beams, log_probs)
                for lp, token in zip(*row.topk(beam_size))
            ]
            candidates.sort(key=lambda c: c[0], reverse=True)
            beams = []
            for score, seq in candidates[:beam_size]:
                (finished if seq[-1] == eos_id else beams).append((score, seq))
            if not beams:
                break
        finished = finished or beams
        best = max(finished, key=lambda c: c[0] / (len(c[1]) - 1) ** length_penalty)[1][1:]
        results.append(torch.tensor(best, device=src_ids.device))
    return nn.utils.rnn.pad_sequence(results, batch_first=True, padding_value=model.pad_id)
