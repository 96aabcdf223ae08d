"""Chapter 9's GPT: fused and explicit attention agree, nothing peeks ahead, and the KV
cache changes the speed of generation but never its tokens."""
import pytest
import torch
import torch.nn.functional as F

from course_lib.gpt import GPT, GPTConfig, KVCache, generate, sample_next
from course_lib.multi_head_torch import explicit_attention
from course_lib.training_torch import saved_activation_bytes


def model(fused=True, block_size=24, seed=0, **settings):
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=30, block_size=block_size, d_model=32, num_heads=4, num_layers=2, fused=fused, **settings)
    return GPT(config).double().eval()


def test_explicit_attention_is_sdpa_with_the_course_mask_convention():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 4)
    mask = torch.rand(5, 7) > 0.3
    mask[:, 0] = True
    out, weights = explicit_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert torch.all(weights[..., ~mask] == 0)


def test_fused_and_explicit_paths_compute_the_same_logits():
    ids = torch.randint(30, (3, 24))
    fused, explicit = model(fused=True), model(fused=False)
    torch.testing.assert_close(fused(ids), explicit(ids), rtol=1e-10, atol=1e-10)


def test_no_position_sees_the_future():
    gpt = model()
    ids = torch.randint(30, (1, 20))
    changed = ids.clone()
    changed[0, 12:] = (changed[0, 12:] + 1) % 30
    torch.testing.assert_close(gpt(ids)[:, :12], gpt(changed)[:, :12])
    assert not torch.allclose(gpt(ids)[:, 12:], gpt(changed)[:, 12:])


@pytest.mark.parametrize("fused", [True, False])
def test_the_cache_gives_the_logits_of_a_full_forward_pass(fused):
    gpt = model(fused=fused)
    ids = torch.randint(30, (2, 20))
    full = gpt(ids)
    cache = gpt.new_cache()
    pieces = [gpt(ids[:, :7], cache), gpt(ids[:, 7:8], cache), gpt(ids[:, 8:15], cache)]  # prompt, 1, several
    pieces += [gpt(ids[:, t : t + 1], cache) for t in range(15, 20)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-10, atol=1e-10)
    assert len(cache) == 20 and cache.keys[1].shape == (2, 4, 20, 8)  # (B, H, t, d_head)


@pytest.mark.parametrize("temperature, top_k", [(0.0, None), (1.0, None), (0.8, 5)])
def test_cached_and_uncached_generation_give_identical_tokens(temperature, top_k):
    gpt = model(block_size=40)
    prompt = torch.randint(30, (3, 5))
    runs = [
        generate(gpt, prompt, 30, temperature, top_k, use_cache=use_cache, generator=torch.Generator().manual_seed(1))
        for use_cache in (True, False)
    ]
    assert runs[0].shape == (3, 35) and torch.equal(runs[0][:, :5], prompt)
    assert torch.equal(runs[0], runs[1])


def test_generation_past_block_size_crops_without_cache_and_refuses_with_it():
    gpt = model(block_size=16)
    prompt = torch.randint(30, (1, 10))
    assert generate(gpt, prompt, 20, temperature=0.0, use_cache=False).shape == (1, 30)
    with pytest.raises(ValueError, match="block_size = 16"):
        generate(gpt, prompt, 20, use_cache=True)
    with pytest.raises(ValueError, match="block_size = 16"):
        gpt(torch.zeros(1, 17, dtype=torch.long))


def test_sampling_respects_temperature_and_top_k():
    logits = torch.tensor([[2.0, 1.0, 0.5, -1.0]]).repeat(4000, 1)
    generator = torch.Generator().manual_seed(0)
    assert torch.all(sample_next(logits, 0.0) == 0)
    top2 = sample_next(logits, 1.0, top_k=2, generator=generator)
    assert set(top2.tolist()) == {0, 1}
    assert (top2 == 0).float().mean().item() == pytest.approx(torch.softmax(torch.tensor([2.0, 1.0]), 0)[0].item(), abs=0.03)
    cold = sample_next(logits, 0.25, generator=generator)
    hot = sample_next(logits, 4.0, generator=generator)
    assert (cold == 0).float().mean() > 0.95 > (hot == 0).float().mean() > 0.25


