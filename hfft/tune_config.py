"""The `tune:` section of a recipe (and `--trials`, `--timeout`, `--search`), validated into the
settings of one search: its budget, metric, direction, seed, pruning and search space."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hfft import search_space
from hfft.errors import HfftError, RecipeError, did_you_mean, first_line
from hfft.recipe import Recipe
from hfft.search_space import Param

DEFAULTS: dict[str, Any] = {
    "trials": 20,
    "timeout": None,
    "metric": None,
    "direction": None,
    "seed": None,
    "pruning": True,
    "startup_trials": 2,
    "warmup_evaluations": 1,
    "enqueue": [],
    "space": {},
}


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
    """Validate `recipe.tune` and merge the command line's values (which win) into it.

    The search space is the default space for the mode(s), then `tune.space`, then `space`.
    `num_blocks` bounds `model.freeze_layers` (found from the model's config when None).
    """
    raw = recipe.tune or {}
    for key in raw:
        if key not in DEFAULTS:
            raise RecipeError(
                f"unknown recipe key 'tune.{key}'"
                f"{did_you_mean(f'tune.{key}', [f'tune.{k}' for k in DEFAULTS])}; "
                f"valid keys under tune: {sorted(DEFAULTS)}"
            )
    values = {**DEFAULTS, **{k: v for k, v in raw.items() if v is not None}}
    if trials is not None:
        values["trials"] = trials
    if timeout is not None:
        values["timeout"] = timeout
    for key in ("trials", "startup_trials", "warmup_evaluations", "seed"):
        value = values[key]
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise RecipeError(f"tune.{key}: expected an integer, got {value!r}")
    if values["trials"] < 1:
        raise RecipeError(f"tune.trials must be >= 1, got {values['trials']}")
    if values["timeout"] is not None and (
        isinstance(values["timeout"], bool)
        or not isinstance(values["timeout"], (int, float))
        or values["timeout"] <= 0
    ):
        raise RecipeError(
            f"tune.timeout must be a positive number of seconds, got {values['timeout']!r}"
        )
    if not isinstance(values["pruning"], bool):
        raise RecipeError(f"tune.pruning: expected true or false, got {values['pruning']!r}")

    metric, direction = _metric(recipe, values["metric"], values["direction"])
    user_space = _mapping(values["space"], "tune.space")
    layers = [user_space, _mapping(space or {}, "the --search file")]
    modes = search_space.modes_searched(recipe, {**user_space, **(space or {})})
    if num_blocks is None and _needs_blocks(recipe, modes, layers):
        num_blocks = count_blocks(recipe)
    defaults = search_space.default_space(recipe, modes, num_blocks or 0)
    params = search_space.build_space(recipe, [defaults, *layers], num_blocks)
    enqueue = _enqueue(values["enqueue"], params)
    seed = values["seed"] if values["seed"] is not None else int(recipe.training.get("seed", 42))
    return TuneSettings(
        trials=values["trials"],
        timeout=float(values["timeout"]) if values["timeout"] is not None else None,
        metric=metric,
        direction=direction,
        seed=seed,
        pruning=values["pruning"],
        startup_trials=values["startup_trials"],
        warmup_evaluations=values["warmup_evaluations"],
        space=params,
        enqueue=enqueue,
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


def _metric(recipe: Recipe, metric: Any, direction: Any) -> tuple[str, str]:
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
    direction = direction or default
    if direction not in ("maximize", "minimize"):
        raise RecipeError(f"tune.direction must be maximize or minimize, got {direction!r}")
    return metric, direction


def _needs_blocks(recipe: Recipe, modes: list[str], layers: list[dict[str, Any]]) -> bool:
    """Whether freeze_layers is (or would be, by default) part of the search."""
    dropped = any(layer.get("model.freeze_layers", 0) is None for layer in layers)
    return "full" in modes and not dropped


def _enqueue(items: Any, space: dict[str, Param]) -> list[dict[str, Any]]:
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise RecipeError(
            "tune.enqueue must be a list of trials, e.g. [{training.learning_rate: 1.0e-4}]"
        )
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
    import torch
    import transformers
    from transformers import AutoConfig

    from hfft import checkpoint, modes
    from hfft.tasks import TASKS

    spec = recipe.model
    try:
        if spec.config is not None:
            settings = dict(spec.config)
            config = AutoConfig.for_model(settings.pop("model_type"), **settings)
        else:
            config = AutoConfig.from_pretrained(
                checkpoint.resolve(spec.checkpoint), **checkpoint.load_kwargs(spec)
            )
        auto = getattr(transformers, TASKS[recipe.task].model_class)
        with torch.device("meta"):
            model = auto.from_config(config, trust_remote_code=spec.trust_remote_code)
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
