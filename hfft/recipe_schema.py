"""The recipe's sections as dataclasses, each checking its own values in `__post_init__`.

Every number is checked against its valid range here, at recipe load, so a bad value is one line
naming the key, the value and the range before any model or data loads (not a traceback from
deep inside the Trainer after minutes of loading). Checks that need two sections (a text key in
an image task) live in `hfft.recipe_checks`. The sections know no mode by name: `model.mode` and
the keys each mode owns are checked against the mode values in `hfft.modes`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from hfft.errors import RecipeError, did_you_mean
from hfft.modes import DEFAULT_MODE, MODES, Mode
from hfft.modes.lora import LoraSpec
from hfft.modes.lp_ft import LpFtSpec
from hfft.recipe_types import MAX_SEED, check_range
from hfft.tune_spec import TuneSpec
from hfft.zero_shot_spec import HEAD_INITS, ZeroShotSpec

__all__ = [
    "MAX_SEED",
    "MODES",
    "DataSpec",
    "EarlyStoppingSpec",
    "EvalSpec",
    "HubSpec",
    "LoraSpec",
    "LpFtSpec",
    "Mode",
    "ModelSpec",
    "OptimSpec",
    "Recipe",
    "TuneSpec",
    "check_range",
]


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
    # One of hfft.modes.MODES: how the model adapts (full, frozen backbone, LoRA, ...).
    mode: str = DEFAULT_MODE
    # An own key of the full mode: also freeze the embeddings and the N lowest blocks.
    freeze_layers: int = 0
    # The LoRA mode's options.
    lora: LoraSpec = field(default_factory=LoraSpec)
    # The peft mode's options: `method` and that method's PEFT config keys (the mode checks
    # them against its config class).
    peft: dict[str, Any] = field(default_factory=dict)
    # The lp-ft mode's options: probe epochs and the mode that fine-tunes after the probe.
    lp_ft: LpFtSpec = field(default_factory=LpFtSpec)
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
    # How the new head starts: null = at random; zero-shot = from an image-text checkpoint's
    # class prompts (CLIP/SigLIP), so the model predicts what zero-shot does before any step.
    head_init: Union[str, None] = None  # noqa: UP007
    # Zero-shot classification's prompts (hfft zero-shot, head_init: zero-shot, baseline row).
    zero_shot: ZeroShotSpec = field(default_factory=ZeroShotSpec)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise RecipeError(
                f"model.mode: unknown value {self.mode!r}{did_you_mean(self.mode, MODES)}; "
                f"choose one of {list(MODES)}"
            )
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
            if not MODES[self.mode].from_scratch:
                scratch = " or ".join(m.name for m in MODES.values() if m.from_scratch)
                raise RecipeError(
                    f"model.mode '{self.mode}' adapts pretrained weights; a model built from "
                    f"model.config has none: use model.mode={scratch}"
                )
        check_range("model.freeze_layers", self.freeze_layers, 0)
        if self.head_init is not None and self.head_init not in HEAD_INITS:
            raise RecipeError(
                f"model.head_init: unknown value {self.head_init!r}"
                f"{did_you_mean(str(self.head_init), HEAD_INITS)}; choose one of "
                f"{list(HEAD_INITS)} or null (a new random head)"
            )
        if self.head_init is not None and self.config is not None:
            raise RecipeError(
                f"model.head_init={self.head_init} starts from a pretrained image-text "
                "checkpoint; a model built from model.config has none: set model.checkpoint"
            )
        self._check_other_modes_keys()
        MODES[self.mode].check(self)

    def _check_other_modes_keys(self) -> None:
        """Refuse a key another mode owns, set to other than its default: it would do nothing
        in this mode (a value equal to the default, as a saved recipe spells out, is fine)."""
        defaults = {f.name: _default(f) for f in dataclasses.fields(self)}
        # LP-FT fine-tunes in another mode, whose own keys then apply too.
        reading = (self.mode, MODES[self.mode].delegate(self))
        for owner in MODES.values():
            if owner.name in reading:
                continue
            for key in owner.own_keys:
                value = getattr(self, key)
                if dataclasses.is_dataclass(value):
                    changed = _changed_fields(value, defaults[key])
                    if changed:
                        name, sub = changed[0]
                        raise RecipeError(
                            f"model.{key}.{name}={sub} only applies to mode '{owner.name}' (mode "
                            f"is '{self.mode}'): remove model.{key} or set model.mode={owner.name}"
                        )
                elif value != defaults[key]:
                    raise RecipeError(
                        f"model.{key}={value} only applies to mode '{owner.name}' (mode is "
                        f"'{self.mode}'): remove it or set model.mode={owner.name}"
                    )


def _default(f: dataclasses.Field) -> Any:
    """A dataclass field's default value (built anew from its factory)."""
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def _changed_fields(spec: Any, default: Any) -> list[tuple[str, Any]]:
    """(name, value) of the fields of `spec` that differ from `default`: what a user set (a
    value equal to the default, as a saved recipe spells out, changes nothing)."""
    return [
        (f.name, getattr(spec, f.name))
        for f in dataclasses.fields(spec)
        if getattr(spec, f.name) != getattr(default, f.name)
    ]


