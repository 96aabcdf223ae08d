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

