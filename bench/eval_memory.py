"""Section `evalmem` (issue 20): evaluation memory is bounded by the batch, not by the split.

A tiny BERT with a 1,000-class head (trained two steps, so it is a finished run directory) is
evaluated with `hfft eval RUN --data FILE` (hfft.eval_run.evaluate_run: the path `hfft train`
also ends with) on 6,000 and on 60,000 rows of short generated texts, each in a fresh process:
logits reduced batch by batch, metrics.json with per-class report and bootstrap intervals,
predictions.json, the confusion matrix. The figure is the peak resident memory of the two
processes, 60,000 ÷ 6,000 rows; the context has the absolute MiB and what evaluating added to
the memory the process held before it started.
"""

from __future__ import annotations

import csv
import json
import random
import time
from pathlib import Path
from typing import Any

from bench.context import Context
from bench.report import Figure, Section

NAME = "evalmem"
CLASSES = {"full": 1000, "quick": 1000, "tiny": 50}
ROWS = {"full": 60_000, "quick": 20_000, "tiny": 600}  # the small split is a tenth of it
TOKENS = 16
EVAL_BATCH = 256
_FILLER = ["the", "a", "film", "story", "was", "very", "and", "it", "plot", "scene"]


def class_names(classes: int) -> list[str]:
    return [f"c{k:04d}" for k in range(classes)]


def checkpoint(path: Path, classes: int) -> Path:
    """A tiny random BERT classifier with a word-level tokenizer (one word per class, plus
    filler words): a few MB, built offline."""
    import torch
    from transformers import AutoModelForSequenceClassification, BertConfig, BertTokenizer

    path.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *_FILLER, *class_names(classes)]
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizer.from_pretrained(path)  # reads vocab.txt
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=37, max_position_embeddings=TOKENS + 2, num_labels=classes,
    )  # fmt: skip
    AutoModelForSequenceClassification.from_config(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def texts_csv(path: Path, rows: int, classes: int, seed: int = 0) -> Path:
    """`rows` short texts, labels cycling through every class (the class word appears in 70% of
    its texts, so a trained model would be right often, not always)."""
    rnd = random.Random(seed)
    names = class_names(classes)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for i in range(rows):
            label = names[i % classes]
            words = rnd.sample(_FILLER, 4) + ([label] if rnd.random() < 0.7 else [])
            rnd.shuffle(words)
            writer.writerow([" ".join(words), label])
    return path


def _recipe(model: Path, data: dict[str, str], out: Path) -> dict[str, Any]:
    from bench import workloads

    return {
        "task": "text-classification",
        "model": {"checkpoint": str(model)},
        "data": {"path": "csv", "data_files": data, "max_length": TOKENS},
        "training": {
            **workloads.STEPS_ONLY,
            "output_dir": str(out),
            "max_steps": 2,
            "per_device_train_batch_size": 32,
            "per_device_eval_batch_size": EVAL_BATCH,
            "learning_rate": 1e-3,
        },
        "early_stopping": {"patience": None},
    }


def evaluate_job(job: dict[str, Any]) -> dict[str, Any]:
    """In a fresh process: `hfft eval RUN --data CSV`; peak RSS, what it added, rows kept."""
    from bench.measure import peak_rss_mib
    from bench.worker import current_rss_mib
    from hfft.eval_run import evaluate_run
    from hfft.run_files import EVAL_DIR, PREDICTIONS_FILE

    run_dir, data = Path(job["run_dir"]), Path(job["data"])
    before = current_rss_mib()
    start = time.perf_counter()
    metrics = evaluate_run(run_dir, "test", data=str(data))
    seconds = time.perf_counter() - start
    peak = peak_rss_mib()
    (kept,) = (p for p in (run_dir / EVAL_DIR).glob(f"{data.name}-*/{PREDICTIONS_FILE}"))
    predictions = next(iter(json.loads(kept.read_text()).values()))
    return {
        "peak_rss_mib": peak,
        "rss_before_mib": before,
        "added_mib": peak - before,
        "seconds": seconds,
        "rows": len(predictions["label_ids"]),
        "accuracy": metrics["accuracy"],
        "has_intervals": "accuracy_ci" in metrics,
        "per_class": len(metrics["per_class"]),
    }


def run(ctx: Context) -> Section:
    from hfft.recipe import load_recipe
    from hfft.run import train

    scale = ctx.scale.name
    classes, big = CLASSES[scale], ROWS[scale]
    small = big // 10
    data = ctx.fresh_dir("evalmem-data")
    model = checkpoint(ctx.work / "evalmem-bert", classes)
    files = {
        "train": str(texts_csv(data / "train.csv", 2 * classes, classes, seed=1)),
        "validation": str(texts_csv(data / "validation.csv", classes, classes, seed=2)),
        "test": str(texts_csv(data / "test.csv", classes, classes, seed=3)),
    }
    run_dir = ctx.fresh_dir("evalmem-run") / "run"
    train(load_recipe(_recipe(model, files, run_dir)))
    ctx.log(f"evalmem: run trained ({classes} classes); evaluating {small:,} and {big:,} rows")
    results = {}
    for rows in (small, big):
        csv_path = texts_csv(data / f"eval-{rows}.csv", rows, classes, seed=4)
        job = {"run_dir": str(run_dir), "data": str(csv_path)}
        results[rows] = ctx.pool.submit(evaluate_job, job).result()
        if results[rows]["rows"] != rows:
            raise RuntimeError(f"evaluated {results[rows]['rows']} rows, expected {rows}")
    a, b = results[big], results[small]
    return Section(
        NAME,
        f"evaluation memory, {big:,} ÷ {small:,} rows, {classes:,} classes",
        figures=[
            Figure(
                "eval_peak_rss_ratio",
                f"peak RSS of `hfft eval`, {big:,} ÷ {small:,} rows, {classes:,} classes",
                a["peak_rss_mib"] / b["peak_rss_mib"],
                target="<= 1.10",
                context=f"{a['peak_rss_mib']:.0f} MiB vs {b['peak_rss_mib']:.0f} MiB; "
                f"evaluating added {a['added_mib']:.0f} vs {b['added_mib']:.0f} MiB",
            ),
            Figure(
                "eval_added_mib_per_1k_rows",
                "memory evaluation adds per 1,000 more rows (MiB)",
                (a["added_mib"] - b["added_mib"]) / ((big - small) / 1000),
                context=f"{a['seconds']:.0f} s vs {b['seconds']:.0f} s to evaluate",
                headline=False,
            ),
        ],
        rows=[
            {"rows": rows, **{k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()}}
            for rows, r in results.items()
        ],
        context={
            "model": f"tiny BERT (hidden 32, 2 blocks), {classes} classes, random head trained 2 "
            "steps",
            "tokens": TOKENS,
            "eval_batch": EVAL_BATCH,
        },
        notes=[
            "Each evaluation is `hfft eval RUN --data CSV` (hfft.eval_run.evaluate_run) in a "
            "fresh process forked from a server that has imported torch/transformers/hfft: "
            "reading and tokenising the CSV, predicting (logits reduced to class ids batch by "
            "batch), metrics.json with the per-class report and bootstrap intervals, "
            "predictions.json, the confusion matrix.",
            "'added' = peak RSS minus the RSS when the job started (the imports are shared).",
        ],
    )