@dataclass
class DataSpec:
    """What `datasets.load_dataset` takes, plus the mapping onto hfft's standard columns. A
    recipe's `data:` section is this plus its task's modality options (`data_spec_for`)."""

    path: str
    name: Union[str, None] = None  # noqa: UP007
    data_dir: Union[str, None] = None  # noqa: UP007
    data_files: Union[str, list[str], dict[str, Any], None] = None  # noqa: UP007
    revision: Union[str, None] = None  # noqa: UP007
    # hfft standard name (the task's input column, "label") -> the dataset's column name; for
    # multi-label data, `label` may list 0/1 columns instead (one per label, named by the column).
    columns: dict[str, Union[str, list[str]]] = field(default_factory=dict)  # noqa: UP007
    train_split: str = "train"
    validation_split: Union[str, None] = None  # noqa: UP007  (None: found or carved)
    test_split: Union[str, None] = None  # noqa: UP007
    # Carved (stratified, seeded) from train when the dataset has no such split.
    validation_fraction: float = 0.1
    test_fraction: float = 0.0
    seed: int = 42
    max_train_samples: Union[int, None] = None  # noqa: UP007
    max_eval_samples: Union[int, None] = None  # noqa: UP007
    # Examples that cannot be used (an image that does not decode or is not 8-bit, an empty
    # text, a missing label): "error" stops before training with the list of them (file/row and
    # why); "skip" leaves them out, counted and reported.
    on_bad_example: Literal["error", "skip"] = "error"
    # Multi-label (a set of labels per example): null = when the labels say so (a list column,
    # label_separator, or 0/1 columns in columns.label); true/false force it.
    multi_label: Union[bool, None] = None  # noqa: UP007
    # Splits a string label column into labels ("," for "news,sports"); makes the run multi-label.
    label_separator: Union[str, None] = None  # noqa: UP007
    # Train from a `datasets.IterableDataset` (Hub streaming, or local files too big to
    # convert): needs training.max_steps; held-out splits are read once into a scratch Arrow
    # file (hfft.streaming).
    streaming: bool = False
    # Rows the streamed train split is shuffled within (datasets' shuffle buffer); larger mixes
    # more, and holds more rows in memory.
    shuffle_buffer: int = 1000
    # With streaming: the preflight checks (bad examples, labels) read this many train rows;
    # later rows are checked as they stream.
    preflight_rows: int = 1000
    # With streaming: every label, in class-id order, when the data does not declare them (a
    # ClassLabel): a stream cannot be read to the end to find them.
    label_names: Union[list[str], None] = None  # noqa: UP007

    def __post_init__(self) -> None:
        if self.label_separator == "":
            raise RecipeError('data.label_separator is empty: give the separator, e.g. ","')
        label = self.columns.get("label") if isinstance(self.columns, dict) else None
        if isinstance(label, list) and not (label and all(isinstance(c, str) for c in label)):
            raise RecipeError(
                f"data.columns.label lists {label!r}: list the 0/1 column names, one per label"
            )
        check_range("data.test_fraction", self.test_fraction, 0.0, 1.0, high_open=True)
        # Validation is carved from what test leaves, and never larger than what train keeps.
        left = 1.0 - self.test_fraction
        hint = (
            f" (half of the {left:g} that data.test_fraction={self.test_fraction:g} leaves, "
            "so train keeps at least as many rows)"
            if self.test_fraction
            else " (validation is carved from train, which keeps at least as many rows)"
        )
        check_range("data.validation_fraction", self.validation_fraction, 0.0, left / 2, hint=hint)
        check_range("data.seed", self.seed, 0, MAX_SEED)
        check_range("data.max_train_samples", self.max_train_samples, 1, hint=" (or null: all)")
        check_range("data.max_eval_samples", self.max_eval_samples, 1, hint=" (or null: all)")
        check_range("data.shuffle_buffer", self.shuffle_buffer, 1)
        check_range("data.preflight_rows", self.preflight_rows, 1)
        if self.label_names is not None and not (
            self.label_names and all(isinstance(n, str) for n in self.label_names)
        ):
            raise RecipeError(
                f"data.label_names is {self.label_names!r}: list every label name, as strings"
            )


