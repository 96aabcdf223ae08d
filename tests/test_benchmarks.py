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

    section = attention.run(lengths=(16,), repeats=1, memory=False, save_to=None)
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


def test_suite_times_reads_a_junit_report(tmp_path):
    import suite_times

    report = tmp_path / "report.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest" errors="0" failures="0" skipped="0" tests="3" time="9.5" '
        'timestamp="2026-11-26T00:00:00"><testcase classname="tests.test_gpt" name="a" time="1.5"/>'
        '<testcase classname="tests.test_nbgrader" name="b" time="6"/>'
        '<testcase classname="book.01_embeddings.ipynb" name="Cell 0" time="2"/></testsuite></testsuites>'
    )
    section = suite_times.run(report)
    assert "| unit tests of course_lib | 1 | 2 |" in section
    assert "| nbgrader round trip (release, autograde, feedback, export) | 1 | 6 |" in section
    assert "| nbval: book notebooks executed | 1 | 2 |" in section
    assert "run `make test` first" in suite_times.run(tmp_path / "missing.xml")


def test_book_build_lists_the_files_a_fresh_clone_has(tmp_path):
    import book_build

    book_build.copy_tree(tmp_path)
    assert (tmp_path / "_toc.yml").exists() and (tmp_path / "book" / "01_embeddings.ipynb").exists()
    assert not (tmp_path / ".venv").exists() and not (tmp_path / "_build").exists()
