"""Evaluate a trained model on its held-out splits and write the report into the run directory:
metrics.json (merged, so evaluating one split keeps the others), confusion_matrix.png for the
primary split and training_curves.png from the Trainer's log history."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hfft.errors import DataError, HfftError
from hfft.metrics import DEFAULT_METRICS, Metrics, build_metrics, per_class_report
from hfft.plots import plot_confusion_matrix, plot_training_curves

METRICS_FILE = "metrics.json"
CONFUSION_MATRIX_FILE = "confusion_matrix.png"
TRAINING_CURVES_FILE = "training_curves.png"


def primary_split(splits: Sequence[str]) -> str | None:
    """The split the report is about: test when there is one, else validation, else the first."""
    for name in ("test", "validation"):
        if name in splits:
            return name
    return next(iter(splits), None)


def load_metrics(run_dir: str | Path) -> dict[str, Any]:
    """The run's metrics.json, or {} when it has none yet."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise HfftError(f"{path} is not valid JSON ({err}); delete it and evaluate again") from err


def predict_split(
    trainer: Any, dataset: Any, metrics: Metrics, split: str
) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, ranked class ids) for one split through `trainer.predict`.

    The trainer's own metric hooks are swapped for `metrics` while it predicts: the logits are
    reduced batch by batch (memory stays flat however large the split), the reduction is wide
    enough for every top-k asked for, and no metric is computed twice.
    """
    saved = trainer.compute_metrics, trainer.preprocess_logits_for_metrics
    trainer.compute_metrics = None
    trainer.preprocess_logits_for_metrics = metrics.preprocess_logits_for_metrics
    try:
        output = trainer.predict(dataset, metric_key_prefix=split)
    finally:
        trainer.compute_metrics, trainer.preprocess_logits_for_metrics = saved
    if output.label_ids is None:
        raise DataError(
            f"the {split!r} split has no labels (columns: {list(dataset.column_names)}); "
            "it needs a 'labels' or 'label' column of class ids to be evaluated"
        )
    y_true = np.asarray(output.label_ids).reshape(-1).astype(np.int64)
    return y_true, metrics.ranked(output.predictions)


def evaluate_and_report(
    trainer: Any,
    splits: Mapping[str, Any],
    run_dir: str | Path,
    label_names: Sequence[str],
    metric_names: Sequence[str] | None = None,
    log_history: Sequence[Mapping[str, Any]] | None = None,
    write: bool = True,
) -> dict[str, Any]:
    """Evaluate `trainer.model` on each split (datasets already transformed for the model, with
    a 'labels'/'label' column) and write the report into `run_dir`.

    Returns the whole metrics.json content: {split: {metric: value, ..., "per_class": {...}}},
    the splits evaluated now replacing older results of the same name. In a multi-process run
    every process must call this (prediction is collective); pass `write` on the main one only.
    """
    run_dir = Path(run_dir)
    metric_names = list(metric_names or DEFAULT_METRICS)
    metrics = build_metrics(metric_names, num_labels=len(label_names))

    report = load_metrics(run_dir)
    predictions: dict[str, tuple] = {}
    for split, dataset in splits.items():
        y_true, ranked = predict_split(trainer, dataset, metrics, split)
        results: dict[str, Any] = metrics.compute(ranked, y_true)
        results["per_class"] = per_class_report(y_true, ranked[:, 0], label_names)
        report[split] = results
        predictions[split] = (y_true, ranked[:, 0])
    if not write:
        return report
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / METRICS_FILE).write_text(json.dumps(report, indent=2) + "\n")

    main = primary_split(list(predictions))
    if main is not None:
        y_true, y_pred = predictions[main]
        accuracy = float(np.mean(y_true == y_pred)) if len(y_true) else 0.0
        plot_confusion_matrix(
            y_true,
            y_pred,
            label_names,
            run_dir / CONFUSION_MATRIX_FILE,
            title=f"{main} split, normalised per true class — "
            f"{len(y_true)} examples, accuracy {accuracy:.3f}",
        )
    if log_history:
        plot_training_curves(log_history, metric_names[0], run_dir / TRAINING_CURVES_FILE)
    return report


def eval_command(args: Any) -> int:
    """`hfft eval RUN_DIR [--split test] [--data PATH]`: print the split's metrics as JSON."""
    results = evaluate_run(Path(args.run_dir), split=args.split, data=args.data)
    shown = {k: v for k, v in results.items() if k != "per_class"}
    print(json.dumps(shown, indent=2))
    return 0


