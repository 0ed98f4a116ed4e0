"""Paired comparisons of two runs evaluated on the same examples: is the difference in a metric
more than the test set's noise? Both runs' saved predictions (predictions.json) are scored
per example by the label scheme (`interval_stats`) and compared with a paired bootstrap
(hfft.uncertainty.compare): the same resampled examples for both models, so the examples both
get right or wrong cancel out.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hfft.errors import HfftError
from hfft.uncertainty import Comparison, compare


def compare_predictions(
    metrics: Any, a: dict[str, Any], b: dict[str, Any], what: str = "the two runs"
) -> dict[str, Comparison]:
    """{metric: Comparison} of two predictions.json entries of one split (`metrics`: the label
    scheme's metrics object for those labels). HfftError when they are not the same examples."""
    labels_a, labels_b = np.asarray(a["label_ids"]), np.asarray(b["label_ids"])
    if labels_a.shape != labels_b.shape or not np.array_equal(labels_a, labels_b):
        raise HfftError(
            f"{what} were not evaluated on the same examples ({len(labels_a)} and "
            f"{len(labels_b)} labels, or the same number in another order): a paired comparison "
            "needs one split, rows in the same order"
        )
    stats_a, statistics = metrics.interval_stats(np.asarray(a["predictions"]), labels_a)
    stats_b, _ = metrics.interval_stats(np.asarray(b["predictions"]), labels_b)
    return compare(stats_a, stats_b, statistics)


def compare_runs(
    run_a: str | Path, run_b: str | Path, split: str, metric_names: Sequence[str] = ()
) -> dict[str, Comparison]:
    """Paired comparison of two finished run directories on `split` (their predictions.json);
    the metrics of run A's recipe unless `metric_names`."""
    from hfft import checkpoint
    from hfft.evaluation import load_predictions
    from hfft.recipe import load_recipe
    from hfft.run_files import PREDICTIONS_FILE, RECIPE_FILE
    from hfft.tasks import TASKS

    entries = []
    for run in (Path(run_a), Path(run_b)):
        found = load_predictions(run)
        if split not in found:
            raise HfftError(
                f"{run / PREDICTIONS_FILE} has no {split!r} predictions (it has "
                f"{sorted(found)}): evaluate the run with this version of hfft first"
            )
        entries.append(found[split])
    recipe = load_recipe(Path(run_a) / RECIPE_FILE)
    names = checkpoint.label_names(run_a)
    metrics = TASKS[recipe.task].labels.build_metrics(
        list(metric_names or recipe.eval.metrics), names
    )
    return compare_predictions(metrics, *entries, what=f"{run_a} and {run_b}")
