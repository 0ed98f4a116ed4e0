"""Tagging metrics, computed per word (the first sub-token's prediction) with seqeval:

    precision, recall, f1   entities, micro-averaged: an entity counts when its type and its
                            exact span match (seqeval's default, conlleval-compatible mode)
    precision_macro, ...    the same averaged over entity types (and _weighted by support)
    accuracy                the share of words whose tag is right (O included)

plus a per-entity-type report (`per_class`), a tag confusion matrix and a per-type F1 plot.

A sentence longer than data.max_length is several rows (overlapping windows) of the prepared
split, and each of its words is scored in exactly one of them (hfft.tasks.token_windows). The
Trainer hands `compute_metrics` only the predictions and label ids, so which rows continue a
sentence is registered by `prepare` under a digest of the split's label ids, and looked up here
from the same label ids; without an entry every row is a sentence (no row needed a window).
"""

from __future__ import annotations

import hashlib
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hfft.errors import RecipeError, did_you_mean
from hfft.tasks.tag_schemes import detect_scheme, entity_types, for_seqeval

IGNORE = -100
DEFAULT_METRICS: tuple[str, ...] = ("f1", "precision", "recall", "accuracy")
AVAILABLE_METRICS: tuple[str, ...] = (
    *DEFAULT_METRICS,
    *(f"{m}_{avg}" for avg in ("macro", "weighted") for m in ("precision", "recall", "f1")),
)
PER_TYPE_F1_FILE = "per_type_f1.png"
# digest of a prepared split's label ids -> for each row, whether it continues the previous
# row's sentence; only splits with windows are registered, and only the latest few kept.
_LAYOUTS: OrderedDict[str, list[bool]] = OrderedDict()
_MAX_LAYOUTS = 16


def _digest(rows: Any) -> str:
    """A digest of the scored label ids of each row (IGNORE dropped, so padding is irrelevant)."""
    digest = hashlib.sha256()
    for row in rows:
        kept = np.asarray(row, dtype=np.int64)
        kept = kept[kept != IGNORE]
        digest.update(len(kept).to_bytes(8, "little"))
        digest.update(kept.tobytes())
    return digest.hexdigest()


def register_layout(label_rows: Sequence[Sequence[int]], continues: Sequence[bool]) -> None:
    """Record which rows of a prepared split continue the sentence of the row before."""
    key = _digest(label_rows)
    _LAYOUTS[key] = [bool(c) for c in continues]
    _LAYOUTS.move_to_end(key)
    while len(_LAYOUTS) > _MAX_LAYOUTS:
        _LAYOUTS.popitem(last=False)


def validate_metric_names(names: Sequence[str]) -> list[str]:
    """The names, de-duplicated in order; RecipeError for one the tagging metrics lack."""
    names = list(dict.fromkeys(names))
    for name in names:
        if name not in AVAILABLE_METRICS:
            hint = did_you_mean(str(name), AVAILABLE_METRICS)
            raise RecipeError(
                f"unknown metric {name!r} in eval.metrics{hint}; token-classification computes "
                f"{', '.join(AVAILABLE_METRICS)}"
            )
    return names


