"""How far a score measured on a finite test set can be trusted: seeded bootstrap confidence
intervals and paired comparisons of two prediction sets on the same examples, computed from the
predictions already gathered (no second forward pass).

A metric is given as what each example contributes to it and how those contributions add up:

- `stats`: an (n examples x d) array of per-example counts (a 1 where the prediction is right, a
  one-hot of the true class, of the predicted class, of a true positive, ...), dense or a scipy
  sparse matrix (a single-label scheme's one-hots: n x classes mostly zeros, which dense would
  make 1.4 GB for 60,000 examples of 1,000 classes);
- `statistic(totals)`: the metric from the column sums, vectorised over rows, so that
  (B x d) totals give B values.

Accuracy, precision/recall/F1 under any averaging, top-k accuracy, the multi-label scores
(micro/macro/samples F1, Hamming loss, exact match) and seqeval's entity scores all have this
form; each label scheme writes its own counts (hfft/tasks/*_intervals.py), and an "example" is
the scheme's independent unit (a tagger's sentence, whose words are not independent draws).
A bootstrap resample draws n examples with replacement, i.e. a count vector per resample; B
resamples are then one (B x n) @ (n x d) product, milliseconds for a few thousand examples.
Resamples are drawn from a fixed seed, so a run reports the same interval every time.

A label scheme's metrics object provides `interval_stats(predictions, label_ids) -> (stats,
statistics)` and calls `with_intervals(scores, stats, statistics)` in its `report`
(metrics.json keeps `<name>_ci: [low, high]` beside each point value), and `keep(predictions,
label_ids)`: what predictions.json stores, which `interval_stats` scores the same later in any
process; hfft.comparisons calls `compare(stats_a, stats_b, statistics)` to say whether two
models differ on the same split.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

RESAMPLES = 1000
CONFIDENCE = 0.95
SEED = 0
# Resample weights held in memory at once (entries of the B x n matrix): a chunk stays ~16 MB.
_CHUNK_ENTRIES = 2_000_000

Statistic = Callable[[np.ndarray], np.ndarray]


def as_stats(stats: Any) -> Any:
    """Per-example counts as float64: a dense array, or a sparse one kept sparse (CSR), whose
    memory grows with its non-zero counts, not with examples x columns."""
    if hasattr(stats, "tocsr"):  # scipy.sparse, without importing it for dense stats
        return stats.tocsr().astype(np.float64, copy=False)
    return np.asarray(stats, dtype=np.float64)


def _column_sums(stats: Any) -> np.ndarray:
    """(1 x d) column sums of dense or sparse stats."""
    return np.asarray(stats.sum(axis=0), dtype=np.float64).reshape(1, -1)


def _same(a: Any, b: Any) -> bool:
    """Whether two stats matrices (dense or sparse, same shape) hold the same counts."""
    if hasattr(a, "tocsr") or hasattr(b, "tocsr"):
        from scipy import sparse

        return (sparse.csr_array(a) != sparse.csr_array(b)).nnz == 0
    return bool(np.array_equal(a, b))


def resample_weights(n: int, resamples: int = RESAMPLES, seed: int = SEED) -> Iterator[np.ndarray]:
    """(b x n) chunks of bootstrap count vectors, `resamples` rows in all: row r says how many
    times resample r drew each example (each row sums to n). Seeded: the same every call."""
    rng = np.random.default_rng(seed)
    left = resamples
    chunk = max(1, _CHUNK_ENTRIES // max(n, 1))
    while left > 0:
        b = min(chunk, left)
        drawn = rng.integers(0, n, size=(b, n))
        # one bincount for the whole chunk: offset each row's draws into its own block of n
        flat = (drawn + (np.arange(b) * n)[:, None]).ravel()
        yield np.bincount(flat, minlength=b * n).reshape(b, n)
        left -= b


def bootstrap_values(
    stats: np.ndarray,
    statistics: Mapping[str, Statistic],
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict[str, np.ndarray]:
    """Each statistic on `resamples` bootstrap resamples of the examples (the same resamples
    for every statistic): {name: (resamples,) values}."""
    stats = as_stats(stats)
    values: dict[str, list[np.ndarray]] = {name: [] for name in statistics}
    for weights in resample_weights(stats.shape[0], resamples, seed):
        totals = np.asarray(weights @ stats)  # dense (b x d), also from sparse stats
        for name, statistic in statistics.items():
            values[name].append(np.asarray(statistic(totals), dtype=np.float64))
    return {name: np.concatenate(parts) for name, parts in values.items()}


def point_values(stats: np.ndarray, statistics: Mapping[str, Statistic]) -> dict[str, float]:
    """Each statistic on all the examples (the point value the interval surrounds)."""
    totals = _column_sums(as_stats(stats))
    return {name: float(statistic(totals)[0]) for name, statistic in statistics.items()}


def intervals(
    stats: np.ndarray,
    statistics: Mapping[str, Statistic],
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict[str, list[float]]:
    """{name: [low, high]}: the percentile bootstrap interval of each statistic at
    `confidence` (95%). No examples: no intervals."""
    stats = as_stats(stats)
    if stats.shape[0] == 0:
        return {}
    tail = (1 - confidence) / 2
    values = bootstrap_values(stats, statistics, resamples, seed)
    return {
        name: [float(q) for q in np.quantile(v, [tail, 1 - tail])] for name, v in values.items()
    }


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of model A and model B on one metric, over the same examples."""

    metric: str
    a: float
    b: float
    difference: float  # a - b
    interval: tuple[float, float]  # bootstrap interval of the difference
    p_value: float  # two-sided, from the bootstrap distribution of the difference
    identical: bool  # the two prediction sets score every example alike

    @property
    def significant(self) -> bool:
        """True when the interval of the difference excludes 0."""
        return not self.identical and (self.interval[0] > 0 or self.interval[1] < 0)

    def verdict(self, a: str = "A", b: str = "B") -> str:
        """One phrase: "no difference (identical predictions)", "A > B (p=0.002)", "no
        significant difference (p=0.41)"."""
        if self.identical:
            return "no difference (identical predictions)"
        p = f"p={self.p_value:.3f}" if self.p_value >= 0.001 else "p<0.001"
        if self.significant:
            better, worse = (a, b) if self.difference > 0 else (b, a)
            return f"{better} > {worse} ({p})"
        return f"no significant difference ({p})"

    def to_dict(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "a": self.a,
            "b": self.b,
            "difference": self.difference,
            "difference_ci": list(self.interval),
            "p_value": self.p_value,
            "significant": self.significant,
        }


