"""Multi-label classification metrics, scikit-learn's on the label indicator matrix. Metric names
used in recipes (`eval.metrics`) and metrics.json:

    f1_micro, f1_macro, f1_samples, f1_weighted      (and precision_*, recall_* alike)
    exact_match          subset accuracy: every label of a row right (`accuracy` is the same)
    hamming_loss         the fraction of (row, label) decisions that are wrong (lower is better)
    mean_average_precision   macro average precision over the labels with a positive row in the
                             split; threshold-free (it ranks the scores)

Every metric but mean_average_precision depends on the decision thresholds: 0.5 (or the fixed
`eval.threshold`) while training; after training, per-label thresholds chosen on the validation
split (`hfft.tasks.thresholds`), saved in the run directory and used for every report after.
Undefined ratios (a label never predicted) count 0, scikit-learn's default, except in the
`_samples` averages: a row without labels predicted to have none counts 1 (it is right).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hfft.errors import RecipeError, did_you_mean
from hfft.tasks.thresholds import DEFAULT_THRESHOLD, MIN_POSITIVES, tune_thresholds

STANDARD_METRICS: tuple[str, ...] = (
    "f1_micro",
    "f1_macro",
    "f1_samples",
    "precision_micro",
    "recall_micro",
    "exact_match",
    "hamming_loss",
    "mean_average_precision",
)
AVERAGES = ("micro", "macro", "weighted", "samples")
_AVERAGED = {f"{base}_{avg}" for base in ("f1", "precision", "recall") for avg in AVERAGES}
_OTHERS = ("exact_match", "accuracy", "hamming_loss", "mean_average_precision")
AVAILABLE_METRICS: tuple[str, ...] = (*sorted(_AVERAGED), *_OTHERS)


def validate_metric_names(names: Iterable[str]) -> list[str]:
    """The names, de-duplicated in order; RecipeError for one a multi-label run cannot compute."""
    names = list(dict.fromkeys(names))
    for name in names:
        if isinstance(name, str) and (name in _AVERAGED or name in _OTHERS):
            continue
        why = (
            " (top-k accuracy ranks one true class; a multi-label row has several)"
            if isinstance(name, str) and name.startswith("top")
            else ""
        )
        hint = why or did_you_mean(str(name), AVAILABLE_METRICS)
        raise RecipeError(
            f"metric {name!r} in eval.metrics does not apply to a multi-label run{hint}; "
            f"available: {', '.join(AVAILABLE_METRICS)}"
        )
    return names


def scores(
    y_true: np.ndarray, y_pred: np.ndarray, probs: np.ndarray, names: Sequence[str]
) -> dict[str, float]:
    """Each metric of `names` on a (rows, labels) 0/1 truth, 0/1 decisions and scores."""
    from sklearn import metrics

    out: dict[str, float] = {}
    for name in names:
        if name in _AVERAGED:
            base, _, average = name.partition("_")
            score = {"f1": metrics.f1_score, "precision": metrics.precision_score,
                     "recall": metrics.recall_score}[base]  # fmt: skip
            # A row with no label, rightly predicted none, is right (as exact_match counts it).
            zero = 1.0 if average == "samples" else 0.0
            value = score(y_true, y_pred, average=average, zero_division=zero)
        elif name in ("exact_match", "accuracy"):
            value = metrics.accuracy_score(y_true, y_pred)
        elif name == "hamming_loss":
            value = metrics.hamming_loss(y_true, y_pred)
        else:
            value = mean_average_precision(y_true, probs)
        out[name] = float(value)
    return out


def mean_average_precision(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Macro average precision over the labels that have a positive row (AP is undefined for
    the others; scikit-learn would count them 0); 0.0 when none has."""
    from sklearn.metrics import average_precision_score

    present = np.asarray(y_true).sum(axis=0) > 0
    if not present.any():
        return 0.0
    return float(average_precision_score(y_true[:, present], probs[:, present], average="macro"))


def per_label_report(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    probs: np.ndarray,
    label_names: Sequence[str],
    thresholds: np.ndarray,
) -> dict[str, dict[str, Any]]:
    """{label: {support, threshold, precision, recall, f1, ap}}; ap is None for a label without
    a positive row in the split."""
    from sklearn.metrics import average_precision_score, precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, average=None, zero_division=0, labels=list(range(len(label_names)))
    )
    report = {}
    for j, name in enumerate(label_names):
        ap = (
            float(average_precision_score(y_true[:, j], probs[:, j]))
            if y_true[:, j].any()
            else None
        )
        report[str(name)] = {
            "support": int(support[j]),
            "threshold": round(float(thresholds[j]), 6),
            "precision": float(precision[j]),
            "recall": float(recall[j]),
            "f1": float(f1[j]),
            "ap": ap,
        }
    return report


