"""Chapter 9's training craft: the schedule, label smoothing, the numpy KV-cache step, the
trainer (accumulation, clipping, checkpoints that resume exactly) and the MFU arithmetic."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import course_lib
from course_lib.gpt import GPT, GPTConfig
from course_lib.grammar import Grammar
from course_lib.training import kv_cache_step, label_smoothed_targets, warmup_inverse_sqrt_lr
from course_lib.training_torch import (
    TextData,
    Trainer,
    TrainingSettings,
    accumulate_gradients,
    autocast_dtype,
    datasheet_peak_flops,
    lm_loss,
    mfu,
    peak_flops,
    pick_device,
)


# -- the schedule ---------------------------------------------------------------------
def test_schedule_rises_linearly_peaks_at_warmup_then_decays_as_inverse_sqrt():
    d_model, warmup = 512, 4000
    lr = [warmup_inverse_sqrt_lr(s, d_model, warmup) for s in range(1, 20_001)]
    assert int(np.argmax(lr)) + 1 == warmup
    assert max(lr) == pytest.approx((d_model * warmup) ** -0.5)
    assert lr[99] == pytest.approx(100 * lr[0])  # linear warm-up
    assert lr[15_999] == pytest.approx(lr[3_999] / 2)  # step 16000 = 4 × 4000: half the peak
    assert warmup_inverse_sqrt_lr(100, 128, 10) == pytest.approx(2 * warmup_inverse_sqrt_lr(100, 512, 10))


@pytest.mark.parametrize("step, warmup", [(0, 10), (1, 0)])
def test_schedule_rejects_steps_from_zero(step, warmup):
    with pytest.raises(ValueError):
        warmup_inverse_sqrt_lr(step, 64, warmup)


def test_trainer_follows_the_schedule():
    trainer = small_trainer(TrainingSettings(steps=5, batch_size=4, warmup_steps=3, lr_factor=2.0, eval_every=100))
    trainer.train(progress=False)
    expected = [2.0 * warmup_inverse_sqrt_lr(s, trainer.model.config.d_model, 3) for s in range(1, 6)]
    assert trainer.history.lr == pytest.approx(expected)


# -- label smoothing ------------------------------------------------------------------
def test_label_smoothing_matches_torch_cross_entropy():
    rng = np.random.default_rng(0)
    logits, targets = rng.normal(size=(6, 5)), rng.integers(0, 5, 6)
    for smoothing in (0.0, 0.1, 0.5):
        distributions = label_smoothed_targets(targets, 5, smoothing)
        ours = -(distributions * torch.log_softmax(torch.tensor(logits), -1).numpy()).sum(-1).mean()
        theirs = F.cross_entropy(torch.tensor(logits), torch.tensor(targets), label_smoothing=smoothing).item()
        assert ours == pytest.approx(theirs, rel=1e-12)


def test_label_smoothing_rows():
    rows = label_smoothed_targets(np.array([2, 0]), 4, 0.2)
    np.testing.assert_allclose(rows, [[0.05, 0.05, 0.85, 0.05], [0.85, 0.05, 0.05, 0.05]])
    np.testing.assert_allclose(label_smoothed_targets(np.array([1]), 3, 0.0), [[0, 1, 0]])


@pytest.mark.parametrize(
    "targets, classes, smoothing, error",
    [(np.array([0.5]), 3, 0.1, TypeError), (np.array([3]), 3, 0.1, ValueError), (np.array([0]), 3, 1.5, ValueError)],
)
def test_label_smoothing_rejects_bad_input(targets, classes, smoothing, error):
    with pytest.raises(error):
        label_smoothed_targets(targets, classes, smoothing)


# -- the numpy KV-cache step --------------------------------------------------------------
def test_kv_cache_step_by_step_equals_causal_attention_over_the_sequence():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 7, 6))  # (B, n, d_model)
    w_q, w_k, w_v = rng.normal(size=(6, 4)), rng.normal(size=(6, 4)), rng.normal(size=(6, 3))
    expected, _ = course_lib.masked_attention(x @ w_q, x @ w_k, x @ w_v, course_lib.causal_mask(7))
    k_cache, v_cache = np.zeros((2, 0, 4)), np.zeros((2, 0, 3))
    for t in range(7):
        out, k_cache, v_cache = kv_cache_step(x[:, t], k_cache, v_cache, w_q, w_k, w_v)
        np.testing.assert_allclose(out, expected[:, t], atol=1e-12)
    assert k_cache.shape == (2, 7, 4) and v_cache.shape == (2, 7, 3)


# -- the trainer ----------------------------------------------------------------------
def small_trainer(settings=None, seed=0):
    grammar = Grammar()
    torch.manual_seed(seed)
    model = GPT(GPTConfig(len(grammar), block_size=16, d_model=16, num_heads=2, num_layers=1))
    data = TextData.from_grammar(grammar, 3_000, 16, seed=1)
    val = TextData.from_grammar(grammar, 1_000, 16, seed=2)
    return Trainer(model, data, settings or TrainingSettings(steps=30, batch_size=8, warmup_steps=10, eval_every=10,
                                                              eval_windows=8), val, device="cpu")


def test_windows_start_at_sentence_starts_and_targets_are_shifted():
    grammar = Grammar()
    data = TextData.from_grammar(grammar, 2_000, 12, seed=0)
    x, y = data.batch(5, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, 12)
    assert torch.equal(x[:, 1:], y[:, :-1])
    for row in torch.cat([x, y[:, -1:]], 1):
        grammar.log_probs(grammar.decode(row.tolist()))  # raises unless it starts a sentence
    with pytest.raises(ValueError, match="shorter than one window"):
        TextData([1, 2, 3], [0], block_size=8)


def test_gradient_accumulation_gives_the_full_batch_gradient():
    torch.manual_seed(0)
    model = GPT(GPTConfig(20, block_size=8, d_model=16, num_heads=2, num_layers=1)).double()
    x, y = torch.randint(20, (8, 8)), torch.randint(20, (8, 8))
    full_loss = lm_loss(model(x), y)
    full = torch.autograd.grad(full_loss, list(model.parameters()))
    model.zero_grad()
    loss = accumulate_gradients(model, x, y, micro_batches=4)
    assert loss == pytest.approx(full_loss.item(), rel=1e-12)
    for g, p in zip(full, model.parameters()):
        torch.testing.assert_close(p.grad, g, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="equal micro-batches"):
        accumulate_gradients(model, x, y, micro_batches=3)


def test_training_lowers_the_loss_and_clips_gradients():
    trainer = small_trainer()
    history = trainer.train(progress=False)
    assert history.eval_step[0] == 1 and history.eval_step[-1] == 30
    assert history.eval_loss[-1] < history.eval_loss[0] - 0.5
    assert history.tokens == 30 * 8 * 16 and history.seconds > 0
    report = trainer.report(peak=1e12)
    assert report["mfu"] == pytest.approx(report["flops_per_token"] * report["tokens_per_second"] / 1e12)


def test_resumed_training_continues_exactly(tmp_path):
    settings = TrainingSettings(steps=8, batch_size=4, warmup_steps=4, label_smoothing=0.1, eval_every=100)
    first = small_trainer(settings)
    first.train(progress=False)
    first.save(tmp_path / "checkpoint.pt")
    continued = first.train(4, progress=False).loss[-4:]

    resumed = Trainer.resume(tmp_path / "checkpoint.pt", GPT(first.model.config), first.data, device="cpu")
    assert resumed.step == 8
    assert resumed.train(4, progress=False).loss == continued  # bit for bit
    for a, b in zip(first.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)


def test_checkpoint_keeps_and_restores_every_gpus_random_state(monkeypatch):
    """Dropout on a GPU draws from that GPU's generator, not the CPU's: a resumed GPU run
    is only the same run if the checkpoint holds those states too. Runs on a CPU, with
    torch.cuda's state functions replaced by stand-ins that record what they get."""
    trainer = small_trainer(TrainingSettings(steps=2, batch_size=4, warmup_steps=2))
    state = trainer.state_dict()
    assert "cuda_rng" in state
    if not torch.cuda.is_available():
        assert state["cuda_rng"] == []

    saved = [torch.arange(16, dtype=torch.uint8), torch.arange(16, 32, dtype=torch.uint8)]  # two GPUs
    restored = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [t.clone() for t in saved])
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: restored.update(all=states))
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda rng, index: restored.update({index: rng}))
    state = trainer.state_dict()
    assert all(torch.equal(a, b) for a, b in zip(state["cuda_rng"], saved)) and len(state["cuda_rng"]) == 2
    torch.manual_seed(123)  # move the CPU generator on: loading must bring it back
    trainer.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(restored["all"], saved))
    assert torch.equal(torch.get_rng_state(), state["torch_rng"])

    restored.clear()  # resumed on one GPU: the first GPU's state, and no error
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    trainer.load_state_dict(state)
    assert list(restored) == [0] and torch.equal(restored[0], saved[0])

    restored.clear()  # a checkpoint from before the key existed still loads
    del state["cuda_rng"]
    trainer.load_state_dict(state)
    assert restored == {}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_checkpoint_round_trips_the_real_cuda_random_state():
    trainer = small_trainer(TrainingSettings(steps=2, batch_size=4, warmup_steps=2))
    state = trainer.state_dict()
    expected = torch.rand(5, device="cuda")
    torch.rand(100, device="cuda")
    trainer.load_state_dict(state)
    assert torch.equal(torch.rand(5, device="cuda"), expected)


