"""`peft`: any of PEFT's methods (`model.peft.method`: lora, dora, adalora, loha, lokr, vera, oft,
boft, ia3, ln_tuning) on the backbone's blocks, trained with the new head; the run directory
saves the adapter and the merged model (which loads without PEFT), as in `lora` mode.

The other keys of `model.peft` go straight to the method's PEFT config class and are checked
against its fields at recipe load, as `training:` is against TrainingArguments (an unknown key is
one line naming the nearest field). `target_modules: auto` (the default) is derived per method
and architecture (`hfft.modes.peft_targets`); the head is always in `modules_to_save`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hfft.errors import RecipeError, did_you_mean, first_line
from hfft.modes.mode import Mode
from hfft.modes.peft_targets import METHODS, Method, auto_targets, config_class
from hfft.recipe_types import library_options

if TYPE_CHECKING:
    from torch import nn

DEFAULT_METHOD = "lora"
# Config fields hfft sets itself (or that would change what the run directory is).
RESERVED = frozenset(
    {"task_type", "peft_type", "auto_mapping", "peft_version", "base_model_name_or_path"}
    | {"revision", "inference_mode"}
)
# AdaLoRA needs the number of training steps when its config is built; the real number is set
# when training begins (`AdaLoraBudget`), this only passes the config's own check.
_PLACEHOLDER_STEPS = 10**6


def method_of(options: Mapping[str, Any]) -> Method:
    """The `Method` a (checked) `model.peft` section names."""
    return METHODS[options.get("method") or DEFAULT_METHOD]


def check(spec: Any) -> None:
    """Check `spec.peft` against its method's PEFT config class and complete it with the method
    and `target_modules: auto`; one RecipeError line for a bad method, key or value."""
    options = dict(spec.peft or {})
    name = options.pop("method", None) or DEFAULT_METHOD
    if name not in METHODS:
        raise RecipeError(
            f"model.peft.method: unknown method {name!r}{did_you_mean(str(name), METHODS)}; "
            f"choose one of {list(METHODS)}"
        )
    method = METHODS[name]
    for key in options:
        if key in RESERVED or key in method.fixed:
            raise RecipeError(
                f"model.peft.{key} is set by hfft (the adapter wraps a task model whose head is "
                f"saved in full; method {name} sets its own settings): remove it"
            )
    cls = config_class(method)
    allowed = {f.name for f in dataclasses.fields(cls) if f.init} - RESERVED - set(method.fixed)
    takes = f"peft.{cls.__name__} options (method {name}) and method"
    options = library_options(cls, options, "model.peft.", takes, allowed, (int, float, str, bool))
    options.setdefault("target_modules", "auto")
    try:  # the config class's own checks (ranges, exclusive options), auto targets stubbed
        _config(method, options, {"target_modules": ["placeholder"]}, [])
    except (ValueError, TypeError) as err:
        raise RecipeError(f"model.peft (method {name}): {first_line(err)}") from None
    spec.peft = {"method": name, **options}


def _config(method: Method, options: dict[str, Any], targets: dict[str, Any], head: list[str]):
    """The method's PEFT config: the recipe's options, auto targets, the head to save."""
    kwargs = {**options, **method.fixed}
    if kwargs.get("target_modules") == "auto":
        kwargs.update(targets)
    if method.name == "ia3" and "feedforward_modules" not in kwargs:
        kwargs["feedforward_modules"] = []  # explicit targets: none scaled on their input
    if method.name == "adalora" and not kwargs.get("total_step"):
        kwargs["total_step"] = _PLACEHOLDER_STEPS
    # The new head is trained in full and saved with the adapter; without this it is lost on
    # reload (PEFT #310). ln_tuning trains copies of its targets the same way.
    kwargs["modules_to_save"] = [*head, *(kwargs.get("modules_to_save") or [])]
    return config_class(method)(**kwargs)


def apply(model: nn.Module, spec: Any) -> nn.Module:
    """Wrap the model with the recipe's PEFT method; the head trains in full."""
    from peft import get_peft_model
    from transformers.pytorch_utils import Conv1D

    from hfft.modes.lora import _expose_conv_geometry
    from hfft.modes.structure import anatomy

    options = dict(spec.peft)
    method = METHODS[options.pop("method")]
    backbone = getattr(spec, "backbone", None)
    head = anatomy(model, backbone).head
    auto = options.get("target_modules") == "auto"
    targets = auto_targets(method, model, backbone) if auto else {}
    if auto and "fan_in_fan_out" in _fields(method):
        pattern = targets["target_modules"]
        matched = [m for n, m in model.named_modules() if re.fullmatch(pattern, n)]
        # GPT-2-style Conv1D stores its weight transposed.
        options.setdefault(
            "fan_in_fan_out", bool(matched) and all(isinstance(m, Conv1D) for m in matched)
        )
    try:
        wrapped = get_peft_model(model, _config(method, options, targets, head))
    except (ValueError, TypeError, NotImplementedError, RuntimeError) as err:
        shown = "auto" if auto else repr(options.get("target_modules"))
        raise RecipeError(
            f"model.peft.method {method.name} cannot adapt {type(model).__name__} "
            f"(target_modules {shown}): {first_line(err)}"
        ) from None
    _expose_conv_geometry(wrapped)
    return wrapped


def _fields(method: Method) -> set[str]:
    return {f.name for f in dataclasses.fields(config_class(method))}


def callbacks(model: nn.Module, spec: Any) -> list[Any]:
    """AdaLoRA reallocates its rank budget after every optimizer step, which the Trainer does
    not do by itself."""
    if method_of(spec.peft).name != "adalora":
        return []
    from hfft.modes.peft_budget import AdaLoraBudget

    return [AdaLoraBudget(fixed_total=bool(spec.peft.get("total_step")))]


def describe(model: Mapping[str, Any]) -> str:
    options = dict(model.get("peft") or {})
    method = method_of(options)
    options.pop("method", None)
    targets = options.pop("target_modules", "auto")
    settings = ", ".join(f"{k}={v}" for k, v in options.items())
    return (
        f"PEFT {method.name} adapters ({settings + ', ' if settings else ''}target modules: "
        f"{targets}) were trained together with the new classification head, then merged into "
        "the weights, so the model loads without PEFT"
    )


def hyperparameters(model: Mapping[str, Any]) -> dict[str, Any]:
    return {f"peft.{k}": v for k, v in (model.get("peft") or {}).items()}


def search_space(num_blocks: int) -> dict[str, dict[str, Any]]:
    # The methods that share LoRA's rank `r`; other methods are searched with tune.space.
    return {
        "model.peft.method": {"type": "categorical", "choices": ["lora", "dora", "loha", "lokr"]},
        "model.peft.r": {"type": "categorical", "choices": [4, 8, 16, 32]},
    }


def finalize(model: nn.Module, run_dir: Path) -> nn.Module:
    """Save the adapter and return the merged model (as LoRA mode does)."""
    from hfft.modes.lora import finalize as merge

    return merge(model, run_dir)


PEFT = Mode(
    name="peft",
    apply=apply,
    describe=describe,
    hyperparameters=hyperparameters,
    learning_rates=(1e-4, 1e-2),
    search_space=search_space,
    finalize=finalize,
    own_keys=("peft",),
    packages=("peft",),
    check=check,
    callbacks=callbacks,
)
