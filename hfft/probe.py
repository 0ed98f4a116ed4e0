"""The head-first stage of a mode that probes before it fine-tunes (`Mode.probe_epochs`, LP-FT):
the new head trains alone on the frozen backbone, exactly as a `frozen` run with the same
training settings would train it (the same Trainer settings, seed and data order; on cached
features wherever a frozen run caches them), then the run's own Trainer fine-tunes from that
head. The stage runs inside `hfft train` before the Trainer's own training, in the same run
directory; a run resumed from a checkpoint skips it (the checkpoint holds the probed head)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from hfft import feature_cache, modes
from hfft.modes.structure import anatomy, freeze, in_any

log = logging.getLogger("hfft")


def probe_epochs(recipe: Any) -> float:
    """How many epochs the recipe's mode trains the head alone first (0: no probe)."""
    return modes.mode_of(recipe.model).probe_epochs(recipe.model)


def train_head_first(run: Any) -> dict[str, Any] | None:
    """Train the head of `run.model` alone for the mode's probe epochs (see the module
    docstring); returns the probe Trainer's last log entry, or None without a probe."""
    from transformers import Trainer, default_data_collator

    recipe = run.recipe
    epochs = probe_epochs(recipe)
    if not epochs:
        return None
    from hfft.sentence_pooling import objective_untrained_pooler

    target = modes.unwrapped(run.model)
    head = anatomy(target, recipe.model.backbone).head
    # What a frozen run trains: the head, and a pooler the checkpoint's objective never trained
    # (where the mode trains it); of the head, PEFT trains its `modules_to_save` copy.
    head += objective_untrained_pooler(target, recipe.model.checkpoint)
    probed = {
        id(p) for name, p in target.named_parameters() if in_any(name, head) and p.requires_grad
    }
    trainable = {p: p.requires_grad for p in target.parameters()}
    # The probe sees the backbone as a frozen run does: adapter layers (identity at their
    # initialisation, but their dropout would draw random numbers) are switched off meanwhile.
    adapters = _adapter_layers(target)
    for layer in adapters:
        layer.enable_adapters(False)
    hooks = freeze(target, lambda name: not in_any(name, head))
    for param in target.parameters():
        param.requires_grad_(id(param) in probed)
    mode = modes.mode_of(recipe.model)
    args = dataclasses.replace(
        run.trainer.args,
        learning_rate=mode.probe_learning_rate(recipe.model) or run.trainer.args.learning_rate,
        num_train_epochs=epochs,
        max_steps=-1,
        eval_strategy="no",
        save_strategy="no",
        load_best_model_at_end=False,
        report_to=[],
    )
    cache, why = feature_cache.cache_decision(recipe, target, probe=True)
    collator, train_model, dataset = run.trainer.data_collator, target, run.prepared["train"]
    try:
        if cache:
            log.info("LP-FT probe: caching frozen-backbone features (%s)", why)
            train_model, features = feature_cache.cache_features(
                target,
                run.prepared,
                collator,
                args.per_device_eval_batch_size,
                run.task.labels.head_loss,
                recipe.model.backbone,
                autocast=feature_cache.autocast_dtype(args),  # the features the run would see
            )
            dataset, collator = features["train"], default_data_collator
            args = dataclasses.replace(args, gradient_checkpointing=False)
        else:
            log.info("LP-FT probe: training uncached (%s)", why)
        log.info("LP-FT probe: training the head alone for %g epochs", epochs)
        trainer = Trainer(
            model=train_model, args=args, train_dataset=dataset, data_collator=collator
        )
        trainer.train()
    finally:
        for hook in hooks:
            hook.remove()
        for layer in adapters:
            layer.enable_adapters(True)
        for param, was in trainable.items():
            param.requires_grad_(was)
    last = trainer.state.log_history[-1] if trainer.state.log_history else {}
    log.info("LP-FT probe done: %s; fine-tuning from the probed head", _shown(last))
    return last


def _adapter_layers(model: Any) -> list[Any]:
    """PEFT's adapter layers in `model` (not the head's trained copy, which the probe trains)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    return [m for m in model.modules() if isinstance(m, BaseTunerLayer)]


def _shown(entry: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in entry.items() if isinstance(v, float)) or "-"
