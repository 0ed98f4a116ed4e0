"""Recipes: YAML -> validated dataclasses, dotted overrides, strict unknown-key errors.

A recipe is plain data. Validation happens here, once, so the pipeline can trust every field:
an unknown key anywhere is an error naming the key and the nearest valid one, and every value is
checked against its field's type (a YAML `5e-3`, which YAML reads as a string, is accepted as the
float it obviously is).
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from hfft.errors import RecipeError, did_you_mean, first_line
from hfft.resources import recipes_dir

Mode = Literal["full", "frozen", "lora"]
MODES: tuple[str, ...] = typing.get_args(Mode)
# TrainingArguments fields that hold secrets: refused in recipes.
SECRET_TRAINING_KEYS = ("hub_token",)
RECIPES_DIR = recipes_dir()


@dataclass
class LoraSpec:
    """LoRA hyper-parameters, passed to `peft.LoraConfig`."""

    r: int = 16
    alpha: int = 16
    dropout: float = 0.1
    # "auto" derives the attention projections of each architecture (see hfft.modes).
    target_modules: Union[str, list[str]] = "auto"  # noqa: UP007 (runtime-inspected)
    bias: Literal["none", "all", "lora_only"] = "none"

    def __post_init__(self) -> None:
        if self.r < 1:
            raise RecipeError(f"model.lora.r must be >= 1, got {self.r}")
        if not 0.0 <= self.dropout < 1.0:
            raise RecipeError(f"model.lora.dropout must be in [0, 1), got {self.dropout}")


@dataclass
class ModelSpec:
    """Which checkpoint to adapt and how (the adaptation mode)."""

    # Hub id or local directory of a pretrained model ...
    checkpoint: Union[str, None] = None  # noqa: UP007
    # ... or, to train from scratch, a config: {model_type: vit, hidden_size: 64, ...}.
    config: Union[dict[str, Any], None] = None  # noqa: UP007
    # Processor to use instead of the checkpoint's: a path/Hub id, or {class: ViTImageProcessor,
    # ...kwargs}. Required with `config`.
    processor: Union[str, dict[str, Any], None] = None  # noqa: UP007
    mode: Mode = "full"
    # full mode only: also freeze the embeddings and the N lowest blocks.
    freeze_layers: int = 0
    lora: LoraSpec = field(default_factory=LoraSpec)
    # The backbone's module name (e.g. vision_model), for a model whose backbone hfft cannot tell
    # from its head by itself (frozen, lora and freeze_layers need to know).
    backbone: Union[str, None] = None  # noqa: UP007
    revision: Union[str, None] = None  # noqa: UP007
    # frozen mode: run the backbone once and train the head on cached features. null = whenever
    # possible (frozen, no augmentation, a one-module head); true = required; false = never.
    cache_features: Union[bool, None] = None  # noqa: UP007
    trust_remote_code: bool = False
    # Pickled `.bin` weights can run arbitrary code when loaded: opt in explicitly.
    allow_pickle: bool = False

    def __post_init__(self) -> None:
        if (self.checkpoint is None) == (self.config is None):
            raise RecipeError(
                "set exactly one of model.checkpoint (a pretrained model) and model.config "
                "(train from scratch, e.g. {model_type: vit, hidden_size: 64})"
            )
        if self.config is not None:
            if "model_type" not in self.config:
                raise RecipeError("model.config needs model_type, e.g. model.config.model_type=vit")
            if self.processor is None:
                raise RecipeError(
                    "model.config trains from scratch, so there is no checkpoint processor: set "
                    "model.processor to a path/Hub id or {class: ViTImageProcessor, size: ...}"
                )
            if self.mode != "full":
                raise RecipeError(
                    f"model.mode '{self.mode}' adapts pretrained weights; a model built from "
                    "model.config has none: use model.mode=full"
                )
        if self.freeze_layers < 0:
            raise RecipeError(f"model.freeze_layers must be >= 0, got {self.freeze_layers}")
        if self.freeze_layers and self.mode != "full":
            raise RecipeError(
                f"model.freeze_layers={self.freeze_layers} only applies to mode 'full' "
                f"(mode is '{self.mode}'): remove it or set model.mode=full"
            )


@dataclass
class AugmentationSpec:
    """Train-time image augmentation (torchvision transforms v2), applied lazily."""

    enabled: bool = True
    horizontal_flip: bool = True
    rotation_degrees: float = 10.0
    # Random-resized-crop scale range (zoom); [1.0, 1.0] disables zoom.
    crop_scale: list[float] = field(default_factory=lambda: [0.8, 1.0])

    def __post_init__(self) -> None:
        scale = self.crop_scale
        if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
            raise RecipeError(
                f"data.augmentation.crop_scale must be [low, high] with 0 < low <= high <= 1, "
                f"got {self.crop_scale}"
            )


@dataclass
class DataSpec:
    """What `datasets.load_dataset` takes, plus the mapping onto hfft's standard columns."""

    path: str
    name: Union[str, None] = None  # noqa: UP007
    data_dir: Union[str, None] = None  # noqa: UP007
    data_files: Union[str, list[str], dict[str, Any], None] = None  # noqa: UP007
    revision: Union[str, None] = None  # noqa: UP007
    # hfft standard name ("image"/"text", "label") -> the dataset's column name.
    columns: dict[str, str] = field(default_factory=dict)
    train_split: str = "train"
    validation_split: Union[str, None] = None  # noqa: UP007  (None: found or carved)
    test_split: Union[str, None] = None  # noqa: UP007
    # Carved (stratified, seeded) from train when the dataset has no such split.
    validation_fraction: float = 0.1
    test_fraction: float = 0.0
    seed: int = 42
    max_train_samples: Union[int, None] = None  # noqa: UP007
    max_eval_samples: Union[int, None] = None  # noqa: UP007
    # Text tasks: tokenizer truncation length.
    max_length: int = 256
    # Image tasks only.
    augmentation: AugmentationSpec = field(default_factory=AugmentationSpec)
    # Examples that cannot be used (an image that does not decode or is not 8-bit, an empty
    # text, a missing label): "error" stops before training with the list of them (file/row and
    # why); "skip" leaves them out, counted and reported.
    on_bad_example: Literal["error", "skip"] = "error"

    def __post_init__(self) -> None:
        for key in ("validation_fraction", "test_fraction"):
            value = getattr(self, key)
            if not 0.0 <= value < 1.0:
                raise RecipeError(f"data.{key} must be in [0, 1), got {value}")
        if self.validation_fraction + self.test_fraction >= 1.0:
            raise RecipeError("data.validation_fraction + data.test_fraction must be below 1")


