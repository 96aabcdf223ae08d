"""Chapter 12: chapter 9's GPT read past its training length (issue 21), on the CPU.

Three copies of the chapter's model, identical but for how they know positions (learned
embeddings, RoPE, ALiBi: ``GPTConfig.position``), are trained with the same seed, data and
steps on windows of ``train_length`` tokens of the grammar. Each is then evaluated, without
any further training, on held-out windows of ``train_length / 2 … 8 · train_length`` tokens:

* learned: only up to ``train_length``; it has no embedding for a later position;
* RoPE as trained (scale 1), and RoPE with position interpolation, ``rope_scale = train_length /
  length`` (Chen et al. 2023), here *without* the short fine-tune the paper does;
* ALiBi (Press et al. 2022), as trained.

Perplexity (``course_lib.sampling.perplexity``) per token over every prediction of a window
and over the predictions at positions ``>= train_length`` only, beside the grammar's own
perplexity on the same windows (the floor). All of it once per seed (each seed its own training
text, held-out windows and initial weights): how far the models get past ``train_length`` varies
from run to run, so a claim is only as good as the runs it holds in. Writes
``benchmarks/position_extrapolation.json``, which chapter 12 plots.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from course_lib.gpt import GPT, GPTConfig
from course_lib.grammar import Grammar
from course_lib.sampling import perplexity
from course_lib.training_torch import TextData, Trainer, TrainingSettings

HERE = Path(__file__).resolve().parent
CHAPTER_MODEL = dict(d_model=64, num_heads=4, num_layers=2)  # as in book/09_training
METHODS = ("learned", "rope", "rope, interpolated", "alibi")


def train(position: str, data: TextData, vocab_size: int, steps: int, seed: int, batch_size: int) -> tuple[GPT, float]:
    """The chapter's model with ``position``, trained on ``data``'s windows; and its last training loss."""
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size, block_size=data.block_size, position=position, **CHAPTER_MODEL))
    settings = TrainingSettings(steps=steps, batch_size=batch_size, warmup_steps=min(100, steps), seed=seed)
    history = Trainer(model, data, settings, device="cpu").train(progress=False)
    return model.eval(), history.loss[-1]


def grammar_perplexity(grammar: Grammar, x, y, first: int = 0) -> float:
    """The grammar's own perplexity on windows ``x, y`` ``(N, T)``, predictions ``first …`` only."""
    texts = torch.cat([x, y[:, -1:]], dim=1).tolist()  # (N, T + 1): whole windows, from a sentence start
    logp = np.array([grammar.log_probs(grammar.decode(ids))[1:] for ids in texts])  # (N, T): log p(y | before)
    return math.exp(-logp[:, first:].mean())


