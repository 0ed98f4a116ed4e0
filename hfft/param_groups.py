"""Layer-wise learning-rate decay and a head learning-rate multiplier (`optim:` in a recipe), as
explicit optimizer parameter groups handed to the Trainer.

Each group carries its own `lr` (training.learning_rate x its multiplier): the Trainer's
schedulers scale every group's initial lr by the same factor, so the ratios hold for the whole
run. (timm's `--layer-decay` stores an `lr_scale` that only timm's own scheduler reads; the
Trainer's would ignore it.) The blocks are those `model.freeze_layers` counts (`hfft.modes`
anatomy): block i from the top (the top one is 1) trains at decay^i, the embeddings (backbone
parameters before the first block) at decay^(blocks + 1), what follows the blocks (final norm,
pooler) at 1, the new head at head_lr_scale (BEiT's and ELECTRA's scheme). The Trainer's own
weight-decay exclusions (biases, normalisation layers) are kept: each multiplier has a decayed
and a not-decayed group.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from torch import nn
from transformers import Trainer

from hfft import modes
from hfft.errors import RecipeError
from hfft.run_files import LEARNING_RATES_FILE

log = logging.getLogger("hfft")


def lr_multipliers(
    model: nn.Module, optim: Any, backbone: str | None = None
) -> dict[int, tuple[str, float]]:
    """id(parameter) -> (group name, lr multiplier) for every parameter of the task `model`
    (PEFT-wrapped or not)."""
    from hfft.modes.structure import in_any

    target = modes.unwrapped(model)
    parts = modes.anatomy(target, backbone)
    n = parts.num_blocks
    if optim.layer_decay != 1.0 and not n:
        raise RecipeError(
            f"optim.layer_decay={optim.layer_decay} but hfft finds no repeated blocks in "
            f"{type(target).__name__} to decay over: remove optim.layer_decay"
        )
    named = list(target.named_parameters())
    every_block = [name for block in parts.blocks for name in block]
    first = next((i for i, (name, _) in enumerate(named) if in_any(name, every_block)), len(named))
    out: dict[int, tuple[str, float]] = {}
    for i, (name, param) in enumerate(named):
        if in_any(name, parts.head):
            out[id(param)] = ("head", optim.head_lr_scale)
            continue
        block = next((b for b, names in enumerate(parts.blocks) if in_any(name, names)), None)
        if block is not None:
            depth, group = n - block, f"block {block}"
        elif i < first and in_any(name, parts.backbone):
            depth, group = n + 1, "embeddings"
        else:
            depth, group = 0, "after the blocks"
        out[id(param)] = (group, optim.layer_decay**depth)
    return out


def by_name(
    train_model: nn.Module, multipliers: dict[int, tuple[str, float]]
) -> dict[str, tuple[str, float]]:
    """The multipliers under the names the Trainer sees (the model it trains may be only the head,
    on cached features); a parameter of its own (none today) trains at 1."""
    return {
        name: multipliers.get(id(param), ("other", 1.0))
        for name, param in train_model.named_parameters()
    }


class GroupedTrainer(Trainer):
    """A Trainer whose optimizer has one parameter group per (multiplier, weight decay), each with
    its own lr; set `lr_groups` (parameter name -> (group name, multiplier)) before training."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lr_groups: dict[str, tuple[str, float]] = {}
        self.group_summary: list[dict[str, Any]] = []

    def create_optimizer(self, model: nn.Module | None = None) -> Any:
        if self.optimizer is not None:
            return self.optimizer
        opt_model = self.model if model is None else model
        decay = set(self.get_decay_parameter_names(opt_model))
        optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        special = {"params", "model", "optimizer_dict"} & set(kwargs)
        if special:
            raise RecipeError(
                f"optim.layer_decay / optim.head_lr_scale build their own parameter groups, "
                f"which training.optim={self.args.optim} replaces: use an AdamW or SGD optim"
            )
        base = kwargs.pop("lr", self.args.learning_rate)
        groups: dict[tuple[str, float, float], dict[str, Any]] = {}
        for name, param in opt_model.named_parameters():
            if not param.requires_grad:
                continue
            label, scale = self.lr_groups.get(name, ("other", 1.0))
            weight_decay = self.args.weight_decay if name in decay else 0.0
            key = (label, scale, weight_decay)
            group = groups.setdefault(
                key,
                {
                    "params": [],
                    "lr": base * scale,
                    "weight_decay": weight_decay,
                    "hfft_group": label,
                },
            )
            group["params"].append(param)
        self.optimizer = optimizer_cls(list(groups.values()), **kwargs)
        self.group_summary = summarize(self.optimizer.param_groups)
        for row in self.group_summary:
            log.info(
                "optimizer group %s: lr %.3g, weight decay %g, %d parameters",
                row["group"], row["lr"], row["weight_decay"], row["parameters"],
            )  # fmt: skip
        return self.optimizer


def summarize(param_groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per optimizer group: its name, initial lr, weight decay and parameter count."""
    return [
        {
            "group": group.get("hfft_group", "all"),
            "lr": float(group.get("initial_lr", group["lr"])),
            "weight_decay": float(group["weight_decay"]),
            "parameters": sum(p.numel() for p in group["params"]),
        }
        for group in param_groups
    ]


def trainer_class(optim: Any) -> type:
    """The Trainer class for the recipe's `optim:` (the Trainer itself when every group trains at
    training.learning_rate, so unset and `layer_decay: 1.0` are the same run)."""
    return Trainer if optim.is_uniform else GroupedTrainer


def setup(
    trainer: Any, model: nn.Module, train_model: nn.Module, optim: Any, backbone: str | None
) -> None:
    """Give a `GroupedTrainer` its groups (nothing for the plain Trainer)."""
    if isinstance(trainer, GroupedTrainer):
        trainer.lr_groups = by_name(train_model, lr_multipliers(model, optim, backbone))


def write_summary(trainer: Any, run_dir: Path) -> None:
    """learning_rates.json in the run directory, for the card (only with grouped lrs)."""
    rows = getattr(trainer, "group_summary", None)
    if rows:
        (Path(run_dir) / LEARNING_RATES_FILE).write_text(json.dumps(rows, indent=2) + "\n")
