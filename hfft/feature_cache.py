"""Frozen-backbone feature caching: run the frozen backbone once, then train only the head.

In `frozen` mode without augmentation every epoch feeds the same inputs through the same frozen
backbone, so its output never changes. We compute the head's input once per example (a forward
pre-hook on the head module catches exactly what the head sees, whatever the architecture pools or
normalises before it), store it with `datasets.map` (batched, fingerprinted by the backbone's
weights so a rerun reuses the cache), and train the *same head module object* on it. The full
model therefore ends up with the trained head and is saved exactly like an uncached run.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import datasets
import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from hfft.errors import RecipeError
from hfft.modes import anatomy, mode_of
from hfft.modes.structure import in_any
from hfft.tasks import TASKS

log = logging.getLogger("hfft")


class HeadOnly(nn.Module):
    """The task model's head, trained on cached backbone features with the task model's loss
    (the label scheme's `head_loss`)."""

    def __init__(self, head: nn.Module, loss: Any) -> None:
        super().__init__()
        self.head = head
        self.loss = loss

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> Any:
        logits = self.head(features)
        loss = self.loss(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def cache_decision(recipe: Any, model: nn.Module) -> tuple[bool, str]:
    """(cache?, why) for this recipe and model."""
    wanted = recipe.model.cache_features
    if wanted is False:
        return False, "model.cache_features is false"
    reasons = []
    if not mode_of(recipe.model).frozen_backbone:
        reasons.append(f"mode {recipe.model.mode} trains the backbone")
    reasons += TASKS[recipe.task].modality.varying_inputs(recipe)
    head = anatomy(model).head
    if len(head) != 1:
        reasons.append(f"the head of {type(model).__name__} spans several modules")
    # A frozen-backbone mode may train a module outside the head too (frozen: a pooler the
    # checkpoint's objective never trained), which cached features would hold still.
    outside = sorted(
        {n.rsplit(".", 1)[0] for n, p in model.named_parameters() if p.requires_grad}
        - {n.rsplit(".", 1)[0] for n, _ in model.named_parameters() if in_any(n, head)}
    )
    if outside and not reasons:
        reasons.append(f"the mode also trains {', '.join(outside[:3])} outside the head")
    if not reasons:
        return True, "frozen backbone and fixed inputs"
    if wanted is True:
        raise RecipeError(f"model.cache_features is true but cannot apply: {'; '.join(reasons)}")
    return False, "; ".join(reasons)


def weights_fingerprint(model: nn.Module) -> str:
    """A hash of every parameter and buffer, so cached features follow the backbone exactly."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:32]


def cache_features(
    model: nn.Module,
    splits: datasets.DatasetDict,
    collator: Any,
    batch_size: int,
    loss: Any,
) -> tuple[HeadOnly, datasets.DatasetDict]:
    """Replace model-ready splits by (features, labels) splits and return the head to train
    with `loss` (logits, labels) -> loss."""
    from transformers import default_data_collator

    head_name = anatomy(model).head[0]
    head = getattr(model, head_name)
    collate = collator or default_data_collator
    captured: list[torch.Tensor] = []
    hook = head.register_forward_pre_hook(lambda _m, args: captured.append(args[0].detach()))
    fingerprint = weights_fingerprint(model)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()

    def extract(batch: dict[str, list]) -> dict[str, Any]:
        rows = [
            dict(zip(batch, values, strict=True)) for values in zip(*batch.values(), strict=True)
        ]
        inputs = {k: v.to(device) for k, v in collate(rows).items() if k != "labels"}
        captured.clear()
        with torch.no_grad():
            model(**inputs)
        return {"features": captured[0].float().cpu().numpy(), "labels": batch["labels"]}

    out = datasets.DatasetDict()
    try:
        for name, ds in splits.items():
            out[name] = ds.map(
                extract,
                batched=True,
                batch_size=batch_size,
                remove_columns=ds.column_names,
                new_fingerprint=hashlib.sha256(
                    f"{ds._fingerprint}-{fingerprint}".encode()
                ).hexdigest()[:32],
                desc=f"Caching frozen-backbone features ({name})",
            ).with_format("torch")
    finally:
        hook.remove()
        model.train(was_training)
    log.info(
        "cached frozen-backbone features: %s per example", tuple(out["train"][0]["features"].shape)
    )
    return HeadOnly(head, loss), out
