"""Chapter 13: all-MiniLM-L6-v2 with a span head, fine-tuned for extractive question answering on 2 CPU cores.

The questions are about invented people (``course_lib.qa_training.make_qa_examples``); training
uses ``TRAIN_TEMPLATES``, and the held-out score uses ``HELD_OUT_TEMPLATES``, whose sentences and
questions never occur in training. Reported: exact match and F1 of the untrained head (the
baseline), and after fine-tuning, on held-out and on (new questions from) the training templates;
held-out questions mixed with unanswerable ones, answered with ``handle_impossible_answer``;
the training time; and a check that ``save_pretrained`` then
``AutoModelForQuestionAnswering.from_pretrained`` gives back the same logits.

Also writes ``benchmarks/extractive_qa.json``, which the book's chapter 13 reads.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import torch

from course_lib.extractive_qa import evaluate_answers
from course_lib.qa_training import (HELD_OUT_TEMPLATES, QA_TRAINING, TRAIN_TEMPLATES, quiet_transformers,
                                    load_qa_model, make_qa_examples, train_span_head)

HERE = Path(__file__).resolve().parent


def _load() -> float:
    return os.getloadavg()[0]


def same_logits_after_reload(model, tokenizer, example) -> float:
    """Save ``model`` with ``save_pretrained``, load it back with ``AutoModelForQuestionAnswering``;
    the largest difference between the two models' start and end logits on ``example``."""
    from transformers import AutoModelForQuestionAnswering

    inputs = tokenizer(example.question, example.context, return_tensors="pt")
    with tempfile.TemporaryDirectory() as folder, quiet_transformers():  # no progress bars
        model.save_pretrained(folder)
        reloaded = AutoModelForQuestionAnswering.from_pretrained(folder).eval()
    model.eval()
    with torch.no_grad():
        before, after = model(**inputs), reloaded(**inputs)
    return max((before.start_logits - after.start_logits).abs().max().item(),
               (before.end_logits - after.end_logits).abs().max().item())


def run(steps: int = 500, n_train: int = 4000, n_eval: int = 120, seed: int = 0, make_model=None, training=None,
        save_to: Path | None = HERE / "extractive_qa.json") -> str:
    """Fine-tune, evaluate, save and reload; the Markdown section for benchmarks/RESULTS.md.

    ``make_model(seed)`` builds the question-answering model (default: MiniLM with a new head,
    :func:`~course_lib.qa_training.load_qa_model`); the tests pass a tiny random BERT.
    """
    from transformers import AutoTokenizer

    from course_lib.pretrained import minilm_path

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    training = dict(QA_TRAINING, **(training or {}))
    window = {key: training[key] for key in ("max_length", "stride")}
    load_before, start = _load(), time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    model = (make_model or (lambda s: load_qa_model(seed=s)))(seed)
    train = make_qa_examples(n_train, seed=seed, templates=TRAIN_TEMPLATES, unanswerable=0.1)
    tests = {  # new questions, from seeds the training set does not use
        "held-out templates": (make_qa_examples(n_eval, seed=seed + 1, templates=HELD_OUT_TEMPLATES), {}),
        "training templates": (make_qa_examples(n_eval, seed=seed + 2, templates=TRAIN_TEMPLATES), {}),
        "held-out templates, half unanswerable": (
            make_qa_examples(n_eval, seed=seed + 3, templates=HELD_OUT_TEMPLATES, unanswerable=0.5),
            {"handle_impossible_answer": True}),
    }

    def scores():
        return {name: {key: value for key, value in
                       evaluate_answers(model, tokenizer, examples, **window, **extra).items() if key != "predictions"}
                for name, (examples, extra) in tests.items()}

    baseline = scores()
    train_start = time.perf_counter()
    losses = train_span_head(model, tokenizer, train, steps, seed=seed, **training)
    train_seconds = time.perf_counter() - train_start
    evaluate_start = time.perf_counter()
    tuned = scores()
    seconds_per_question = (time.perf_counter() - evaluate_start) / sum(len(e) for e, _ in tests.values())
    reload_difference = same_logits_after_reload(model, tokenizer, tests["held-out templates"][0][0])
    assert reload_difference == 0.0, f"the reloaded model's logits differ by {reload_difference}"
    seconds, load_after = time.perf_counter() - start, _load()

    lines = [
        "## Chapter 13: extractive question answering (MiniLM + span head, CPU)",
        "",
        f"all-MiniLM-L6-v2 with a new span head (`AutoModelForQuestionAnswering`), every weight fine-tuned for "
        f"{steps} steps on {n_train:,} template questions (10 % unanswerable), settings {training}; "
        f"{n_eval} test questions per row. Held-out templates: sentences and questions never seen in training. "
        f"torch threads: {torch.get_num_threads()}. Training {train_seconds:.0f} s, "
        f"{1000 * seconds_per_question:.0f} ms per answered question; whole benchmark {seconds:.0f} s "
        f"(load average {load_before:.1f} before, {load_after:.1f} after, on {os.cpu_count()} cores).",
        "",
        "| test questions | untrained head: EM | F1 | fine-tuned: EM | F1 |",
        "| --- | ---: | ---: | ---: | ---: |",
        *[f"| {name} | {100 * baseline[name]['exact_match']:.1f} % | {100 * baseline[name]['f1']:.1f} % | "
          f"{100 * tuned[name]['exact_match']:.1f} % | {100 * tuned[name]['f1']:.1f} % |" for name in tests],
        "",
        f"Training loss: {losses[0]:.2f} at the first step, {sum(losses[-20:]) / len(losses[-20:]):.2f} over the "
        f"last 20. `save_pretrained` + `AutoModelForQuestionAnswering.from_pretrained`: the reloaded model's logits "
        f"are identical (largest difference {reload_difference:g}).",
    ]
    if save_to is not None:
        save_to.write_text(json.dumps({
            "steps": steps, "n_train": n_train, "n_eval": n_eval, "training": training, "baseline": baseline,
            "fine_tuned": tuned, "train_seconds": train_seconds, "seconds": seconds,
            "seconds_per_question": seconds_per_question, "first_loss": losses[0], "last_losses": losses[-20:],
            "reload_max_difference": reload_difference, "load_average": [load_before, load_after],
            "threads": torch.get_num_threads()}, indent=1) + "\n")
    return "\n".join(lines)


if __name__ == "__main__":
    # `python benchmarks/run.py extractive_qa` reruns this benchmark alone and replaces its section of RESULTS.md.
    print(run())
