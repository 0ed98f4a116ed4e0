"""`lp-ft`: linear probe, then fine-tune (Kumar et al., 2022, "Fine-Tuning can Distort Pretrained
Features and Underperform Out-of-Distribution"). The new head first trains alone on the frozen
backbone for `model.lp_ft.probe_epochs` (on cached features where the frozen mode would cache
them: `hfft.probe`), then the whole run trains in mode `model.lp_ft.then` (full, lora or peft,
with that mode's own keys) from that head, for `training.num_train_epochs`: one run, one run
directory, one card. A resumed run continues the fine-tuning phase from its checkpoint (the
probe is part of what the checkpoint holds)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Union

from hfft.modes.full import FULL
from hfft.modes.lora import LORA
from hfft.modes.lora import finalize as merge
from hfft.modes.mode import Mode
from hfft.modes.peft_method import PEFT
from hfft.recipe_types import check_range

if TYPE_CHECKING:
    from torch import nn

# The modes the fine-tuning phase may run in.
THEN: dict[str, Mode] = {mode.name: mode for mode in (FULL, LORA, PEFT)}


@dataclass
class LpFtSpec:
    """`model.lp_ft` in a recipe: how long the probe trains, and the mode that follows it."""

    # Epochs of head-only training on the frozen backbone (fractions allowed, as num_train_epochs).
    probe_epochs: float = 1.0
    then: Literal["full", "lora", "peft"] = "full"
    # The probe's learning rate (a head alone tolerates far larger steps); null:
    # training.learning_rate, as a frozen run with the same recipe trains its head.
    probe_learning_rate: Union[float, None] = None  # noqa: UP007 (runtime-inspected)

    def __post_init__(self) -> None:
        check_range("model.lp_ft.probe_epochs", self.probe_epochs, 0, low_open=True)
        check_range("model.lp_ft.probe_learning_rate", self.probe_learning_rate, 0, low_open=True)


def _then(spec: Any) -> Mode:
    return THEN[spec.lp_ft.then]


def apply(model: nn.Module, spec: Any) -> nn.Module:
    """The model as the fine-tuning phase trains it (the probe freezes the rest for a while)."""
    return _then(spec).apply(model, spec)


def describe(model: Mapping[str, Any]) -> str:
    lp_ft = model.get("lp_ft") or {}
    then = THEN[lp_ft.get("then") or "full"]
    return (
        f"LP-FT: the new head was first trained alone on the frozen backbone for "
        f"{lp_ft.get('probe_epochs')} epochs (a linear probe), then, from that head, in "
        f"{then.name} mode: {then.describe(model)}"
    )


def hyperparameters(model: Mapping[str, Any]) -> dict[str, Any]:
    lp_ft = model.get("lp_ft") or {}
    then = THEN[lp_ft.get("then") or "full"]
    return {**{f"lp_ft.{k}": v for k, v in lp_ft.items()}, **then.hyperparameters(model)}


def search_space(num_blocks: int) -> dict[str, dict[str, Any]]:
    return {"model.lp_ft.probe_epochs": {"type": "int", "low": 1, "high": 5}}


LP_FT = Mode(
    name="lp-ft",
    apply=apply,
    describe=describe,
    hyperparameters=hyperparameters,
    # Fine-tuning from a trained head: full fine-tuning's range.
    learning_rates=FULL.learning_rates,
    search_space=search_space,
    finalize=merge,
    own_keys=("lp_ft",),
    check=lambda spec: _then(spec).check(spec),
    callbacks=lambda model, spec: _then(spec).callbacks(model, spec),
    probe_epochs=lambda spec: spec.lp_ft.probe_epochs,
    probe_learning_rate=lambda spec: spec.lp_ft.probe_learning_rate,
    delegate=lambda spec: spec.lp_ft.then,
)
