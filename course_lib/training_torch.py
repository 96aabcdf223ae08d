"""Chapter 9 — training a language model as it is done for real, on whatever device is there.

* :func:`pick_device` and :func:`autocast_dtype`: ``cuda`` (bf16 autocast) when present, then
  ``mps``, else ``cpu`` (float32); the same code everywhere.
* :class:`TextData`: windows of a token stream that start at sentence starts.
* :class:`Trainer`: AdamW, the warm-up / inverse-square-root schedule, label smoothing,
  gradient accumulation and clipping, optional ``torch.compile``, and checkpoints that
  resume exactly (model, optimizer, schedule, step and every random state).
* tokens per second and model-FLOPs utilisation (MFU) against the device's peak.
"""
from __future__ import annotations

import functools
import math
import random
import re
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .training import warmup_inverse_sqrt_lr


def pick_device(preferred: str | None = None) -> torch.device:
    """``preferred`` if given, else ``cuda`` if available, else ``mps``, else ``cpu``."""
    if preferred:
        return torch.device(preferred)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast_dtype(device) -> torch.dtype | None:
    """bf16 where the hardware does it natively (CUDA with bf16 support), else None (float32).

    On a CPU bf16 autocast exists but is usually *slower* than float32 without AMX units.
    """
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


# Dense (no sparsity) bf16 tensor-core peak in FLOP/s from NVIDIA's datasheets, keyed by
# the words of the name torch.cuda.get_device_name reports ("NVIDIA H100 PCIe", "NVIDIA
# H100 80GB HBM3" for the SXM part, "NVIDIA L40S"). Variants of one chip differ: the PCIe
# and NVL cards run at lower clocks and power than the SXM modules. T4 (Turing) has no
# bf16 tensor cores; its figure is the fp16 one.
PEAK_BF16_FLOPS = {
    "H200 NVL": 835e12, "H200": 989e12,
    "H100 NVL": 835e12, "H100 PCIe": 756e12, "H100": 989e12,  # "H100" alone: SXM / HBM3
    "A100": 312e12,  # SXM4 and PCIe alike
    "L40S": 362e12, "L40": 181e12, "L4": 121e12,
    "A10": 125e12, "T4": 65e12,
}


def _name_words(name: str) -> set[str]:
    return set(re.split(r"[\s_-]+", name.upper()))


def datasheet_peak_flops(name: str) -> float | None:
    """The ``PEAK_BF16_FLOPS`` entry for a GPU named ``name``, or None if there is none.

    A key matches when each of its words is a whole word of the name (so "L4" does not
    match "NVIDIA L40S", nor "A10" "NVIDIA A100-SXM4-80GB"), and of the keys that match
    the most specific, the one with the most words, wins ("H100 PCIe" over "H100").
    """
    words = _name_words(name)
    matches = [key for key in PEAK_BF16_FLOPS if _name_words(key) <= words]
    if not matches:
        return None
    return PEAK_BF16_FLOPS[max(matches, key=lambda key: len(_name_words(key)))]