@dataclass
class EarlyStoppingSpec:
    """Stop when the validation loss has not improved for `patience` evaluations."""

    patience: Union[int, None] = 3  # noqa: UP007  (null disables early stopping)
    threshold: float = 0.0


@dataclass
class EvalSpec:
    """Metrics computed during and after training (names from hfft.metrics)."""

    metrics: list[str] = field(default_factory=lambda: ["accuracy", "f1_macro"])


@dataclass
class HubSpec:
    """Push the run directory to the Hub when training ends."""

    repo_id: Union[str, None] = None  # noqa: UP007
    private: bool = False
    push: bool = False
    # The model card's license (a Hub license id such as apache-2.0), when you know it.
    license: Union[str, None] = None  # noqa: UP007

    def __post_init__(self) -> None:
        if self.push and not self.repo_id:
            raise RecipeError(
                "hub.push is true but hub.repo_id is not set: add hub.repo_id=USER/NAME"
            )


@dataclass
class Recipe:
    """A whole recipe. `training` is passed straight to `transformers.TrainingArguments`."""

    task: str
    model: ModelSpec
    data: DataSpec
    training: dict[str, Any] = field(default_factory=dict)
    early_stopping: EarlyStoppingSpec = field(default_factory=EarlyStoppingSpec)
    eval: EvalSpec = field(default_factory=EvalSpec)
    hub: HubSpec = field(default_factory=HubSpec)
    # Hyper-parameter search settings (`hfft tune`), validated by hfft.tune.
    tune: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """What the model starts from, for logs and cards."""
        if self.model.checkpoint:
            return self.model.checkpoint
        return f"scratch ({self.model.config['model_type']} config)"

    @property
    def output_dir(self) -> Path:
        return Path(self.training["output_dir"])

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        """The resolved recipe as YAML, any token masked (it is written to files)."""
        from hfft.redact import redact_tree

        return yaml.safe_dump(redact_tree(self.to_dict()), sort_keys=False)

    def save(self, path: Path) -> None:
        Path(path).write_text(self.to_yaml())


