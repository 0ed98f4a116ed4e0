"""hfft.metrics: bundled evaluate modules, equal to scikit-learn, offline, with memory-light
logits preprocessing."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn import metrics as skm
from transformers import EvalPrediction

from hfft.errors import RecipeError
from hfft.metrics import MODULES_DIR
from hfft.tasks.single_label_metrics import (
    DEFAULT_METRICS,
    build_metrics,
    per_class_report,
    validate_metric_names,
)

ALL = [
    "accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "top2_accuracy",
    "top3_accuracy",
]
SKLEARN = {
    "accuracy": skm.accuracy_score,
    "precision_macro": lambda t, p: skm.precision_score(t, p, average="macro", zero_division=0),
    "recall_macro": lambda t, p: skm.recall_score(t, p, average="macro", zero_division=0),
    "f1_macro": lambda t, p: skm.f1_score(t, p, average="macro", zero_division=0),
    "precision_weighted": lambda t, p: skm.precision_score(
        t, p, average="weighted", zero_division=0
    ),
    "recall_weighted": lambda t, p: skm.recall_score(t, p, average="weighted", zero_division=0),
    "f1_weighted": lambda t, p: skm.f1_score(t, p, average="weighted", zero_division=0),
}


@pytest.fixture(scope="module")
def metrics5():
    return build_metrics(ALL, num_labels=5)


def _data(n=200, c=5, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, size=n)
    # informative but imperfect logits, so every metric is strictly between 0 and 1
    logits = rng.normal(size=(n, c)).astype(np.float32)
    logits[np.arange(n), labels] += 1.0
    return logits, labels


def test_metrics_equal_sklearn_on_logits_and_on_preprocessed(metrics5):
    logits, labels = _data()
    y_pred = logits.argmax(-1)
    from_logits = metrics5.compute_metrics(EvalPrediction(predictions=logits, label_ids=labels))
    assert list(from_logits) == ALL
    for name, fn in SKLEARN.items():
        assert from_logits[name] == pytest.approx(fn(labels, y_pred), abs=1e-12), name
        assert 0 < from_logits[name] < 1
    for k in (2, 3):
        expected = skm.top_k_accuracy_score(labels, logits, k=k, labels=range(5))
        assert from_logits[f"top{k}_accuracy"] == pytest.approx(expected)
    # what the Trainer passes after preprocess_logits_for_metrics gives the same numbers
    reduced = metrics5.preprocess_logits_for_metrics(torch.from_numpy(logits), None)
    assert reduced.shape == (200, 3) and reduced.dtype == torch.int64
    from_ids = metrics5.compute(reduced.numpy(), labels)
    assert from_ids == pytest.approx(from_logits)


def test_preprocess_is_argmax_without_top_k():
    metrics = build_metrics(DEFAULT_METRICS, num_labels=4)
    logits = torch.randn(7, 4)
    reduced = metrics.preprocess_logits_for_metrics((logits, torch.zeros(1)), None)
    assert torch.equal(reduced, logits.argmax(-1))
    out = metrics.compute(reduced.numpy(), reduced.numpy())
    assert out == {"accuracy": 1.0, "f1_macro": 1.0}


def test_absent_class_counts_as_sklearn_does():
    # class 2 never predicted, class 3 never present: the averages follow sklearn's defaults
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 0, 3])
    out = build_metrics(list(SKLEARN), num_labels=4).compute(y_pred, y_true)
    for name, fn in SKLEARN.items():
        assert out[name] == pytest.approx(fn(y_true, y_pred)), name


def test_unknown_metric_names_the_bad_one_and_the_nearest():
    with pytest.raises(RecipeError) as err:
        validate_metric_names(["accuracy", "f1_macr"])
    msg = str(err.value)
    assert "'f1_macr'" in msg and "did you mean 'f1_macro'" in msg
    assert "precision_weighted" in msg and "top{k}_accuracy" in msg
    with pytest.raises(RecipeError, match="top0_accuracy"):
        validate_metric_names(["top0_accuracy"])
    assert validate_metric_names(["accuracy", "top7_accuracy", "accuracy"]) == [
        "accuracy",
        "top7_accuracy",
    ]


def test_top_k_needs_more_classes_than_k():
    with pytest.raises(RecipeError, match=r"has 3.*top2_accuracy"):
        build_metrics(["top5_accuracy"], num_labels=3)


def test_per_class_report_equals_sklearn():
    y_true = [0, 0, 1, 2, 2, 2]
    y_pred = [0, 1, 1, 2, 2, 0]
    names = ["cat", "dog", "fish", "bird"]
    report = per_class_report(y_true, y_pred, names)
    sk = skm.classification_report(
        y_true, y_pred, labels=range(4), target_names=names, output_dict=True, zero_division=0
    )
    assert list(report) == names
    for name in names:
        assert report[name]["precision"] == pytest.approx(sk[name]["precision"])
        assert report[name]["recall"] == pytest.approx(sk[name]["recall"])
        assert report[name]["f1"] == pytest.approx(sk[name]["f1-score"])
        assert report[name]["support"] == sk[name]["support"]
        assert isinstance(report[name]["support"], int)
    assert report["bird"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_modules_are_bundled_and_loaded_by_path_never_by_hub_name():
    for module in ("accuracy", "precision", "recall", "f1", "top_k_accuracy"):
        assert (MODULES_DIR / module / f"{module}.py").is_file()
    root = Path(__file__).parents[1] / "hfft"
    for source in (root / "metrics.py", root / "tasks" / "single_label_metrics.py"):
        assert not re.search(r"evaluate\.load\(\s*['\"]", source.read_text())