def test_tied_embeddings_and_flop_count():
    gpt = model()
    assert gpt.lm_head.weight is gpt.token_embedding.weight
    d, layers, length, vocab = 32, 2, 24, 30
    per_layer = 4 * d * d + 4 * d + 2 * 4 * d * d + 4 * d + d + 4 * d  # attention, feed-forward, 2 norms
    assert gpt.num_parameters() == layers * per_layer + vocab * d + 2 * d
    assert gpt.flops_per_token() == 6 * gpt.num_parameters() + 12 * layers * d * length


def test_explicit_attention_keeps_a_quadratic_matrix_for_backward_and_fused_does_not():
    ids = {length: torch.randint(30, (2, length)) for length in (64, 128)}
    sizes = {
        fused: [saved_activation_bytes(model(fused, block_size=128).float(), ids[n]) for n in (64, 128)]
        for fused in (True, False)
    }
    fused_growth, explicit_growth = sizes[True][1] / sizes[True][0], sizes[False][1] / sizes[False][0]
    assert fused_growth < 2.2  # linear in the length
    assert explicit_growth > 2.5  # the (B, H, L, L) weights dominate
    assert sizes[False][1] - sizes[True][1] >= 2 * 2 * 4 * 128 * 128 * 4  # at least one L×L matrix per layer


def test_kv_cache_length():
    cache = KVCache(2)
    assert len(cache) == 0
    cache.append(0, torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 4))
    k, _ = cache.append(0, torch.ones(1, 2, 1, 4), torch.ones(1, 2, 1, 4))
    assert len(cache) == 4 and k[0, 0, :, 0].tolist() == [0, 0, 0, 1]


def test_the_cache_is_preallocated_and_written_in_place_without_torch_cat(monkeypatch):
    gpt = model(block_size=40)
    prompt = torch.randint(30, (2, 5))
    expected = generate(gpt, prompt, 20, temperature=0.0, use_cache=False)
    cache = gpt.new_cache(25)
    gpt(prompt, cache)
    buffer = cache._keys[0]
    assert buffer.shape == (2, 4, 25, 8) and cache.keys[0].shape == (2, 4, 5, 8)

    def no_cat(*args, **kwargs):
        raise AssertionError("torch.cat called during cached generation")

    monkeypatch.setattr(torch, "cat", no_cat)
    gpt(prompt[:, :1], cache)
    assert cache._keys[0] is buffer and len(cache) == 6  # the same buffer, one more row filled
    assert torch.equal(generate(gpt, prompt, 20, temperature=0.0, use_cache=True), expected)  # greedy: same tokens
    with pytest.raises(ValueError, match="max_length = 25"):
        cache.append(0, torch.zeros(2, 4, 20, 8, dtype=torch.float64), torch.zeros(2, 4, 20, 8, dtype=torch.float64))


def test_top_p_generation_is_the_same_with_and_without_the_cache():
    gpt = model(block_size=40)
    prompt = torch.randint(30, (2, 4))
    runs = [generate(gpt, prompt, 25, temperature=1.2, top_k=20, top_p=0.9, use_cache=use_cache,
                     generator=torch.Generator().manual_seed(7)) for use_cache in (True, False)]
    assert torch.equal(runs[0], runs[1])


# --- chapter 12: RoPE and ALiBi instead of learned positions --------------------------------------

def numpy_reference_logits(gpt, ids):
    """The GPT's forward with attention written in numpy from chapter 12's reference functions
    (apply_rope_scaled, alibi_bias); the other layers are the model's own modules."""
    import numpy as np

    from course_lib.modern_attention import alibi_bias, apply_rope_scaled

    config, (batch, length) = gpt.config, ids.shape
    heads, d_head = config.num_heads, config.d_model // config.num_heads
    causal = np.where(np.tril(np.ones((length, length))) > 0, 0.0, -np.inf)  # (T, T)
    bias = alibi_bias(heads, length) if config.position == "alibi" else causal  # (H, T, T) or (T, T)
    x = gpt.token_embedding(ids)  # (B, T, D): no position vectors
    for block in gpt.blocks:
        q, k, v = (t.view(batch, length, heads, d_head).transpose(1, 2).detach().numpy()
                   for t in block.attention.qkv(block.norm1(x)).split(config.d_model, dim=-1))  # (B, H, T, d)
        if config.position == "rope":
            q, k = (apply_rope_scaled(t, scale=config.rope_scale) for t in (q, k))
        scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d_head) + bias  # (B, H, T, T)
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        y = (weights / weights.sum(axis=-1, keepdims=True)) @ v  # (B, H, T, d)
        y = torch.from_numpy(y).transpose(1, 2).reshape(batch, length, config.d_model)
        x = x + block.attention.out_proj(y)
        x = x + block.feed_forward(block.norm2(x))
    return gpt.lm_head(gpt.norm(x))


