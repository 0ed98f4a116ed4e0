"""The hand-written transformers script hfft's pipeline is measured against (section 1).

What a user would write without hfft, following the transformers image-classification example:
load the imagefolder, turn images into pixel values lazily with the checkpoint's processor, load
the model with a new head, train with `Trainer`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def build_trainer(
    checkpoint: str | Path, data_dir: str | Path, args: dict[str, Any], callbacks: list[Any]
) -> Any:
    """A `Trainer` for the imagefolder's train split, ready to `.train()`."""
    from datasets import load_dataset
    from transformers import (
        AutoImageProcessor,
        AutoModelForImageClassification,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    training_args = TrainingArguments(**args)
    set_seed(training_args.seed)
    processor = AutoImageProcessor.from_pretrained(checkpoint)
    dataset = load_dataset("imagefolder", data_dir=str(data_dir))
    labels = dataset["train"].features["label"].names

    def transform(batch: dict[str, list]) -> dict[str, Any]:
        images = [image.convert("RGB") for image in batch["image"]]
        pixels = processor(images, return_tensors="pt")["pixel_values"]
        return {"pixel_values": pixels, "labels": batch["label"]}

    model = AutoModelForImageClassification.from_pretrained(
        checkpoint,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
        ignore_mismatched_sizes=True,
    )
    return Trainer(
        model=model,
        args=training_args,
        train_dataset=dataset["train"].with_transform(transform),
        callbacks=callbacks,
    )
