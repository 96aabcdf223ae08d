import numpy as np
import pytest
import torch
from torch import nn

from course_lib import DecoderLayer, EncoderLayer, Transformer, beam_search, decoder_self_mask, feed_forward, greedy_decode, layer_norm
from course_lib.transformer_torch import target_mask


def test_layer_norm_matches_torch_and_uses_the_biased_variance():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, (2, 5, 8))
    gamma, beta = rng.standard_normal(8), rng.standard_normal(8)
    expected = torch.nn.functional.layer_norm(torch.from_numpy(x), (8,), torch.from_numpy(gamma), torch.from_numpy(beta), 1e-5)
    np.testing.assert_allclose(layer_norm(x, gamma, beta), expected.numpy(), atol=1e-10)
    normed = layer_norm(x, np.ones(8), np.zeros(8))
    np.testing.assert_allclose(normed.mean(-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(normed.var(-1), 1.0, atol=1e-4)


def test_layer_norm_of_a_constant_vector_is_beta():
    np.testing.assert_allclose(layer_norm(np.full((1, 4), 7.0), np.ones(4), np.arange(4.0)), [[0, 1, 2, 3]])


def test_feed_forward_is_two_layers_with_a_relu_per_position():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4))
    w1, b1, w2, b2 = rng.standard_normal((4, 16)), rng.standard_normal(16), rng.standard_normal((16, 4)), rng.standard_normal(4)
    out = feed_forward(x, w1, b1, w2, b2)
    np.testing.assert_allclose(out[1, 2], np.maximum(x[1, 2] @ w1 + b1, 0) @ w2 + b2)
    assert out.shape == (2, 3, 4)


def test_decoder_self_mask_is_causal_and_hides_padding():
    ids = np.array([[1, 5, 6, 0], [1, 7, 8, 9]])
    mask = decoder_self_mask(ids, pad_id=0)
    assert mask.shape == (2, 4, 4) and mask.dtype == bool
    for b in range(2):
        for t in range(4):
            for s in range(4):
                assert mask[b, t, s] == (s <= t and ids[b, s] != 0)
    np.testing.assert_array_equal(target_mask(torch.from_numpy(ids), 0).numpy(), mask)  # the model's torch twin


def _perturbed(module, seed=0):
    torch.manual_seed(seed)
    with torch.no_grad():  # fresh LayerNorms and biases are 1 and 0: nudge them so a missed copy shows
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return module.eval()


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_matches_torch(norm_first, activation):
    reference = _perturbed(nn.TransformerEncoderLayer(16, 4, 32, dropout=0.1, activation=activation,
                                                      norm_first=norm_first, batch_first=True))
    ours = EncoderLayer.from_torch(reference).eval()
    torch.manual_seed(1)
    x = torch.randn(3, 6, 16)
    keep = torch.tensor([[True] * 6, [True] * 4 + [False] * 2, [True] * 2 + [False] * 4])
    torch.testing.assert_close(ours(x), reference(x), atol=1e-5, rtol=1e-5)
    expected = reference(x, src_key_padding_mask=~keep)
    got = ours(x, mask=keep[:, None, :])
    torch.testing.assert_close(got[keep], expected[keep], atol=1e-5, rtol=1e-5)  # padded rows are never used


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_decoder_layer_matches_torch(norm_first, activation):
    reference = _perturbed(nn.TransformerDecoderLayer(16, 4, 32, dropout=0.1, activation=activation,
                                                      norm_first=norm_first, batch_first=True))
    ours = DecoderLayer.from_torch(reference).eval()
    torch.manual_seed(2)
    x, memory = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    memory_keep = torch.tensor([[True] * 7, [True] * 5 + [False] * 2])
    expected = reference(x, memory, tgt_mask=~causal, memory_key_padding_mask=~memory_keep)
    got = ours(x, memory, self_mask=causal, cross_mask=memory_keep[:, None, :])
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours(x, memory), reference(x, memory), atol=1e-5, rtol=1e-5)


def test_from_torch_rejects_sequence_first_layers():
    with pytest.raises(ValueError, match="batch_first"):
        EncoderLayer.from_torch(nn.TransformerEncoderLayer(8, 2, 16))


def _tiny_model(seed=0, norm_first=True):
    torch.manual_seed(seed)
    return Transformer(12, 15, d_model=16, num_heads=2, num_layers=2, d_ff=32, dropout=0.0, max_len=20, norm_first=norm_first).eval()


def test_transformer_shapes_and_padding_does_not_change_real_positions():
    model = _tiny_model()
    src = torch.tensor([[3, 4, 5, 0, 0], [6, 7, 8, 9, 10]])
    tgt = torch.tensor([[1, 5, 6, 0], [1, 7, 8, 9]])
    logits = model(src, tgt)
    assert logits.shape == (2, 4, 15)
    alone = model(src[:1, :3], tgt[:1, :3])  # the same sentence without any padding
    torch.testing.assert_close(logits[0, :3], alone[0], atol=1e-5, rtol=1e-5)


def test_transformer_decoder_does_not_peek():
    model = _tiny_model()
    src = torch.tensor([[3, 4, 5]])
    tgt = torch.tensor([[1, 5, 6, 7, 8]])
    changed = tgt.clone()
    changed[0, 3:] = torch.tensor([11, 12])
    torch.testing.assert_close(model(src, tgt)[:, :3], model(src, changed)[:, :3])


def test_greedy_decode_takes_the_argmax_step_by_step_and_stops_at_eos():
    model = _tiny_model(seed=3)
    src = torch.tensor([[3, 4, 5, 0], [6, 7, 8, 9]])
    out = greedy_decode(model, src, bos_id=1, eos_id=2, max_len=6)
    assert out.shape[0] == 2 and out.shape[1] <= 6
    memory, src_mask = model.encode(src)
    for b in range(2):  # rebuild each row by hand, one token at a time
        prefix = [1]
        for token in out[b].tolist():
            if prefix[-1] == 2:
                assert token == model.pad_id
                continue
            step = torch.tensor([prefix])
            logits = model.decode(step, memory[b : b + 1], target_mask(step, 0), src_mask[b : b + 1])
            assert token == logits[0, -1].argmax().item()
            prefix.append(token)


def test_beam_search_with_one_beam_is_greedy():
    model = _tiny_model(seed=4)
    src = torch.tensor([[3, 4, 5, 0], [6, 7, 8, 9]])
    greedy = greedy_decode(model, src, 1, 2, max_len=6)
    beam = beam_search(model, src, 1, 2, max_len=6, beam_size=1)
    for g, b in zip(greedy.tolist(), beam.tolist()):
        strip = lambda row: [t for t in row if t != 0]
        assert strip(g) == strip(b)
