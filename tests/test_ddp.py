"""DistributedDataParallel on two CPU processes (gloo) trains exactly what one process trains."""
import pytest
import torch

from course_lib.ddp import launch, main, model_config, rank_rows, train, train_single_process

STEPS, GLOBAL_BATCH, SEED = 10, 8, 0


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    """One torchrun job with two processes (about 11 s on two cores), shared by the tests."""
    return launch(tmp_path_factory.mktemp("ddp"), nproc=2, steps=STEPS, global_batch=GLOBAL_BATCH, seed=SEED, device="cpu")


@pytest.fixture(scope="module")
def reference():
    return train_single_process(STEPS, GLOBAL_BATCH, SEED, device="cpu")


def test_every_rank_ends_with_the_same_weights(ddp_run):
    rank0, rank1 = ddp_run["weights"]
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name


def test_two_processes_train_what_one_process_trains_on_the_whole_batch(ddp_run, reference):
    losses, weights = reference
    assert len(ddp_run["losses"]) == len(losses) == STEPS
    # Measured (seeds 0-3): relative loss differences up to 2e-7, from the order of the sums.
    assert ddp_run["losses"] == pytest.approx(losses, rel=1e-6)
    d_model = model_config().d_model
    for name, expected in weights.items():
        actual = ddp_run["weights"][0][name]
        key_bias = torch.zeros_like(expected, dtype=torch.bool)
        if name.endswith("attention.qkv.bias"):  # (3 d_model,): query, key, value biases
            key_bias[d_model : 2 * d_model] = True
        # The key bias adds the same q·b to every score of a query, which softmax ignores: its
        # true gradient is zero, the computed one is rounding noise, and Adam divides that noise
        # by its own size, so the key bias moves by noise (measured up to 1.3e-5 apart).
        torch.testing.assert_close(actual[key_bias], expected[key_bias], rtol=0, atol=1e-4)
        # Every other weight: measured at most 1.2e-7 apart.
        torch.testing.assert_close(actual[~key_bias], expected[~key_bias], rtol=0, atol=1e-6, msg=lambda m: f"{name}: {m}")


def test_the_loss_goes_down(ddp_run):
    losses = ddp_run["losses"]
    assert losses[-1] < losses[0] - 0.05, losses  # measured: 3.566 → 3.434 in 10 steps


def test_each_rank_gets_an_equal_contiguous_share_of_the_batch():
    assert [rank_rows(8, rank, 2) for rank in range(2)] == [slice(0, 4), slice(4, 8)]
    with pytest.raises(ValueError, match="not divisible by 2 processes"):
        train(steps=1, global_batch=7, seed=SEED, rank=0, world_size=2)


def test_the_command_line_refuses_an_indivisible_batch_before_the_processes_meet(monkeypatch, tmp_path):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun would set it: checked before init_process_group
    with pytest.raises(ValueError, match="global batch 9 is not divisible"):
        main(["--steps", "1", "--global-batch", "9", "--out", str(tmp_path)])
    assert not any(tmp_path.iterdir())
