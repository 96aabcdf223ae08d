"""Chapter 11: review classification, from scratch and by fine-tuning MiniLM, on 2 CPU cores.

Targets (issue: chapter 11):
* the attention classifier trained from scratch reaches ≥ 98 % test accuracy (held-out word
  combinations) after ≤ 60 s of training, and the bag-of-embeddings baseline on the same
  split stays well below (≤ 80 %): it cannot tell a contrast from its mirror image;
* all-MiniLM-L6-v2 fine-tuned with a classification head on 1 %, 10 % and 100 % of the
  training set, every weight trained ("full") or the encoder frozen: accuracy and time,
  beside the model trained from scratch on the same examples; and one run with a learning
  rate that destroys the pretrained weights.

The attention-pooling model and the baseline run from three seeds (medians); the other two
poolings and the learning curve from one, to keep the whole benchmark near three minutes.

Every run uses the chapter's settings (``course_lib.classifier_torch``). Also writes
``benchmarks/classification.json``, which the book's chapter 11 reads for its full-size table.
"""
from __future__ import annotations

import copy
import json
import statistics
import time
from pathlib import Path

import torch

from course_lib.classifier_torch import (BAG_TRAINING, FINE_TUNING, POOLINGS, SCRATCH_MODEL, SCRATCH_TRAINING,
                                         AttentionClassifier, BagOfEmbeddings, HeadOnFeatures, MiniLMClassifier, evaluate,
                                         fine_tune, fit, minilm_inputs, sentence_features)
from course_lib.pretrained import load_minilm
from course_lib.sentiment import VOCAB, bag_of_words_ceiling, make_splits

HERE = Path(__file__).resolve().parent
TOO_LARGE_LR = SCRATCH_TRAINING["lr"]  # the pitfall: the rate that trains the model from scratch, for MiniLM


def _data(split):
    return (*split.encode(), split.labels)


def scratch_run(model_name: str, splits, seed: int, training: dict, train=None) -> dict:
    """Train one model from scratch on ``train`` (default: the whole training split); test accuracy and time."""
    train = splits["train"] if train is None else train
    torch.manual_seed(seed)
    if model_name == "bag of embeddings":
        model = BagOfEmbeddings(len(VOCAB), d_model=SCRATCH_MODEL["d_model"])
    else:
        model = AttentionClassifier(len(VOCAB), pooling=model_name, **SCRATCH_MODEL)
    history = fit(model, _data(train), epochs=training["epochs"], batch_size=training["batch_size"], lr=training["lr"],
                  min_steps=training.get("min_steps", 0), seed=seed, progress=False, train_eval_size=0)
    return {"model": model_name, "seed": seed, "examples": len(train), "steps": len(history.loss),
            "train_seconds": history.seconds, "test_accuracy": evaluate(model, _data(splits["test"]))["accuracy"],
            "bag_ceiling": bag_of_words_ceiling(splits["test"])}


