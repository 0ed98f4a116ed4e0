"""What an FSDP run needs beyond the Trainer and accelerate: a wrap policy that works for
transformers' encoders, and an unsharded model for the run directory.

DDP needs nothing here: every process holds the whole model. DeepSpeed is checked in preflight.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from torch import nn


def fsdp_requested(args: Any) -> bool:
    """True when the run will be sharded with FSDP: `training.fsdp` in the recipe, or an
    accelerate config with `distributed_type: FSDP` (which `accelerate launch` passes on as
    ACCELERATE_USE_FSDP)."""
    return args.fsdp_plugin_args is not None or _env_true("ACCELERATE_USE_FSDP")


def block_class_name(model: nn.Module) -> str | None:
    """The class name of the model's repeated transformer block (`ViTLayer`, `BertLayer`), or
    None when it has none (no block list, or only a head)."""
    from hfft import modes
    from hfft.errors import RecipeError

    target = model.get_base_model() if modes.is_peft(model) else model
    try:
        parts = modes.anatomy(target)
    except RecipeError:  # no backbone: the head alone, trained on cached features
        return None
    if parts.blocks_prefix is None:
        return None
    blocks = target.get_submodule(parts.blocks_prefix)
    return type(blocks[0]).__name__


def wrap_blocks(args: Any, model: nn.Module) -> None:
    """Make FSDP's transformer-based auto-wrap shard the model's blocks, unless the recipe or the
    accelerate config names the classes to wrap.

    Why: with no class named, accelerate wraps the model's `_no_split_modules`, which for ViT and
    BERT include their `*Embeddings` container; accelerate 1.15's FSDP2 then shards
    `get_input_embeddings()` (inside that container, already sharded) once more and torch fails
    with "TypeError: Invariant encountered: value was None when it should not be"."""
    if not fsdp_requested(args):
        return
    block = block_class_name(model)
    if block is None:
        return
    plugin_args = args.fsdp_plugin_args
    if plugin_args is not None:  # training.fsdp / fsdp_config in the recipe
        if plugin_args.get("auto_wrap_policy") == "TRANSFORMER_BASED_WRAP":
            plugin_args.setdefault("transformer_cls_names_to_wrap", block)
    elif os.environ.get("FSDP_AUTO_WRAP_POLICY", "").upper() == "TRANSFORMER_BASED_WRAP":
        # accelerate launch: the plugin is built from these variables when the Trainer starts.
        os.environ.setdefault("FSDP_TRANSFORMER_CLS_TO_WRAP", block)


def unsharded_model(
    trainer: Any, model: nn.Module, load_fresh: Callable[[], nn.Module]
) -> nn.Module | None:
    """The trained model as ordinary tensors, for `modes.finalize` and `save_pretrained`.

    Without FSDP that is `model` itself. Under FSDP every process must call this (gathering the
    shards is collective); the main process gets `load_fresh()` (the model in its mode, as
    before training) holding the gathered weights, the others None. `trainer.model` is `model`,
    or the head alone when it trained on cached features (`feature_cache.HeadOnly`)."""
    if not getattr(trainer, "is_fsdp_enabled", False):
        return model
    full = trainer.accelerator.get_state_dict(trainer.model)  # full tensors on rank 0 only
    if not trainer.is_world_process_zero():
        return None
    fresh = load_fresh()
    if trainer.model is model:
        fresh.load_state_dict(full)
    else:
        from hfft.modes import anatomy

        head = fresh.get_submodule(anatomy(fresh).head[0])
        head.load_state_dict({k.removeprefix("head."): v for k, v in full.items()})
    return fresh


def _env_true(name: str) -> bool:
    return os.environ.get(name, "false").lower() in {"1", "true", "yes"}
