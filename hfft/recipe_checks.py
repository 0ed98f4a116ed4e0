"""Recipe checks that span sections or need another library: the task, the keys a task reads,
and `training:` against `transformers.TrainingArguments` (keys, types, ranges, integrations).

They run at recipe load, before any model or data loads, so `hfft train` with a bad value fails
in a second with one line, and nothing is written.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from typing import Any

from hfft.errors import RecipeError, did_you_mean
from hfft.precision import KEYS as PRECISION_KEYS
from hfft.precision import check_value as check_precision
from hfft.recipe_schema import MAX_SEED, Recipe, check_range
from hfft.recipe_types import library_options

# TrainingArguments fields that hold secrets: refused in recipes.
SECRET_TRAINING_KEYS = ("hub_token",)
# TrainingArguments numbers with a range TrainingArguments itself does not check: a bad one only
# fails (or silently does nothing) once the model and data are loaded.
TRAINING_RANGES: dict[str, dict[str, Any]] = {
    "learning_rate": {"low": 0},
    "weight_decay": {"low": 0},
    "per_device_train_batch_size": {"low": 1},
    "per_device_eval_batch_size": {"low": 1},
    "gradient_accumulation_steps": {"low": 1},
    "seed": {"low": 0, "high": MAX_SEED},
    "data_seed": {"low": 0, "high": MAX_SEED},
}
# YAML 1.1 reads `eval_strategy: no` as false: these take false as "no".
STRATEGY_KEYS = ("eval_strategy", "save_strategy", "logging_strategy")
# report_to integration -> (modules it needs, all of them; what to pip install), as
# transformers.integrations looks for them. kubeflow is configured by environment, not a package.
INTEGRATIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "azure_ml": (("azureml",), "azureml-core"),
    "clearml": (("clearml",), "clearml"),
    "codecarbon": (("codecarbon",), "codecarbon"),
    "comet_ml": (("comet_ml",), "comet-ml"),
    "dagshub": (("dagshub", "mlflow"), "dagshub mlflow"),
    "dvclive": (("dvclive",), "dvclive"),
    "flyte": (("flytekit",), "flytekit"),
    "kubeflow": ((), ""),
    "mlflow": (("mlflow",), "mlflow"),
    "neptune": (("neptune",), "neptune"),
    "swanlab": (("swanlab",), "swanlab"),
    "tensorboard": (("tensorboard",), "tensorboard"),
    "trackio": (("trackio",), "trackio"),
    "wandb": (("wandb",), "wandb"),
}
# Modules that stand in for an integration's own (transformers accepts tensorboardX too).
_ALTERNATIVES = {"tensorboard": ("tensorboardX",)}


def validate_task(task: str) -> Any:
    """The `Task` of a task name hfft knows."""
    from hfft.tasks import TASKS

    if task not in TASKS:
        raise RecipeError(
            f"unknown task '{task}'{did_you_mean(task, TASKS)}; tasks: {sorted(TASKS)}"
        )
    return TASKS[task]


def drop_other_options(data: Any, task: Any) -> Any:
    """The raw `data:` section without options of other modalities left at their defaults (a
    recipe saved by an older hfft spells them all out); set to anything else, such an option
    would be ignored without a word, so it is an error naming it."""
    from hfft.recipe_types import build
    from hfft.tasks import TASKS

    if not isinstance(data, dict):
        return data
    own = {f.name for f in dataclasses.fields(task.modality.options)}
    out = dict(data)
    # By identity: two tasks may read the same input column with options of their own (images
    # for classification, images with boxes for detection).
    others = list({id(t.modality): t.modality for t in TASKS.values()}.values())

    def builds(modality: Any, key: str) -> bool:
        try:
            build(modality.options, {key: out[key]}, prefix="data.")
        except RecipeError:
            return False
        return True

    for other in others:
        for f in dataclasses.fields(other.options):
            if f.name in own or f.name not in out:
                continue
            try:
                given = build(other.options, {f.name: out[f.name]}, prefix="data.")
            except RecipeError:
                # Two modalities may share a key (`augmentation`): the value is another's.
                sharing = [o for o in others if o is not other and f.name in _option_names(o)]
                if any(builds(o, f.name) for o in sharing):
                    continue
                raise
            default = getattr(other.options(), f.name)
            value = getattr(given, f.name)
            if value != default:
                shown = f"data.{f.name}={value}"
                if dataclasses.is_dataclass(value):
                    key, changed = next(
                        (g.name, getattr(value, g.name))
                        for g in dataclasses.fields(value)
                        if getattr(value, g.name) != getattr(default, g.name)
                    )
                    shown = f"data.{f.name}.{key}={changed}"
                kind = other.name
                if kind == task.modality.name:  # the same input: name the tasks that read it so
                    kind = "/".join(t.name for t in TASKS.values() if t.modality is other)
                raise RecipeError(
                    f"{shown} only applies to {kind} tasks ({task.name} reads "
                    f"{task.input_column}): remove data.{f.name}"
                )
            del out[f.name]
    return out


def _option_names(modality: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(modality.options)}


def check_task_keys(recipe: Recipe) -> None:
    """Refuse column mappings the recipe's task never reads (a `data.columns.image` in a text
    task): they would be ignored without a word. (Other modalities' options are refused by
    `drop_other_options`.)"""
    from hfft.tasks import TASKS

    task = TASKS[recipe.task]
    read = (task.input_column, "label")
    for std in recipe.data.columns:
        if std not in read:
            raise RecipeError(
                f"data.columns.{std} does not apply to {recipe.task}, which reads the columns "
                f"{read[0]!r} and 'label'{did_you_mean(str(std), read)}: remove data.columns.{std}"
            )


def settle_evaluation_off(recipe: Recipe, raw: dict[str, Any]) -> None:
    """With training.eval_strategy=no nothing is evaluated while training, so hfft's defaults
    that need evaluation (early stopping, keeping the best checkpoint) are switched off; asked
    for explicitly, they are an error (else the Trainer fails once everything has loaded)."""
    if recipe.training.get("eval_strategy") != "no":
        return
    asked = raw.get("early_stopping") or {}
    if asked.get("patience"):
        raise RecipeError(
            f"early_stopping.patience={asked['patience']} stops on the validation loss, but "
            "training.eval_strategy is no: set early_stopping.patience=null, or an "
            "eval_strategy (epoch or steps)"
        )
    recipe.early_stopping.patience = None
    recipe.training.setdefault("load_best_model_at_end", False)


def validate_training(training: dict[str, Any]) -> dict[str, Any]:
    """`training:` checked against TrainingArguments: known keys only, no secrets, numbers that
    are numbers and in range, strategies as YAML writes them, installed integrations."""
    from transformers import TrainingArguments

    given = {}
    for key, value in training.items():
        if key in SECRET_TRAINING_KEYS:
            raise RecipeError(
                f"training.{key}: a recipe is saved in the run directory and pushed with the "
                "model, so it must never hold a token; set HF_TOKEN or run `hf auth login`"
            )
        given[key] = _strategy(key, value) if key in STRATEGY_KEYS else value
    takes = "transformers.TrainingArguments options"
    out = library_options(TrainingArguments, given, "training.", takes)
    for key in PRECISION_KEYS:  # true, false or auto (hfft.precision)
        if key in out:
            out[key] = check_precision(key, out[key])
    for key, bounds in TRAINING_RANGES.items():
        check_range(f"training.{key}", out.get(key), **bounds)
    _check_epochs(out)
    _check_report_to(out.get("report_to"))
    return out


def _strategy(key: str, value: Any) -> Any:
    """false (YAML 1.1's reading of `no`) -> "no"; true is no strategy at all."""
    if value is False:
        return "no"
    if value is True:
        from transformers.trainer_utils import IntervalStrategy, SaveStrategy

        kind = SaveStrategy if key == "save_strategy" else IntervalStrategy
        raise RecipeError(
            f"training.{key}: true is not a strategy; choose one of {[s.value for s in kind]}"
        )
    return value


def _check_epochs(training: dict[str, Any]) -> None:
    """Zero epochs train nothing yet finish like a real run: refuse, unless max_steps says how
    long to train instead."""
    epochs, max_steps = training.get("num_train_epochs"), training.get("max_steps")
    if epochs is None or (max_steps is not None and max_steps > 0):
        return
    check_range(
        "training.num_train_epochs",
        epochs,
        0,
        low_open=True,
        hint=" (or set training.max_steps > 0 to train for a number of steps)",
    )


def _check_report_to(report_to: Any) -> None:
    """Every integration named is one transformers knows and its package is installed (else the
    Trainer fails after the model and data loaded)."""
    if report_to is None:
        return
    names = report_to if isinstance(report_to, list) else [report_to]
    for name in names:
        if name in ("none", "all"):
            continue
        if not isinstance(name, str) or name not in INTEGRATIONS:
            raise RecipeError(
                f"training.report_to: unknown integration {name!r}"
                f"{did_you_mean(str(name), INTEGRATIONS)}; choose none, all or one of "
                f"{sorted(INTEGRATIONS)}"
            )
        modules, package = INTEGRATIONS[name]
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        if missing and not any(
            importlib.util.find_spec(alt) is not None for alt in _ALTERNATIVES.get(name, ())
        ):
            raise RecipeError(
                f"training.report_to={name} needs the {' and '.join(missing)} package, which is "
                f"not installed: pip install {package}, or set training.report_to=none"
            )


def unsupported_precision(training: dict[str, Any]) -> list[str]:
    """The mixed-precision settings of `training` (bf16, fp16, their *_full_eval) set to true
    that this machine lacks: bf16 needs a GPU with bf16 (or use_cpu, whose autocast does bf16
    on any CPU; this mirrors TrainingArguments' own check), and fp16 is made for accelerators
    (on a CPU, evaluation runs in fp32 like `hfft predict`)."""
    import torch
    from transformers.utils import is_torch_bf16_gpu_available, is_torch_xla_available

    cpu = bool(training.get("use_cpu"))
    lacking = []
    from hfft.precision import cpu_can_bf16

    gpu = is_torch_bf16_gpu_available() or is_torch_xla_available()
    if not cpu and not gpu and not cpu_can_bf16(training):
        lacking += ["bf16", "bf16_full_eval"]
    if cpu or not torch.cuda.is_available():
        lacking += ["fp16", "fp16_full_eval"]
    return [key for key in lacking if training.get(key)]
