"""Where the backbone, its repeated blocks and the new head are in a task model, derived from
the model itself rather than from a table per architecture:

- backbone = the child module transformers' `base_model_prefix` names (`vit`, `bert`, ...); when
  it names none (CLIP and SigLIP classifiers keep their tower in `vision_model`, HGNetV2 its
  `embedder` and `encoder` at the top level), every child but the head;
- head = every other child module of the task model that has parameters (`classifier`,
  DistilBERT's `pre_classifier`, ...); where that is nothing (Perceiver keeps its classifier inside
  the backbone), the layer whose outputs are the `num_labels` logits;
- blocks = the largest `nn.ModuleList` of composite modules inside the backbone (ViT `layers`,
  BERT `encoder.layer`, Swin/ConvNeXt/ResNet stages), with the lists built in parallel to it
  (XLM keeps `attentions[i]` and `ffns[i]` side by side) and the other stacks of comparable
  size (an encoder-decoder's encoder before its decoder); embeddings = backbone parameters
  registered before the first block.

A model whose backbone can still not be told apart names it with the recipe key
`model.backbone`. Also the freezing helpers every mode shares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from hfft.errors import RecipeError

# A stack counts as part of the blocks when it holds at least this share of the largest one's
# parameters (an encoder beside its decoder) rather than being an auxiliary list.
STACK_SHARE = 0.5


@dataclass
class Anatomy:
    """Where the backbone, its repeated blocks and the new head are in a task model."""

    backbone: list[str]  # module names (children of the task model) that form the backbone
    blocks: list[list[str]]  # each block, input side first: the module names it spans
    head: list[str]

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    @property
    def blocks_prefix(self) -> str | None:
        """The module list holding the first block (None for a model without blocks)."""
        return self.blocks[0][0].rpartition(".")[0] if self.blocks else None

    @property
    def backbone_prefix(self) -> str:
        return self.backbone[0]


def anatomy(model: nn.Module, backbone: str | None = None) -> Anatomy:
    """Locate backbone, blocks and head of a transformers task model (see the module
    docstring); `backbone` names the backbone module when the model's own prefix does not."""
    name = type(model).__name__
    children = {n: c for n, c in model.named_children() if _has_parameters(c)}
    prefix = backbone or getattr(model, "base_model_prefix", "")
    if backbone and not isinstance(_submodule(model, backbone), nn.Module):
        raise RecipeError(
            f"model.backbone {backbone!r} names no module of {name}; its modules are "
            f"{sorted(children)}"
        )
    if prefix in children or (backbone and "." in backbone):
        parts = [prefix]
        head = [n for n in children if n != prefix and not prefix.startswith(n + ".")]
    else:
        # base_model_prefix names no module: the head is what computes the logits, the rest is
        # the backbone.
        head = [n for n, c in children.items() if _output_layers(c, model, n)]
        parts = [n for n in children if n not in head]
    if not head and parts:
        head = [n for p in parts for n in _output_layers(_submodule(model, p), model, p)]
    if not parts or not head:
        raise RecipeError(
            f"cannot tell the backbone of {name} from its new head (base_model_prefix "
            f"{prefix!r}, modules {sorted(children)}, no layer with num_labels outputs outside "
            "the backbone): set model.backbone to the name of its backbone module"
        )
    return Anatomy(parts, _blocks(model, parts, head), head)


def _has_parameters(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def _submodule(model: nn.Module, name: str) -> Any:
    try:
        return model.get_submodule(name)
    except AttributeError:
        return None


def _output_layers(module: nn.Module, model: nn.Module, prefix: str) -> list[str]:
    """Names of the layers in `module` whose outputs are the model's `num_labels` logits."""
    num_labels = getattr(getattr(model, "config", None), "num_labels", None)
    if not num_labels:
        return []
    found = []
    for name, layer in module.named_modules():
        size = getattr(layer, "out_features", None) or getattr(layer, "out_channels", None)
        if size == num_labels and isinstance(layer, (nn.Linear, nn.Conv2d, nn.Conv1d)):
            found.append(f"{prefix}.{name}" if name else prefix)
    return found


def _blocks(model: nn.Module, backbone: list[str], head: list[str]) -> list[list[str]]:
    """The backbone's blocks, input side first (see the module docstring)."""
    lists = []
    for part in backbone:
        for name, module in _submodule(model, part).named_modules():
            full = f"{part}.{name}" if name else part
            if (
                isinstance(module, nn.ModuleList)
                and len(module) > 0
                and all(any(True for _ in m.children()) for m in module)  # blocks, not leaves
                and not in_any(full, head)
            ):
                lists.append((sum(p.numel() for p in module.parameters()), full, len(module)))
    if not lists:
        return []
    # The outermost list holds all the blocks, so it has the most parameters; ties keep the first.
    size, main, length = max(lists, key=lambda item: item[0])
    parent = main.rpartition(".")[0]
    parallel = [n for _, n, k in lists if n.rpartition(".")[0] == parent and k == length]
    stacks = [
        n
        for s, n, _ in lists
        if n not in parallel
        and s >= STACK_SHARE * size
        and not any(in_any(n, [m]) or in_any(m, [n]) for m in parallel)
    ]
    stacks = [n for n in stacks if not any(o != n and in_any(n, [o]) for o in stacks)]
    order = {name: i for i, (name, _) in enumerate(model.named_modules())}
    groups = sorted([parallel, *([s] for s in stacks)], key=lambda g: order[g[0]])
    blocks = []
    for group in groups:
        count = len(_submodule(model, group[0]))
        blocks += [[f"{g}.{i}" for g in group] for i in range(count)]
    return blocks


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def in_any(name: str, prefixes: list[str]) -> bool:
    """True when the dotted `name` is one of `prefixes` or lies inside one of them."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def freeze(model: nn.Module, frozen: Callable[[str], bool]) -> list[Any]:
    """Freeze parameters whose name `frozen(name)` says, and their BatchNorm statistics; returns
    the hooks that keep those statistics (removing them lets the statistics update again)."""
    for name, param in model.named_parameters():
        if frozen(name):
            param.requires_grad_(False)
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and frozen(name + ".weight"):
            # A frozen CNN backbone must also keep its running statistics (timm does the same):
            # the Trainer calls model.train() every step, so re-assert eval mode on each forward.
            hooks.append(module.register_forward_pre_hook(_keep_eval))
            module.eval()
    return hooks


def _keep_eval(module: nn.Module, args: Any) -> None:
    module.training = False