def compare(
    stats_a: np.ndarray,
    stats_b: np.ndarray,
    statistics: Mapping[str, Statistic],
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict[str, Comparison]:
    """Paired bootstrap of A - B for each statistic: both models' stats (rows = the same
    examples, in the same order) are resampled with the same draws, so what the two share
    (the hard and the easy examples) cancels out of the difference."""
    stats_a, stats_b = as_stats(stats_a), as_stats(stats_b)
    if stats_a.shape != stats_b.shape:
        raise ValueError(
            f"paired comparison needs the same examples: got {stats_a.shape} and {stats_b.shape}"
        )
    identical = _same(stats_a, stats_b)
    point_a, point_b = point_values(stats_a, statistics), point_values(stats_b, statistics)
    diffs: dict[str, list[np.ndarray]] = {name: [] for name in statistics}
    for weights in resample_weights(stats_a.shape[0], resamples, seed):
        totals_a, totals_b = np.asarray(weights @ stats_a), np.asarray(weights @ stats_b)
        for name, statistic in statistics.items():
            diffs[name].append(np.asarray(statistic(totals_a) - statistic(totals_b)))
    tail = (1 - confidence) / 2
    out = {}
    for name in statistics:
        d = np.concatenate(diffs[name])
        low, high = (float(q) for q in np.quantile(d, [tail, 1 - tail]))
        # two-sided: how often the resampled difference lands on the other side of zero
        p = 1.0 if identical else min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0)))
        out[name] = Comparison(
            metric=name,
            a=point_a[name],
            b=point_b[name],
            difference=point_a[name] - point_b[name],
            interval=(low, high),
            p_value=float(p),
            identical=identical,
        )
    return out


def with_intervals(
    scores: Mapping[str, float], stats: np.ndarray, statistics: Mapping[str, Statistic]
) -> dict[str, object]:
    """`scores` (the point values, as reported) with each metric's 95% bootstrap interval right
    after it as `<name>_ci: [low, high]`: what a label scheme's `report` returns."""
    found = intervals(stats, statistics)
    out: dict[str, object] = {}
    for name, value in scores.items():
        out[name] = value
        if name in found:
            out[f"{name}_ci"] = found[name]
    return out


def safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (sklearn's zero_division=0)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros(np.broadcast(numerator, denominator).shape)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def format_interval(value: float, interval: list[float] | tuple[float, float] | None) -> str:
    """'0.912 [0.89, 0.93]' (the interval to two places), or '0.912' without one."""
    if not interval:
        return f"{value:.3f}"
    low, high = interval
    return f"{value:.3f} [{low:.2f}, {high:.2f}]"


def averaged_prf(
    kind: str,
    average: str,
    tp: np.ndarray,
    true: np.ndarray,
    pred: np.ndarray,
    present_only: bool = True,
) -> np.ndarray:
    """Precision, recall or F1 (`kind`) from (B x classes) summed true-positive, true and
    predicted counts, averaged as scikit-learn/seqeval do: micro (the sums pooled), macro (the
    mean over the classes, those that occur in the labels or predictions when `present_only`),
    weighted (by each class's true count); zero where a ratio is undefined."""
    if average == "micro":
        tp, true, pred = (x.sum(axis=1, keepdims=True) for x in (tp, true, pred))
    if kind == "precision":
        scores = safe_ratio(tp, pred)
    elif kind == "recall":
        scores = safe_ratio(tp, true)
    else:
        scores = safe_ratio(2 * tp, true + pred)  # f1 = 2tp / (2tp + fp + fn)
    if average == "micro":
        return scores[:, 0]
    if average == "weighted":
        return safe_ratio((scores * true).sum(axis=1), true.sum(axis=1))
    present = (true + pred) > 0 if present_only else np.ones_like(true, dtype=bool)
    return safe_ratio((scores * present).sum(axis=1), present.sum(axis=1))
