"""Bootstrap intervals and paired comparisons through every label scheme: the multi-label
scheme's per-row counts and the tags scheme's per-sentence entity counts give exactly the
reported metrics (scikit-learn's, seqeval's), the intervals contain them and narrow with more
data, what predictions.json keeps scores the same, and identical predictions differ by 0."""

from __future__ import annotations

import numpy as np
import pytest

from hfft.comparisons import compare_predictions
from hfft.tasks.multi_label_metrics import AVAILABLE_METRICS as MULTI_METRICS
from hfft.tasks.multi_label_metrics import scheme_metrics as multi_label_metrics
from hfft.tasks.tags_metrics import AVAILABLE_METRICS as TAG_METRICS
from hfft.tasks.tags_metrics import build_metrics as tag_metrics
from hfft.tasks.tags_metrics import register_layout
from hfft.uncertainty import point_values

# mean_average_precision ranks every row's scores: no per-row counts, no interval
MULTI = [m for m in MULTI_METRICS if m != "mean_average_precision"]
TAGS = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


def multi_label_data(n: int, seed: int = 0, labels: int = 5):
    """(0/1 truth, sigmoid scores) of a noisy multi-label model; some rows have no label."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, labels)) < 0.3).astype(np.int64)
    y[: n // 10] = 0
    probs = np.clip(0.45 * y + rng.random((n, labels)) * 0.6, 0, 1)
    return y, probs


def tag_data(sentences: int, seed: int = 0):
    """(predicted tag ids, label ids padded with -100) of a tagger right on ~70% of the words."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 12, sentences)
    labels = np.full((sentences, lengths.max() + 2), -100)
    preds = np.zeros_like(labels)
    for i, n in enumerate(lengths):
        tags = rng.choice(len(TAGS), n, p=[0.5, 0.1, 0.05, 0.1, 0.05, 0.1, 0.1])
        labels[i, 1 : n + 1] = tags  # position 0: a special token, never scored
        preds[i, 1 : n + 1] = np.where(rng.random(n) < 0.7, tags, rng.integers(0, len(TAGS), n))
    return preds, labels


def test_multi_label_counts_give_scikit_learns_metrics():
    metrics = multi_label_metrics(MULTI, [f"l{i}" for i in range(5)])
    y, probs = multi_label_data(300)
    metrics.thresholds = np.array([0.3, 0.5, 0.6, 0.4, 0.99])  # label 4: hardly ever predicted
    stats, statistics = metrics.interval_stats(probs, y)
    assert set(statistics) == set(MULTI)
    report, _ = metrics.report(probs, y)
    assert point_values(stats, statistics) == pytest.approx(
        {m: report[m] for m in MULTI}, abs=1e-12
    )
    assert "mean_average_precision_ci" not in report and "mean_average_precision" in report


def test_tag_counts_give_seqevals_metrics():
    metrics = tag_metrics(TAG_METRICS, TAGS)
    preds, labels = tag_data(200)
    stats, statistics = metrics.interval_stats(preds, labels)
    assert len(stats) == 200  # one row per sentence: the bootstrap resamples sentences
    report, _ = metrics.report(preds, labels)
    assert point_values(stats, statistics) == pytest.approx(
        {m: report[m] for m in TAG_METRICS}, abs=1e-12
    )


def _multi_report(n: int):
    y, probs = multi_label_data(n, seed=n)
    return multi_label_metrics([], [f"l{i}" for i in range(5)]).report(probs, y)[0]


def _tag_report(n: int):
    return tag_metrics([], TAGS).report(*tag_data(n, seed=n))[0]


@pytest.mark.parametrize(
    ("report_of", "names"),
    [(_multi_report, ["f1_micro", "f1_macro", "exact_match"]), (_tag_report, ["f1", "accuracy"])],
    ids=["multi-label", "tags"],
)
def test_intervals_contain_the_point_and_narrow_with_more_data(report_of, names):
    widths = []
    for n in (100, 1000, 5000):
        report = report_of(n)
        for name in names:
            low, high = report[f"{name}_ci"]
            assert low <= report[name] <= high, (n, name)
        widths.append([report[f"{m}_ci"][1] - report[f"{m}_ci"][0] for m in names])
    for name, (a, b, c) in zip(names, zip(*widths, strict=True), strict=True):
        assert a > b > c, name


def test_multi_label_predictions_json_keeps_the_decisions_of_the_runs_thresholds():
    """Kept as 0/1 decisions: scored with default thresholds, they give what the run's own
    (tuned) thresholds gave, so a comparison needs no thresholds file."""
    names = [f"l{i}" for i in range(5)]
    tuned = multi_label_metrics([], names)
    tuned.thresholds = np.array([0.2, 0.7, 0.5, 0.35, 0.8])
    y, probs = multi_label_data(200)
    kept = tuned.keep(probs, y)
    assert set(np.unique(kept["predictions"])) <= {0, 1}
    fresh = multi_label_metrics([], names)
    stats, _ = fresh.interval_stats(np.asarray(kept["predictions"]), np.asarray(kept["label_ids"]))
    assert np.array_equal(stats, tuned.interval_stats(probs, y)[0])


def test_tag_predictions_json_keeps_whole_sentences():
    """A sentence split into windows is one row of predictions.json: scored later, in another
    process that never saw the windows, it is the same sentence."""
    metrics = tag_metrics([], TAGS)
    preds, labels = tag_data(30)
    # rows 1 and 2 continue the sentence of row 0 (a long sentence in three windows)
    continues = [False, True, True] + [False] * 27
    register_layout(labels, continues)
    stats, _ = metrics.interval_stats(preds, labels)
    assert len(stats) == 28
    kept = metrics.keep(preds, labels)
    assert len(kept["label_ids"]) == 28
    again, _ = metrics.interval_stats(
        np.asarray(kept["predictions"]), np.asarray(kept["label_ids"])
    )
    assert np.array_equal(again, stats)


@pytest.mark.parametrize("scheme", ["multi-label", "tags"])
def test_identical_predictions_differ_by_zero(scheme):
    if scheme == "multi-label":
        metrics = multi_label_metrics([], [f"l{i}" for i in range(5)])
        y, probs = multi_label_data(150)
    else:
        metrics = tag_metrics([], TAGS)
        probs, y = tag_data(150)
    kept = metrics.keep(probs, y)
    found = compare_predictions(metrics, kept, dict(kept))
    assert found and all(c.difference == 0 and c.interval == (0.0, 0.0) for c in found.values())
    assert {c.verdict() for c in found.values()} == {"no difference (identical predictions)"}


def test_a_better_tagger_is_significantly_better():
    metrics = tag_metrics([], TAGS)
    preds, labels = tag_data(400)
    perfect = np.where(labels == -100, 0, labels)
    found = compare_predictions(metrics, metrics.keep(perfect, labels), metrics.keep(preds, labels))
    assert found["f1"].difference > 0 and found["f1"].significant
    assert found["f1"].verdict("perfect", "noisy").startswith("perfect > noisy")
