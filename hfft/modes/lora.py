"""`lora`: low-rank adapters (PEFT) on the backbone's blocks, trained together with the new head;
the run directory saves the adapter and the merged model (which loads without PEFT).

`target_modules: auto` picks, inside the blocks: the attention query/value projections, else the
fused qkv projection, else the attention's linear layers, else every linear layer, else every
convolution (CNNs such as ResNet) -- only layers PEFT can adapt and merge back (no grouped or
depthwise convolutions, no layer whose forward transforms its weight).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

from hfft.errors import RecipeError, first_line
from hfft.modes.mode import Mode
from hfft.recipe_types import check_range
from hfft.run_files import ADAPTER_DIR

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
ATTENTION = re.compile("attn|attention", re.IGNORECASE)  # a module path part inside attention


@dataclass
class LoraSpec:
    """The mode's options, `model.lora` in a recipe: LoRA hyper-parameters for `peft.LoraConfig`."""

    r: int = 16
    alpha: int = 16
    dropout: float = 0.1
    # "auto" derives the attention projections of each architecture (see `target_modules`).
    target_modules: Union[str, list[str]] = "auto"  # noqa: UP007 (runtime-inspected)
    bias: Literal["none", "all", "lora_only"] = "none"

    def __post_init__(self) -> None:
        check_range("model.lora.r", self.r, 1)
        # The update is scaled by alpha / r: zero or negative silences or inverts it.
        check_range("model.lora.alpha", self.alpha, 0, low_open=True)
        check_range("model.lora.dropout", self.dropout, 0.0, 1.0, high_open=True)


def target_modules(model: nn.Module, backbone: str | None = None) -> str:
    """A PEFT `target_modules` regex for `target_modules: auto` (see the module docstring)."""
    from hfft.modes.structure import anatomy, in_any

    parts = anatomy(model, backbone)
    scope = [name for block in parts.blocks for name in block] or parts.backbone
    exact: dict[type, bool] = {}  # whether a layer class merges exactly, tried once per class
    layers = {
        name: kind
        for name, module in model.named_modules()
        if in_any(name, scope) and not in_any(name, parts.head)
        for kind in [lora_kind(module, exact)]
        if kind
    }
    linear = [n for n, k in layers.items() if k == "linear"]
    leaves = {n.rsplit(".", 1)[-1] for n in linear}
    pair = next(((q, v) for q, v in ATTENTION_PAIRS if q in leaves and v in leaves), ())
    names = (
        [n for n in linear if n.rsplit(".", 1)[-1] in pair]
        or [n for n in linear if n.rsplit(".", 1)[-1] in FUSED_ATTENTION]
        # Attention without a q/v pair (DeepSeek's latent attention, CTRL's Wq/Wv): its linear
        # layers, not the MLP's (PEFT maps MoE gate/up/down names onto fused expert weights).
        or [n for n in linear if any(ATTENTION.search(p) for p in n.split(".")[:-1])]
        or linear
        or [n for n, k in layers.items() if k == "conv"]
    )
    if not names:
        raise RecipeError(
            f"target_modules: auto found no layer LoRA can adapt in the blocks of "
            f"{type(model).__name__} (PEFT adapts nn.Linear, transformers Conv1D and "
            "convolutions with groups=1): use model.mode=full or frozen"
        )
    return _pattern(names, [n for n, _ in model.named_modules()])


def lora_kind(module: nn.Module, exact: dict[type, bool] | None = None) -> str | None:
    """'linear' or 'conv' for a layer PEFT's LoRA adapts and merges back, else None.

    Left out: grouped and depthwise convolutions (groups > 1: MobileNet, ConvNeXt, EfficientNet),
    which PEFT only accepts when the rank is divisible by the groups and cannot merge; and
    subclasses whose own forward does not add a weight delta's output to its own (BiT's
    weight-standardised convolution), where the merged model would not compute what the adapter
    did. `exact` remembers that per class."""
    from torch import nn
    from transformers.pytorch_utils import Conv1D

    exact = {} if exact is None else exact
    for base in (nn.Linear, Conv1D):
        if isinstance(module, base):
            return "linear" if _merges_exactly(module, base, exact) else None
    for base in (nn.Conv1d, nn.Conv2d, nn.Conv3d):
        if isinstance(module, base):
            return "conv" if module.groups == 1 and _merges_exactly(module, base, exact) else None
    return None


def _merges_exactly(module: nn.Module, base: type, exact: dict[type, bool]) -> bool:
    """Whether adding a delta to the layer's weight adds the delta's own output to its output
    (always, for the plain classes; tried on a random input for a subclass with its forward)."""
    import copy

    import torch
    from torch import nn
    from transformers.pytorch_utils import Conv1D

    cls = type(module)
    if cls.forward is base.forward:
        return True
    if cls not in exact:
        if module.weight.is_meta:  # preflight's weightless copy: try a random-weight copy
            module = copy.deepcopy(module).to_empty(device="cpu")
            for param in module.parameters():
                nn.init.normal_(param)
        weight = module.weight
        generator = torch.Generator().manual_seed(0)
        if base is nn.Linear or base is Conv1D:
            shape = (2, module.in_features if base is nn.Linear else weight.shape[0])
        else:
            side = max(8, 2 * max(module.kernel_size))
            shape = (1, module.in_channels, *(side for _ in module.kernel_size))
        x = torch.randn(shape, generator=generator).to(weight)
        delta = torch.randn(weight.shape, generator=generator).to(weight) * weight.std()
        with torch.no_grad():
            before = module(x)
            weight.add_(delta)
            try:
                after = module(x)
            finally:
                weight.sub_(delta)
            if base is nn.Linear:
                alone = nn.functional.linear(x, delta)
            elif base is Conv1D:
                alone = x @ delta
            else:
                alone = base._conv_forward(module, x, delta, None)
        # A layer that returns something else than one tensor (PhiMoE's router returns a
        # tuple) is no plain layer to merge into.
        exact[cls] = all(isinstance(t, torch.Tensor) for t in (before, after)) and (
            before.shape == alone.shape
            and torch.allclose(after - before, alone, atol=1e-4, rtol=1e-3)
        )
    return exact[cls]


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