def evaluate_run(run_dir: Path, split: str = "test", data: str | None = None) -> dict[str, Any]:
    """Re-evaluate a finished run directory on one split of its own data (rebuilt from its
    recipe with the same seed, so carved splits hold the same rows) or of other data (`data`: a
    folder, a csv/json/parquet file or a Hub id). Updates metrics.json, the confusion matrix and
    the model card; returns the metrics of that split."""
    from dataclasses import replace

    from datasets import DatasetDict
    from transformers import Trainer

    from hfft import checkpoint
    from hfft import run_dir as run_state
    from hfft.card import write_model_card
    from hfft.data import load_data, load_split
    from hfft.recipe import load_recipe
    from hfft.redact import redact_tree
    from hfft.run import training_arguments
    from hfft.tasks import TASKS

    run_dir = Path(run_dir)
    run_state.require_finished(run_dir, "evaluate")
    if not (run_dir / "config.json").is_file() or not (run_dir / "recipe.yaml").is_file():
        raise HfftError(
            f"{run_dir} is not an hfft run directory (needs config.json and recipe.yaml); "
            "train one with `hfft train RECIPE`"
        )
    recipe = load_recipe(run_dir / "recipe.yaml")
    task = TASKS[recipe.task]
    # The saved model is complete (LoRA merged, head trained): evaluate it as it is.
    saved = replace(
        recipe.model, checkpoint=str(run_dir), config=None, processor=None, mode="full",
        freeze_layers=0,
    )  # fmt: skip
    processor = checkpoint.load_processor(task, saved)
    names = checkpoint.label_names(run_dir)
    if data is None:
        loaded = load_data(recipe.data, task.input_column)
        if split not in loaded.splits:
            raise DataError(
                f"split '{split}' not found; this run has {sorted(loaded.splits)} "
                "(use --split validation, or --data to evaluate other data)"
            )
        if loaded.label_names != names:
            raise DataError(
                f"the data's labels {loaded.label_names[:10]} differ from the model's {names[:10]}"
            )
        splits, key = DatasetDict({split: loaded.splits[split]}), split
    else:
        spec = replace(recipe.data, **data_source(data))
        splits = DatasetDict({split: load_split(spec, task.input_column, split, names)})
        key = f"{Path(data).name}:{split}"
    prepared = task.prepare(splits, processor, recipe)
    trainer = Trainer(
        model=checkpoint.load_model(task, saved, names),
        args=training_arguments(recipe, task),
        eval_dataset=prepared[split],
        data_collator=task.collator(processor),
        processing_class=processor,
    )
    report = evaluate_and_report(
        trainer, {key: prepared[split]}, run_dir, names, recipe.eval.metrics
    )
    write_model_card(run_dir, redact_tree(recipe.to_dict()), report)
    return report[key]


def data_source(data: str) -> dict[str, Any]:
    """DataSpec fields for `--data`: a folder, a csv/json/jsonl/parquet file, or a Hub id."""
    path = Path(data).expanduser()
    builders = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
    source: dict[str, Any] = {"name": None, "revision": None, "data_dir": None, "data_files": None}
    if path.is_file():
        if path.suffix not in builders:
            raise DataError(f"--data {data}: expected a folder or a {sorted(builders)} file")
        return {**source, "path": builders[path.suffix], "data_files": str(path)}
    return {**source, "path": str(path) if path.exists() else data}