def minilm_runs(splits, shares, fine_tuning: dict, seed: int = 0) -> list[dict]:
    """MiniLM + head on each share of the training set, fully fine-tuned and frozen; then full fine-tuning
    with the learning rate of the model from scratch (far too large here), on the middle share."""
    tokenizer, encoder = load_minilm()
    test = minilm_inputs(tokenizer, splits["test"].sentences, splits["test"].labels)
    test_features = None
    rows = []
    runs = [(share, mode, fine_tuning[mode]) for share in shares for mode in ("full", "frozen")]
    runs.append((shares[len(shares) // 2], "full, lr too large", dict(fine_tuning["full"], lr=TOO_LARGE_LR)))
    for share, mode, settings in runs:
        train = splits["train"].fraction(share, seed)
        inputs = minilm_inputs(tokenizer, train.sentences, train.labels)
        torch.manual_seed(seed)
        classifier = MiniLMClassifier(copy.deepcopy(encoder))
        history = fine_tune(classifier, inputs, freeze=mode == "frozen", seed=seed, progress=False,
                            train_eval_size=0, **settings)
        if mode == "frozen":  # the encoder did not change: its test vectors are computed once
            if test_features is None:
                test_features = sentence_features(classifier, test)
            result = evaluate(HeadOnFeatures(classifier), (test_features, None, test[2]))
        else:
            result = evaluate(classifier, test, batch_size=128)
        rows.append({"model": f"MiniLM, {mode}", "share": share, "examples": len(train), "steps": len(history.loss),
                     "lr": settings["lr"], "train_seconds": history.seconds, "test_accuracy": result["accuracy"]})
    return rows


def run(seeds=(0, 1, 2), pooling_seeds=(0,), n_train: int = 4000, n_val: int = 500, n_test: int = 1000,
        shares=(0.01, 0.1, 1.0), training: dict | None = None, bag_training: dict | None = None,
        fine_tuning: dict | None = None, save_to: Path | None = HERE / "classification.json") -> str:
    """Every run, then the Markdown section for benchmarks/RESULTS.md (and the JSON for the book)."""
    training, bag_training = training or SCRATCH_TRAINING, bag_training or BAG_TRAINING
    fine_tuning = fine_tuning or FINE_TUNING
    start = time.perf_counter()
    splits = {seed: make_splits(n_train, n_val, n_test, seed=seed) for seed in sorted(set(seeds) | set(pooling_seeds))}
    runs = [scratch_run("bag of embeddings", splits[seed], seed, bag_training) for seed in seeds]
    runs += [scratch_run(pooling, splits[seed], seed, training)
             for pooling in POOLINGS for seed in (seeds if pooling == "attention" else pooling_seeds)]
    curve_seed = seeds[0]
    curve = [dict(scratch_run("attention", splits[curve_seed], curve_seed, training,
                              splits[curve_seed]["train"].fraction(share, curve_seed)), share=share)
             for share in shares if share < 1]
    curve += [dict(r, share=1.0) for r in runs if r["model"] == "attention" and r["seed"] == curve_seed]
    curve += minilm_runs(splits[curve_seed], shares, fine_tuning, curve_seed)
    seconds = time.perf_counter() - start

    lines = [
        "## Chapter 11: attention for classification (reviews whose label depends on order and scope)",
        "",
        f"{n_train:,} training, {n_test:,} test reviews per seed; the test reviews use (noun, adjective) pairs never "
        f"seen in training. From scratch: {SCRATCH_MODEL}, {training}; bag of embeddings: {bag_training}. "
        f"torch threads: {torch.get_num_threads()}. Whole benchmark: {seconds:.0f} s.",
        "",
        "### From scratch: bag of embeddings against attention, three poolings",
        "",
        "Target: attention ≥ 98 % test accuracy in ≤ 60 s of training; the bag of embeddings well below (≤ 80 %). "
        "Ceiling: the best any bag-of-words model could score on that test split.",
        "",
        "| model | run | training (s) | steps | test accuracy | bag-of-words ceiling |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    medians = {}
    for model in ["bag of embeddings"] + [p for p in POOLINGS]:
        rows = [r for r in runs if r["model"] == model]
        name = model if model == "bag of embeddings" else f"attention, {model} pooling"
        for r in rows:
            lines.append(f"| {name} | seed {r['seed']} | {r['train_seconds']:.1f} | {r['steps']} | "
                         f"{100 * r['test_accuracy']:.1f} % | {100 * r['bag_ceiling']:.1f} % |")
        medians[model] = {key: statistics.median(r[key] for r in rows) for key in ("train_seconds", "test_accuracy")}
        if len(rows) > 1:
            lines.append(f"| {name} | **median** | {medians[model]['train_seconds']:.1f} | | "
                         f"{100 * medians[model]['test_accuracy']:.1f} % | |")
    met = (medians["attention"]["test_accuracy"] >= 0.98 and medians["attention"]["train_seconds"] <= 60
           and medians["bag of embeddings"]["test_accuracy"] <= 0.8)
    lines += ["", f"Target {'met' if met else 'NOT met'} (medians of {len(seeds)} runs): attention "
              f"{100 * medians['attention']['test_accuracy']:.1f} % in {medians['attention']['train_seconds']:.1f} s, "
              f"bag of embeddings {100 * medians['bag of embeddings']['test_accuracy']:.1f} %."]
    lines += [
        "",
        "### A learning curve: from scratch against fine-tuned MiniLM",
        "",
        f"Seed {curve_seed}; the same random share of the training set for every model. MiniLM full: {fine_tuning['full']}; "
        f"frozen (head on precomputed sentence vectors, encoding included in the time): {fine_tuning['frozen']}. "
        f"Last row: the pitfall of full fine-tuning with the learning rate that trains the model from scratch "
        f"({TOO_LARGE_LR:g}).",
        "",
        "| model | share | examples | steps | training (s) | test accuracy |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in curve:
        name = "attention from scratch" if r["model"] == "attention" else r["model"]
        name += f" (lr {r['lr']:g})" if "too large" in name else ""
        lines.append(f"| {name} | {100 * r['share']:g} % | {r['examples']:,} | {r['steps']} | {r['train_seconds']:.1f} | "
                     f"{100 * r['test_accuracy']:.1f} % |")
    if save_to is not None:
        save_to.write_text(json.dumps({"scratch": runs, "learning_curve": curve, "threads": torch.get_num_threads(),
                                       "n_train": n_train, "n_test": n_test}, indent=1) + "\n")
    return "\n".join(lines)


if __name__ == "__main__":
    # `python benchmarks/run.py classification` reruns this benchmark alone and replaces its section of RESULTS.md.
    print(run())
