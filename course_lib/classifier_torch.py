"""Chapter 11 — sentence classifiers in PyTorch, from scratch and from a pretrained encoder.

* :class:`BagOfEmbeddings`: the baseline, a masked mean of word embeddings and an MLP; it
  sees which words a sentence holds, never their order.
* :class:`AttentionClassifier`: embeddings + sinusoidal positions, chapter 8's
  :class:`~course_lib.transformer_torch.EncoderLayer` stack, then one of three poolings
  (a learned ``[CLS]`` vector, the masked mean, or :class:`AttentionPooling` with a learned
  query) and a linear head.
* :func:`train_step`, :func:`fit` and :func:`evaluate`: the training loop, on whatever
  device :func:`~course_lib.training_torch.pick_device` finds (bf16 autocast on CUDA).
* :class:`MiniLMClassifier` and :func:`fine_tune`: chapter 10's all-MiniLM-L6-v2 with a
  classification head, trained fully or with the encoder frozen.
* :func:`classify`: what ``transformers.pipeline("sentiment-analysis")`` does, in a few lines.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .classification import accuracy
from .positional import sinusoidal_positional_encoding
from .training_torch import autocast_dtype, pick_device, seed_everything
from .transformer_torch import EncoderLayer

POOLINGS = ("cls", "mean", "attention")

# The chapter's settings (book/11_classification and benchmarks/classification.py use these).
SCRATCH_MODEL = dict(d_model=64, num_heads=4, num_layers=2, d_ff=128, dropout=0.1)
# Small training sets get more epochs, so that every run makes at least ``min_steps``
# updates (see :func:`epochs_for`): 10 epochs of 4 000 reviews are 320 steps.
SCRATCH_TRAINING = dict(epochs=10, batch_size=128, lr=3e-3, min_steps=300)
BAG_TRAINING = dict(epochs=10, batch_size=64, lr=3e-3)  # the baseline: as long as it takes to reach its ceiling
# Fine-tuning all-MiniLM-L6-v2: every weight with a small learning rate, or the head alone
# on frozen sentence vectors with a large one.
FINE_TUNING = {
    "full": dict(epochs=1, batch_size=32, lr=1e-4, min_steps=60),
    "frozen": dict(epochs=20, batch_size=32, lr=1e-2, min_steps=300),
}


def epochs_for(examples: int, batch_size: int, min_steps: int) -> int:
    """The fewest epochs that make at least ``min_steps`` optimizer steps on ``examples`` (at least 1)."""
    return max(1, math.ceil(min_steps / math.ceil(examples / batch_size)))


def masked_mean(h, mask):
    """The mean of ``h (B, L, D)`` over the positions where ``mask (B, L)`` is True → ``(B, D)``."""
    weights = mask.to(h.dtype).unsqueeze(-1)  # (B, L, 1)
    return (h * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class AttentionPooling(nn.Module):
    """One learned query attends over the tokens: ``softmax_t(h_t · q / sqrt(D))``, padding masked.

    The torch twin of :func:`course_lib.classification.attention_pool` (a test checks they
    agree). ``forward(h (B, L, D), mask (B, L))`` → ``(pooled (B, D), weights (B, L))``.
    """

    def __init__(self, d_model: int):
        super().__init__()
        self.query = nn.Parameter(torch.randn(d_model) * d_model**-0.5)

    def forward(self, h, mask=None):
        scores = h @ self.query / math.sqrt(h.shape[-1])  # (B, L)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        if mask is not None:
            weights = weights.masked_fill(~mask, 0.0)  # a row without tokens: nan -> 0, as in the numpy version
        return (weights.unsqueeze(-1) * h).sum(dim=1), weights


class BagOfEmbeddings(nn.Module):
    """The baseline: mean of the word embeddings over the real tokens, then an MLP. No order.

    ``forward(tokens (B, L), mask (B, L))`` → logits ``(B, C)``. Its prediction depends on
    the multiset of words only, so :func:`course_lib.sentiment.bag_of_words_ceiling` bounds
    its accuracy, however it is trained.
    """

    def __init__(self, vocab_size: int, num_classes: int = 2, d_model: int = 64, pad_id: int = 0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.head = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(), nn.Linear(d_model, num_classes))

    def forward(self, tokens, mask, return_weights: bool = False):
        weights = mask.float() / mask.sum(dim=1, keepdim=True).clamp(min=1)  # (B, L): 1/n on each real word
        logits = self.head(masked_mean(self.embedding(tokens), mask))
        return (logits, weights) if return_weights else logits


class AttentionClassifier(nn.Module):
    """Embeddings + positions, an encoder, a pooling, a linear head: ``(B, L)`` ids → ``(B, C)`` logits.

    ``pooling``: ``"cls"`` prepends a learned vector whose final state is the sentence's
    (BERT's ``[CLS]``); ``"mean"`` averages the real tokens' final states; ``"attention"``
    weighs them with :class:`AttentionPooling`. ``forward(..., return_weights=True)`` also
    returns how much each word counted in the pooling, ``(B, L)``: for ``"cls"`` the last
    layer's attention of ``[CLS]`` on the words, averaged over the heads.
    """

    def __init__(self, vocab_size: int, num_classes: int = 2, d_model: int = 64, num_heads: int = 4,
                 num_layers: int = 2, d_ff: int = 128, dropout: float = 0.1, max_len: int = 32,
                 pooling: str = "attention", pad_id: int = 0):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.pooling, self.d_model = pooling, d_model
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        nn.init.normal_(self.embedding.weight, std=d_model**-0.5)  # as chapter 8: tokens and positions of one size
        self.embedding.weight.data[pad_id].zero_()
        encoding = torch.tensor(sinusoidal_positional_encoding(max_len + 1, d_model), dtype=torch.float32)
        self.register_buffer("positions", encoding, persistent=False)  # (max_len + 1, D): room for [CLS]
        self.cls = nn.Parameter(torch.randn(d_model) * d_model**-0.5) if pooling == "cls" else None
        self.layers = nn.ModuleList(
            EncoderLayer(d_model, num_heads, d_ff, dropout, norm_first=True) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model)  # pre-norm layers leave the stack un-normalised
        self.attention_pooling = AttentionPooling(d_model) if pooling == "attention" else None
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(d_model, num_classes)

    def encode(self, tokens, mask):
        """Final token states ``(B, L', D)``, their mask ``(B, L')`` and the last layer's attention.

        ``L' = L + 1`` with ``[CLS]`` in front, else ``L``.
        """
        x = self.embedding(tokens) * math.sqrt(self.d_model)  # (B, L, D)
        if self.cls is not None:
            x = torch.cat([self.cls.expand(len(x), 1, -1), x], dim=1)
            mask = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)
        if x.shape[1] > len(self.positions):
            raise ValueError(f"{x.shape[1]} positions, more than max_len + 1 = {len(self.positions)}")
        x = self.dropout(x + self.positions[: x.shape[1]])
        attention = None
        for layer in self.layers:
            x, attention = layer(x, mask[:, None, :], return_weights=True)  # keys: the real tokens only
        return self.norm(x), mask, attention

    def forward(self, tokens, mask, return_weights: bool = False):
        h, mask, attention = self.encode(tokens, mask)
        if self.pooling == "cls":
            pooled, weights = h[:, 0], attention[:, :, 0, 1:].mean(dim=1)  # [CLS]'s attention on the words
        elif self.pooling == "mean":
            pooled, weights = masked_mean(h, mask), mask.float() / mask.sum(dim=1, keepdim=True).clamp(min=1)
        else:
            pooled, weights = self.attention_pooling(h, mask)
        logits = self.head(self.dropout(pooled))
        return (logits, weights) if return_weights else logits


def train_step(model, optimizer, tokens, mask, labels, autocast=None) -> float:
    """One optimisation step on one batch; returns the batch's mean cross-entropy (a float).

    Training mode (dropout on), gradients reset, forward, loss over the classes, backward,
    update. ``autocast``: a dtype for mixed precision (``torch.bfloat16`` on a GPU) or None.
    """
    model.train()
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(tokens.device.type, dtype=autocast, enabled=autocast is not None):
        logits = model(tokens, mask)  # (B, C)
    loss = F.cross_entropy(logits.float(), labels)  # softmax over the classes, mean over the batch
    loss.backward()
    optimizer.step()
    return loss.item()


@dataclass
class History:
    """What :func:`fit` recorded: the loss of every step, accuracies after every epoch."""

    loss: list = field(default_factory=list)
    epoch: list = field(default_factory=list)
    train_accuracy: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    seconds: float = 0.0  # training only, evaluation excluded


def _batches(data, index, device):
    tokens, mask, labels = (None if t is None else t[index].to(device) for t in data)
    if mask is not None and mask.dim() == 2:  # drop the columns that are padding in every row of the batch
        length = int(mask.sum(dim=1).max())
        tokens, mask = tokens[:, :length], mask[:, :length]
    return tokens, mask, labels


def as_tensors(tokens, mask, labels) -> tuple:
    """``(tokens, mask, labels)`` as torch tensors (long, bool, long); ``mask`` may be None."""
    return (torch.as_tensor(tokens), None if mask is None else torch.as_tensor(mask, dtype=torch.bool),
            torch.as_tensor(labels, dtype=torch.long))


@torch.no_grad()
def evaluate(model, data, batch_size: int = 256, device=None, train_mode: bool = False) -> dict:
    """``{"accuracy", "logits" (N, C), "predictions" (N,)}`` of ``model`` on ``data = (tokens, mask, labels)``.

    Evaluation mode (no dropout) unless ``train_mode`` (only to show what that costs).
    """
    data = as_tensors(*data)
    device = device or next(model.parameters()).device
    model.train(train_mode)
    autocast = autocast_dtype(device)
    logits = []
    for start in range(0, len(data[2]), batch_size):
        tokens, mask, _ = _batches(data, slice(start, start + batch_size), device)
        with torch.autocast(torch.device(device).type, dtype=autocast, enabled=autocast is not None):
            logits.append(model(tokens, mask).float().cpu())
    logits = torch.cat(logits).numpy()
    return {"accuracy": accuracy(logits, data[2].numpy()), "logits": logits, "predictions": logits.argmax(axis=-1)}


def fit(model, train, val=None, epochs: int = 10, batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.01,
        warmup: float = 0.1, seed: int = 0, device=None, progress: bool = True, train_eval_size: int = 1000,
        min_steps: int = 0, desc: str = "training") -> History:
    """Train ``model`` on ``train = (tokens, mask, labels)`` with AdamW and a one-cycle learning rate.

    ``epochs`` passes over the data, or more if that makes fewer than ``min_steps`` steps.
    After each epoch, accuracy on (up to ``train_eval_size`` of) the training examples
    (0: not measured) and on ``val`` (None: not measured). A tqdm bar shows the loss.
    Returns the :class:`History`.
    """
    from tqdm.auto import tqdm

    seed_everything(seed)
    device = pick_device(device) if not isinstance(device, torch.device) else device
    model.to(device)
    train = as_tensors(*train)
    count = len(train[2])
    steps_per_epoch = math.ceil(count / batch_size)
    epochs = max(epochs, epochs_for(count, batch_size, min_steps))
    # fused: the whole update in one kernel per step; PyTorch's default loops over the tensors, which
    # was a third of a MiniLM step on the CPU (22 M weights, as many moments to update).
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch,
                                                   pct_start=warmup)
    autocast = autocast_dtype(device)
    order = torch.Generator().manual_seed(seed)
    train_sample = tuple(None if t is None else t[:train_eval_size] for t in train)
    history = History()
    bar = tqdm(total=epochs * steps_per_epoch, desc=desc, disable=not progress, leave=False)
    for epoch in range(epochs):
        start = time.perf_counter()
        for index in torch.randperm(count, generator=order).split(batch_size):
            loss = train_step(model, optimizer, *_batches(train, index, device), autocast=autocast)
            schedule.step()
            history.loss.append(loss)
            bar.update()
            bar.set_postfix(loss=f"{loss:.3f}")
        history.seconds += time.perf_counter() - start
        history.epoch.append(epoch + 1)
        if train_eval_size:
            history.train_accuracy.append(evaluate(model, train_sample, device=device)["accuracy"])
        if val is not None:
            history.val_accuracy.append(evaluate(model, val, device=device)["accuracy"])
            bar.set_postfix(loss=f"{loss:.3f}", val_accuracy=f"{history.val_accuracy[-1]:.3f}")
    bar.close()
    return history


# -- a pretrained encoder with a classification head ------------------------------------------


class MiniLMClassifier(nn.Module):
    """Chapter 10's all-MiniLM-L6-v2, its masked mean pooling, dropout and a linear head.

    ``forward(input_ids (B, L), mask (B, L))`` → logits ``(B, C)``. The pooling is the one
    the encoder was trained with (its sentence embeddings are these means).
    """

    def __init__(self, encoder, num_classes: int = 2, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, num_classes)

    def features(self, input_ids, mask):
        """The sentence vectors ``(B, D)`` the head reads."""
        return masked_mean(self.encoder(input_ids, mask), mask.bool())

    def forward(self, input_ids, mask):
        return self.head(self.dropout(self.features(input_ids, mask)))


class HeadOnFeatures(nn.Module):
    """The classifier's own head (the same parameters), fed with precomputed sentence vectors."""

    def __init__(self, classifier: MiniLMClassifier):
        super().__init__()
        self.classifier = classifier

    def forward(self, features, mask=None):
        return self.classifier.head(self.classifier.dropout(features))


def minilm_inputs(tokenizer, sentences, labels=None) -> tuple:
    """``(input_ids, mask, labels)`` tensors for MiniLM: WordPiece ids with [CLS]/[SEP], padded; mask True = real."""
    batch = tokenizer(list(sentences), padding=True, return_tensors="pt")
    labels = None if labels is None else torch.as_tensor(np.asarray(labels), dtype=torch.long)
    return batch["input_ids"], batch["attention_mask"].bool(), labels


@torch.no_grad()
def sentence_features(classifier: MiniLMClassifier, data, batch_size: int = 128, device=None) -> torch.Tensor:
    """The frozen encoder's sentence vectors ``(N, D)`` for ``data = (input_ids, mask, ...)``, computed once."""
    device = device or next(classifier.parameters()).device
    classifier.eval()
    autocast = autocast_dtype(device)
    features = []
    for start in range(0, len(data[0]), batch_size):
        ids, mask, _ = _batches((data[0], data[1], None), slice(start, start + batch_size), device)
        with torch.autocast(torch.device(device).type, dtype=autocast, enabled=autocast is not None):
            features.append(classifier.features(ids, mask).float().cpu())
    return torch.cat(features)


def fine_tune(classifier: MiniLMClassifier, train, val=None, freeze: bool = False, **settings) -> History:
    """Train ``classifier`` on ``train = (input_ids, mask, labels)`` (see :func:`minilm_inputs`).

    ``freeze=False``: every weight is trained (full fine-tuning), through :func:`fit`.
    ``freeze=True``: the encoder is left as it is; its sentence vectors are computed once
    and only the head is trained on them (fast: the encoder runs once per sentence, forward
    only). ``History.seconds`` then includes that one encoding pass. ``settings`` go to :func:`fit`.
    """
    if not freeze:
        return fit(classifier, train, val, **settings)
    device = pick_device(settings.get("device"))
    classifier.to(device)
    for parameter in classifier.encoder.parameters():
        parameter.requires_grad_(False)
    start = time.perf_counter()
    features = (sentence_features(classifier, train, device=device), None, train[2])
    encoding_seconds = time.perf_counter() - start
    val_features = None if val is None else (sentence_features(classifier, val, device=device), None, val[2])
    history = fit(HeadOnFeatures(classifier), features, val_features, **settings)
    history.seconds += encoding_seconds
    return history


def classify(texts, tokenizer, model, labels=("negative", "positive")) -> list[dict]:
    """``pipeline("sentiment-analysis")``, rebuilt: ``[{"label": ..., "score": ...}]`` for each text.

    The five steps a pipeline hides: tokenise (WordPiece, [CLS]/[SEP], padding, mask), run
    the model (encoder and head) to logits, softmax them into probabilities, pick the most
    likely class, and map its index to its name.
    """
    device = next(model.parameters()).device
    input_ids, mask, _ = minilm_inputs(tokenizer, texts)  # 1. tokenisation
    model.eval()  # no dropout
    with torch.no_grad():
        logits = model(input_ids.to(device), mask.to(device)).float()  # 2. + 3. encoder and head
    probabilities = torch.softmax(logits, dim=-1)  # 4. softmax over the classes
    scores, best = probabilities.max(dim=-1)
    return [{"label": labels[i], "score": s} for i, s in zip(best.tolist(), scores.tolist())]  # 5. label mapping
