"""The tags scheme's baselines (see `hfft.baselines`): every word given the most frequent
training tag (O in entity data: no entity found, F1 0, accuracy the share of O words), and a
linear probe, a standardised logistic regression on each scored word's (first sub-token's)
features of the frozen checkpoint, fitted on train's words. Features arrive one row per scored
token, labels as the prepared split's rows (-100 where a token is not scored); each baseline
returns tag ids in those rows, so the scheme's metrics score them as a model's argmax."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from hfft.tasks.tags_metrics import IGNORE

MAJORITY = "majority_tag"
PROBE = "linear_probe"


def _fill(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Tag ids in the shape of the label rows: `values` (one per scored token, in row order)
    where a token is scored, 0 elsewhere (never read)."""
    out = np.zeros(rows.shape, dtype=np.int64)
    out[rows != IGNORE] = values
    return out


def fit_baselines(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    features: Mapping[str, np.ndarray],
    num_labels: int,
    rows: Mapping[str, np.ndarray],
) -> dict[str, dict[str, np.ndarray]]:
    """{baseline: {split: (rows, width) tag ids}}; `rows`: each held-out split's label rows.
    No probe without features (zero columns: no checkpoint) or with one training tag."""
    import warnings

    from hfft.tasks.single_label_baselines import probe

    y = np.asarray(train_labels)
    y = y[y != IGNORE].astype(np.int64)
    common = int(np.argmax(np.bincount(y, minlength=num_labels))) if len(y) else 0
    out: dict[str, dict[str, np.ndarray]] = {
        MAJORITY: {s: _fill(r, np.full(int((r != IGNORE).sum()), common)) for s, r in rows.items()}
    }
    if train_features.shape[1] == 0 or len(np.unique(y)) < 2:
        return out
    model = probe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs at max_iter still gives a usable probe
        model.fit(train_features, y)
    out[PROBE] = {s: _fill(rows[s], model.predict(x)) for s, x in features.items()}
    return out
