"""Single-label metrics as per-example counts, for `hfft.uncertainty`'s bootstrap intervals and
paired comparisons. Each example contributes a 1 per top-k hit and one-hots of its true class,
its predicted class and (when right) its true positive; every metric of
`hfft.tasks.single_label_metrics` is a function of those columns' sums, computed exactly as the
`evaluate` modules compute it (macro averages over the classes that occur in the labels or the
predictions, zero where a ratio is undefined), so the point value from the sums equals the
reported one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hfft.uncertainty import Statistic, safe_ratio


@dataclass(frozen=True)
class Columns:
    """Where each kind of count sits in the per-example stats: top-k hits (k = 1 first), then
    one-hots of the true class, the predicted class and the true positive."""

    ks: tuple[int, ...]
    num_labels: int

    def hits(self, totals: np.ndarray, k: int) -> np.ndarray:
        return totals[:, self.ks.index(k)]

    def _block(self, totals: np.ndarray, i: int) -> np.ndarray:
        start = len(self.ks) + i * self.num_labels
        return totals[:, start : start + self.num_labels]

    def true(self, totals: np.ndarray) -> np.ndarray:
        return self._block(totals, 0)

    def pred(self, totals: np.ndarray) -> np.ndarray:
        return self._block(totals, 1)

    def tp(self, totals: np.ndarray) -> np.ndarray:
        return self._block(totals, 2)


def per_example_stats(y_true: np.ndarray, ranked: np.ndarray, columns: Columns) -> Any:
    """(n x d) counts, sparse (CSR): each example's top-k hits and its true/predicted/true-
    positive one-hots. At most len(ks) + 3 non-zeros per row, so memory grows with the examples
    alone: dense, the one-hots are n x 3 x classes floats (1.4 GB for 60,000 examples of 1,000
    classes), and the bootstrap's products would cost as much in time."""
    from scipy import sparse

    n, k_count, classes = len(y_true), len(columns.ks), columns.num_labels
    rows, cols = [], []
    for i, k in enumerate(columns.ks):
        (hit,) = np.nonzero((ranked[:, :k] == y_true[:, None]).any(axis=1))
        rows.append(hit)
        cols.append(np.full(len(hit), i))
    every = np.arange(n)
    right = np.flatnonzero(ranked[:, 0] == y_true)
    rows += [every, every, right]
    start = k_count
    cols += [start + y_true, start + classes + ranked[:, 0], start + 2 * classes + y_true[right]]
    rows_, cols_ = np.concatenate(rows), np.concatenate(cols)
    shape = (n, k_count + 3 * classes)
    return sparse.csr_array((np.ones(len(rows_)), (rows_, cols_)), shape=shape)


def _per_class(kind: str, columns: Columns, totals: np.ndarray) -> np.ndarray:
    tp, true, pred = columns.tp(totals), columns.true(totals), columns.pred(totals)
    if kind == "precision":
        return safe_ratio(tp, pred)
    if kind == "recall":
        return safe_ratio(tp, true)
    return safe_ratio(2 * tp, true + pred)  # f1 = 2tp / (2tp + fp + fn)


def _averaged(kind: str, average: str, columns: Columns) -> Statistic:
    def statistic(totals: np.ndarray) -> np.ndarray:
        scores = _per_class(kind, columns, totals)
        true = columns.true(totals)
        if average == "weighted":
            return safe_ratio((scores * true).sum(axis=1), true.sum(axis=1))
        # sklearn without `labels`: the classes present in the labels or the predictions
        present = (true + columns.pred(totals)) > 0
        return safe_ratio((scores * present).sum(axis=1), present.sum(axis=1))

    return statistic


def statistics(
    names: Sequence[str], columns: Columns, top_k: dict[str, int]
) -> dict[str, Statistic]:
    """{metric name: statistic of the summed counts} for every metric asked for."""
    out: dict[str, Statistic] = {}

    def accuracy(k: int) -> Statistic:
        return lambda totals: safe_ratio(columns.hits(totals, k), columns.true(totals).sum(axis=1))

    for name in names:
        if name == "accuracy":
            out[name] = accuracy(1)
        elif name in top_k:
            out[name] = accuracy(top_k[name])
        else:
            kind, average = name.split("_", 1)
            out[name] = _averaged(kind, average, columns)
    return out


def interval_stats(
    names: Sequence[str], num_labels: int, top_k: dict[str, int], y_true: np.ndarray,
    ranked: np.ndarray,
) -> tuple[Any, dict[str, Statistic]]:  # fmt: skip
    """(per-example stats, {metric: statistic}) for `hfft.uncertainty` from class ids: `y_true`
    (n,) and `ranked` (n x width, best first). `top_k` maps each top-k metric name to its k."""
    columns = Columns(tuple(dict.fromkeys([1, *top_k.values()])), num_labels)
    y_true = np.asarray(y_true).reshape(-1).astype(np.int64)
    ranked = np.asarray(ranked).reshape(len(y_true), -1).astype(np.int64)
    return per_example_stats(y_true, ranked, columns), statistics(names, columns, top_k)
