"""`full`: every weight trains; `freeze_layers: N` also freezes the embeddings and the N lowest
blocks (the classic "fine-tune the top of the network")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hfft.errors import RecipeError
from hfft.modes.mode import Mode

if TYPE_CHECKING:
    from torch import nn


def apply(model: nn.Module, spec: Any) -> nn.Module:
    """Freeze the embeddings and the `spec.freeze_layers` lowest blocks (nothing when 0)."""
    if spec.freeze_layers:
        freeze_lowest(model, spec.freeze_layers, getattr(spec, "backbone", None))
    return model


def freeze_lowest(model: nn.Module, n: int, backbone: str | None = None) -> None:
    """Freeze the embeddings and the `n` lowest blocks of the backbone."""
    from hfft.modes.structure import anatomy, freeze, in_any

    parts = anatomy(model, backbone)
    if not parts.blocks or n > parts.num_blocks:
        raise RecipeError(
            f"model.freeze_layers={n} but {type(model).__name__} has {parts.num_blocks} blocks; "
            f"use a value from 0 to {parts.num_blocks}"
        )
    frozen_blocks = [name for block in parts.blocks[:n] for name in block]
    every_block = [name for block in parts.blocks for name in block]
    backbone_names = [name for name, _ in model.named_parameters() if in_any(name, parts.backbone)]
    first_block = next(i for i, name in enumerate(backbone_names) if in_any(name, every_block))
    embeddings = set(backbone_names[:first_block])
    freeze(model, lambda name: name in embeddings or in_any(name, frozen_blocks))


def describe(model: Mapping[str, Any]) -> str:
    frozen = model.get("freeze_layers") or 0
    if frozen:
        return f"all weights were trained except the embeddings and the {frozen} lowest blocks"
    return "all weights were fine-tuned"


def hyperparameters(model: Mapping[str, Any]) -> dict[str, Any]:
    frozen = model.get("freeze_layers") or 0
    return {"freeze_layers": frozen} if frozen else {}


def search_space(num_blocks: int) -> dict[str, dict[str, Any]]:
    if num_blocks <= 0:
        return {}
    return {
        "model.freeze_layers": {"type": "int", "low": 0, "high": num_blocks},
        # Layer-wise lr decay (BEiT, ELECTRA): 1 is off, 0.65-0.9 the values papers report.
        "optim.layer_decay": {"type": "float", "low": 0.5, "high": 1.0},
    }


FULL = Mode(
    name="full",
    apply=apply,
    describe=describe,
    hyperparameters=hyperparameters,
    learning_rates=(1e-5, 1e-3),
    search_space=search_space,
    own_keys=("freeze_layers",),
    from_scratch=True,
)
