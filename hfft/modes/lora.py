"""`lora`: low-rank adapters (PEFT) on the backbone's blocks, trained together with the new head;
the run directory saves the adapter and the merged model (which loads without PEFT).

`target_modules: auto` picks, inside the blocks: the attention query/value projections, else the
fused qkv projection, else every linear layer, else every convolution (CNNs such as ResNet).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

from hfft.errors import RecipeError
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


def target_modules(model: nn.Module) -> str:
    """A PEFT `target_modules` regex for `target_modules: auto` (see the module docstring)."""
    from torch import nn

    from hfft.modes.structure import anatomy, in_any

    parts = anatomy(model)
    scope = parts.blocks_prefix or parts.backbone_prefix
    leaves: dict[str, type] = {}
    for name, module in model.named_modules():
        if in_any(name, [scope]) and isinstance(module, (nn.Linear, nn.Conv2d)):
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


def apply(model: nn.Module, spec: Any) -> nn.Module:
    """Wrap the model in a PEFT LoRA model; the head trains in full (`modules_to_save`)."""
    from peft import LoraConfig, get_peft_model

    from hfft.modes.structure import anatomy

    lora = spec.lora
    targets = target_modules(model) if lora.target_modules == "auto" else lora.target_modules
    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        bias=lora.bias,
        target_modules=targets,
        # The new head is trained in full and saved with the adapter; without this it is lost on
        # reload (PEFT #310).
        modules_to_save=anatomy(model).head,
    )
    try:
        return get_peft_model(model, config)
    except ValueError as err:
        raise RecipeError(f"model.lora.target_modules {targets!r}: {err}") from None


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
