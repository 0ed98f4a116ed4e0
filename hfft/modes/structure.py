"""Where the backbone, its repeated blocks and the new head are in a task model, derived from
the model itself rather than from a table per architecture:

- backbone = `model.base_model` (transformers' `base_model_prefix`); the new head = every other
  child module of the task model that has parameters (`classifier`, DistilBERT's
  `pre_classifier`, ...);
- blocks = the largest `nn.ModuleList` inside the backbone (ViT `layers`, BERT `encoder.layer`,
  Swin/ConvNeXt/ResNet stages); embeddings = backbone parameters registered before the blocks.

Also the freezing helpers every mode shares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from hfft.errors import RecipeError


@dataclass
class Anatomy:
    """Where the backbone, its repeated blocks and the new head are in a task model."""

    backbone_prefix: str
    blocks_prefix: str | None
    num_blocks: int
    head: list[str]


def anatomy(model: nn.Module) -> Anatomy:
    """Locate backbone, blocks and head of a transformers task model."""
    prefix = getattr(model, "base_model_prefix", "")
    backbone = getattr(model, prefix, None) if prefix else None
    if not isinstance(backbone, nn.Module):
        raise RecipeError(
            f"cannot find the backbone of {type(model).__name__} (base_model_prefix={prefix!r}); "
            "use model.mode=full"
        )
    head = [
        name
        for name, child in model.named_children()
        if name != prefix and any(True for _ in child.parameters())
    ]
    lists = [
        (sum(p.numel() for p in module.parameters()), name, module)
        for name, module in backbone.named_modules()
        if isinstance(module, nn.ModuleList) and len(module) > 0
    ]
    if not lists:
        return Anatomy(prefix, None, 0, head)
    # The outermost list holds all the blocks, so it has the most parameters; ties keep the first.
    _, name, blocks = max(lists, key=lambda item: item[0])
    return Anatomy(prefix, f"{prefix}.{name}", len(blocks), head)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def in_any(name: str, prefixes: list[str]) -> bool:
    """True when the dotted `name` is one of `prefixes` or lies inside one of them."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def freeze(model: nn.Module, frozen: Callable[[str], bool]) -> None:
    """Freeze parameters whose name `frozen(name)` says, and their BatchNorm statistics."""
    for name, param in model.named_parameters():
        if frozen(name):
            param.requires_grad_(False)
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and frozen(name + ".weight"):
            # A frozen CNN backbone must also keep its running statistics (timm does the same):
            # the Trainer calls model.train() every step, so re-assert eval mode on each forward.
            module.register_forward_pre_hook(_keep_eval)
            module.eval()


def _keep_eval(module: nn.Module, args: Any) -> None:
    module.training = False