@pytest.mark.parametrize("name, peak", [
    ("NVIDIA H100 80GB HBM3", 989e12),  # SXM
    ("NVIDIA H100 PCIe", 756e12),
    ("NVIDIA H100 NVL", 835e12),
    ("NVIDIA H200", 989e12),
    ("NVIDIA H200 NVL", 835e12),
    ("NVIDIA A100-SXM4-80GB", 312e12),
    ("NVIDIA A100 80GB PCIe", 312e12),
    ("NVIDIA A10", 125e12),
    ("NVIDIA L4", 121e12),
    ("NVIDIA L40S", 362e12),
    ("NVIDIA L40", 181e12),
    ("Tesla T4", 65e12),
    ("NVIDIA A10G", None),  # not in the table: no MFU rather than another GPU's peak
    ("NVIDIA GeForce RTX 4090", None),
])
def test_datasheet_peak_is_the_gpus_own_not_a_namesakes(name, peak, monkeypatch):
    assert datasheet_peak_flops(name) == peak
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    assert peak_flops(torch.device("cuda")) == peak  # the path Trainer.report takes


def test_device_helpers_on_this_machine():
    device = pick_device()
    assert device.type in {"cpu", "cuda", "mps"}
    assert pick_device("cpu") == torch.device("cpu")
    assert autocast_dtype("cpu") is None  # float32 on CPUs
    assert peak_flops("cpu") > 1e9  # a measured matmul rate: any CPU does a GFLOP/s
    assert mfu(100.0, 10.0, 2000.0) == 0.5 and mfu(1.0, 1.0, None) is None


def test_perfect_model_loss_is_the_grammars_mean_negative_log_probability():
    from course_lib.training_torch import perfect_model_loss

    grammar = Grammar()
    data = TextData.from_grammar(grammar, 2_000, 10, seed=4)
    x, y = data.windows(3)
    words = [grammar.decode(torch.cat([a, b[-1:]]).tolist()) for a, b in zip(x, y)]
    expected = -sum(grammar.log_probs(w)[1:].sum() for w in words) / 30
    assert perfect_model_loss(grammar, x, y) == pytest.approx(expected)
    assert 0.5 < perfect_model_loss(grammar, x, y) < 3.0
