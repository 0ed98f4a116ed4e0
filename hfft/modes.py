"""Adaptation modes: full, full with `freeze_layers`, frozen backbone, LoRA (PEFT).

All mode logic lives here; the pipeline calls `apply_mode` before training and `finalize` after.
The model anatomy is derived, not hard-coded per architecture:

- backbone = `model.base_model` (transformers' `base_model_prefix`); the new head = every other
  child module of the task model that has parameters (`classifier`, DistilBERT's
  `pre_classifier`, ...);
- blocks = the largest `nn.ModuleList` inside the backbone (ViT `layers`, BERT `encoder.layer`,
  Swin/ConvNeXt/ResNet stages); embeddings = backbone parameters registered before the blocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from hfft.errors import RecipeError
from hfft.recipe import ModelSpec

# (query-like, value-like) attention projection names across transformers 5 architectures.
ATTENTION_PAIRS = (
    ("q_proj", "v_proj"),  # ViT, Swin, DeiT, CLIP, Llama-style (transformers 5 names)
    ("query", "value"),  # BERT, RoBERTa, ELECTRA
    ("q_lin", "v_lin"),  # DistilBERT
    ("q", "v"),  # T5-style
)
FUSED_ATTENTION = ("qkv", "query_key_value", "Wqkv", "c_attn", "in_proj")


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


def apply_mode(model: nn.Module, spec: ModelSpec) -> nn.Module:
    """Freeze parameters or wrap in PEFT as the recipe's mode says; returns the model to train."""
    parts = anatomy(model)
    if spec.mode == "full":
        if spec.freeze_layers:
            _freeze_lowest(model, parts, spec.freeze_layers)
        return model
    if spec.mode == "frozen":
        _freeze(model, lambda name: not _in_any(name, parts.head))
        return model
    if spec.mode == "lora":
        return _wrap_lora(model, spec, parts)
    raise RecipeError(f"unknown mode {spec.mode!r}")  # recipe validation already rejects this


def _in_any(name: str, prefixes: list[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _freeze(model: nn.Module, frozen: Any) -> None:
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


def _freeze_lowest(model: nn.Module, parts: Anatomy, n: int) -> None:
    if parts.blocks_prefix is None or n > parts.num_blocks:
        raise RecipeError(
            f"model.freeze_layers={n} but {type(model).__name__} has {parts.num_blocks} blocks; "
            f"use a value from 0 to {parts.num_blocks}"
        )
    frozen_blocks = [f"{parts.blocks_prefix}.{i}" for i in range(n)]
    backbone_names = [
        name for name, _ in model.named_parameters() if _in_any(name, [parts.backbone_prefix])
    ]
    first_block = next(
        i for i, name in enumerate(backbone_names) if _in_any(name, [parts.blocks_prefix])
    )
    embeddings = set(backbone_names[:first_block])
    _freeze(model, lambda name: name in embeddings or _in_any(name, frozen_blocks))


# --------------------------------------------------------------------------------------------
# LoRA


def lora_target_modules(model: nn.Module) -> str:
    """A PEFT `target_modules` regex for `target_modules: auto`: the attention query/value
    projections inside the backbone's blocks, else the fused qkv projection, else every linear
    layer in the blocks, else every convolution (CNNs such as ResNet)."""
    parts = anatomy(model)
    scope = parts.blocks_prefix or parts.backbone_prefix
    leaves: dict[str, type] = {}
    for name, module in model.named_modules():
        if _in_any(name, [scope]) and isinstance(module, (nn.Linear, nn.Conv2d)):
            leaves.setdefault(name.rsplit(".", 1)[-1], type(module))
    chosen: list[str] = []
    for query, value in ATTENTION_PAIRS:
        if query in leaves and value in leaves:
            chosen = [query, value]
            break
    chosen = chosen or [n for n in FUSED_ATTENTION if n in leaves]
    chosen = chosen or sorted(n for n, t in leaves.items() if t is nn.Linear)
    chosen = chosen or sorted(leaves)
    if not chosen:
        raise RecipeError(
            f"target_modules: auto found no linear or conv layers in {type(model).__name__}; "
            "list model.lora.target_modules explicitly"
        )
    names = "|".join(re.escape(n) for n in chosen)
    return rf"{re.escape(scope)}\.(?:.+\.)?(?:{names})"


def _wrap_lora(model: nn.Module, spec: ModelSpec, parts: Anatomy) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    lora = spec.lora
    targets = lora_target_modules(model) if lora.target_modules == "auto" else lora.target_modules
    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        bias=lora.bias,
        target_modules=targets,
        # The new head is trained in full and saved with the adapter; without this it is lost on
        # reload (PEFT #310).
        modules_to_save=parts.head,
    )
    try:
        return get_peft_model(model, config)
    except ValueError as err:
        raise RecipeError(f"model.lora.target_modules {targets!r}: {err}") from None


def is_peft(model: nn.Module) -> bool:
    """True for a PEFT-wrapped (LoRA) model."""
    from peft import PeftModel

    return isinstance(model, PeftModel)


def finalize(model: nn.Module, run_dir: Path) -> nn.Module:
    """The plain transformers model to save in the run directory. A LoRA model saves its adapter
    to `run_dir/adapter` and is merged, so `pipeline(...)` needs transformers alone."""
    if not is_peft(model):
        return model
    model.save_pretrained(Path(run_dir) / "adapter")
    merged = model.merge_and_unload()
    for param in merged.parameters():
        param.requires_grad_(True)
    return merged


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
    "Anatomy",
    "anatomy",
    "apply_mode",
    "count_parameters",
    "enable_checkpointing_inputs",
    "finalize",
    "lora_target_modules",
    "trainable_summary",
]
