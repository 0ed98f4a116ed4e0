"""The PEFT methods `model.mode: peft` offers, and what `target_modules: auto` picks for each.

Every method reads the same anatomy (`hfft.modes.structure`) and the same list of layers PEFT can
adapt and merge back exactly (`hfft.modes.lora.lora_kind`); each keeps the layer kinds its PEFT
implementation supports and merges exactly (OFT and BOFT merge convolutions inexactly, VeRA and
AdaLoRA's auto targets stay on linear layers):

- lora, dora, adalora, loha, lokr, oft, boft: LoRA's choice (the attention query/value
  projections, else the fused qkv, else the attention's linears, else every linear, else every
  convolution), restricted to the method's layer kinds;
- vera: that choice restricted to its most common (in, out) shape, as VeRA shares one pair of
  random projections between all its layers;
- ia3: the attention keys and values plus each block's feed-forward down-projection (the first
  linear outside attention whose input is wider than its output), the latter also as
  `feedforward_modules` (IA3 scales its input, the paper's rescaled inner activation);
- ln_tuning: the normalisation layers inside the blocks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hfft.errors import RecipeError

if TYPE_CHECKING:
    from torch import nn

# (key-like, value-like) attention projection names, as lora.ATTENTION_PAIRS for query/value.
KEY_VALUE_PAIRS = (("k_proj", "v_proj"), ("key", "value"), ("k_lin", "v_lin"), ("k", "v"))


@dataclass(frozen=True)
class Method:
    """One PEFT method: its config class and fixed settings, and how auto picks its layers."""

    name: str
    config_class: str  # a class of the peft package
    # Settings hfft always passes (DoRA is LoRA with use_dora).
    fixed: dict[str, Any] = field(default_factory=dict)
    # Layer kinds its auto targets may hold ("linear", "conv"), or "norm" for LayerNorm tuning.
    kinds: tuple[str, ...] = ("linear", "conv")
    # Its main size parameter (the one `hfft tune` searches first), None when it has none.
    size: str | None = "r"
    # The parameter-name part that marks its trainable tensors (tests and the card read it).
    marker: str = "lora_"


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("lora", "LoraConfig"),
        Method("dora", "LoraConfig", fixed={"use_dora": True}),
        Method("adalora", "AdaLoraConfig", kinds=("linear",), size="target_r"),
        Method("loha", "LoHaConfig", marker="hada_"),
        Method("lokr", "LoKrConfig", marker="lokr_"),
        Method("vera", "VeraConfig", kinds=("linear",), marker="vera_lambda"),
        Method("oft", "OFTConfig", kinds=("linear",), size="oft_block_size", marker="oft_"),
        Method("boft", "BOFTConfig", kinds=("linear",), size="boft_block_size", marker="boft_"),
        Method("ia3", "IA3Config", size=None, marker="ia3_"),
        Method("ln_tuning", "LNTuningConfig", kinds=("norm",), size=None, marker="ln_tuning"),
    )
}


def config_class(method: Method) -> type:
    """The PEFT config dataclass of `method`."""
    import peft

    return getattr(peft, method.config_class)


def auto_targets(method: Method, model: nn.Module, backbone: str | None = None) -> dict[str, Any]:
    """The config keys `target_modules: auto` sets for `method` on `model`: target_modules (a
    regex of full module names), and for IA3 feedforward_modules."""
    from hfft.modes.lora import ATTENTION, _pattern, lora_kind
    from hfft.modes.structure import anatomy, in_any

    parts = anatomy(model, backbone)
    scope = [name for block in parts.blocks for name in block] or parts.backbone
    inside = {
        name: module
        for name, module in model.named_modules()
        if in_any(name, scope) and not in_any(name, parts.head)
    }
    every = [n for n, _ in model.named_modules()]
    arch = type(model).__name__
    if method.kinds == ("norm",):
        norms = [n for n, m in inside.items() if _is_norm(m)]
        if not norms:
            raise RecipeError(
                f"model.peft.method ln_tuning: {arch} has no normalisation layer in its blocks "
                "to tune; choose another model.peft.method"
            )
        return {"target_modules": _pattern(norms, every)}
    exact: dict[type, bool] = {}
    kinds = {n: k for n, m in inside.items() for k in [lora_kind(m, exact)] if k in method.kinds}
    linear = [n for n, k in kinds.items() if k == "linear"]
    if method.name == "ia3":
        chosen, feedforward = _ia3_layers(linear, inside, ATTENTION)
        if chosen:
            return {
                "target_modules": _pattern(chosen, every),
                "feedforward_modules": _pattern(feedforward, every) if feedforward else [],
            }
    names = _lora_choice(linear, [n for n, k in kinds.items() if k == "conv"], ATTENTION)
    if method.name == "vera" and names:
        shapes = Counter(_shape(inside[n]) for n in names)
        common = shapes.most_common(1)[0][0]
        names = [n for n in names if _shape(inside[n]) == common]
    if not names:
        supported = " and ".join(
            {"linear": "linear layers", "conv": "convolutions"}[k] for k in method.kinds
        )
        raise RecipeError(
            f"model.peft.method {method.name}: target_modules auto found no layer it can adapt "
            f"in the blocks of {arch} ({method.name} adapts {supported} here); choose another "
            "model.peft.method (lora adapts convolutions too) or set model.peft.target_modules"
        )
    return {"target_modules": _pattern(names, every)}


def _lora_choice(linear: list[str], convs: list[str], attention: Any) -> list[str]:
    """LoRA's auto choice among these layers (see `hfft.modes.lora.target_modules`)."""
    from hfft.modes.lora import ATTENTION_PAIRS, FUSED_ATTENTION

    leaves = {n.rsplit(".", 1)[-1] for n in linear}
    pair = next(((q, v) for q, v in ATTENTION_PAIRS if q in leaves and v in leaves), ())
    return (
        [n for n in linear if n.rsplit(".", 1)[-1] in pair]
        or [n for n in linear if n.rsplit(".", 1)[-1] in FUSED_ATTENTION]
        or [n for n in linear if any(attention.search(p) for p in n.split(".")[:-1])]
        or linear
        or convs
    )


