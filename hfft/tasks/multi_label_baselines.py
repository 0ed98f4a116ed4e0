"""The multi-label scheme's baselines (see `hfft.baselines`): the most frequent training label
set given to every row, and a linear probe, one standardised logistic regression per label
(scikit-learn's one-vs-rest) on the frozen checkpoint's features, fitted on train. Each returns
a score per label that the scheme's metrics threshold like sigmoid scores: the label set as 0/1,
the probe's probabilities (at 0.5, or the recipe's fixed eval.threshold: the probe's thresholds
are not tuned on validation)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

MAJORITY = "majority_label_set"
PROBE = "linear_probe"


def fit_baselines(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    features: Mapping[str, np.ndarray],
    num_labels: int,
    rows: Mapping[str, np.ndarray] | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """{baseline: {split: (rows, num_labels) scores}}. No probe without features (zero columns:
    no checkpoint)."""
    import warnings

    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = (np.asarray(train_labels).reshape(len(train_labels), -1) >= 0.5).astype(np.int64)
    sets, counts = np.unique(y, axis=0, return_counts=True)
    # the most frequent row; ties go to the first in np.unique's (lexicographic) order
    majority = sets[int(np.argmax(counts))].astype(np.float64)
    out: dict[str, dict[str, np.ndarray]] = {
        MAJORITY: {split: np.tile(majority, (len(x), 1)) for split, x in features.items()}
    }
    if train_features.shape[1] == 0:
        return out
    model = make_pipeline(StandardScaler(), OneVsRestClassifier(LogisticRegression(max_iter=1000)))
    with warnings.catch_warnings():
        # lbfgs stopping at max_iter, or a label constant in train (predicted constant), still
        # give a usable probe; the card reports its score
        warnings.simplefilter("ignore")
        model.fit(train_features, y)
        out[PROBE] = {split: model.predict_proba(x) for split, x in features.items()}
    return out