@dataclass
class Metrics:
    """The metrics of one multi-label run and its decision thresholds. Pass `compute_metrics`
    and `preprocess_logits_for_metrics` to the `Trainer`; `fit` chooses the thresholds on the
    validation split, `decision`/`use` save and load them."""

    names: list[str]
    label_names: list[str]
    # A fixed threshold for every label (eval.threshold), or None: tuned on validation.
    fixed: float | None = None
    thresholds: np.ndarray = field(default_factory=lambda: np.zeros(0))
    how: str = "default"

    def __post_init__(self) -> None:
        start = DEFAULT_THRESHOLD if self.fixed is None else self.fixed
        self.thresholds = np.full(len(self.label_names), start, dtype=np.float64)
        self.how = "default" if self.fixed is None else "fixed"

    def preprocess_logits_for_metrics(self, logits: Any, labels: Any) -> Any:
        """Each label's sigmoid score: what the thresholds apply to and AP ranks."""
        import torch

        if isinstance(logits, tuple):  # models that also return hidden states etc.
            logits = logits[0]
        return torch.sigmoid(logits.float())

    @staticmethod
    def _arrays(predictions: Any, label_ids: Any) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(predictions, tuple):
            predictions = predictions[0]
        probs = np.asarray(predictions, dtype=np.float64)
        return probs, (np.asarray(label_ids) >= 0.5).astype(np.int64)

    def decide(self, probs: np.ndarray) -> np.ndarray:
        """0/1 decisions: each label's score against its threshold."""
        return (probs >= self.thresholds[None, :]).astype(np.int64)

    def compute(self, predictions: Any, references: Any) -> dict[str, float]:
        """Every metric asked for, then the standard ones, as plain floats."""
        probs, y_true = self._arrays(predictions, references)
        return scores(y_true, self.decide(probs), probs, self.names)

    def compute_metrics(self, eval_pred: Any) -> dict[str, float]:
        """`Trainer(compute_metrics=...)`: an `EvalPrediction` -> {metric name: value}."""
        return self.compute(eval_pred.predictions, eval_pred.label_ids)

    def fit(self, predictions: Any, label_ids: Any) -> None:
        """Choose the thresholds on these (validation) predictions: each label's F1-maximising
        one, or the fixed eval.threshold for all."""
        if self.fixed is not None:
            return
        probs, y_true = self._arrays(predictions, label_ids)
        self.thresholds, tuned = tune_thresholds(probs, y_true)
        self.how = (
            f"max F1 per label on validation ({int(tuned.sum())} of {len(tuned)} labels; "
            f"{DEFAULT_THRESHOLD} for labels with fewer than {MIN_POSITIVES} validation positives)"
        )

    def decision(self) -> dict[str, float]:
        """{label: threshold}, the content of thresholds.json."""
        pairs = zip(self.label_names, self.thresholds, strict=True)
        return {str(name): round(float(t), 6) for name, t in pairs}

    def use(self, saved: Mapping[str, Any] | None) -> None:
        """Load saved thresholds ({label: threshold}); a label it lacks keeps the default."""
        if not saved:
            return
        self.thresholds = np.array(
            [float(saved.get(str(n), DEFAULT_THRESHOLD)) for n in self.label_names]
        )
        self.how = "saved"

    def report(self, predictions: Any, label_ids: Any) -> tuple[dict[str, Any], Any]:
        """(the split's metrics.json entry: every metric, how the thresholds were chosen, a
        per-label report; the data its plots need) from what `trainer.predict` returned."""
        from hfft.tasks.multi_label_intervals import interval_stats
        from hfft.uncertainty import with_intervals

        probs, y_true = self._arrays(predictions, label_ids)
        y_pred = self.decide(probs)
        results: dict[str, Any] = with_intervals(
            scores(y_true, y_pred, probs, self.names), *interval_stats(self.names, y_true, y_pred)
        )
        results["threshold_rule"] = self.how
        results["per_label"] = per_label_report(
            y_true, y_pred, probs, self.label_names, self.thresholds
        )
        return results, (y_true, y_pred, self.thresholds.copy())

    def interval_stats(self, predictions: Any, label_ids: Any) -> tuple[np.ndarray, dict]:
        """(per-example counts, {metric: statistic}) for `hfft.uncertainty`, on the decisions
        these thresholds make (mean_average_precision has none: it ranks every row)."""
        from hfft.tasks.multi_label_intervals import interval_stats

        probs, y_true = self._arrays(predictions, label_ids)
        return interval_stats(self.names, y_true, self.decide(probs))

    def keep(self, predictions: Any, label_ids: Any) -> dict[str, list]:
        """What predictions.json keeps: each row's 0/1 decisions under these thresholds (any
        threshold in (0, 1) reads them back unchanged, so a comparison needs no thresholds
        file) and its true labels."""
        probs, y_true = self._arrays(predictions, label_ids)
        return {"predictions": self.decide(probs).tolist(), "label_ids": y_true.tolist()}


def scheme_metrics(
    names: Sequence[str], label_names: Sequence[str], threshold: float | None = None
) -> Metrics:
    """The multi-label metrics: `names` asked for first, then the standard ones, at a fixed
    `threshold` (eval.threshold) or thresholds tuned on validation after training."""
    asked = validate_metric_names(names)
    return Metrics(list(dict.fromkeys([*asked, *STANDARD_METRICS])), list(label_names), threshold)