# --------------------------------------------------------------------------------------------
# Loading


def load_recipe(
    source: str | Path | dict[str, Any], overrides: typing.Sequence[str] = ()
) -> Recipe:
    """Load a recipe from a YAML path (or a dict), apply `key.sub=value` overrides, validate."""
    if isinstance(source, dict):
        raw = copy.deepcopy(source)  # overrides must not leak into the caller's dict
    else:
        path = Path(source)
        if not path.is_file():
            hint = ""
            if (RECIPES_DIR / path).is_file():
                hint = f" (a bundled recipe has that name: recipes/{path})"
            raise RecipeError(
                f"recipe file not found: {path}{hint}; `hfft recipes` lists bundled ones"
            )
        try:
            raw = yaml.safe_load(path.read_text())
        except (yaml.YAMLError, ValueError) as err:
            # ValueError: YAML matched a value it cannot build, such as the date 2001-02-30.
            raise RecipeError(f"{path} is not valid YAML: {_yaml_problem(err)}") from None
        if not isinstance(raw, dict):
            raise RecipeError(
                f"{path} must hold a mapping of recipe keys, got {type(raw).__name__}"
            )
    for item in overrides:
        apply_override(raw, item)
    return recipe_from_dict(raw)


def _yaml_problem(err: Exception) -> str:
    """One line: what YAML could not parse, and where."""
    problem = getattr(err, "problem", None) or first_line(err)
    mark = getattr(err, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{problem}{where}"


def parse_override(item: str) -> tuple[list[str], Any]:
    """`a.b.c=value` -> (["a", "b", "c"], yaml-parsed value)."""
    key, sep, text = item.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(p.strip() for p in parts):
        raise RecipeError(f"override {item!r} must look like key.sub=value (e.g. model.mode=lora)")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except (yaml.YAMLError, ValueError):
        # Unparseable, or a value YAML cannot build (the date 2001-02-30): the literal string.
        value = text
    return [p.strip() for p in parts], value


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Set a dotted key in a raw recipe dict, creating intermediate mappings."""
    parts, value = parse_override(item)
    node = raw
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            dotted = ".".join(parts[: i + 1])
            raise RecipeError(f"override {item!r}: {dotted} is a value, not a section")
        node = child
    node[parts[-1]] = value


def recipe_from_dict(raw: dict[str, Any]) -> Recipe:
    """Build and validate a `Recipe` from a plain dict (as read from YAML)."""
    recipe = _build(Recipe, raw, prefix="")
    _validate_task(recipe.task)
    if "output_dir" not in recipe.training or not recipe.training["output_dir"]:
        raise RecipeError(
            "training.output_dir is required: the run directory, e.g. training.output_dir=runs/x"
        )
    recipe.training = _validate_training(recipe.training)
    return recipe


def _validate_task(task: str) -> None:
    from hfft.tasks import TASKS

    if task not in TASKS:
        raise RecipeError(
            f"unknown task '{task}'{did_you_mean(task, TASKS)}; tasks: {sorted(TASKS)}"
        )


def _build(cls: type, raw: Any, prefix: str) -> Any:
    """Recursively turn a mapping into dataclass `cls`, rejecting unknown keys."""
    where = prefix.rstrip(".") or "the recipe"
    if not isinstance(raw, dict):
        raise RecipeError(f"{where} must be a mapping, got {_show(raw)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            raise RecipeError(
                f"unknown recipe key '{prefix}{key}'"
                f"{did_you_mean(f'{prefix}{key}', [prefix + f for f in fields])}; "
                f"valid keys{' under ' + prefix.rstrip('.') if prefix else ''}: {sorted(fields)}"
            )
    kwargs = {}
    for name, f in fields.items():
        if name in raw:
            kwargs[name] = _coerce(hints[name], raw[name], f"{prefix}{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RecipeError(f"missing required recipe key '{prefix}{name}'")
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    """Check `value` against type `hint`; return it (converted where lossless)."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, {} if value is None else value, prefix=key + ".")
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, key)
            except RecipeError as err:
                errors.append(err)
        raise (
            errors[0]
            if len(errors) == 1
            else RecipeError(f"{key}: expected {_describe(hint)}, got {_show(value)}")
        )
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise RecipeError(
                f"{key}: unknown value {value!r}{did_you_mean(str(value), map(str, choices))}; "
                f"choose one of {list(choices)}"
            )
        return value
    if hint is Any:
        return value
    if origin is list:
        if not isinstance(value, list):
            raise RecipeError(f"{key}: expected a list, got {_show(value)}")
        (item,) = typing.get_args(hint) or (Any,)
        return [_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"{key}: expected a mapping, got {_show(value)}")
        return dict(value)
    return _coerce_scalar(hint, value, key)


