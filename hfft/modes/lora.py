"""`lora`: low-rank adapters (PEFT) on the backbone's blocks, trained together with the new head;
the run directory saves the adapter and the merged model (which loads without PEFT).

`target_modules: auto` picks, inside the blocks: the attention query/value projections, else the
fused qkv projection, else every linear layer, else every convolution (CNNs such as ResNet) --
only layers PEFT can adapt and merge (no grouped or depthwise convolutions).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hfft.errors import RecipeError, first_line
from hfft.modes.mode import Mode

if TYPE_CHECKING:
    from torch import nn

# (query-like, value-like) attention projection names across transformers 5 architectures.
ATTENTION_PAIRS = (
    ("q_proj", "v_proj"),  # ViT, Swin, DeiT, CLIP, Llama-style (transformers 5 names)
    ("query", "value"),  # BERT, RoBERTa, ELECTRA
    ("q_lin", "v_lin"),  # DistilBERT
    ("q", "v"),  # T5-style
)
FUSED_ATTENTION = ("qkv", "query_key_value", "Wqkv", "c_attn", "in_proj")
ADAPTER_DIR = "adapter"


def target_modules(model: nn.Module, backbone: str | None = None) -> str:
    """A PEFT `target_modules` regex for `target_modules: auto` (see the module docstring)."""
    from hfft.modes.structure import anatomy, in_any

    parts = anatomy(model, backbone)
    scope = [name for block in parts.blocks for name in block] or parts.backbone
    layers = {
        name: kind
        for name, module in model.named_modules()
        if in_any(name, scope) and not in_any(name, parts.head)
        for kind in [lora_kind(module)]
        if kind
    }
    by_leaf: dict[str, set[str]] = {}
    for name, kind in layers.items():
        by_leaf.setdefault(name.rsplit(".", 1)[-1], set()).add(kind)
    linear = {leaf for leaf, kinds in by_leaf.items() if "linear" in kinds}
    chosen: list[str] = []
    for query, value in ATTENTION_PAIRS:
        if query in linear and value in linear:
            chosen = [query, value]
            break
    chosen = chosen or [n for n in FUSED_ATTENTION if n in linear]
    kinds = {"linear"} if chosen or linear else {"conv"}
    chosen = chosen or sorted(linear) or sorted(by_leaf)
    names = [n for n, k in layers.items() if k in kinds and n.rsplit(".", 1)[-1] in chosen]
    if not names:
        raise RecipeError(
            f"target_modules: auto found no layer LoRA can adapt in the blocks of "
            f"{type(model).__name__} (PEFT adapts nn.Linear, transformers Conv1D and "
            "convolutions with groups=1): use model.mode=full or frozen"
        )
    return _pattern(names, [n for n, _ in model.named_modules()])


def lora_kind(module: nn.Module) -> str | None:
    """'linear' or 'conv' for a layer PEFT's LoRA adapts and merges back, else None.

    Left out: grouped and depthwise convolutions (groups > 1: MobileNet, ConvNeXt, EfficientNet),
    which PEFT only accepts when the rank is divisible by the groups and cannot merge; and
    subclasses with their own forward (BiT's weight-standardised convolution), where a merged
    delta would not compute what the adapter computed."""
    from torch import nn
    from transformers.pytorch_utils import Conv1D

    for kind, base in (("linear", nn.Linear), ("linear", Conv1D)):
        if isinstance(module, base) and type(module).forward is base.forward:
            return kind
    for base in (nn.Conv1d, nn.Conv2d, nn.Conv3d):
        if isinstance(module, base) and type(module).forward is base.forward:
            return "conv" if module.groups == 1 else None
    return None


def _pattern(chosen: list[str], every: list[str]) -> str:
    """A regex that fully matches exactly the `chosen` module names: block indices generalised
    to `\\d+` where that matches nothing else among `every` module name."""
    wanted = set(chosen)
    patterns: dict[str, list[str]] = {}
    for name in chosen:
        general = r"\.".join(r"\d+" if p.isdigit() else re.escape(p) for p in name.split("."))
        patterns.setdefault(general, []).append(name)
    out = []
    for general, names in patterns.items():
        if any(re.fullmatch(general, n) for n in every if n not in wanted):
            out += [re.escape(n) for n in names]
        else:
            out.append(general)
    return "|".join(out)


def apply(model: nn.Module, spec: Any) -> nn.Module:
    """Wrap the model in a PEFT LoRA model; the head trains in full (`modules_to_save`)."""
    from peft import LoraConfig, get_peft_model
    from transformers.pytorch_utils import Conv1D

    from hfft.modes.structure import anatomy

    lora = spec.lora
    backbone = getattr(spec, "backbone", None)
    parts = anatomy(model, backbone)
    auto = lora.target_modules == "auto"
    targets = target_modules(model, backbone) if auto else lora.target_modules
    matched = [m for n, m in model.named_modules() if auto and re.fullmatch(targets, n)]
    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        bias=lora.bias,
        target_modules=targets,
        # GPT-2-style Conv1D stores its weight transposed.
        fan_in_fan_out=bool(matched) and all(isinstance(m, Conv1D) for m in matched),
        # The new head is trained in full and saved with the adapter; without this it is lost on
        # reload (PEFT #310).
        modules_to_save=parts.head,
    )
    try:
        wrapped = get_peft_model(model, config)
    except (ValueError, TypeError, NotImplementedError) as err:
        shown = "auto" if auto else repr(targets)
        raise RecipeError(f"model.lora.target_modules {shown}: {first_line(err)}") from None
    _expose_conv_geometry(wrapped)
    return wrapped


def _expose_conv_geometry(model: nn.Module) -> None:
    """Give PEFT's wrapper of a convolution the geometry of the convolution it wraps: some
    models read it off the layer in forward (MobileNet's TensorFlow-style padding reads
    `stride` and `kernel_size`), and the wrapper does not pass attribute reads through."""
    from torch import nn

    for module in model.modules():
        base = getattr(module, "base_layer", None)
        if isinstance(base, nn.modules.conv._ConvNd) and module is not base:
            for attr in ("stride", "padding", "dilation", "kernel_size", "padding_mode"):
                if attr not in dir(module):
                    setattr(module, attr, getattr(base, attr))


def finalize(model: nn.Module, run_dir: Path) -> nn.Module:
    """Save the adapter to `run_dir/adapter` and return the merged plain transformers model, so
    `pipeline(...)` needs transformers alone."""
    from peft import PeftModel

    if not isinstance(model, PeftModel):
        return model
    model.save_pretrained(Path(run_dir) / ADAPTER_DIR)
    merged = model.merge_and_unload()
    for param in merged.parameters():
        param.requires_grad_(True)
    return merged


def describe(model: Mapping[str, Any]) -> str:
    lora = model.get("lora") or {}
    targets = lora.get("target_modules", "auto")
    return (
        f"LoRA adapters (r={lora.get('r')}, alpha={lora.get('alpha')}, "
        f"dropout={lora.get('dropout')}, target modules: {targets}) were trained together "
        "with the new classification head, then merged into the weights, so the model "
        "loads without PEFT"
    )


def hyperparameters(model: Mapping[str, Any]) -> dict[str, Any]:
    return {f"lora.{k}": v for k, v in (model.get("lora") or {}).items()}


def search_space(num_blocks: int) -> dict[str, dict[str, Any]]:
    return {
        "model.lora.r": {"type": "categorical", "choices": [4, 8, 16, 32]},
        "model.lora.alpha": {"type": "categorical", "choices": [8, 16, 32]},
        "model.lora.dropout": {"type": "float", "low": 0.0, "high": 0.3},
    }


LORA = Mode(
    name="lora",
    apply=apply,
    describe=describe,
    hyperparameters=hyperparameters,
    learning_rates=(1e-4, 1e-2),
    search_space=search_space,
    finalize=finalize,
    own_keys=("lora",),
    packages=("peft",),
)
