"""Tasks hfft fine-tunes: a plain dict from the recipe's `task:` value to a `Task`."""

from hfft.tasks.image_classification import IMAGE_CLASSIFICATION
from hfft.tasks.task import Task
from hfft.tasks.text_classification import TEXT_CLASSIFICATION

TASKS: dict[str, Task] = {
    "image-classification": IMAGE_CLASSIFICATION,
    "text-classification": TEXT_CLASSIFICATION,
}

__all__ = ["TASKS", "Task"]