def peak_flops(device) -> float | None:
    """The device's peak FLOP/s, the denominator of MFU.

    CUDA: the datasheet's dense bf16 figure for known GPUs (None if unknown). CPU: there
    is no datasheet number to trust, so the best float32 matrix-multiply rate measured
    here (:func:`measured_matmul_flops`, once per process) stands in for the peak.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return datasheet_peak_flops(torch.cuda.get_device_name(device))
    if device.type == "cpu":
        return _cpu_peak_flops()
    return None


@functools.lru_cache(maxsize=None)
def _cpu_peak_flops() -> float:
    return measured_matmul_flops("cpu")


def measured_matmul_flops(device="cpu", size: int = 1024, repeats: int = 5, dtype=torch.float32) -> float:
    """The best rate of ``repeats`` square ``size × size`` matrix products, in FLOP/s."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    best = math.inf
    for _ in range(repeats + 1):  # the first product warms up
        _synchronize(device)
        start = time.perf_counter()
        a @ b
        _synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def _synchronize(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def mfu(flops_per_token: float, tokens_per_second: float, peak: float | None) -> float | None:
    """Model-FLOPs utilisation: the fraction of the peak spent on the model's own arithmetic."""
    return None if not peak else flops_per_token * tokens_per_second / peak


class TextData:
    """A token stream cut into training windows that start at sentence starts.

    ``ids``: 1-D integer tensor of the whole text; ``starts``: the indices where sentences
    start. A window of ``block_size`` inputs predicts the same positions shifted by one, and
    because it starts at a sentence start, every word it is asked to predict has all the
    context the grammar needs.
    """

    def __init__(self, ids, starts, block_size: int):
        self.ids = torch.as_tensor(ids, dtype=torch.long)
        starts = torch.as_tensor(starts, dtype=torch.long)
        self.starts = starts[starts + block_size + 1 <= len(self.ids)]
        self.block_size = block_size
        if not len(self.starts):
            raise ValueError(f"the text ({len(self.ids)} tokens) is shorter than one window of {block_size + 1}")

    @classmethod
    def from_grammar(cls, grammar, num_tokens: int, block_size: int, seed: int = 0) -> "TextData":
        words = grammar.sample_text(num_tokens, seed=seed)
        ends = [i for i, w in enumerate(words) if w == "."]
        return cls(grammar.encode(words), [0] + [i + 1 for i in ends[:-1]], block_size)

    def batch(self, batch_size: int, generator: torch.Generator | None = None):
        """``(x, y)``, each ``(batch_size, block_size)``: random windows and their next tokens."""
        rows = self.starts[torch.randint(len(self.starts), (batch_size,), generator=generator)]
        offsets = torch.arange(self.block_size + 1)
        windows = self.ids[rows[:, None] + offsets]  # (B, T + 1)
        return windows[:, :-1], windows[:, 1:]

    def windows(self, count: int):
        """The first ``count`` windows that do not overlap (a fixed evaluation set)."""
        picked, next_free = [], 0
        for start in self.starts.tolist():
            if start >= next_free:
                picked.append(start)
                next_free = start + self.block_size + 1
            if len(picked) == count:
                break
        windows = self.ids[torch.tensor(picked)[:, None] + torch.arange(self.block_size + 1)]
        return windows[:, :-1], windows[:, 1:]


def perfect_model_loss(grammar, x, y) -> float:
    """The loss of the grammar itself on windows ``x, y`` (``(N, T)`` ids): the floor for any model.

    Each window starts at a sentence start, so the grammar knows every word's true
    probability; the first input word is not predicted by anyone and is left out.
    """
    texts = torch.cat([x, y[:, -1:]], dim=1).tolist()  # (N, T + 1): the whole window
    return float(-sum(grammar.log_probs(grammar.decode(ids))[1:].sum() for ids in texts) / y.numel())


def lm_loss(logits, targets, label_smoothing: float = 0.0):
    """Mean next-token cross-entropy over every position, in nats. ``logits (B, T, V)``."""
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()  # a softmax over the vocabulary in 8 bits of mantissa loses the small losses
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), label_smoothing=label_smoothing)


def accumulate_gradients(model, x, y, micro_batches: int, label_smoothing: float = 0.0, autocast=None):
    """Backward over ``x, y`` in ``micro_batches`` pieces; returns the mean loss (a float).

    Each piece's loss is divided by the number of pieces, so the summed gradients equal the
    gradient of the whole batch's mean loss: a batch too big for memory, computed in parts.
    """
    if len(x) % micro_batches:
        raise ValueError(f"batch of {len(x)} does not split into {micro_batches} equal micro-batches")
    total = 0.0
    device_type = x.device.type
    for x_part, y_part in zip(x.chunk(micro_batches), y.chunk(micro_batches)):
        with torch.autocast(device_type, dtype=autocast, enabled=autocast is not None):
            loss = lm_loss(model(x_part), y_part, label_smoothing) / micro_batches
        loss.backward()
        total += loss.item()
    return total


@dataclass
class TrainingSettings:
    steps: int = 600
    batch_size: int = 32  # sequences per optimizer step (all micro-batches together)
    micro_batches: int = 1  # gradient accumulation: split each batch in this many parts
    warmup_steps: int = 100
    lr_factor: float = 1.0  # multiplies warmup_inverse_sqrt_lr, as in the Annotated Transformer
    label_smoothing: float = 0.0
    clip_norm: float | None = 1.0
    weight_decay: float = 0.01
    seed: int = 0
    compile: bool = False  # torch.compile the model (worth it on a GPU; slow to start on a CPU)
    eval_every: int = 100
    eval_windows: int = 64


@dataclass
class History:
    step: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    eval_step: list = field(default_factory=list)
    eval_loss: list = field(default_factory=list)
    seconds: float = 0.0  # training time, evaluation excluded
    tokens: int = 0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