@dataclass
class TagMetrics:
    """The metrics of a tagging run, for the Trainer (`compute_metrics`,
    `preprocess_logits_for_metrics`) and the report."""

    names: list[str]
    label_names: list[str]
    scheme: str = ""
    _scored: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.scheme = detect_scheme(self.label_names)
        self._scored = for_seqeval(self.label_names, self.scheme)

    def preprocess_logits_for_metrics(self, logits: Any, labels: Any) -> Any:
        """Each token's best tag id: a few integers per token kept, not a float per tag."""
        if isinstance(logits, tuple):
            logits = logits[0]
        return logits.argmax(dim=-1)

    def words(self, predictions: Any, label_ids: Any) -> tuple[list[list[int]], list[list[int]]]:
        """(true tag ids, predicted tag ids) per sentence, one per scored word, the windows of a
        long sentence stitched back together."""
        if isinstance(predictions, tuple):
            predictions = predictions[0]
        preds = np.asarray(predictions)
        if np.issubdtype(preds.dtype, np.floating):  # raw logits
            preds = preds.argmax(axis=-1)
        labels = np.asarray(label_ids)
        continues = _LAYOUTS.get(_digest(labels)) or [False] * len(labels)
        true: list[list[int]] = []
        pred: list[list[int]] = []
        for row, (p, t) in enumerate(zip(preds, labels, strict=True)):
            scored = t != IGNORE
            if not continues[row] or not true:
                true.append([])
                pred.append([])
            true[-1].extend(int(v) for v in t[scored])
            pred[-1].extend(int(v) for v in p[: len(t)][scored])
        return true, pred

    def scores(self, true: list[list[int]], pred: list[list[int]]) -> dict[str, Any]:
        """Every metric asked for and the per-type report, from per-sentence tag ids."""
        from seqeval.metrics import classification_report

        flat_true = [t for s in true for t in s]
        flat_pred = [p for s in pred for p in s]
        names = self._scored
        y_true = [[names[t] for t in s] for s in true if s]
        y_pred = [[names[p] for p in s] for s in pred if s]
        with warnings.catch_warnings():  # no entity at all: seqeval warns and scores 0
            warnings.simplefilter("ignore")
            report = classification_report(y_true, y_pred, output_dict=True, zero_division=0)
        values: dict[str, float] = {
            "accuracy": float(np.mean(np.equal(flat_true, flat_pred))) if flat_true else 0.0
        }
        for average, suffix in (
            ("micro avg", ""),
            ("macro avg", "_macro"),
            ("weighted avg", "_weighted"),
        ):
            for metric, key in (
                ("precision", "precision"),
                ("recall", "recall"),
                ("f1", "f1-score"),
            ):
                value = float(report.get(average, {}).get(key, 0.0))
                values[metric + suffix] = 0.0 if np.isnan(value) else value
        results: dict[str, Any] = {name: values[name] for name in self.names}
        results["per_class"] = {
            kind: {
                "precision": float(report.get(kind, {}).get("precision", 0.0)),
                "recall": float(report.get(kind, {}).get("recall", 0.0)),
                "f1": float(report.get(kind, {}).get("f1-score", 0.0)),
                "support": int(report.get(kind, {}).get("support", 0)),
            }
            for kind in entity_types(names)
        }
        return results

    def compute(self, predictions: Any, label_ids: Any) -> dict[str, float]:
        """Every metric asked for, as plain floats."""
        scores = self.scores(*self.words(predictions, label_ids))
        return {name: scores[name] for name in self.names}

    # A tagger's decision is the argmax per token: nothing to fit after training or to save.
    def fit(self, predictions: Any, label_ids: Any) -> None:
        return None

    def decision(self) -> None:
        return None

    def use(self, saved: Any) -> None:
        return None

    def compute_metrics(self, eval_pred: Any) -> dict[str, float]:
        """`Trainer(compute_metrics=...)`: an `EvalPrediction` -> {metric name: value}."""
        return self.compute(eval_pred.predictions, eval_pred.label_ids)

    def interval_stats(self, predictions: Any, label_ids: Any) -> tuple[np.ndarray, dict]:
        """(per-sentence counts, {metric: statistic}) for `hfft.uncertainty`."""
        from hfft.tasks.tags_intervals import interval_stats

        return interval_stats(self.names, self._scored, *self.words(predictions, label_ids))

    def keep(self, predictions: Any, label_ids: Any) -> dict[str, list]:
        """What predictions.json keeps: one row per sentence (its windows stitched back), the
        predicted and true tag id of each scored word, padded with -100 labels."""
        true, pred = self.words(predictions, label_ids)
        width = max((len(t) for t in true), default=0)
        return {
            "predictions": [p + [0] * (width - len(p)) for p in pred],
            "label_ids": [t + [IGNORE] * (width - len(t)) for t in true],
        }

    def report(self, predictions: Any, label_ids: Any) -> tuple[dict[str, Any], Any]:
        """(the split's metrics.json entry, the data of its plots) from `trainer.predict`."""
        from hfft.tasks.tags_intervals import interval_stats
        from hfft.uncertainty import with_intervals

        true, pred = self.words(predictions, label_ids)
        results = self.scores(true, pred)
        per_class = results.pop("per_class")
        results = with_intervals(results, *interval_stats(self.names, self._scored, true, pred))
        results["per_class"] = per_class
        flat_true = np.asarray([t for s in true for t in s], dtype=np.int64)
        flat_pred = np.asarray([p for s in pred for p in s], dtype=np.int64)
        return results, (flat_true, flat_pred, results["per_class"], results.get("f1"))


def build_metrics(
    names: Sequence[str], label_names: Sequence[str], threshold: float | None = None
) -> TagMetrics:
    """The tagging metrics `names` (the defaults when empty) for these tags. A decision
    threshold (eval.threshold) is a multi-label setting: refused."""
    if threshold is not None:
        raise RecipeError(
            f"eval.threshold={threshold:g} applies to multi-label runs; a tagger takes each "
            "token's best tag: remove eval.threshold"
        )
    return TagMetrics(validate_metric_names(list(names) or DEFAULT_METRICS), list(label_names))


def plot(data: Any, label_names: Sequence[str], run_dir: Path, split: str) -> list[str]:
    """The tag confusion matrix (per word, normalised per true tag) and the per-type F1 bars of
    one split; returns the file names written."""
    from hfft.plots import plot_confusion_matrix
    from hfft.run_files import CONFUSION_MATRIX_FILE

    y_true, y_pred, per_type, f1 = data
    accuracy = float(np.mean(y_true == y_pred)) if len(y_true) else 0.0
    plot_confusion_matrix(
        y_true,
        y_pred,
        label_names,
        Path(run_dir) / CONFUSION_MATRIX_FILE,
        title=f"{split} split, tags per word, normalised per true tag — {len(y_true)} words, "
        f"accuracy {accuracy:.3f}",
    )
    written = [CONFUSION_MATRIX_FILE]
    if per_type:
        plot_per_type_f1(per_type, Path(run_dir) / PER_TYPE_F1_FILE, split, f1)
        written.append(PER_TYPE_F1_FILE)
    return written


def plot_per_type_f1(
    per_type: dict[str, dict[str, Any]], path: Path, split: str, f1: float | None = None
) -> Path:
    """Horizontal bars: each entity type's F1, with its support (gold entities)."""
    from hfft.plots import plot_score_bars

    return plot_score_bars(
        [f"{k} ({per_type[k]['support']})" for k in per_type],
        [per_type[k]["f1"] for k in per_type],
        path,
        "entity F1 (exact span and type)",
        f"{split} split: F1 per entity type (gold entities)",
        None if f1 is None else ("micro F1", f1),
    )