@torch.inference_mode()
def evaluate(model: GPT, x, y, train_length: int) -> dict:
    """Perplexity over every prediction of the windows, over those at positions >= train_length
    (None when the windows are no longer), and over the last quarter of each window."""
    logits = model(x)  # (N, T, V)
    length = x.shape[1]
    return {
        "all": perplexity(logits, y),
        "past_train": perplexity(logits[:, train_length:], y[:, train_length:]) if length > train_length else None,
        "last_quarter": perplexity(logits[:, 3 * length // 4:], y[:, 3 * length // 4:]),
    }


def measure_seed(seed: int, train_length: int = 64, factors=(0.5, 1, 2, 4, 8), steps: int = 600,
                 batch_size: int = 32, train_tokens: int = 200_000, eval_tokens: int = 16_384) -> dict:
    """One run: the three models trained with ``seed`` (its own training text and held-out windows),
    evaluated at ``factor · train_length`` tokens."""
    grammar = Grammar()
    data = TextData.from_grammar(grammar, train_tokens, train_length, seed=1000 + seed)
    models, final_loss = {}, {}
    for position in ("learned", "rope", "alibi"):
        models[position], final_loss[position] = train(position, data, len(grammar), steps, seed, batch_size)
    lengths = [int(f * train_length) for f in factors]
    held_out = TextData.from_grammar(grammar, 2 * eval_tokens + 2 * max(lengths), max(lengths), seed=2000 + seed)
    results = {method: {"all": [], "past_train": [], "last_quarter": [], "rope_scale": []} for method in METHODS}
    floor = {"all": [], "past_train": []}
    for length in lengths:
        x, y = TextData(held_out.ids, held_out.starts, length).windows(max(1, eval_tokens // length))  # (N, length)
        floor["all"].append(grammar_perplexity(grammar, x, y))
        floor["past_train"].append(grammar_perplexity(grammar, x, y, train_length) if length > train_length else None)
        for method in METHODS:
            position = method.split(",")[0]
            scale = min(1.0, train_length / length) if method == "rope, interpolated" else 1.0
            row = results[method]
            row["rope_scale"].append(scale if position == "rope" else None)
            if position == "learned" and length > train_length:  # no embedding past block_size: nothing to measure
                for key in ("all", "past_train", "last_quarter"):
                    row[key].append(None)
                continue
            model = models[position]
            if scale != 1.0:  # the same weights, read with interpolated positions
                model = GPT(dataclasses.replace(model.config, rope_scale=scale)).eval()
                model.load_state_dict(models[position].state_dict())
            for key, value in evaluate(model, x, y, train_length).items():
                row[key].append(value)
    return {"seed": seed, "final_train_loss": final_loss, "grammar_perplexity": floor, "perplexity": results}


def measure(train_length: int = 64, factors=(0.5, 1, 2, 4, 8), steps: int = 600, batch_size: int = 32,
            train_tokens: int = 200_000, eval_tokens: int = 16_384, seeds=(0, 1, 2, 3)) -> dict:
    """:func:`measure_seed` for each seed: the JSON's content. Several seeds, because one run does not
    settle the question: the same code and seed on another machine (other float rounding) trains
    other models; RoPE's perplexity past L at twice the training length was 5.44 in one such run
    and 7.06 in another, against ALiBi's 5.38 and 5.50."""
    start_time, load = time.perf_counter(), os.getloadavg()[0]
    settings = dict(train_length=train_length, factors=factors, steps=steps, batch_size=batch_size,
                    train_tokens=train_tokens, eval_tokens=eval_tokens)
    runs = [measure_seed(seed, **settings) for seed in seeds]
    lengths = [int(f * train_length) for f in factors]
    return {
        "train_length": train_length,
        "lengths": lengths,
        "windows": [max(1, eval_tokens // length) for length in lengths],
        "model": CHAPTER_MODEL,
        "training": {"steps": steps, "batch_size": batch_size, "train_tokens": train_tokens, "seeds": list(seeds)},
        "entropy_perplexity": math.exp(Grammar().entropy_per_token()),
        "runs": runs,
        "load_average": load,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "seconds": time.perf_counter() - start_time,
    }


def _cell(values) -> str:
    """The median of the runs' values and, with several runs, their range; – where there is none."""
    if values[0] is None:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.median(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def section(result: dict) -> str:
    """The Markdown section of RESULTS.md for a :func:`measure` result."""
    L, lengths, runs = result["train_length"], result["lengths"], result["runs"]
    load, cores, seeds = result["load_average"], result["cpu_count"], result["training"]["seeds"]
    lines = [
        "## Chapter 12: perplexity past the training length (CPU)",
        "",
        f"Chapter 9's model ({result['model']}) trained three times on windows of L = {L} tokens of the grammar, "
        f"identical ({result['training']['steps']} steps of {result['training']['batch_size']} windows, the same "
        "seed and data) except for the positions: learned embeddings, RoPE, ALiBi. Then evaluated, with no further "
        "training, on held-out windows (each starting at a sentence start; about the same number of tokens at every "
        "length). \"RoPE, interpolated\" is the RoPE model read with positions multiplied by rope_scale = L / length "
        "(Chen et al. 2023's position interpolation, *without* their fine-tune). The learned model has no embedding "
        "past position L - 1, so it has no value there (–). "
        f"All of it {len(seeds)} times, with seeds {', '.join(map(str, seeds))} (each seed its own training text, "
        "held-out windows and initial weights); each cell is the median of the runs and, in brackets, their range. "
        f"Load average {load:.1f} on {cores} cores when the run started; it took {result['seconds']:.0f} s "
        f"({result['torch_threads']} torch threads). Final training losses (nats), run by run: "
        + "; ".join(f"seed {run['seed']}: " + ", ".join(f"{k} {v:.3f}" for k, v in run["final_train_loss"].items())
                    for run in runs) + ".",
        "",
        f"The grammar's entropy rate gives a perplexity of {result['entropy_perplexity']:.3f} per word "
        "(`Grammar.entropy_per_token`); the \"grammar\" column is the grammar's own perplexity on the same windows.",
        "",
    ]
    for key, title in (("all", "every prediction of the window"), ("past_train", f"predictions at positions ≥ L = {L} only")):
        lines += [f"### Perplexity over {title}", "",
                  "| length | " + " | ".join(METHODS) + " | grammar |",
                  "| ---: | " + " | ".join("---:" for _ in METHODS) + " | ---: |"]
        for i, length in enumerate(lengths):
            if key == "past_train" and length <= L:
                continue
            cells = [_cell([run["perplexity"][m][key][i] for run in runs]) for m in METHODS]
            cells.append(_cell([run["grammar_perplexity"][key][i] for run in runs]))
            lines.append(f"| {length} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def run(save_to: Path | None = HERE / "position_extrapolation.json", **settings) -> str:
    """Measure, write the JSON (unless ``save_to`` is None) and return the section of RESULTS.md."""
    result = measure(**settings)
    if save_to is not None:
        Path(save_to).write_text(json.dumps(result, indent=1) + "\n")
    return section(result)


if __name__ == "__main__":
    print(run())
