"""Smoke runs of the benchmarks at a tiny size: they must run; their numbers are not judged here."""
import re
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))


def test_translation_benchmark_runs_and_formats_a_table():
    import translation

    section = translation.run(seeds=(0,), n_train=200, epochs=1, n_test=20)
    assert "| seed 0 |" in section and "**median**" in section
    assert re.search(r"^Target (met|NOT met) \(median of 1 runs\)", section, re.M), section


def test_attention_benchmark_runs_and_formats_a_table():
    import attention

    section = attention.run(lengths=(16,), repeats=1, memory=False, save_to=None)
    for impl in attention.IMPLEMENTATIONS:
        assert f"| 16 | forward | {impl} |" in section
    assert "| 16 | forward+backward | course_lib |" in section and "worst ratio" in section



def test_gpt_training_benchmark_runs_and_formats_its_tables():
    import gpt_training

    section = gpt_training.run(seeds=(0,), steps=4, lengths=(16,), generations=((1, 4),), rounds=1)
    assert "| seed 0 |" in section and "| 16 |" in section and "| 1 | 4 |" in section
    assert re.search(r"^Target (met in every row|not met for 1 sequence\(s\) × 4 tokens)", section, re.M), section


def test_modern_attention_benchmark_runs_and_formats_its_tables():
    import modern_attention

    section = modern_attention.run(lengths=(32, 64), naive_up_to=32, window_lengths=(32,), window=4,
                                   generations=((1, 4),), rounds=1, checkpoint_shape=(1, 32, 8, 1))
    assert "| Llama-2-70B | GQA | 8 | 320 | 1,280 | yes |" in section and "| 64 | – |" in section
    assert "| 32 |" in section and "| 1 | 4 |" in section and "| checkpointed |" in section


def test_position_extrapolation_benchmark_runs_and_formats_its_tables(tmp_path):
    import json

    import position_extrapolation

    section = position_extrapolation.run(save_to=tmp_path / "p.json", train_length=8, factors=(0.5, 1, 2), steps=2,
                                         batch_size=4, train_tokens=1_000, eval_tokens=48, seeds=(0, 1))
    assert "| 16 | – |" in section and "| 4 |" in section and "positions ≥ L = 8 only" in section
    assert "seeds 0, 1" in section and "seed 1: learned" in section
    saved = json.loads((tmp_path / "p.json").read_text())
    assert saved["lengths"] == [4, 8, 16] and [run["seed"] for run in saved["runs"]] == [0, 1]
    assert all(run["perplexity"]["rope, interpolated"]["rope_scale"] == [1.0, 1.0, 0.5] for run in saved["runs"])
    # each seed its own data and weights: the runs differ
    first, second = (run["perplexity"]["rope"]["all"] for run in saved["runs"])
    assert first != second
    # a cell is the median of the runs and their range
    row = next(line for line in section.splitlines() if line.startswith("| 8 |"))
    values = sorted(run["perplexity"]["learned"]["all"][1] for run in saved["runs"])
    assert f"{sum(values) / 2:.3f} ({values[0]:.3f}–{values[1]:.3f})" in row


def test_the_committed_position_extrapolation_results_are_complete():
    """benchmarks/position_extrapolation.json, which chapter 12 plots: several seeds, every method at every
    length it can read, finite perplexities, and nothing for the learned model past its training length."""
    import json
    import math

    import position_extrapolation

    saved = json.loads((ROOT / "benchmarks" / "position_extrapolation.json").read_text())
    L, lengths = saved["train_length"], saved["lengths"]
    assert min(lengths) < L < max(lengths) and L in lengths
    floor = saved["entropy_perplexity"]
    assert math.isfinite(floor) and floor > 1
    assert len(saved["runs"]) >= 3 and [run["seed"] for run in saved["runs"]] == saved["training"]["seeds"]
    for run in saved["runs"]:
        assert set(run["perplexity"]) == set(position_extrapolation.METHODS)
        for method, rows in run["perplexity"].items():
            for key in ("all", "past_train", "last_quarter"):
                assert len(rows[key]) == len(lengths)
                for length, value in zip(lengths, rows[key]):
                    missing = (method == "learned" and length > L) or (key == "past_train" and length <= L)
                    assert (value is None) == missing, (run["seed"], method, key, length)
                    assert missing or (math.isfinite(value) and value > 1), (run["seed"], method, key, length, value)
        assert run["perplexity"]["rope, interpolated"]["rope_scale"] == [min(1.0, L / n) for n in lengths]


def test_gpu_benchmark_runs_on_the_cpu_at_a_tiny_size(tmp_path):
    import gpu

    gpu.main(tmp_path / "gpu.md", device="cpu", sizes=[(16, 2, 1, 16, 2)], ablation=(16, 2, 1, 16, 2),
             matmul_size=64, small_steps=2)
    text = (tmp_path / "gpu.md").read_text()
    assert "| 16 | 2 | 1 | 16 | 2 |" in text and "explicit (chapter 6)" in text and "KV cache" in text


