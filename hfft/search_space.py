"""Search spaces for `hfft tune`: dotted recipe keys -> Optuna distributions.

A space is a mapping from a dotted recipe key to a range, e.g.

    training.learning_rate: {type: float, low: 1.0e-5, high: 1.0e-2, log: true}
    model.lora.r: {type: categorical, choices: [4, 8, 16]}
    model.freeze_layers: {type: int, low: 0, high: 12}

Every key is checked against the recipe (an unknown key is an error naming the nearest valid one)
by building the recipe with the range's values, so a trial can never fail on a misspelt key.
A mode's own keys (`Mode.own_keys`: `model.lora.*` of LoRA, `model.freeze_layers` of full
fine-tuning) are sampled only in trials of that mode, which makes `model.mode` itself searchable.
The default space comes from the modes (`Mode.learning_rates`, `Mode.search_space`).
"""

from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass, field, is_dataclass
from typing import Any, Literal, get_type_hints

from hfft.errors import RecipeError, did_you_mean
from hfft.modes import MODES, Mode
from hfft.recipe import ModelSpec, Recipe, recipe_from_dict, set_dotted

SPEC_KEYS = ("type", "low", "high", "log", "step", "choices")
TYPES = ("float", "int", "categorical")
# What may vary between trials: these and every mode's own keys. The data is loaded per trial, but
# a different processor or checkpoint would make trials incomparable, and output paths/Hub
# settings are not hyper-parameters.
SEARCHABLE = ("training.", "model.mode", "early_stopping.", "optim.")
NOT_SEARCHABLE = ("training.output_dir",)
BATCH_SIZES = [8, 16, 32]


