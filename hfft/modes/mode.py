"""The `Mode` value: everything one adaptation mode knows, as data and plain functions.

A mode is data, not a subclass (like a `Task`): adding one is a new module in this package and a
line in `hfft.modes.MODES`. Nothing outside this package branches on a mode's name; the pipeline,
the card, `hfft tune` and the feature cache ask the mode value instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the registry is imported to validate recipes: no torch at import time
    from torch import nn


def keep_model(model: nn.Module, run_dir: Path) -> nn.Module:
    """`finalize` of a mode whose trained model is already a plain transformers model."""
    return model


def no_search_space(num_blocks: int) -> dict[str, dict[str, Any]]:
    """`search_space` of a mode with no hyper-parameters of its own."""
    return {}


def no_check(spec: Any) -> None:
    """`check` of a mode whose options are plain recipe fields (checked by their dataclass)."""


def no_callbacks(model: nn.Module, spec: Any) -> list[Any]:
    """`callbacks` of a mode the Trainer trains as it is."""
    return []


def no_probe(spec: Any) -> float:
    """`probe_epochs` of a mode that trains everything it trains from the first step."""
    return 0


def no_delegate(spec: Any) -> str | None:
    """`delegate` of a mode that reads only its own keys."""
    return None


@dataclass(frozen=True)
class Mode:
    """One adaptation mode (`model.mode` in a recipe)."""

    name: str
    # (task model, the recipe's model section) -> the model to train (frozen parts frozen, or
    # PEFT-wrapped).
    apply: Callable[[nn.Module, Any], nn.Module]
    # The card's sentence on what trained, from the recipe's `model:` section (a plain dict).
    describe: Callable[[Mapping[str, Any]], str]
    # The mode's own hyper-parameters for the card's table, from the recipe's `model:` section.
    hyperparameters: Callable[[Mapping[str, Any]], dict[str, Any]]
    # `hfft tune`'s default learning-rate range for trials in this mode (low, high).
    learning_rates: tuple[float, float]
    # `hfft tune`'s default space for this mode's own keys (dotted recipe keys), given how many
    # blocks the model has.
    search_space: Callable[[int], dict[str, dict[str, Any]]] = no_search_space
    # (trained model, run directory) -> the plain transformers model the run directory saves.
    finalize: Callable[[nn.Module, Path], nn.Module] = keep_model
    # `model:` keys that only mean something in this mode (refused in the others when set).
    own_keys: tuple[str, ...] = ()
    # False: the mode only adapts pretrained weights (a model built from model.config has none).
    from_scratch: bool = False
    # True: the backbone's output never changes during training, so it may be computed once.
    frozen_backbone: bool = False
    # Packages beyond transformers the run used, for the card's framework versions.
    packages: tuple[str, ...] = ()
    # Checks (and completes, e.g. with defaults) the mode's options in the recipe's model
    # section, at recipe load: for options a library defines (PEFT's config classes).
    check: Callable[[Any], None] = no_check
    # (model to train, model section) -> Trainer callbacks the mode needs (AdaLoRA's budget).
    callbacks: Callable[[nn.Module, Any], list[Any]] = no_callbacks
    # Epochs to train the head alone on the frozen backbone before the mode's own training
    # (LP-FT's linear probe), from the model section; 0: none.
    probe_epochs: Callable[[Any], float] = no_probe
    # The probe's learning rate from the model section (None: training.learning_rate).
    probe_learning_rate: Callable[[Any], float | None] = lambda spec: None
    # The other mode whose own keys also apply (LP-FT fine-tunes in `then`), or None.
    delegate: Callable[[Any], str | None] = no_delegate

    def search_keys(self) -> tuple[str, ...]:
        """Dotted recipe keys (or key prefixes, ending in '.') only sampled in this mode."""
        return tuple(f"model.{key}" for key in self.own_keys)