def test_suite_times_reads_a_junit_report(tmp_path):
    import suite_times

    report = tmp_path / "report.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest" errors="0" failures="0" skipped="0" tests="3" time="9.5" '
        'timestamp="2026-11-26T00:00:00"><testcase classname="tests.test_gpt" name="a" time="1.5"/>'
        '<testcase classname="tests.grading.test_nbgrader" name="b" time="6"/>'
        '<testcase classname="solutions.01_embeddings.01_embeddings.ipynb" name="Cell 0" time="2"/></testsuite></testsuites>'
    )
    section = suite_times.run(report)
    assert "| unit tests of course_lib | 1 | 2 |" in section
    assert "| nbgrader round trip (release; one class autograded, feedback, export; answers that warn keep their points) | 1 | 6 |" in section
    assert "| nbval: solution notebooks executed | 1 | 2 |" in section
    assert "pytest's own total 10 s" in section and "the total was 960 s" in section
    assert "run `make test` first" in suite_times.run(tmp_path / "missing.xml")


def test_book_build_lists_the_files_a_fresh_clone_has(tmp_path):
    import book_build

    book_build.copy_tree(tmp_path)
    assert (tmp_path / "_toc.yml").exists() and (tmp_path / "book" / "01_embeddings.ipynb").exists()
    assert not (tmp_path / ".venv").exists() and not (tmp_path / "_build").exists()


def test_classification_benchmark_runs_and_formats_its_tables(tmp_path):
    import json

    import classification
    import torch

    tiny = dict(epochs=1, batch_size=32, lr=1e-3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is faster, and the test shares the cores
    try:
        section = classification.run(seeds=(0,), pooling_seeds=(0,), n_train=40, n_val=10, n_test=20, shares=(1.0,),
                                     training=tiny, bag_training=tiny, fine_tuning={"full": tiny, "frozen": tiny},
                                     save_to=tmp_path / "classification.json")
    finally:
        torch.set_num_threads(threads)
    for row in ("| bag of embeddings | seed 0 |", "| attention, cls pooling | seed 0 |", "| MiniLM, frozen | 100 % | 40 |"):
        assert row in section
    assert re.search(r"^Target (met|NOT met) \(medians of 1 runs\): attention", section, re.M), section
    saved = json.loads((tmp_path / "classification.json").read_text())
    assert len(saved["learning_curve"]) == 4 and len(saved["scratch"]) == 4


def test_extractive_qa_benchmark_runs_and_formats_its_table(tmp_path):
    import json

    import extractive_qa
    from transformers import BertConfig, BertForQuestionAnswering

    def tiny(seed):  # a random 1-layer BERT with MiniLM's vocabulary instead of MiniLM: seconds, not minutes
        import torch
        torch.manual_seed(seed)
        return BertForQuestionAnswering(BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1,
                                                   num_attention_heads=2, intermediate_size=32))

    section = extractive_qa.run(steps=2, n_train=16, n_eval=4, make_model=tiny, training={"batch_size": 8},
                                save_to=tmp_path / "extractive_qa.json")
    for row in ("| held-out templates | ", "| training templates | ", "| held-out templates, half unanswerable | "):
        assert row in section
    assert "logits are identical (largest difference 0)" in section and "load average" in section
    saved = json.loads((tmp_path / "extractive_qa.json").read_text())
    assert set(saved["fine_tuned"]) == set(saved["baseline"]) and saved["reload_max_difference"] == 0.0


def test_run_replaces_only_the_named_benchmarks_sections():
    import run

    text = run.header() + "\n" + "\n\n".join(["## A\n\nold a", "## B\n\n### part\nold b", "## C\n\nold c"]) + "\n"
    new = run.replace_sections(text, ["## B\n\nnew b", "## D\n\nnew d"])
    assert new == text.replace("### part\nold b", "new b") + "\n## D\n\nnew d\n"


def test_run_time_section_adds_up_and_judges_the_target():
    import run

    quick = run.run_time({"a": 100.0, "b": 200.4})
    assert "| a | 100 |" in quick and "| **all** | 300 (5.0 min) |" in quick and "; met." in quick
    assert "NOT met" in run.run_time({"a": 60.0 * run.TARGET_MINUTES})


@pytest.mark.slow
def test_grading_benchmark_runs_on_a_tiny_class():
    """Two submissions graded both ways, and the probe (about 35 s: nbgrader's start-ups and kernels)."""
    from grading_helpers import require_sandbox

    require_sandbox()
    import grading

    section = grading.run(students=2, jobs=2, probe_students="s000_*", compare_shutdown=False)
    assert "| `nbgrader autograde 01_embeddings` (serial) |" in section and "Gradebooks: identical" in section
    assert "| kernel start to ready (per kernel) |" in section and "| bubblewrap alone" in section
