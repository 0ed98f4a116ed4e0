"""Multi-label metrics as per-example counts, for `hfft.uncertainty`'s bootstrap intervals and
paired comparisons (see that module). Each row contributes: a 1 (the row count), whether every
label is right (exact match), its share of wrong label decisions (Hamming loss), its own
precision/recall/F1 (the `_samples` averages; 1 where a ratio is 0/0, as the reported value
counts it), and per label its true positive, true and predicted indicators. Every metric but
mean_average_precision (a ranking of all rows' scores, not a sum over rows) is a function of
those columns' sums, equal to scikit-learn's value on the same decisions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hfft.uncertainty import Statistic, averaged_prf, safe_ratio

_FIXED = 6  # count, exact match, hamming, samples precision, recall, f1


def per_example_stats(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """(rows x (6 + 3 labels)) counts of 0/1 truth and decisions (rows x labels)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    tp = y_true * y_pred
    n_tp, n_true, n_pred = tp.sum(axis=1), y_true.sum(axis=1), y_pred.sum(axis=1)
    wrong = (y_true != y_pred).sum(axis=1)
    ones = np.ones(len(y_true))
    precision = np.where(n_pred > 0, safe_ratio(n_tp, n_pred), 1.0)
    recall = np.where(n_true > 0, safe_ratio(n_tp, n_true), 1.0)
    f1 = np.where(n_true + n_pred > 0, safe_ratio(2 * n_tp, n_true + n_pred), 1.0)
    width = max(y_true.shape[1], 1)
    fixed = [ones, (wrong == 0).astype(np.float64), wrong / width, precision, recall, f1]
    return np.column_stack([*fixed, tp, y_true, y_pred])


def statistics(names: Sequence[str], num_labels: int) -> dict[str, Statistic]:
    """{metric: statistic of the summed counts} for every metric of `names` that has one."""

    def block(i: int):
        start = _FIXED + i * num_labels
        return lambda totals: totals[:, start : start + num_labels]

    tp, true, pred = block(0), block(1), block(2)

    def mean_of(column: int) -> Statistic:
        return lambda totals: safe_ratio(totals[:, column], totals[:, 0])

    out: dict[str, Statistic] = {}
    for name in names:
        if name in ("exact_match", "accuracy"):
            out[name] = mean_of(1)
        elif name == "hamming_loss":
            out[name] = mean_of(2)
        elif name.endswith("_samples"):
            out[name] = mean_of(3 + ("precision", "recall", "f1").index(name.split("_")[0]))
        elif name.split("_")[0] in ("precision", "recall", "f1"):
            kind, average = name.split("_", 1)
            out[name] = lambda totals, kind=kind, average=average: averaged_prf(
                kind, average, tp(totals), true(totals), pred(totals), present_only=False
            )
    return out


def interval_stats(
    names: Sequence[str], y_true: np.ndarray, y_pred: np.ndarray
) -> tuple[np.ndarray, dict[str, Statistic]]:
    """(per-example stats, {metric: statistic}) from 0/1 truth and decisions (rows x labels)."""
    y_true = np.asarray(y_true)
    return per_example_stats(y_true, y_pred), statistics(names, y_true.shape[1])
