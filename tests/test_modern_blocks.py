"""Chapter 12's Llama-style block: RMSNorm against PyTorch's, SwiGLU, causality with RoPE and
grouped-query attention, and gradient checkpointing that changes memory, never gradients."""
import pytest
import torch
import torch.nn.functional as F

from course_lib.gpt import Block, GPTConfig
from course_lib.modern_blocks import LlamaAttention, LlamaBlock, RMSNorm, SwiGLU, rms_norm, rotate, run_blocks, swiglu
from course_lib.positional import apply_rope
from course_lib.training_torch import saved_activation_bytes


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_rms_norm_equals_torch(dtype, tolerance):
    torch.manual_seed(0)
    x, weight = torch.randn(3, 5, 16, dtype=dtype) * 4 + 1, torch.randn(16, dtype=dtype)
    for eps in (1e-6, 1e-2):
        torch.testing.assert_close(rms_norm(x, weight, eps), F.rms_norm(x, (16,), weight, eps), rtol=tolerance, atol=tolerance)
    torch.testing.assert_close(rms_norm(x, None), F.rms_norm(x, (16,), None, 1e-6), rtol=tolerance, atol=tolerance)
    torch.testing.assert_close(RMSNorm(16)(x.float()), F.rms_norm(x.float(), (16,), eps=1e-6))
    with pytest.raises(ValueError, match="weight"):
        rms_norm(x, torch.ones(8, dtype=dtype))


def test_swiglu_is_w2_of_silu_gate_times_up():
    torch.manual_seed(0)
    ff = SwiGLU(12, 20)
    x = torch.randn(2, 3, 12)
    expected = ff.w2(F.silu(ff.w1(x)) * ff.w3(x))
    torch.testing.assert_close(ff(x), expected)
    assert SwiGLU(48).w1.out_features == 128  # 2/3 of 4 · 48
    with pytest.raises(ValueError, match="w2"):
        swiglu(x, ff.w1.weight, ff.w3.weight, ff.w1.weight)


def test_torch_rope_is_chapter_7s():
    x = torch.randn(2, 6, 8, dtype=torch.float64)
    angles = torch.arange(6.0, dtype=torch.float64)[:, None] * 10_000.0 ** (-torch.arange(0, 8, 2) / 8)
    torch.testing.assert_close(rotate(x, angles.cos(), angles.sin()), torch.from_numpy(apply_rope(x.numpy())))


@pytest.mark.parametrize("kv_heads", [4, 2, 1])
def test_llama_block_shapes_and_causality(kv_heads):
    torch.manual_seed(0)
    block = LlamaBlock(32, num_heads=4, num_kv_heads=kv_heads).double()
    x = torch.randn(2, 10, 32, dtype=torch.float64)
    y = block(x)
    assert y.shape == x.shape
    changed = x.clone()
    changed[:, 6:] += 1.0
    torch.testing.assert_close(block(changed)[:, :6], y[:, :6], rtol=0, atol=0)  # the past never sees the future
    assert not torch.allclose(block(changed)[:, 6:], y[:, 6:])
    assert block.attention.kv_proj.out_features == 2 * kv_heads * 8  # fewer kv heads: a smaller projection


def test_llama_attention_rejects_bad_head_counts():
    with pytest.raises(ValueError, match="num_kv_heads"):
        LlamaAttention(32, num_heads=4, num_kv_heads=3)
    with pytest.raises(ValueError, match="num_heads"):
        LlamaAttention(32, num_heads=5)


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_checkpointing_gives_the_same_gradients_and_saves_less(kind):
    torch.manual_seed(0)
    if kind == "llama":
        blocks = torch.nn.ModuleList(LlamaBlock(32, 4, 2) for _ in range(3)).double()
    else:
        blocks = torch.nn.ModuleList(Block(GPTConfig(10, d_model=32, num_heads=4)) for _ in range(3)).double()
    x = torch.randn(2, 12, 32, dtype=torch.float64, requires_grad=True)
    grads = []
    for checkpointing in (False, True):
        blocks.zero_grad()
        x.grad = None
        run_blocks(blocks, x, checkpointing).square().mean().backward()
        grads.append([x.grad.clone(), *(p.grad.clone() for p in blocks.parameters())])
    for plain, checkpointed in zip(*grads):
        torch.testing.assert_close(checkpointed, plain, rtol=0, atol=0)
    plain, checkpointed = (saved_activation_bytes(lambda c=c: run_blocks(blocks, x, c).sum()) for c in (False, True))
    assert checkpointed < plain / 3  # only each block's input (and the loss's) is kept
