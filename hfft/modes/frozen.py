"""`frozen`: the pretrained backbone is frozen (BatchNorm statistics included) and only the new
head trains: a linear probe when the head is one layer. Its backbone output never changes, so
`hfft.feature_cache` may compute it once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hfft.modes.mode import Mode

if TYPE_CHECKING:
    from torch import nn


def apply(model: nn.Module, spec: Any) -> nn.Module:
    """Freeze everything but the head (a detector: its feature extractor, see
    `hfft.modes.structure`)."""
    from hfft.modes.structure import anatomy, freeze, in_any

    parts = anatomy(model, getattr(spec, "backbone", None))
    if parts.features:
        freeze(model, lambda name: in_any(name, parts.features))
    else:
        freeze(model, lambda name: not in_any(name, parts.head))
    return model


def describe(model: Mapping[str, Any]) -> str:
    return "the pretrained backbone was frozen and only the new classification head trained"


def hyperparameters(model: Mapping[str, Any]) -> dict[str, Any]:
    return {}


FROZEN = Mode(
    name="frozen",
    apply=apply,
    describe=describe,
    hyperparameters=hyperparameters,
    # A frozen backbone tolerates much larger steps than full fine-tuning.
    learning_rates=(1e-4, 1e-1),
    frozen_backbone=True,
)
