"""Single-label classification metrics through `evaluate` (hfft's bundled modules, offline).
Metric names used in recipes (`eval.metrics`) and metrics.json:

    accuracy, precision_macro, recall_macro, f1_macro,
    precision_weighted, recall_weighted, f1_weighted, top{k}_accuracy (k < number of classes)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hfft.errors import RecipeError, did_you_mean

DEFAULT_METRICS: tuple[str, ...] = ("accuracy", "f1_macro")

# hfft metric name -> (local module folder, module config = averaging)
_CLASS_METRICS: dict[str, tuple[str, str | None]] = {
    "accuracy": ("accuracy", None),
    "precision_macro": ("precision", "macro"),
    "recall_macro": ("recall", "macro"),
    "f1_macro": ("f1", "macro"),
    "precision_weighted": ("precision", "weighted"),
    "recall_weighted": ("recall", "weighted"),
    "f1_weighted": ("f1", "weighted"),
}
_TOP_K = re.compile(r"^top(\d+)_accuracy$")
AVAILABLE_METRICS: tuple[str, ...] = (*_CLASS_METRICS, "top{k}_accuracy")


def _top_k(name: str) -> int | None:
    """k for a `top{k}_accuracy` name, None for any other name."""
    match = _TOP_K.match(name)
    return int(match.group(1)) if match else None


def validate_metric_names(names: Iterable[str]) -> list[str]:
    """The names, de-duplicated in order; RecipeError for a name hfft does not know."""
    names = list(dict.fromkeys(names))
    for name in names:
        k = _top_k(name) if isinstance(name, str) else None
        if k is not None and k >= 1:
            continue
        if isinstance(name, str) and name in _CLASS_METRICS:
            continue
        choices = [*_CLASS_METRICS, "top5_accuracy"]
        hint = did_you_mean(str(name), choices)
        raise RecipeError(
            f"unknown metric {name!r} in eval.metrics{hint}; available: "
            f"{', '.join(AVAILABLE_METRICS)} (e.g. top5_accuracy, k >= 1)"
        )
    return names


@dataclass
class Metrics:
    """The metrics of one run. Pass `compute_metrics` and `preprocess_logits_for_metrics` to the
    `Trainer`; `compute` scores predictions directly."""

    names: list[str]
    num_labels: int
    label_names: list[str] = field(default_factory=list)
    _combined: Any = field(default=None, repr=False)
    _top_k: Any = field(default=None, repr=False)

    @property
    def ks(self) -> list[int]:
        """The k of every top-k metric asked for."""
        return [k for k in map(_top_k, self.names) if k is not None]

    @property
    def ranked_width(self) -> int:
        """How many ranked class ids per example the metrics need (1 = just the argmax)."""
        return max([1, *self.ks])

    def preprocess_logits_for_metrics(self, logits: Any, labels: Any) -> Any:
        """Reduce a batch of logits to the best class ids, so evaluation memory stays at a few
        integers per example instead of one float per class (transformers keeps them all)."""
        import torch

        if isinstance(logits, tuple):  # models that also return hidden states etc.
            logits = logits[0]
        if self.ranked_width == 1:
            return logits.argmax(dim=-1)
        return torch.topk(logits, k=self.ranked_width, dim=-1).indices

    def ranked(self, predictions: Any) -> np.ndarray:
        """(n, width) class ids ranked best first, from logits or from what
        `preprocess_logits_for_metrics` returned (argmax ids or top-k ids)."""
        if isinstance(predictions, tuple):  # Trainer output of a model with extra outputs
            predictions = predictions[0]
        preds = np.asarray(predictions)
        if np.issubdtype(preds.dtype, np.floating):  # raw logits (no preprocess step)
            # a stable sort of -logits keeps the lowest id first on ties, like argmax
            return np.argsort(-preds, axis=-1, kind="stable")[:, : self.ranked_width]
        return preds.reshape(len(preds), -1).astype(np.int64)

    def compute(self, predictions: Any, references: Any) -> dict[str, float]:
        """Every metric asked for, in the order asked, as plain floats."""
        ranked = self.ranked(predictions)
        references = np.asarray(references).reshape(-1).astype(np.int64)
        results: dict[str, float] = {}
        if self._combined is not None:
            results.update(self._combined.compute(predictions=ranked[:, 0], references=references))
        for k in self.ks:
            results.update(self._top_k.compute(predictions=ranked, references=references, k=k))
        return {name: float(results[name]) for name in self.names}

    def compute_metrics(self, eval_pred: Any) -> dict[str, float]:
        """`Trainer(compute_metrics=...)`: an `EvalPrediction` -> {metric name: value}."""
        return self.compute(eval_pred.predictions, eval_pred.label_ids)

    # The argmax needs no decision rule: nothing to fit, save or load.
    def fit(self, predictions: Any, label_ids: Any) -> None:
        return None

    def decision(self) -> None:
        return None

    def use(self, saved: Any) -> None:
        return None

    def report(self, predictions: Any, label_ids: Any) -> tuple[dict[str, Any], Any]:
        """(the split's metrics.json entry: every metric plus a per-class report, the data its
        plots need) from what `trainer.predict` returned."""
        y_true = np.asarray(label_ids).reshape(-1).astype(np.int64)
        ranked = self.ranked(predictions)
        from hfft.uncertainty import with_intervals

        results: dict[str, Any] = with_intervals(
            self.compute(ranked, y_true), *self.interval_stats(ranked, y_true)
        )
        results["per_class"] = per_class_report(y_true, ranked[:, 0], self.label_names)
        return results, (y_true, ranked[:, 0])

    def interval_stats(self, predictions: Any, label_ids: Any) -> tuple[Any, dict]:
        """(per-example counts, a sparse matrix, {metric: statistic}) for `hfft.uncertainty`:
        bootstrap intervals and paired comparisons of these predictions."""
        from hfft.tasks.single_label_intervals import interval_stats

        top_k = {name: k for name in self.names if (k := _top_k(name)) is not None}
        y_true = np.asarray(label_ids).reshape(-1)
        return interval_stats(self.names, self.num_labels, top_k, y_true, self.ranked(predictions))

    def keep(self, predictions: Any, label_ids: Any) -> dict[str, list]:
        """What predictions.json keeps: each example's ranked class ids (as many as the metrics
        need) and its true class id."""
        y_true = np.asarray(label_ids).reshape(-1).astype(np.int64)
        return {"predictions": self.ranked(predictions).tolist(), "label_ids": y_true.tolist()}


def build_metrics(
    names: Sequence[str], num_labels: int, label_names: Sequence[str] = ()
) -> Metrics:
    """Load the `evaluate` modules for `names` (bundled with hfft: no network) for a
    `num_labels`-class problem."""
    import evaluate

    from hfft.metrics import load_module

    names = validate_metric_names(names)
    for name in names:
        k = _top_k(name)
        if k is not None and k >= num_labels:
            raise RecipeError(
                f"metric {name!r} needs more than {k} classes, but the dataset has {num_labels} "
                f"(every label is in the top {k}); use top{max(1, num_labels - 1)}_accuracy "
                "or drop it from eval.metrics"
            )
    modules = [
        load_module(module, config)
        for module, config in (_CLASS_METRICS[n] for n in names if n in _CLASS_METRICS)
    ]
    combined = evaluate.combine(modules) if modules else None
    top_k = None
    if any(_top_k(n) is not None for n in names):
        top_k = load_module("top_k_accuracy")
    return Metrics(
        names=names,
        num_labels=num_labels,
        label_names=list(label_names),
        _combined=combined,
        _top_k=top_k,
    )


def scheme_metrics(
    names: Sequence[str], label_names: Sequence[str], threshold: float | None = None
) -> Metrics:
    """The label scheme's metrics: `names` (the defaults when empty) for these labels. A
    decision threshold (eval.threshold) is a multi-label setting: refused."""
    if threshold is not None:
        raise RecipeError(
            f"eval.threshold={threshold:g} applies to multi-label runs, and this run is "
            "single-label (one label per row): remove eval.threshold, or give the data lists of "
            "labels (or data.multi_label: true)"
        )
    return build_metrics(list(names) or DEFAULT_METRICS, len(label_names), label_names)


def plot(data: Any, label_names: Sequence[str], run_dir: Path, split: str) -> list[str]:
    """The confusion matrix of one split, normalised per true class; returns the file name."""
    from hfft.plots import plot_confusion_matrix
    from hfft.run_files import CONFUSION_MATRIX_FILE

    y_true, y_pred = data
    accuracy = float(np.mean(y_true == y_pred)) if len(y_true) else 0.0
    plot_confusion_matrix(
        y_true,
        y_pred,
        label_names,
        Path(run_dir) / CONFUSION_MATRIX_FILE,
        title=f"{split} split, normalised per true class — "
        f"{len(y_true)} examples, accuracy {accuracy:.3f}",
    )
    return [CONFUSION_MATRIX_FILE]


def per_class_report(
    y_true: Sequence[int], y_pred: Sequence[int], label_names: Sequence[str]
) -> dict[str, dict[str, float | int]]:
    """{label: {precision, recall, f1, support}} for every label (support 0 when absent)."""
    from sklearn.metrics import precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        np.asarray(y_true),
        np.asarray(y_pred),
        labels=list(range(len(label_names))),
        average=None,
        zero_division=0,
    )
    return {
        str(name): {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(label_names)
    }
