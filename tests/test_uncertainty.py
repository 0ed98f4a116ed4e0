"""Bootstrap intervals and paired comparisons (hfft.uncertainty), through the single-label
scheme's per-example counts: cheap (no forward pass), seeded, and exactly the reported metrics."""

from __future__ import annotations

import numpy as np
import pytest

from hfft.comparisons import compare_predictions
from hfft.errors import HfftError
from hfft.tasks.single_label_metrics import build_metrics
from hfft.uncertainty import compare, format_interval, intervals, point_values

ALL = ["accuracy", "precision_macro", "recall_macro", "f1_macro", "precision_weighted",
       "recall_weighted", "f1_weighted", "top2_accuracy"]  # fmt: skip


def predictions(n: int, right: float, classes: int = 5, seed: int = 0):
    """(labels, logits) of a model that is right about a `right` share of `n` examples."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    pred = np.where(rng.random(n) < right, y, rng.integers(0, classes, n))
    logits = rng.normal(size=(n, classes))
    logits[np.arange(n), pred] += 10
    return y, logits


def test_intervals_contain_the_point_and_shrink_with_more_examples():
    widths = []
    for n in (100, 1000, 10000):
        y, logits = predictions(n, right=0.8)
        report, _ = build_metrics(["accuracy", "f1_macro"], 5).report(logits, y)
        for name in ("accuracy", "f1_macro"):
            low, high = report[f"{name}_ci"]
            assert low < report[name] < high, (n, name)
        widths.append(report["accuracy_ci"][1] - report["accuracy_ci"][0])
    assert widths[0] > widths[1] > widths[2]
    # the normal approximation of a proportion's 95% interval: 2 * 1.96 * sqrt(p(1-p)/n)
    p = 0.8 + 0.2 / 5
    assert widths[1] == pytest.approx(2 * 1.96 * np.sqrt(p * (1 - p) / 1000), rel=0.15)


def test_point_values_from_the_counts_equal_the_reported_metrics():
    """The statistics behind the intervals are the metrics themselves: macro averages over the
    classes that occur (a class nobody predicts and no example has is left out, as sklearn does)."""
    metrics = build_metrics(ALL, 6)
    y, logits = predictions(300, right=0.6, classes=5)  # class 5 never occurs
    logits[:40, 4] += 30  # a biased model: many wrong "4"s
    stats, statistics = metrics.interval_stats(logits, y)
    computed = metrics.compute(logits, y)
    assert point_values(stats, statistics) == pytest.approx(computed, abs=1e-12)


def test_intervals_are_seeded_and_cheap():
    y, logits = predictions(5000, right=0.7)
    metrics = build_metrics(ALL, 5)
    stats, statistics = metrics.interval_stats(logits, y)
    first = intervals(stats, statistics)
    assert intervals(stats, statistics) == first
    assert intervals(stats, statistics, seed=1) != first
    assert set(first) == set(ALL)


def test_report_keeps_point_values_and_adds_an_interval_after_each():
    y, logits = predictions(200, right=0.9)
    report, _ = build_metrics(["accuracy", "f1_macro"], 5).report(logits, y)
    assert list(report) == ["accuracy", "accuracy_ci", "f1_macro", "f1_macro_ci", "per_class"]
    assert isinstance(report["accuracy"], float)
    assert all(isinstance(v, float) for v in report["accuracy_ci"])
    assert format_interval(0.9123, [0.889, 0.931]) == "0.912 [0.89, 0.93]"


def test_identical_prediction_sets_show_no_difference():
    y, logits = predictions(500, right=0.8)
    metrics = build_metrics(["accuracy", "f1_macro"], 5)
    entry = {"predictions": logits.argmax(-1).tolist(), "label_ids": y.tolist()}
    found = compare_predictions(metrics, entry, dict(entry))
    for c in found.values():
        assert c.identical and not c.significant
        assert c.difference == 0 and c.interval == (0.0, 0.0) and c.p_value == 1.0
        assert c.verdict("full", "lora") == "no difference (identical predictions)"


def test_a_real_difference_is_significant_and_a_small_one_is_not():
    y, good = predictions(746, right=0.9, seed=1)
    rng = np.random.default_rng(2)
    flip = rng.random(len(y)) < 0.25  # B is wrong on another quarter of the examples
    bad = good.copy()
    bad[flip] = np.roll(good[flip], 1, axis=1)
    metrics = build_metrics(["accuracy"], 5)
    stats_a, statistics = metrics.interval_stats(good, y)
    stats_b, _ = metrics.interval_stats(bad, y)
    c = compare(stats_a, stats_b, statistics)["accuracy"]
    assert c.significant and c.difference > 0.15 and c.interval[0] > 0
    assert c.verdict("full", "scratch") == "full > scratch (p<0.001)"
    # two predictions differing on 3 of 746 examples: inside the noise
    close = good.copy()
    close[:3] = np.roll(good[:3], 1, axis=1)
    c = compare(stats_a, metrics.interval_stats(close, y)[0], statistics)["accuracy"]
    assert not c.significant and not c.identical
    assert c.verdict().startswith("no significant difference (p=")


def test_paired_comparison_needs_the_same_examples():
    metrics = build_metrics(["accuracy"], 2)
    a = {"predictions": [0, 1, 1], "label_ids": [0, 1, 1]}
    b = {"predictions": [0, 1], "label_ids": [0, 1]}
    with pytest.raises(HfftError, match="were not evaluated on the same examples"):
        compare_predictions(metrics, a, b)


def test_counts_behind_the_intervals_grow_with_the_examples_not_the_classes():
    """20,000 examples of 1,000 classes: a few counts per example (sparse), not 3,000 floats
    each (480 MB dense, and 1.4 GB at 60,000 examples)."""
    n, classes = 20_000, 1000
    rng = np.random.default_rng(0)
    y = rng.integers(0, classes, n)
    ranked = rng.integers(0, classes, (n, 5))
    ranked[: n // 2, 0] = y[: n // 2]
    metrics = build_metrics(["accuracy", "f1_macro", "top5_accuracy"], classes)
    stats, statistics = metrics.interval_stats(ranked, y)
    assert stats.shape == (n, 2 + 3 * classes)
    assert stats.nnz <= n * (2 + 3)  # hits, true, predicted, true positive
    held = stats.data.nbytes + stats.indices.nbytes + stats.indptr.nbytes
    assert held < 100 * n  # bytes: ~1.3 MB here, 480 MB dense
    points = point_values(stats, statistics)
    assert points["accuracy"] == pytest.approx(np.mean(ranked[:, 0] == y))


def _report_peak_bytes(n: int, classes: int = 1000) -> int:
    """Peak bytes traced while the single-label scheme reports on and keeps `n` predictions."""
    import tracemalloc

    rng = np.random.default_rng(1)
    y = rng.integers(0, classes, n)
    pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, classes, n))
    metrics = build_metrics(["accuracy", "f1_macro"], classes, [f"c{i}" for i in range(classes)])
    tracemalloc.start()
    try:
        report, _ = metrics.report(pred, y)
        kept = metrics.keep(pred, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(report["per_class"]) == classes and len(kept["label_ids"]) == n
    assert report["accuracy_ci"][0] < report["accuracy"] < report["accuracy_ci"][1]
    return peak


def test_report_memory_is_flat_in_the_split_size_with_many_classes():
    """Metrics, per-class report, bootstrap intervals and predictions.json's lists of a 1,000-
    class split: 10x the examples, about the same peak (the bootstrap's fixed-size chunks), far
    below one dense examples x classes array (160 MB at 20,000)."""
    small, big = _report_peak_bytes(2_000), _report_peak_bytes(20_000)
    assert big < 1.3 * small, f"{big / 2**20:.0f} MiB vs {small / 2**20:.0f} MiB"
    assert big < 20_000 * 1000 * 8 / 1.5


def test_sparse_counts_give_the_same_intervals_and_comparisons_as_dense():
    y, logits = predictions(600, right=0.7, classes=8)
    metrics = build_metrics(ALL, 8)
    stats, statistics = metrics.interval_stats(logits, y)
    assert hasattr(stats, "tocsr")
    dense = stats.toarray()
    assert intervals(stats, statistics) == intervals(dense, statistics)
    assert point_values(stats, statistics) == point_values(dense, statistics)
    other = metrics.interval_stats(np.roll(logits, 1, axis=1), y)[0]
    sparse_found = compare(stats, other, statistics)
    dense_found = compare(dense, other.toarray(), statistics)
    assert {k: c.to_dict() for k, c in sparse_found.items()} == {
        k: c.to_dict() for k, c in dense_found.items()
    }
    assert compare(stats, stats.copy(), statistics)["accuracy"].identical