class Trainer:
    """Everything a run needs to continue exactly where it stopped.

    ``trainer.train(steps)`` runs steps and records a :class:`History`; ``trainer.save(path)``
    and ``Trainer.resume(path, model, data)`` store and restore model, optimizer, schedule,
    step counter and the random generators, so a resumed run computes the same next loss.
    """

    def __init__(self, model, data: TextData, settings: TrainingSettings | None = None,
                 val_data: TextData | None = None, device=None):
        settings = settings or TrainingSettings()
        self.settings, self.data, self.val_data = settings, data, val_data
        self.device = pick_device(device) if not isinstance(device, torch.device) else device
        self.model = model.to(self.device)
        self.autocast = autocast_dtype(self.device)
        self.forward_model = torch.compile(self.model) if settings.compile else self.model
        decay = [p for p in model.parameters() if p.dim() >= 2]  # matrices; not biases, norms
        no_decay = [p for p in model.parameters() if p.dim() < 2]
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=1.0, betas=(0.9, 0.98), eps=1e-9,  # lr=1: the schedule below sets the actual rate
        )
        d_model = model.config.d_model
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda index: settings.lr_factor * warmup_inverse_sqrt_lr(index + 1, d_model, settings.warmup_steps),
        )
        self.generator = torch.Generator().manual_seed(settings.seed)  # which windows each batch holds
        torch.manual_seed(settings.seed)  # dropout
        self.step = 0
        self.history = History()

    def train_step(self) -> float:
        s = self.settings
        self.model.train()
        x, y = (t.to(self.device) for t in self.data.batch(s.batch_size, self.generator))
        self.optimizer.zero_grad(set_to_none=True)
        loss = accumulate_gradients(self.forward_model, x, y, s.micro_batches, s.label_smoothing, self.autocast)
        if s.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.clip_norm)
        self.history.lr.append(self.schedule.get_last_lr()[0])
        self.optimizer.step()
        self.schedule.step()
        self.step += 1
        return loss

    @torch.no_grad()
    def evaluate(self, data: TextData | None = None, windows: int | None = None) -> float:
        """Mean loss (nats per token, no label smoothing) on fixed windows of ``data``."""
        data = data or self.val_data
        self.model.eval()
        x, y = (t.to(self.device) for t in data.windows(windows or self.settings.eval_windows))
        with torch.autocast(self.device.type, dtype=self.autocast, enabled=self.autocast is not None):
            return lm_loss(self.forward_model(x), y).item()

    def train(self, steps: int | None = None, progress: bool = True) -> History:
        from tqdm.auto import tqdm

        steps = self.settings.steps if steps is None else steps
        bar = tqdm(range(steps), desc="training", disable=not progress, leave=False)
        for _ in bar:
            _synchronize(self.device)
            start = time.perf_counter()
            loss = self.train_step()  # .item() inside waits for the device
            self.history.seconds += time.perf_counter() - start
            self.history.tokens += self.settings.batch_size * self.data.block_size
            self.history.step.append(self.step)
            self.history.loss.append(loss)
            if self.val_data is not None and (self.step % self.settings.eval_every == 0 or self.step == 1):
                self.history.eval_step.append(self.step)
                self.history.eval_loss.append(self.evaluate())
                bar.set_postfix(loss=f"{loss:.3f}", val=f"{self.history.eval_loss[-1]:.3f}")
        return self.history

    def report(self, peak: float | None = None) -> dict:
        """Tokens per second and MFU of the training so far (``peak``: see :func:`peak_flops`)."""
        peak = peak_flops(self.device) if peak is None else peak
        tokens_per_second = self.history.tokens_per_second
        return {
            "device": str(self.device),
            "dtype": str(self.autocast or torch.float32).removeprefix("torch."),
            "tokens_per_second": tokens_per_second,
            "flops_per_token": self.model.flops_per_token(),
            "peak_flops": peak,
            "mfu": mfu(self.model.flops_per_token(), tokens_per_second, peak),
        }

    # -- checkpoints -------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "step": self.step,
            "data_generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            # Each GPU has a generator of its own (dropout on the GPU draws from it), which
            # torch.get_rng_state does not include.
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "settings": self.settings.__dict__,
        }

    def save(self, path) -> None:
        torch.save(self.state_dict(), path)

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.step = state["step"]
        self.generator.set_state(state["data_generator"])
        torch.set_rng_state(state["torch_rng"])
        cuda_rng = state.get("cuda_rng", [])  # absent in checkpoints written before it was saved
        if cuda_rng and torch.cuda.is_available():
            if len(cuda_rng) == torch.cuda.device_count():
                torch.cuda.set_rng_state_all(cuda_rng)
            else:  # saved with another number of GPUs: restore those both runs have
                for index, rng in enumerate(cuda_rng[: torch.cuda.device_count()]):
                    torch.cuda.set_rng_state(rng, index)

    @classmethod
    def resume(cls, path, model, data: TextData, val_data: TextData | None = None, device=None) -> "Trainer":
        """A trainer that continues the run saved at ``path`` (``model``: same architecture)."""
        state = torch.load(path, weights_only=False, map_location="cpu")
        trainer = cls(model, data, TrainingSettings(**state["settings"]), val_data, device)
        trainer.load_state_dict(state)
        return trainer


def saved_activation_bytes(fn, *args, **kwargs) -> int:
    """Bytes of the tensors autograd keeps for the backward pass while ``fn(*args)`` runs.

    This is the memory a training step cannot free until backward: for explicit attention
    it includes the ``(B, H, L, L)`` weights of every layer, O(L²); a fused kernel keeps only
    O(L) per head and recomputes the weights during backward. Counted exactly, on any device.
    """
    seen, total = set(), 0

    def pack(tensor):
        nonlocal total
        key = (tensor.untyped_storage().data_ptr(), tensor.dtype, tuple(tensor.shape))
        if key not in seen:  # the same tensor saved by two operations counts once
            seen.add(key)
            total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn(*args, **kwargs)
    return total
