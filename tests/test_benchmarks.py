"""Smoke runs of the benchmarks at a tiny size: they must run; their numbers are not judged here."""
import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))


def test_translation_benchmark_runs_and_formats_a_table():
    import translation

    section = translation.run(seeds=(0,), n_train=200, epochs=1, n_test=20)
    assert "| seed 0 |" in section and "**median**" in section and "Target" in section


def test_attention_benchmark_runs_and_formats_a_table():
    import attention

    section = attention.run(lengths=(16,), repeats=1, memory=False)
    for impl in attention.IMPLEMENTATIONS:
        assert f"| 16 | forward | {impl} |" in section
    assert "| 16 | forward+backward | course_lib |" in section and "worst ratio" in section



def test_gpt_training_benchmark_runs_and_formats_its_tables():
    import gpt_training

    section = gpt_training.run(seeds=(0,), steps=4, lengths=(16,), batches=(1,), new_tokens=4, rounds=1)
    assert "| seed 0 |" in section and "| 16 |" in section and "| 1 |" in section


def test_gpu_benchmark_runs_on_the_cpu_at_a_tiny_size(tmp_path):
    import gpu

    gpu.main(tmp_path / "gpu.md", device="cpu", sizes=[(16, 2, 1, 16, 2)], ablation=(16, 2, 1, 16, 2),
             matmul_size=64, small_steps=2)
    text = (tmp_path / "gpu.md").read_text()
    assert "| 16 | 2 | 1 | 16 | 2 |" in text and "explicit (chapter 6)" in text and "KV cache" in text