@dataclass
class Param:
    """One dimension of the search: a recipe key and the values Optuna may give it."""

    key: str
    type: Literal["float", "int", "categorical"]
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: list[Any] = field(default_factory=list)

    def suggest(self, trial: Any) -> Any:
        """This parameter's value in `trial` (an `optuna.Trial`); the key is the param name."""
        if self.type == "categorical":
            return trial.suggest_categorical(self.key, self.choices)
        if self.type == "int":
            return trial.suggest_int(
                self.key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    def examples(self) -> list[Any]:
        """Values that exercise the range's ends (used to validate the key against the recipe)."""
        return list(self.choices) if self.type == "categorical" else [self.low, self.high]

    def to_dict(self) -> dict[str, Any]:
        """The range as a `tune.space` entry (what `parse_param` reads back)."""
        if self.type == "categorical":
            return {"type": "categorical", "choices": list(self.choices)}
        out: dict[str, Any] = {"type": self.type, "low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.step is not None:
            out["step"] = self.step
        return out


def mode_of(key: str) -> str | None:
    """The mode a key only matters in (one of its own keys, or a key under one), or None when it
    matters in every mode."""
    for mode in MODES.values():
        if any(_under(key, own) for own in mode.search_keys()):
            return mode.name
    return None


def _under(key: str, own: str) -> bool:
    """Whether `key` is the recipe key `own` or a key inside it (`model.lora.r` in `model.lora`)."""
    own = own.rstrip(".")
    return key == own or key.startswith(own + ".")


def _searchable(key: str) -> bool:
    return (key.startswith(SEARCHABLE) or mode_of(key) is not None) and key not in NOT_SEARCHABLE


def _own_keys_shown() -> str:
    """The modes' own keys as a message lists them: `model.freeze_layers, model.lora.*`."""
    hints = get_type_hints(ModelSpec)
    return ", ".join(
        f"model.{key}.*"
        if is_dataclass(hints[key]) or hints[key] == dict[str, Any]
        else f"model.{key}"
        for mode in MODES.values()
        for key in mode.own_keys
    )


def blocks_sized_keys(mode: Mode) -> set[str]:
    """Keys of the mode's default space whose range grows with the model's number of blocks
    (`model.freeze_layers`: 0..blocks): a search over them needs the model's size."""
    few, more = mode.search_space(1), mode.search_space(2)
    return {key for key in few.keys() | more.keys() if few.get(key) != more.get(key)}


def parse_param(key: str, spec: Any) -> Param:
    """Validate one `key: {type, low, high, ...}` entry of a search space."""
    where = f"tune.space '{key}'"
    if isinstance(spec, list):  # shorthand: a plain list of values is a categorical choice
        spec = {"type": "categorical", "choices": spec}
    if not isinstance(spec, dict):
        raise RecipeError(
            f"{where} must be a mapping such as {{type: float, low: 1.0e-5, high: 1.0e-3, "
            f"log: true}} or {{type: categorical, choices: [8, 16]}}, got {spec!r}"
        )
    for name in spec:
        if name not in SPEC_KEYS:
            raise RecipeError(
                f"{where}: unknown setting '{name}'{did_you_mean(str(name), SPEC_KEYS)}; "
                f"settings: {list(SPEC_KEYS)}"
            )
    kind = spec.get("type") or ("categorical" if "choices" in spec else _infer_number(spec))
    if kind not in TYPES:
        raise RecipeError(f"{where}: type {kind!r}{did_you_mean(str(kind), TYPES)}; use {TYPES}")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise RecipeError(f"{where}: categorical needs a non-empty list of choices")
        if any(c is not None and not isinstance(c, (bool, int, float, str)) for c in choices):
            raise RecipeError(f"{where}: choices must be numbers, strings, booleans or null")
        if len(set(map(repr, choices))) < len(choices):
            raise RecipeError(f"{where}: choices {choices} repeat a value")
        return Param(key, "categorical", choices=list(choices))
    return _parse_range(key, kind, spec, where)


def _infer_number(spec: dict[str, Any]) -> str:
    bounds = [spec.get("low"), spec.get("high")]
    return "int" if all(isinstance(b, int) and not isinstance(b, bool) for b in bounds) else "float"


def _parse_range(key: str, kind: str, spec: dict[str, Any], where: str) -> Param:
    if "choices" in spec:
        raise RecipeError(f"{where}: 'choices' belongs to type categorical, not {kind}")
    bounds = {}
    for name in ("low", "high"):
        value = spec.get(name)
        if isinstance(value, str):  # YAML 1.1 reads 1e-5 (no dot) as a string
            with contextlib.suppress(ValueError):
                value = float(value)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or (kind == "int" and value != int(value)):
            expected = "an integer" if kind == "int" else "a number"
            raise RecipeError(f"{where}: {name} must be {expected}, got {value!r}")
        bounds[name] = int(value) if kind == "int" else float(value)
    low, high = bounds["low"], bounds["high"]
    if low >= high:
        raise RecipeError(
            f"{where}: empty range low={low} >= high={high}; use low < high (a fixed value "
            "belongs in the recipe itself)"
        )
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise RecipeError(f"{where}: log must be true or false, got {log!r}")
    if log and low <= 0:
        raise RecipeError(f"{where}: a log range needs low > 0, got low={low}")
    step = spec.get("step")
    if step is not None:
        if log:
            raise RecipeError(f"{where}: step and log cannot be combined (Optuna)")
        if not isinstance(step, (int, float)) or isinstance(step, bool) or step <= 0:
            raise RecipeError(f"{where}: step must be a positive number, got {step!r}")
        if kind == "int" and step != int(step):
            raise RecipeError(f"{where}: an int range needs an integer step, got {step!r}")
    return Param(key, kind, low=low, high=high, log=log, step=step)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# The default space and the recipe checks


def modes_searched(base: Recipe, space: dict[str, Any]) -> list[str]:
    """The modes trials may run in: `model.mode`'s choices when searched, else the recipe's."""
    spec = space.get("model.mode")
    if isinstance(spec, dict) and isinstance(spec.get("choices"), list):
        return [str(c) for c in spec["choices"]]
    if isinstance(spec, list):
        return [str(c) for c in spec]
    return [base.model.mode]


def default_space(base: Recipe, modes: list[str], num_blocks: int) -> dict[str, dict[str, Any]]:
    """The default search space for trials in `modes`: learning rate (log-uniform, over the
    modes' ranges), batch size, epochs, and each mode's own default space (`Mode.search_space`,
    e.g. `freeze_layers` up to `num_blocks`, LoRA r/alpha/dropout)."""
    searched = [MODES[m] for m in modes if m in MODES] or [MODES[base.model.mode]]
    ranges = [mode.learning_rates for mode in searched]
    batch = base.training.get("per_device_train_batch_size")
    epochs = int(base.training.get("num_train_epochs") or 3)
    space: dict[str, dict[str, Any]] = {
        "training.learning_rate": {
            "type": "float",
            "low": min(low for low, _ in ranges),
            "high": max(high for _, high in ranges),
            "log": True,
        },
        "training.per_device_train_batch_size": {
            "type": "categorical",
            "choices": sorted({*BATCH_SIZES, *([int(batch)] if batch else [])}),
        },
        "training.num_train_epochs": {"type": "int", "low": 1, "high": max(epochs, 1) + 2},
    }
    for mode in MODES.values():  # in the registry's order, whatever the order of `modes`
        if mode.name in modes:
            space.update(mode.search_space(num_blocks))
    return space


def build_space(
    base: Recipe, layers: list[dict[str, Any]], num_blocks: int | None
) -> dict[str, Param]:
    """Merge space layers (later wins; `key: null` drops a key) and validate every key against
    the recipe. `num_blocks` (None: unknown) bounds `model.freeze_layers`."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)
    # model.mode first: it decides which of the other keys a trial samples (and reads first).
    order = sorted(merged, key=lambda key: key != "model.mode")
    space = {key: parse_param(key, merged[key]) for key in order if merged[key] is not None}
    if not space:
        raise RecipeError("the search space is empty: add keys under tune.space (or --search)")
    modes = modes_searched(base, {k: p.to_dict() for k, p in space.items()})
    for mode in modes:
        if mode not in MODES:
            raise RecipeError(
                f"tune.space 'model.mode': unknown mode {mode!r}{did_you_mean(mode, MODES)}; "
                f"modes: {list(MODES)}"
            )
    for key, param in space.items():
        needed = mode_of(key)
        # The recipe names a misspelt key (with the nearest valid one) before anything else.
        check_value(base, key, param.examples()[0], needed)
        if not _searchable(key):
            raise RecipeError(
                f"tune.space '{key}' cannot vary between trials: search keys under "
                "training.* (but output_dir), early_stopping.*, model.mode, or a mode's own "
                f"keys ({_own_keys_shown()})"
            )
        if needed and needed not in modes:
            raise RecipeError(
                f"tune.space '{key}' only matters in mode {needed}, but trials run in "
                f"{' / '.join(modes)}: set model.mode={needed} or add {needed} to model.mode's "
                "choices"
            )
        for value in param.examples():
            check_value(base, key, value, needed)
        if needed and num_blocks is not None:
            _check_within_blocks(key, param, MODES[needed], num_blocks)
    return space


def _check_within_blocks(key: str, param: Param, mode: Mode, num_blocks: int) -> None:
    """A key sized by the model's blocks (see `blocks_sized_keys`) stays within the mode's
    default range for this model."""
    if key not in blocks_sized_keys(mode):
        return
    limit = mode.search_space(num_blocks).get(key, {"low": 0, "high": 0})
    values = param.choices if param.type == "categorical" else [param.low, param.high]
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if numbers and max(numbers) > limit["high"]:
        shown = f"high={param.high}" if param.type != "categorical" else f"choice {max(numbers)}"
        raise RecipeError(
            f"tune.space '{key}': {shown} but the model has {num_blocks} blocks; use a range "
            f"within {limit['low']}..{limit['high']}"
        )


def check_value(base: Recipe, key: str, value: Any, mode: str | None = None) -> None:
    """Raise RecipeError (naming the search key) when the recipe rejects `key = value`."""
    values = {key: value}
    if mode and key != "model.mode":
        values["model.mode"] = mode
    try:
        recipe = apply_values(base, values)
        if key.startswith("training."):
            # TrainingArguments checks its own values (scheduler names, strategies, ...).
            from hfft.run import training_arguments
            from hfft.tasks import TASKS

            training_arguments(recipe, TASKS[recipe.task])
    except RecipeError as err:
        raise RecipeError(f"tune.space '{key}' (value {value!r}): {err}") from None


def apply_values(base: Recipe, values: dict[str, Any], output_dir: str | None = None) -> Recipe:
    """The base recipe with `values` (dotted key -> value) set, validated like any recipe."""
    raw = copy.deepcopy(base.to_dict())
    mode = values.get("model.mode", base.model.mode)
    for other in MODES.values():
        if other.name != mode:
            # Another mode's own keys mean nothing (and are refused) in this trial's mode: back
            # to their defaults, as a trial from a LoRA recipe in full mode drops model.lora.r.
            for key in other.own_keys:
                raw["model"].pop(key, None)
    for key, value in values.items():
        set_dotted(raw, key, value)
    if output_dir is not None:
        raw["training"]["output_dir"] = output_dir
    return recipe_from_dict(raw)


def sample(trial: Any, space: dict[str, Param], base_mode: str) -> dict[str, Any]:
    """The values of one trial: the mode first, then every key that matters in that mode."""
    values: dict[str, Any] = {}
    mode = base_mode
    if "model.mode" in space:
        mode = values["model.mode"] = space["model.mode"].suggest(trial)
    for key, param in space.items():
        if key == "model.mode":
            continue
        needed = mode_of(key)
        if needed is None or needed == mode:
            values[key] = param.suggest(trial)
    return values
