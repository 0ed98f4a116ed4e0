"""The task model with its new head started as `model.head_init` says: at random (null: what
`hfft.checkpoint.load_model` builds) or from an image-text checkpoint's class prompts
(`zero-shot`: hfft.zero_shot), so that before any step it predicts what zero-shot does."""

from __future__ import annotations

from typing import Any

from hfft import checkpoint
from hfft.zero_shot_spec import ZERO_SHOT


def load_model(task: Any, spec: Any, label_names: list[str]) -> Any:
    """The task model for `label_names`, its head initialised as the recipe says."""
    if spec.head_init == ZERO_SHOT:
        from hfft.zero_shot import load_zero_shot_model

        return task.locate_backbone(load_zero_shot_model(task, spec, label_names))
    return checkpoint.load_model(task, spec, label_names)
