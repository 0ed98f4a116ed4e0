"""image-classification: AutoModelForImageClassification + the checkpoint's image processor.

Augmentation (torchvision transforms v2) runs lazily through `set_transform`, on PIL images before
the image processor, so evaluation and `pipeline(...)` see exactly the processor's preprocessing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the registry is imported to validate recipes; keep that light
    import datasets

from hfft.tasks.image import IMAGE, processor_size, train_augmentation
from hfft.tasks.lazy_splits import prepared, transformed
from hfft.tasks.multi_label import MULTI_LABEL
from hfft.tasks.single_label import SINGLE_LABEL
from hfft.tasks.task import Task


def prepare(splits: datasets.DatasetDict, processor: Any, recipe: Any) -> datasets.DatasetDict:
    augment = train_augmentation(recipe.data.augmentation, processor_size(processor))

    def make_transform(train: bool):
        def transform(batch: dict[str, list]) -> dict[str, Any]:
            images = [image.convert("RGB") for image in batch[IMAGE.name]]
            if train and augment is not None:
                images = [augment(image) for image in images]
            pixels = processor(images, return_tensors="pt")["pixel_values"]
            return {"pixel_values": pixels, "labels": batch["label"]}

        return transform

    return prepared(splits, lambda name, ds: transformed(ds, make_transform(name == "train")))


def collator(processor: Any) -> Any:
    return None  # default_data_collator stacks pixel_values and labels


IMAGE_CLASSIFICATION = Task(
    name="image-classification",
    modality=IMAGE,
    labels=SINGLE_LABEL,
    # Lists of labels (or data.multi_label: true) make a run multi-label.
    label_schemes=(MULTI_LABEL, SINGLE_LABEL),
    model_class="AutoModelForImageClassification",
    architecture_suffix="ForImageClassification",
    prepare=prepare,
    collator=collator,
    # set_transform datasets expose only the raw columns to the Trainer's column filter.
    training_defaults={"remove_unused_columns": False, "learning_rate": 5e-5},
)