@pytest.mark.parametrize("position, rope_scale", [("rope", 1.0), ("rope", 0.4), ("alibi", 1.0)])
@pytest.mark.parametrize("fused", [True, False])
def test_rope_and_alibi_match_a_numpy_reference(position, rope_scale, fused):
    gpt = model(fused=fused, position=position, rope_scale=rope_scale)
    assert gpt.position_embedding is None
    ids = torch.randint(30, (2, 24), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(gpt(ids), numpy_reference_logits(gpt, ids), rtol=1e-10, atol=1e-10)


def test_torch_rope_and_alibi_agree_with_the_numpy_references():
    import numpy as np

    from course_lib.gpt import alibi_attention_bias, rope_cos_sin
    from course_lib.modern_attention import alibi_bias, apply_rope_scaled
    from course_lib.modern_blocks import rotate

    x = torch.randn(2, 3, 9, 8, dtype=torch.float64)  # (B, H, T, d)
    for scale in (1.0, 0.25):
        rotated = rotate(x, *rope_cos_sin(range(5, 14), 8, scale, like=x))  # positions 5 … 13
        np.testing.assert_allclose(rotated.numpy(), apply_rope_scaled(x.numpy(), np.arange(5, 14), scale=scale), atol=1e-12)
    for heads in (4, 6):  # a power of two, and not
        np.testing.assert_array_equal(alibi_attention_bias(heads, 0, 7).numpy(), alibi_bias(heads, 7).astype(np.float32))
        # three new queries after a cache of four: the last rows of the full bias
        np.testing.assert_array_equal(alibi_attention_bias(heads, 4, 3).numpy(), alibi_bias(heads, 7)[:, 4:].astype(np.float32))


@pytest.mark.parametrize("position", ["learned", "rope", "alibi"])
@pytest.mark.parametrize("fused", [True, False])
def test_the_cache_keeps_true_positions_for_every_position_method(position, fused):
    gpt = model(fused=fused, position=position, rope_scale=0.5 if position == "rope" else 1.0)
    ids = torch.randint(30, (2, 20), generator=torch.Generator().manual_seed(2))
    cache = gpt.new_cache()
    pieces = [gpt(ids[:, :7], cache), gpt(ids[:, 7:8], cache), gpt(ids[:, 8:15], cache)]
    pieces += [gpt(ids[:, t : t + 1], cache) for t in range(15, 20)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), gpt(ids), rtol=1e-10, atol=1e-10)
    prompt = ids[:, :5]
    runs = [generate(gpt, prompt, 19, 1.0, use_cache=use_cache, generator=torch.Generator().manual_seed(3))
            for use_cache in (True, False)]
    assert torch.equal(runs[0], runs[1])


def test_position_settings_are_checked_and_rope_scale_1_is_the_default():
    for bad in ("sinusoidal", "Rope", ""):
        with pytest.raises(ValueError, match="position"):
            GPTConfig(vocab_size=10, position=bad)
    for bad in (0.0, -2.0, float("nan")):
        with pytest.raises(ValueError, match="rope_scale"):
            GPTConfig(vocab_size=10, position="rope", rope_scale=bad)
    with pytest.raises(ValueError, match="even"):
        GPTConfig(vocab_size=10, d_model=12, num_heads=4, position="rope")  # head size 3
    assert GPTConfig(vocab_size=10).position == "learned"
    ids = torch.randint(30, (2, 24))
    torch.testing.assert_close(model(position="rope")(ids), model(position="rope", rope_scale=1.0)(ids), rtol=0, atol=0)
    assert not torch.allclose(model(position="rope")(ids), model(position="rope", rope_scale=0.5)(ids))


@pytest.mark.parametrize("position", ["rope", "alibi"])
def test_rope_and_alibi_models_read_past_block_size(position):
    gpt = model(block_size=16, position=position)
    ids = torch.randint(30, (2, 40))
    logits = gpt(ids)
    assert logits.shape == (2, 40, 30) and torch.isfinite(logits).all()
    torch.testing.assert_close(logits[:, :16], gpt(ids[:, :16]))  # causal: the first 16 do not change
    assert gpt.num_parameters() == gpt.num_parameters(non_embedding=False)  # no position table
    with pytest.raises(ValueError, match="max_length"):  # a cache still has its size
        gpt(ids, gpt.new_cache())
