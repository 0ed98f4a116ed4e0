"""Adaptation modes: a plain dict from the recipe's `model.mode` to a `Mode` value, one module
per mode (like PEFT's one folder per tuner). Importing this package imports no torch: the
registry is read when recipes are validated.

The pipeline calls `apply_mode` before training and `finalize` after; these and the helpers
below are the only entry points the rest of hfft uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hfft.modes.frozen import FROZEN
from hfft.modes.full import FULL
from hfft.modes.lora import LORA
from hfft.modes.lp_ft import LP_FT
from hfft.modes.mode import Mode
from hfft.modes.peft_method import PEFT

if TYPE_CHECKING:
    from torch import nn

    from hfft.modes.structure import Anatomy

MODES: dict[str, Mode] = {
    "full": FULL,
    "frozen": FROZEN,
    "lora": LORA,
    "peft": PEFT,
    "lp-ft": LP_FT,
}
# A recipe that names no mode fine-tunes everything.
DEFAULT_MODE = FULL.name


def mode_named(name: str | None) -> Mode:
    """The mode called `name` (the default mode for None, as a recipe without model.mode)."""
    return MODES[name or DEFAULT_MODE]


def mode_of(spec: Any) -> Mode:
    """The `Mode` of a recipe's model section (validated, so the name is known)."""
    return MODES[spec.mode]


def saved_model_spec(spec: Any, model_dir: str | Path) -> Any:
    """The recipe's model section for loading a saved, complete model (a run directory: LoRA
    merged, head trained) as it is, to evaluate it: no freezing, no adapters."""
    from dataclasses import MISSING, fields, replace

    own = {key for mode in MODES.values() for key in mode.own_keys}
    defaults = {
        f.name: f.default if f.default_factory is MISSING else f.default_factory()
        for f in fields(spec)
        if f.name in own
    }
    return replace(
        spec,
        checkpoint=str(model_dir),
        config=None,
        processor=None,
        mode=FULL.name,
        # The saved head is the trained one (no zero-shot start), nothing frozen.
        **{"freeze_layers": 0, "head_init": None, **defaults},
    )


def apply_mode(model: nn.Module, spec: Any) -> nn.Module:
    """Freeze parameters or wrap the model as the recipe's mode says; returns the model to
    train."""
    return mode_of(spec).apply(model, spec)


def finalize(model: nn.Module, run_dir: Path) -> nn.Module:
    """The plain transformers model to save in the run directory (a LoRA model is merged and
    its adapter saved beside it)."""
    if is_peft(model):
        return LORA.finalize(model, run_dir)
    return model


def anatomy(model: nn.Module, backbone: str | None = None) -> Anatomy:
    """Backbone, blocks and head of a task model (see `hfft.modes.structure`); `backbone` is
    the recipe's `model.backbone`, for a model whose backbone cannot be found by itself."""
    from hfft.modes.structure import anatomy as find

    return find(model, backbone)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    from hfft.modes.structure import count_parameters as count

    return count(model)


def lora_target_modules(model: nn.Module) -> str:
    """The PEFT `target_modules` regex `target_modules: auto` picks for this model."""
    from hfft.modes.lora import target_modules

    return target_modules(model)


def is_peft(model: nn.Module) -> bool:
    """True for a PEFT-wrapped model."""
    from peft import PeftModel

    return isinstance(model, PeftModel)


def unwrapped(model: nn.Module) -> nn.Module:
    """The transformers task model inside a PEFT-wrapped one (adapter layers injected, same
    module names as the plain model), or the model itself."""
    return model.get_base_model() if is_peft(model) else model


def enable_checkpointing_inputs(model: nn.Module) -> None:
    """With gradient checkpointing, frozen embeddings give inputs without grad and the whole
    backward pass silently vanishes (transformers #21381); make the inputs require grad."""
    target = model.get_base_model() if is_peft(model) else model
    if hasattr(target, "enable_input_require_grads"):
        target.enable_input_require_grads()


def trainable_summary(model: nn.Module) -> str:
    """The trainable parameter count as "N of M (P%)", for the log."""
    trainable, total = count_parameters(model)
    return f"{trainable:,} of {total:,} ({100 * trainable / max(total, 1):.2f}%)"


__all__ = [
    "DEFAULT_MODE",
    "MODES",
    "Mode",
    "anatomy",
    "apply_mode",
    "count_parameters",
    "enable_checkpointing_inputs",
    "finalize",
    "is_peft",
    "lora_target_modules",
    "mode_named",
    "mode_of",
    "saved_model_spec",
    "trainable_summary",
    "unwrapped",
]
