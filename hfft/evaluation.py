"""Evaluate a trained model on its held-out splits and write the report.

After training, the report goes into the run directory: metrics.json (merged, so evaluating one
split keeps the others; each metric with its 95% bootstrap interval), predictions.json (what
each example was predicted, for paired comparisons: hfft.comparisons), the label scheme's plots
for the primary split (the confusion matrix of a single-label task) and training_curves.png
from the Trainer's log history; the model card is built from them. What is computed and drawn
is the task's label scheme's (hfft/tasks/); this module only drives `trainer.predict` and writes
files. `hfft eval` (hfft/eval_run.py) writes its own report under RUN_DIR/eval/<name>/ and never
touches the training run's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hfft.errors import DataError, HfftError
from hfft.plots import plot_training_curves
from hfft.run_files import METRICS_FILE, PREDICTIONS_FILE, TRAINING_CURVES_FILE
from hfft.tasks import Task

log = logging.getLogger("hfft")


def primary_split(splits: Sequence[str]) -> str | None:
    """The split the report is about: test when there is one, else validation, else the first."""
    for name in ("test", "validation"):
        if name in splits:
            return name
    return next(iter(splits), None)


def _read_report(path: Path) -> dict[str, Any]:
    """A JSON report hfft wrote into the run directory, or {} when it is not there yet."""
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise HfftError(f"{path} is not valid JSON ({err}); delete it and evaluate again") from err


def load_metrics(run_dir: str | Path) -> dict[str, Any]:
    """The run's metrics.json, or {} when it has none yet."""
    return _read_report(Path(run_dir) / METRICS_FILE)


def load_predictions(run_dir: str | Path) -> dict[str, Any]:
    """The run's predictions.json ({split: {"predictions", "label_ids"}}: what the label
    scheme's metrics reduced the logits to, per example), or {} when it has none."""
    return _read_report(Path(run_dir) / PREDICTIONS_FILE)


def read_decision(path: Path) -> Any:
    """A saved decision rule (thresholds.json), or None when there is none (the scheme's
    defaults then apply)."""
    if not path.is_file():
        log.info("%s not found: the label scheme's default decision rule applies", path.name)
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise HfftError(f"{path} is not valid JSON ({err}); train the run again") from err


def predict_split(trainer: Any, dataset: Any, metrics: Any, split: str) -> tuple[Any, Any]:
    """(predictions, label ids) of a split through `trainer.predict`, for `metrics.report`.

    The trainer's own metric hooks are swapped for `metrics` (the label scheme's) while it
    predicts: the logits are reduced batch by batch (memory stays flat however large the split),
    and no metric is computed twice.
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
            "it needs a 'labels' or 'label' column to be evaluated"
        )
    return output.predictions, output.label_ids


def evaluate_and_report(
    trainer: Any,
    splits: Mapping[str, Any],
    run_dir: str | Path,
    task: Task,
    label_names: Sequence[str],
    metric_names: Sequence[str] | None = None,
    log_history: Sequence[Mapping[str, Any]] | None = None,
    write: bool = True,
    *,
    threshold: float | None = None,
    fit: bool = False,
    decision_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate `trainer.model` on each split (datasets already transformed for the model, with
    a 'labels'/'label' column) and write the report into `run_dir`.

    Returns the whole metrics.json content: {split: {metric: value, ..., "per_class": {...}}},
    the splits evaluated now replacing older results of the same name. In a multi-process run
    every process must call this (prediction is collective); pass `write` on the main one only.

    The label scheme's decision rule (a multi-label run's per-label thresholds; `threshold` fixes
    one for all) is fitted on the validation split first with `fit` and saved as the scheme's
    `decision_file` in `run_dir`, or read from `decision_dir` (a trained run's).
    """
    run_dir = Path(run_dir)
    metrics = task.labels.build_metrics(list(metric_names or ()), label_names, threshold)
    decision_file = task.labels.decision_file
    if decision_dir is not None and decision_file:
        metrics.use(read_decision(Path(decision_dir) / decision_file))
    report = load_metrics(run_dir)
    outputs = {split: predict_split(trainer, ds, metrics, split) for split, ds in splits.items()}
    if fit and "validation" in outputs:
        metrics.fit(*outputs["validation"])
    plot_data: dict[str, Any] = {}
    kept = load_predictions(run_dir)
    for split, output in outputs.items():
        report[split], plot_data[split] = metrics.report(*output)
        kept[split] = metrics.keep(*output)  # what predictions.json keeps, for comparisons
    if not write:
        return report
    run_dir.mkdir(parents=True, exist_ok=True)
    decision = metrics.decision() if fit else None
    if decision is not None and decision_file:
        (run_dir / decision_file).write_text(json.dumps(decision, indent=2) + "\n")
    (run_dir / METRICS_FILE).write_text(json.dumps(report, indent=2) + "\n")
    (run_dir / PREDICTIONS_FILE).write_text(json.dumps(kept) + "\n")
    main = primary_split(list(plot_data))
    if main is not None:
        task.labels.plot(plot_data[main], label_names, run_dir, main)
    if log_history:
        plot_training_curves(log_history, metrics.names[0], run_dir / TRAINING_CURVES_FILE)
    return report