def _coerce_scalar(hint: type, value: Any, key: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise RecipeError(f"{key}: expected true or false, got {_show(value)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise RecipeError(f"{key}: expected an integer, got {_show(value)}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # YAML 1.1 reads `5e-3` (no dot) as a string; accept what is plainly a number.
            try:
                return float(value)
            except ValueError:
                pass
        raise RecipeError(f"{key}: expected a number, got {_show(value)}")
    if hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise RecipeError(f"{key}: expected a string, got {_show(value)}")
    raise TypeError(f"recipe field {key} has unsupported type {hint}")


def _show(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _describe(hint: Any) -> str:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return " or ".join(getattr(a, "__name__", str(a)) for a in args)


# --------------------------------------------------------------------------------------------
# training: -> TrainingArguments keys


def _validate_training(training: dict[str, Any]) -> dict[str, Any]:
    """Reject keys TrainingArguments does not have, and non-numeric values for numeric fields."""
    from transformers import TrainingArguments

    fields = {f.name: f for f in dataclasses.fields(TrainingArguments) if f.init}
    hints = typing.get_type_hints(TrainingArguments)
    out = {}
    for key, value in training.items():
        if key in SECRET_TRAINING_KEYS:
            raise RecipeError(
                f"training.{key}: a recipe is saved in the run directory and pushed with the "
                "model, so it must never hold a token; set HF_TOKEN or run `hf auth login`"
            )
        if key not in fields:
            raise RecipeError(
                f"unknown recipe key 'training.{key}'"
                f"{did_you_mean(f'training.{key}', ['training.' + f for f in fields])}: "
                "training: takes transformers.TrainingArguments options"
            )
        hint = hints.get(key, Any)
        plain = _plain_type(hint)
        if plain is not None and value is not None:
            value = _coerce_scalar(plain, value, f"training.{key}")
        out[key] = value
    return out


def _plain_type(hint: Any) -> type | None:
    """int/float/str when the TrainingArguments field is (optionally) a plain number or string
    (output_dir: a folder, never `true`), else None."""
    args = [a for a in (typing.get_args(hint) or (hint,)) if a is not type(None)]
    if len(args) == 1 and args[0] in (int, float, str):
        return args[0]
    return None


def bundled_recipes() -> list[tuple[str, str]]:
    """(path relative to recipes/, first line) for every bundled recipe."""
    out = []
    for path in sorted(RECIPES_DIR.rglob("*.yaml")):
        first = path.read_text().splitlines()[0].lstrip("# ").strip() if path.stat().st_size else ""
        out.append((str(path.relative_to(RECIPES_DIR.parent)), first))
    return out