def _ia3_layers(
    linear: list[str], modules: dict[str, nn.Module], attention: Any
) -> tuple[list[str], list[str]]:
    """(keys, values and feed-forward down-projections; the latter alone) for IA3."""
    from hfft.modes.lora import FUSED_ATTENTION

    leaves = {n.rsplit(".", 1)[-1] for n in linear}
    pair = next(((k, v) for k, v in KEY_VALUE_PAIRS if k in leaves and v in leaves), ())
    keys_values = [n for n in linear if n.rsplit(".", 1)[-1] in pair] or [
        n for n in linear if n.rsplit(".", 1)[-1] in FUSED_ATTENTION
    ]
    outside = [n for n in linear if not any(attention.search(p) for p in n.split(".")[:-1])]
    feedforward = [n for n in outside if _in_features(modules[n]) > _out_features(modules[n])]
    return keys_values + feedforward, feedforward


def _is_norm(module: nn.Module) -> bool:
    """A normalisation layer with its own affine weight (LayerNorm, GroupNorm, RMSNorm and
    transformers' own *LayerNorm / *RMSNorm classes)."""
    from torch import nn

    name = type(module).__name__
    own = isinstance(module, (nn.LayerNorm, nn.GroupNorm)) or name.endswith(
        ("LayerNorm", "RMSNorm")
    )
    return own and getattr(module, "weight", None) is not None


def _shape(module: nn.Module) -> tuple[int, int]:
    return _in_features(module), _out_features(module)


def _in_features(module: nn.Module) -> int:
    # transformers' Conv1D stores (in, out) in its weight, nn.Linear (out, in)
    return getattr(module, "in_features", None) or module.weight.shape[0]


def _out_features(module: nn.Module) -> int:
    return getattr(module, "out_features", None) or module.weight.shape[1]
