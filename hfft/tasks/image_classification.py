"""image-classification: AutoModelForImageClassification + the checkpoint's image processor.

Augmentation (torchvision transforms v2) runs lazily through `set_transform`, on PIL images before
the image processor, so evaluation and `pipeline(...)` see exactly the processor's preprocessing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the registry is imported to validate recipes; keep that light
    import datasets

from hfft.tasks.task import Task


def load_processor(checkpoint: str, kwargs: dict[str, Any]) -> Any:
    from transformers import AutoImageProcessor

    return AutoImageProcessor.from_pretrained(checkpoint, **kwargs)


def processor_size(processor: Any) -> tuple[int, int]:
    """(height, width) the processor produces."""
    crop = (
        getattr(processor, "crop_size", None)
        if getattr(processor, "do_center_crop", False)
        else None
    )
    size = crop or processor.size
    if "height" in size:
        return size["height"], size["width"]
    edge = size.get("shortest_edge") or size.get("longest_edge")
    return edge, edge


def train_augmentation(spec: Any, size: tuple[int, int]) -> Any:
    """PIL -> PIL augmentation from the recipe's data.augmentation (None when switched off)."""
    from torchvision.transforms import v2

    steps = []
    if spec.crop_scale != [1.0, 1.0]:
        steps.append(v2.RandomResizedCrop(size, scale=tuple(spec.crop_scale), antialias=True))
    if spec.horizontal_flip:
        steps.append(v2.RandomHorizontalFlip())
    if spec.rotation_degrees:
        steps.append(v2.RandomRotation(spec.rotation_degrees))
    return v2.Compose(steps) if spec.enabled and steps else None


def prepare(splits: datasets.DatasetDict, processor: Any, recipe: Any) -> datasets.DatasetDict:
    augment = train_augmentation(recipe.data.augmentation, processor_size(processor))

    def make_transform(train: bool):
        def transform(batch: dict[str, list]) -> dict[str, Any]:
            images = [image.convert("RGB") for image in batch["image"]]
            if train and augment is not None:
                images = [augment(image) for image in images]
            pixels = processor(images, return_tensors="pt")["pixel_values"]
            return {"pixel_values": pixels, "labels": batch["label"]}

        return transform

    import datasets

    out = datasets.DatasetDict()
    for name, ds in splits.items():
        ds = ds.with_transform(make_transform(train=name == "train"))
        out[name] = ds
    return out


def collator(processor: Any) -> Any:
    return None  # default_data_collator stacks pixel_values and labels


def save_example(image: Any, folder: Path, index: int) -> str:
    name = f"{index}.png"
    image = image.convert("RGB")
    image.thumbnail((512, 512))  # examples are for a demo, not a dataset copy
    image.save(folder / name)
    return name


IMAGE_CLASSIFICATION = Task(
    name="image-classification",
    input_column="image",
    model_class="AutoModelForImageClassification",
    load_processor=load_processor,
    prepare=prepare,
    collator=collator,
    save_example=save_example,
    # set_transform datasets expose only the raw columns to the Trainer's column filter.
    training_defaults={"remove_unused_columns": False, "learning_rate": 5e-5},
)
