"""Multi-label metrics equal scikit-learn's on fixed predictions, and per-label thresholds tuned
on validation beat a flat 0.5 where they must (imbalanced labels a BCE model scores low)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from hfft.errors import RecipeError
from hfft.tasks.multi_label_metrics import STANDARD_METRICS, scheme_metrics
from hfft.tasks.thresholds import DEFAULT_THRESHOLD, best_f1_threshold, tune_thresholds

LABELS = ["a", "b", "c", "d"]


def _fixed(seed=0, rows=60):
    rng = np.random.default_rng(seed)
    y_true = (rng.random((rows, 4)) < [0.5, 0.3, 0.15, 0.05]).astype(np.int64)
    y_true[0] = 0  # a row without labels
    probs = np.clip(0.6 * y_true + rng.normal(0.2, 0.2, y_true.shape), 0.0, 1.0)
    return y_true, probs


def test_the_issue_names_are_the_standard_metrics():
    assert STANDARD_METRICS == ("f1_micro", "f1_macro", "f1_samples", "precision_micro",
                                "recall_micro", "exact_match", "hamming_loss",
                                "mean_average_precision")  # fmt: skip
    # asked names first, then the standard ones; accuracy is kept (the recipe's default)
    metrics = scheme_metrics(["accuracy", "f1_macro", "recall_macro"], LABELS)
    assert metrics.names == ["accuracy", "f1_macro", "recall_macro", "f1_micro", "f1_samples",
                             "precision_micro", "recall_micro", "exact_match", "hamming_loss",
                             "mean_average_precision"]  # fmt: skip


def test_metric_values_equal_scikit_learn_on_fixed_predictions():
    y_true, probs = _fixed()
    thresholds = np.array([0.5, 0.4, 0.3, 0.6])
    metrics = scheme_metrics(["precision_macro", "f1_weighted", "recall_samples"], LABELS)
    metrics.use(dict(zip(LABELS, thresholds, strict=True)))
    y_pred = (probs >= thresholds).astype(np.int64)
    got = metrics.compute(probs, y_true.astype(np.float32))
    present = y_true.sum(axis=0) > 0
    expected = {
        "f1_micro": skm.f1_score(y_true, y_pred, average="micro", zero_division=0),
        "f1_macro": skm.f1_score(y_true, y_pred, average="macro", zero_division=0),
        "f1_samples": skm.f1_score(y_true, y_pred, average="samples", zero_division=1),
        "f1_weighted": skm.f1_score(y_true, y_pred, average="weighted", zero_division=0),
        "precision_micro": skm.precision_score(y_true, y_pred, average="micro", zero_division=0),
        "precision_macro": skm.precision_score(y_true, y_pred, average="macro", zero_division=0),
        "recall_micro": skm.recall_score(y_true, y_pred, average="micro", zero_division=0),
        "recall_samples": skm.recall_score(y_true, y_pred, average="samples", zero_division=1),
        "exact_match": skm.accuracy_score(y_true, y_pred),
        "hamming_loss": skm.hamming_loss(y_true, y_pred),
        "mean_average_precision": skm.average_precision_score(
            y_true[:, present], probs[:, present], average="macro"
        ),
    }
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert got[name] == pytest.approx(float(value), abs=1e-12), name


def test_metric_values_on_a_hand_computed_case():
    y_true = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0]])
    probs = np.array([[0.9, 0.6, 0.1], [0.2, 0.7, 0.4], [0.1, 0.2, 0.3]])
    got = scheme_metrics([], ["a", "b", "c"]).compute(probs, y_true)  # every cut 0.5
    # decisions: [1,1,0] [0,1,0] [0,0,0]: TP 2, FP 1, FN 1 of 9 cells
    assert got["precision_micro"] == pytest.approx(2 / 3)
    assert got["recall_micro"] == pytest.approx(2 / 3)
    assert got["f1_micro"] == pytest.approx(2 / 3)
    assert got["exact_match"] == pytest.approx(1 / 3)  # only the empty row is all right
    assert got["hamming_loss"] == pytest.approx(2 / 9)
    # per row F1: 2/3, 2/3, and 1 for the empty row rightly predicted empty
    assert got["f1_samples"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert got["mean_average_precision"] == pytest.approx(1.0)  # every positive ranked first


def test_per_label_report_has_support_threshold_precision_recall_f1_ap():
    y_true, probs = _fixed()
    y_true[:, 3] = 0  # a label absent from the split: no AP
    metrics = scheme_metrics([], LABELS)
    entry, (truth, _, thresholds) = metrics.report(probs, y_true)
    report = entry["per_label"]
    assert list(report) == LABELS
    assert set(report["a"]) == {"support", "threshold", "precision", "recall", "f1", "ap"}
    f1 = skm.f1_score(y_true, (probs >= 0.5).astype(int), average=None, zero_division=0)
    for j, label in enumerate(LABELS):
        assert report[label]["support"] == int(y_true[:, j].sum())
        assert report[label]["threshold"] == DEFAULT_THRESHOLD
        assert report[label]["f1"] == pytest.approx(f1[j])
    assert report["a"]["ap"] == pytest.approx(
        skm.average_precision_score(y_true[:, 0], probs[:, 0])
    )
    assert report["d"]["ap"] is None
    assert entry["threshold_rule"] == "default"
    json.dumps(entry, allow_nan=False)  # metrics.json stays strict JSON
    assert (truth == y_true).all() and thresholds.tolist() == [0.5] * 4


def _biased_scores(rng, rows):
    """A model's scores on a frequent label (well above 0.5 when present) and a rare one that BCE
    keeps low: its positives score ~0.3, its negatives ~0.1 — separable, but below 0.5."""
    y = (rng.random((rows, 2)) < [0.5, 0.08]).astype(np.int64)
    mean = np.where(y == 1, [0.8, 0.3], [0.2, 0.1])
    return y, np.clip(mean + rng.normal(0, 0.05, y.shape), 0, 1)


def test_thresholds_tuned_on_validation_beat_a_flat_half_on_imbalanced_labels():
    rng = np.random.default_rng(0)
    val_y, val_p = _biased_scores(rng, 300)
    test_y, test_p = _biased_scores(rng, 300)
    metrics = scheme_metrics(["f1_macro"], ["frequent", "rare"])
    flat = metrics.compute(test_p, test_y)
    metrics.fit(val_p, val_y)
    tuned = metrics.compute(test_p, test_y)
    rare = metrics.thresholds[1]
    assert 0.1 < rare < 0.3  # between the rare label's negatives and positives
    assert flat["f1_macro"] < 0.55  # 0.5 never predicts the rare label
    assert tuned["f1_macro"] > 0.95 and tuned["f1_micro"] > flat["f1_micro"]
    assert metrics.decision() == {"frequent": pytest.approx(metrics.thresholds[0], abs=1e-6),
                                  "rare": pytest.approx(rare, abs=1e-6)}  # fmt: skip
    assert metrics.how.startswith("max F1 per label on validation (2 of 2 labels")


def test_labels_too_rare_to_tune_keep_the_default_and_a_fixed_threshold_wins():
    y = np.zeros((50, 2), dtype=np.int64)
    y[:25, 0] = 1
    y[:4, 1] = 1  # 4 positives: under the floor of 5
    probs = np.where(y == 1, 0.3, 0.1)
    thresholds, tuned = tune_thresholds(probs, y)
    assert tuned.tolist() == [True, False] and thresholds[1] == DEFAULT_THRESHOLD
    assert 0.1 < thresholds[0] < 0.3
    fixed = scheme_metrics([], ["x", "y"], threshold=0.25)
    fixed.fit(probs, y)
    assert fixed.thresholds.tolist() == [0.25, 0.25] and fixed.how == "fixed"


def test_the_best_f1_threshold_sits_between_two_scores():
    scores = np.array([0.9, 0.8, 0.35, 0.3, 0.2])
    truth = np.array([1, 1, 1, 0, 0])
    threshold, f1 = best_f1_threshold(scores, truth)
    assert threshold == pytest.approx(0.325) and f1 == pytest.approx(1.0)


def test_single_label_metric_names_are_refused_with_the_list():
    with pytest.raises(RecipeError) as err:
        scheme_metrics(["top5_accuracy"], LABELS)
    assert str(err.value).startswith(
        "metric 'top5_accuracy' in eval.metrics does not apply to a multi-label run (top-k "
        "accuracy ranks one true class; a multi-label row has several); available: "
    )
    with pytest.raises(RecipeError, match=r"did you mean 'f1_micro'\?"):
        scheme_metrics(["f1_mikro"], LABELS)
