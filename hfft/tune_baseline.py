"""`hfft tune`'s baseline: the recipe's own values run first, and the best trial compared with it.

A search's best validation score is the maximum of many noisy ones, so "the best trial beat the
recipe by 2 points" says little on its own. With `tune.baseline: true` (the default) the recipe as
written is trial 0 (when each of its values lies inside the search space), every trial keeps its
validation predictions, and the report compares the best trial with trial 0 by a paired bootstrap
on the same validation examples (hfft.comparisons). The best trial was chosen on that very split,
so a significant difference there is optimistic; the note in trials.md says how to confirm it on
test. Only the baseline's and the best-so-far trial's predictions stay on disk.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from hfft.recipe import Recipe
from hfft.search_space import Param, mode_of

log = logging.getLogger("hfft")

PREDICTIONS_DIR = "predictions"  # inside RUN_DIR/tune/
COMPARISON_FILE = "comparison.json"  # inside RUN_DIR/tune/


def _recipe_value(recipe: Recipe, key: str) -> Any:
    node: Any = recipe.to_dict()
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _inside(param: Param, value: Any) -> bool:
    if param.type == "categorical":
        return value in param.choices
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return param.low <= value <= param.high


def baseline_values(recipe: Recipe, space: dict[str, Param]) -> dict[str, Any] | None:
    """The recipe's own value of every key the search samples in the recipe's mode, as trial
    params; None (with a log line saying which value) when one lies outside the space."""
    mode = recipe.model.mode
    if "model.mode" in space:
        mode = _recipe_value(recipe, "model.mode")
    values = {}
    for key, param in space.items():
        if key != "model.mode" and mode_of(key) not in (None, mode):
            continue  # another mode's key: not sampled in the recipe's mode
        value = _recipe_value(recipe, key)
        if not _inside(param, value):
            log.info("tune: no baseline trial: the recipe's %s=%r is outside the space", key, value)
            return None
        values[key] = value
    return values


def keep_validation_predictions(run: Any, tune_dir: Path, number: int) -> None:
    """Write trial `number`'s validation predictions (the label scheme's `keep`, as
    predictions.json holds them) to tune_dir/predictions/trial-NNN.json."""
    from hfft.evaluation import predict_split

    recipe = run.recipe
    metrics = run.task.labels.build_metrics(
        list(recipe.eval.metrics), run.data.label_names, recipe.eval.threshold
    )
    output = predict_split(run.trainer, run.trainer.eval_dataset, metrics, "validation")
    metrics.fit(*output)  # a multi-label run's thresholds, as `hfft train` fits them
    folder = tune_dir / PREDICTIONS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    kept = {
        "scheme": run.task.labels.name,
        "label_names": list(run.data.label_names),
        "kept": metrics.keep(*output),
    }
    (folder / f"trial-{number:03d}.json").write_text(json.dumps(kept) + "\n")


def prune_predictions(tune_dir: Path, keep: set[int]) -> None:
    """Delete the kept predictions of every trial not in `keep` (the baseline and the best so
    far): disk use stays flat however many trials run."""
    folder = tune_dir / PREDICTIONS_DIR
    for path in folder.glob("trial-*.json") if folder.is_dir() else ():
        if int(path.stem.removeprefix("trial-")) not in keep:
            path.unlink()


def compare_with_baseline(
    recipe: Recipe, tune_dir: Path, best: int, metric: str
) -> dict[str, Any] | None:
    """The paired comparison of the best trial with trial 0 (the recipe's values) on the
    validation split, written to tune_dir/comparison.json; None without both predictions or
    for a metric no label scheme scores per example (the loss)."""
    from hfft.comparisons import compare_predictions
    from hfft.tasks import TASKS

    folder = tune_dir / PREDICTIONS_DIR
    paths = [folder / f"trial-{n:03d}.json" for n in (best, 0)]
    if best == 0 or metric == "loss" or not all(p.is_file() for p in paths):
        return None
    saved = [json.loads(p.read_text()) for p in paths]
    # The trial's own label scheme (a multi-label recipe's data chose it), from its predictions.
    scheme = TASKS[recipe.task].labels
    for candidate in TASKS[recipe.task].label_schemes:
        if candidate.name == saved[0].get("scheme"):
            scheme = candidate
    metrics = scheme.build_metrics([metric], saved[0]["label_names"], recipe.eval.threshold)
    entries = [s["kept"] for s in saved]
    found = compare_predictions(metrics, *entries, what=f"trials {best} and 0")[metric]
    result = {"best_trial": best, "baseline_trial": 0, "split": "validation", **found.to_dict()}
    result["verdict"] = found.verdict(f"trial {best}", "the recipe's values")
    (tune_dir / COMPARISON_FILE).write_text(json.dumps(result, indent=2) + "\n")
    return result
