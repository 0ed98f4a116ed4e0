"""Tasks hfft fine-tunes: a plain dict from the recipe's `task:` value to a `Task`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hfft.errors import HfftError
from hfft.tasks.audio_classification import AUDIO_CLASSIFICATION
from hfft.tasks.image_classification import IMAGE_CLASSIFICATION
from hfft.tasks.object_detection import OBJECT_DETECTION
from hfft.tasks.task import Item, LabelScheme, Modality, Task
from hfft.tasks.text_classification import TEXT_CLASSIFICATION
from hfft.tasks.token_classification import TOKEN_CLASSIFICATION

TASKS: dict[str, Task] = {
    "audio-classification": AUDIO_CLASSIFICATION,
    "image-classification": IMAGE_CLASSIFICATION,
    "object-detection": OBJECT_DETECTION,
    "text-classification": TEXT_CLASSIFICATION,
    "token-classification": TOKEN_CLASSIFICATION,
}


def task_of_config(config: Mapping[str, Any]) -> Task:
    """The task of a saved model, from the `architectures` its config.json names, with the
    label scheme its `problem_type` says."""
    architectures = config.get("architectures") or []
    for task in TASKS.values():
        if task.claims_config(config):
            return task.for_config(config)
    for architecture in architectures:
        for task in TASKS.values():
            if architecture.endswith(task.architecture_suffix):
                return task.for_config(config)
    handled = ", ".join(f"*{task.architecture_suffix}" for task in TASKS.values())
    raise HfftError(
        f"the model's config.json names architectures {architectures}; hfft handles "
        f"{handled} models"
    )


__all__ = ["TASKS", "Item", "LabelScheme", "Modality", "Task", "task_of_config"]
