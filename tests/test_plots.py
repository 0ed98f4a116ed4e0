"""hfft.plots: valid PNGs, readable sizes from 2 to 100 classes, curves from a Trainer log."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hfft.plots import confusion_matrix_normalized, plot_confusion_matrix, plot_training_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_png(path, min_side=300):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
        pixels = np.asarray(image.convert("L"))
    assert min(width, height) >= min_side
    assert pixels.std() > 5  # something was drawn, not a blank canvas
    return width, height


def _predictions(n_classes, n=400, seed=0):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, n_classes, size=n)
    wrong = rng.random(n) < 0.3
    y_pred = np.where(wrong, rng.integers(0, n_classes, size=n), y_true)
    return y_true, y_pred


def test_normalised_rows_sum_to_one_or_zero():
    matrix = confusion_matrix_normalized([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], 3)
    np.testing.assert_allclose(matrix[0], [0.5, 0.5, 0])
    np.testing.assert_allclose(matrix[1], [1 / 3, 2 / 3, 0])
    np.testing.assert_allclose(matrix[2], [0, 0, 0])  # class absent from y_true


@pytest.mark.parametrize("n_classes", [2, 3, 60, 100])
def test_confusion_matrix_png_scales_with_classes(tmp_path, n_classes):
    y_true, y_pred = _predictions(n_classes)
    names = [f"class_{i}_with_a_long_name" for i in range(n_classes)]
    path = plot_confusion_matrix(y_true, y_pred, names, tmp_path / "sub" / "cm.png")
    _, height = _check_png(path)
    if n_classes >= 60:
        # at least ~12 pixels per class row so 60-100 label names do not overlap
        assert height >= 12 * n_classes
    else:
        assert height <= 800  # small problems stay small


def test_training_curves_from_trainer_log_history(tmp_path):
    log_history = [
        {"loss": 1.1, "grad_norm": 3.0, "learning_rate": 5e-4, "epoch": 0.5, "step": 5},
        {"loss": 0.9, "grad_norm": 2.0, "learning_rate": 4e-4, "epoch": 1.0, "step": 10},
        {"eval_loss": 0.95, "eval_accuracy": 0.5, "eval_f1_macro": 0.4, "epoch": 1.0, "step": 10},
        {"loss": 0.6, "grad_norm": 1.0, "learning_rate": 2e-4, "epoch": 1.5, "step": 15},
        {"loss": 0.4, "grad_norm": 1.0, "learning_rate": 1e-4, "epoch": 2.0, "step": 20},
        {"eval_loss": 0.7, "eval_accuracy": 0.8, "eval_f1_macro": 0.75, "epoch": 2.0, "step": 20},
        {"train_runtime": 3.2, "train_loss": 0.75, "epoch": 2.0, "step": 20},
    ]
    path = plot_training_curves(log_history, "f1_macro", tmp_path / "curves.png")
    width, height = _check_png(path)
    assert width > height  # two panels side by side
    # an empty history still gives a (labelled) figure rather than a crash
    empty = plot_training_curves([], "eval_accuracy", tmp_path / "empty.png")
    _check_png(empty)


def test_a_thousand_classes_plot_the_most_confused_ones(tmp_path):
    """1,000 classes in full would be 1,000 unreadable rows: the plot shows the 30 classes with
    the most errors, at the size of a 30-class matrix."""
    from hfft.plots import MOST_CONFUSED, most_confused

    y_true, y_pred = _predictions(1000, n=5000)
    # 60 more examples of class 7, all taken for 8: the most confused pair
    y_true, y_pred = np.r_[y_true, [7] * 60], np.r_[y_pred, [8] * 60]
    names = [f"c{i}" for i in range(1000)]
    path = plot_confusion_matrix(y_true, y_pred, names, tmp_path / "cm.png")
    width, height = _check_png(path)
    small = plot_confusion_matrix(y_true % 30, y_pred % 30, names[:30], tmp_path / "cm30.png")
    assert (width, height) < (1.3 * Image.open(small).size[0], 1.3 * Image.open(small).size[1])
    counts = np.zeros((1000, 1000))
    np.add.at(counts, (y_true, y_pred), 1)
    shown = most_confused(counts)
    assert len(shown) == MOST_CONFUSED and set(shown[:2]) == {7, 8}
