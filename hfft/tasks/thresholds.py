"""Per-label decision thresholds of a multi-label model, chosen on the validation split.

A multi-label head gives each label its own sigmoid score; a label is predicted when its score
reaches its threshold. One flat 0.5 for every label (the transformers example's rule) is wrong
for a rare label, whose scores a model trained with BCE keeps low: the threshold that maximises
each label's F1 on validation is usually far below 0.5 for such a label, and above it for a
frequent one. A label with too few validation positives to tune on keeps the default.
"""

from __future__ import annotations

import numpy as np

DEFAULT_THRESHOLD = 0.5
# Fewer validation positives than this: the F1-maximising cut is noise, keep the default.
MIN_POSITIVES = 5


def best_f1_threshold(scores: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) maximising one label's F1 for `score >= threshold` on these rows.

    F1 only changes at the rows' scores, so every distinct score is a candidate cut (scikit-
    learn's `precision_recall_curve`). The threshold is placed halfway between the chosen score
    and the next lower one, so it keeps the same decisions here and does not sit on a row."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, cuts = precision_recall_curve(truth, scores)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(denominator),
                   where=denominator > 0)  # fmt: skip
    best = int(np.argmax(f1))  # cuts increase: the lowest cut of the best F1 (most recall)
    lower = scores[scores < cuts[best]]
    threshold = (cuts[best] + lower.max()) / 2 if lower.size else cuts[best]
    return float(threshold), float(f1[best])


def tune_thresholds(
    probs: np.ndarray,
    y_true: np.ndarray,
    min_positives: int = MIN_POSITIVES,
    default: float = DEFAULT_THRESHOLD,
) -> tuple[np.ndarray, np.ndarray]:
    """(threshold per label, whether it was tuned): each label's F1-maximising threshold on
    (probs, y_true), `default` for a label with fewer than `min_positives` positive rows."""
    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true) >= 0.5
    thresholds = np.full(probs.shape[1], default, dtype=np.float64)
    tuned = np.zeros(probs.shape[1], dtype=bool)
    for j in range(probs.shape[1]):
        if y_true[:, j].sum() >= max(1, min_positives):
            thresholds[j], _ = best_f1_threshold(probs[:, j], y_true[:, j])
            tuned[j] = True
    return thresholds, tuned
