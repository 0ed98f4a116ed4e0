"""The single-label scheme's baselines (see `hfft.baselines`): the majority class, and a linear
probe, scikit-learn's logistic regression on standardised features of the frozen checkpoint,
fitted on train. Each returns scores per class that the scheme's metrics rank like logits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

MAJORITY = "majority_class"
PROBE = "linear_probe"


def probe(max_iter: int = 1000) -> Any:
    """The probe, unfitted: standardised features, then L2 logistic regression (C=1, lbfgs)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))


def fit_baselines(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    features: Mapping[str, np.ndarray],
    num_labels: int,
    rows: Mapping[str, np.ndarray] | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """{baseline: {split: (n, num_labels) scores}}: the train class frequencies for every
    example (the majority class ranks first; ties go to the lower class id, as argmax), and the
    probe's class probabilities. No probe without features (zero columns: no checkpoint) or
    with a single training class."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    y = np.asarray(train_labels).reshape(-1).astype(np.int64)
    prior = np.bincount(y, minlength=num_labels) / max(len(y), 1)
    out: dict[str, dict[str, np.ndarray]] = {
        MAJORITY: {split: np.tile(prior, (len(x), 1)) for split, x in features.items()}
    }
    if train_features.shape[1] == 0 or len(np.unique(y)) < 2:
        return out
    model = probe()
    with warnings.catch_warnings():
        # lbfgs stopping at max_iter still gives a usable probe; the card reports its score
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(train_features, y)
    classes = model.classes_
    scores = {}
    for split, x in features.items():
        full = np.zeros((len(x), num_labels))
        full[:, classes] = model.predict_proba(x)
        scores[split] = full
    out[PROBE] = scores
    return out