_DATA_SPECS: dict[type, type] = {}


def data_spec_for(options: type) -> type:
    """The `data:` section of a task whose modality has recipe options `options` (a dataclass,
    such as the image modality's augmentation): one dataclass with the generic fields and the
    options, so they validate, save and read like any data key (`recipe.data.augmentation`)."""
    if options not in _DATA_SPECS:

        def post_init(self: Any) -> None:
            DataSpec.__post_init__(self)
            getattr(options, "__post_init__", lambda _: None)(self)

        name = options.__name__.removesuffix("Options") + "DataSpec"
        cls = dataclasses.make_dataclass(
            name, [], bases=(options, DataSpec), namespace={"__post_init__": post_init}
        )
        # Importable by name, so a recipe pickles like any other (multiprocessing, caches).
        cls.__module__, cls.__qualname__ = __name__, name
        globals()[name] = _DATA_SPECS[options] = cls
    return _DATA_SPECS[options]


@dataclass
class EarlyStoppingSpec:
    """Stop when the validation loss has not improved for `patience` evaluations."""

    patience: Union[int, None] = 3  # noqa: UP007  (null or 0 disables early stopping)
    threshold: float = 0.0

    def __post_init__(self) -> None:
        check_range("early_stopping.patience", self.patience, 0, hint=" (0 or null: off)")
        check_range("early_stopping.threshold", self.threshold, 0)


@dataclass
class EvalSpec:
    """Metrics computed during and after training (names from hfft.metrics)."""

    metrics: list[str] = field(default_factory=lambda: ["accuracy", "f1_macro"])
    # Multi-label runs: one decision threshold for every label; null = per-label thresholds
    # chosen on the validation split after training (each label's F1-maximising one).
    threshold: Union[float, None] = None  # noqa: UP007
    # Also score the label scheme's baselines (the majority class and a linear probe on the
    # frozen checkpoint, hfft.baselines) on each held-out split: metrics.json and the card show
    # them above the model's results.
    baselines: bool = False

    def __post_init__(self) -> None:
        check_range("eval.threshold", self.threshold, 0.0, 1.0, low_open=True, high_open=True)


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
class OptimSpec:
    """Learning rate per parameter group, built as the optimizer's parameter groups
    (`hfft.param_groups`): block i from the top (1 = the top block) trains at
    training.learning_rate x layer_decay^i, the embeddings at layer_decay^(blocks + 1), what
    follows the blocks (final norm, pooler) at 1, the new head at head_lr_scale."""

    layer_decay: float = 1.0
    head_lr_scale: float = 1.0

    def __post_init__(self) -> None:
        check_range(
            "optim.layer_decay", self.layer_decay, 0.0, 1.0, low_open=True,
            hint=" (1: every block at training.learning_rate)",
        )  # fmt: skip
        check_range("optim.head_lr_scale", self.head_lr_scale, 0.0, low_open=True)

    @property
    def is_uniform(self) -> bool:
        """True when every parameter trains at training.learning_rate (the Trainer's own)."""
        return self.layer_decay == 1.0 and self.head_lr_scale == 1.0


# What `tune.direction` may be (null: minimize the loss, maximize any other metric).
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
    # Learning rate per parameter group (layer-wise decay, head multiplier).
    optim: OptimSpec = field(default_factory=OptimSpec)
    # Hyper-parameter search settings (`hfft tune`).
    tune: TuneSpec = field(default_factory=TuneSpec)

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
