"""The settings of one search: the recipe's `tune:` section (typed and validated at load, see
`hfft.recipe.TuneSpec`) with `--trials`, `--timeout` and `--search` merged in, its metric checked
against `eval.metrics` and its search space against the recipe and the model's size."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hfft import search_space
from hfft.errors import HfftError, RecipeError, did_you_mean, first_line
from hfft.modes import MODES
from hfft.recipe import Recipe
from hfft.search_space import Param


@dataclass
class TuneSettings:
    """The validated `tune:` section, with command-line values applied."""

    trials: int
    timeout: float | None
    metric: str
    direction: str
    seed: int
    pruning: bool
    startup_trials: int
    warmup_evaluations: int
    space: dict[str, Param]
    enqueue: list[dict[str, Any]] = field(default_factory=list)
    baseline: bool = True

    @property
    def metric_key(self) -> str:
        """The key of the metric in `Trainer.evaluate()`'s results."""
        return f"eval_{self.metric}"


def tune_settings(
    recipe: Recipe,
    *,
    trials: int | None = None,
    timeout: float | None = None,
    space: dict[str, Any] | None = None,
    num_blocks: int | None = None,
) -> TuneSettings:
    """The recipe's `tune:` section (validated at load, `hfft.recipe.TuneSpec`) with the command
    line's values, which win, merged in, and its search space checked against the recipe.

    The search space is the default space for the mode(s), then `tune.space`, then `space`.
    `num_blocks` bounds the keys sized by the model's blocks, such as `model.freeze_layers`
    (found from the model's config when None and needed).
    """
    cli = {"trials": trials, "timeout": timeout}
    # `replace` re-runs TuneSpec's checks on the command line's values (--trials 0).
    spec = dataclasses.replace(recipe.tune, **{k: v for k, v in cli.items() if v is not None})
    metric, direction = _metric(recipe, spec.metric, spec.direction)
    user_space = _mapping(spec.space, "tune.space")
    layers = [user_space, _mapping(space or {}, "the --search file")]
    modes = search_space.modes_searched(recipe, {**user_space, **(space or {})})
    if num_blocks is None and _needs_blocks(modes, layers):
        num_blocks = count_blocks(recipe)
    defaults = search_space.default_space(recipe, modes, num_blocks or 0)
    params = search_space.build_space(recipe, [defaults, *layers], num_blocks)
    enqueue = _enqueue(spec.enqueue, params)
    seed = spec.seed if spec.seed is not None else int(recipe.training.get("seed", 42))
    return TuneSettings(
        trials=spec.trials,
        timeout=float(spec.timeout) if spec.timeout is not None else None,
        metric=metric,
        direction=direction,
        seed=seed,
        pruning=spec.pruning,
        startup_trials=spec.startup_trials,
        warmup_evaluations=spec.warmup_evaluations,
        space=params,
        enqueue=enqueue,
        baseline=spec.baseline,
    )


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RecipeError(
            f"{where} must map dotted recipe keys to ranges, e.g. "
            f"{{training.learning_rate: {{type: float, low: 1.0e-5, high: 1.0e-3, log: true}}}}, "
            f"got {value!r}"
        )
    for key in value:
        if not isinstance(key, str):
            raise RecipeError(f"{where}: keys must be dotted recipe keys, got {key!r}")
    return value


def _metric(recipe: Recipe, metric: str | None, direction: str | None) -> tuple[str, str]:
    choices = ["loss", *recipe.eval.metrics]
    metric = str(metric or recipe.eval.metrics[0])
    if metric.removeprefix("eval_") in choices:
        metric = metric.removeprefix("eval_")
    else:
        raise RecipeError(
            f"tune.metric {metric!r} is not computed on the validation split"
            f"{did_you_mean(str(metric), choices)}; choose one of {choices} (or add it to "
            "eval.metrics)"
        )
    default = "minimize" if metric == "loss" else "maximize"
    return metric, direction or default


def _needs_blocks(modes: list[str], layers: list[dict[str, Any]]) -> bool:
    """Whether a key sized by the model's blocks (`model.freeze_layers`) is, or would be by
    default, part of the search: only then is the model's config read."""
    dropped = {key for layer in layers for key, value in layer.items() if value is None}
    return any(
        key not in dropped
        for name in modes
        if name in MODES
        for key in search_space.blocks_sized_keys(MODES[name])
    )


def _enqueue(items: list[dict[str, Any]], space: dict[str, Param]) -> list[dict[str, Any]]:
    for item in items:
        for key in item:
            if key not in space:
                raise RecipeError(
                    f"tune.enqueue: '{key}' is not in the search space"
                    f"{did_you_mean(str(key), space)}; searched keys: {sorted(space)}"
                )
    return items


def count_blocks(recipe: Recipe) -> int:
    """How many blocks `model.freeze_layers` can freeze, from the model's config alone (the model
    is built on the meta device: no weights are loaded or allocated)."""
    from hfft import checkpoint, modes
    from hfft.tasks import TASKS

    try:
        model = checkpoint.build_skeleton(TASKS[recipe.task], recipe.model)
    except (OSError, ValueError) as err:
        raise HfftError(
            f"could not read the config of '{recipe.source}' to size model.freeze_layers: "
            f"{first_line(err)}"
        ) from None
    return modes.anatomy(model).num_blocks


def load_space_file(path: str | Path) -> dict[str, Any]:
    """A `--search SPACE.yaml` file: a mapping of dotted recipe keys to ranges."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"search space file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise RecipeError(f"{path} is not valid YAML: {err}") from None
    if isinstance(raw, dict) and set(raw) == {"space"}:  # a copy of a recipe's tune.space
        raw = raw["space"]
    return _mapping(raw if raw is not None else {}, str(path))
