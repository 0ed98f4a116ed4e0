"""object-detection: AutoModelForObjectDetection (DETR, Conditional/Deformable DETR, RT-DETR,
D-FINE, YOLOS, ...) + the checkpoint's image processor, on images with boxes (the boxes scheme).

Each image goes through the processor alone (its boxes, as COCO annotations, become the model's
normalised (cx, cy, w, h) targets); the collator pads a batch to its largest image, as the
processor would, and rescales the targets to the padded canvas. Each label also keeps the boxes
in pixels of the image given (`hfft_boxes`) and the canvas size in those pixels (`hfft_canvas`)
for the metrics, and, for held-out rows, where the image is (`hfft_source`, `hfft_row`) for the
card's pictures. Training augmentation (hfft.tasks.detection_images) runs before the processor;
the first rows of the training split, as the model gets them, are drawn with their boxes into
`box_preview.png` before the first step.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the registry is imported to validate recipes; keep that light
    import datasets

from hfft.tasks.boxes import BOXES
from hfft.tasks.detection_images import DETECTION_IMAGES, box_augmentation
from hfft.tasks.lazy_splits import prepared, transformed
from hfft.tasks.task import Task

log = logging.getLogger("hfft")
PREVIEW_FILE = "box_preview.png"
PREVIEW_IMAGES = 8
ROW = "hfft_row"


def _annotations(corners: Any, categories: Any, image_id: int) -> dict[str, Any]:
    """COCO-style annotations of one image, as image processors take them."""
    anns = []
    for (x0, y0, x1, y1), c in zip(corners, categories, strict=True):
        w, h = float(x1 - x0), float(y1 - y0)
        anns.append({"bbox": [float(x0), float(y0), w, h], "category_id": int(c),
                     "area": w * h, "iscrowd": 0})  # fmt: skip
    return {"image_id": image_id, "annotations": anns}


def encode_image(processor: Any, image: Any, corners: Any, categories: Any) -> dict[str, Any]:
    """One image and its boxes as the model's (pixel_values, labels)."""
    import numpy as np
    import torch

    corners = np.asarray(corners, dtype=np.float32).reshape(-1, 4)
    out = processor(
        images=image, annotations=_annotations(corners, categories, 0), return_tensors="pt"
    )
    label = out["labels"][0]
    return {
        "pixel_values": out["pixel_values"][0],
        "labels": {
            "class_labels": label["class_labels"],
            "boxes": label["boxes"],
            "size": label["size"],
            "orig_size": label["orig_size"],
            "hfft_boxes": torch.from_numpy(corners),
        },
    }


def prepare(splits: datasets.DatasetDict, processor: Any, recipe: Any) -> datasets.DatasetDict:
    """Lazy transforms: augment (train), then the processor, one image at a time."""
    import numpy as np
    import torch

    from hfft.tasks.boxes_metrics import register_source

    augment = box_augmentation(recipe.data.augmentation)

    def make_transform(train: bool, source: int | None):
        def transform(batch: dict[str, list]) -> dict[str, Any]:
            pixels, labels = [], []
            for i, (image, objects) in enumerate(zip(batch["image"], batch["label"], strict=True)):
                image = np.array(image.convert("RGB"))  # writable: torch reads it
                corners, cats = objects["bbox"], objects["category"]
                if train and augment is not None:
                    image, corners, cats = augment(image, corners, cats)
                encoded = encode_image(processor, image, corners, cats)
                if source is not None:
                    encoded["labels"]["hfft_source"] = torch.tensor([source])
                    encoded["labels"]["hfft_row"] = torch.tensor([batch[ROW][i]])
                pixels.append(encoded["pixel_values"])
                labels.append(encoded["labels"])
            return {"pixel_values": pixels, "labels": labels}

        return transform

    def prepare_one(name: str, ds: Any) -> Any:
        train = name == "train"
        source = None if train else register_source(ds)
        if not train:  # held-out splits are datasets, streamed or not (hfft.streaming)
            ds = ds.add_column(ROW, list(range(len(ds))))
        return transformed(ds, make_transform(train, source))

    return prepared(splits, prepare_one)


class DetectionCollator:
    """Pads a batch's images to the largest (bottom and right, as DETR's processor does), with
    the pixel mask where the processor gives one, and rescales the normalised targets to the
    padded canvas."""

    def __init__(self, processor: Any) -> None:
        self.mask = "pixel_mask" in getattr(processor, "model_input_names", ())

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        height = max(r["pixel_values"].shape[-2] for r in rows)
        width = max(r["pixel_values"].shape[-1] for r in rows)
        pixels = torch.zeros(len(rows), rows[0]["pixel_values"].shape[0], height, width)
        mask = torch.zeros(len(rows), height, width, dtype=torch.long)
        labels = []
        for i, row in enumerate(rows):
            h, w = row["pixel_values"].shape[-2:]
            pixels[i, :, :h, :w] = row["pixel_values"]
            mask[i, :h, :w] = 1
            label = dict(row["labels"])
            scale = torch.tensor([w / width, h / height, w / width, h / height])
            label["boxes"] = label["boxes"] * scale
            # The canvas in pixels of the image given: (height, width) * original / resized.
            given, resized = label["orig_size"].float(), label["size"].float()
            label["hfft_canvas"] = torch.tensor([height, width]) * given / resized
            labels.append(label)
        batch = {"pixel_values": pixels, "labels": labels}
        if self.mask and (mask == 0).any():
            batch["pixel_mask"] = mask
        return batch


def collator(processor: Any) -> Any:
    return DetectionCollator(processor)


def _denormalised(pixels: Any, processor: Any) -> Any:
    """A processed image back to uint8 (H, W, 3), undoing the processor's normalisation."""
    import numpy as np

    array = pixels.detach().float().numpy()
    if getattr(processor, "do_normalize", False):
        mean = np.asarray(processor.image_mean, dtype=np.float32).reshape(-1, 1, 1)
        std = np.asarray(processor.image_std, dtype=np.float32).reshape(-1, 1, 1)
        array = array * std + mean
    scale = 255.0 if array.max() <= 1.5 else 1.0
    return np.clip(array.transpose(1, 2, 0) * scale, 0, 255).astype(np.uint8)


def write_preview(prepared: Any, processor: Any, names: list[str], path: Path) -> Path:
    """The first training rows as the model gets them (augmented, resized): the image, and its
    targets drawn back in its pixels, captioned with the category names."""
    import torch

    from hfft.tasks.box_drawing import draw_grid

    tiles = []
    for item in itertools.islice(iter(prepared["train"]), PREVIEW_IMAGES):
        image = _denormalised(item["pixel_values"], processor)
        h, w = image.shape[:2]
        cx, cy, bw, bh = item["labels"]["boxes"].reshape(-1, 4).unbind(-1)
        corners = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1)
        corners = corners * torch.tensor([w, h, w, h])
        cats = [int(c) for c in item["labels"]["class_labels"]]
        tiles.append((image, corners.numpy(), cats, [names[c] for c in cats]))
    return draw_grid(
        tiles, len(names), path, "training images as the model gets them, with their boxes"
    )


def preview_callback(recipe: Any, prepared: Any, processor: Any, names: list[str]) -> list[Any]:
    """A Trainer callback that writes the box preview into the run directory when training
    begins (after the run directory is prepared, before the first step)."""
    from transformers import TrainerCallback

    from hfft.run_manifest import record_written

    run_dir = Path(recipe.output_dir)

    class BoxPreview(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if not state.is_world_process_zero:
                return
            record_written(run_dir, [PREVIEW_FILE])
            write_preview(prepared, processor, names, run_dir / PREVIEW_FILE)
            log.info(
                "box preview of %d training images: %s", PREVIEW_IMAGES, run_dir / PREVIEW_FILE
            )

    return [BoxPreview()]


OBJECT_DETECTION = Task(
    name="object-detection",
    modality=DETECTION_IMAGES,
    labels=BOXES,
    model_class="AutoModelForObjectDetection",
    architecture_suffix="ForObjectDetection",
    prepare=prepare,
    collator=collator,
    training_defaults={
        # set_transform datasets expose only the raw columns to the Trainer's column filter.
        "remove_unused_columns": False,
        # Images hold different numbers of boxes: the metrics read the batches as they come.
        "eval_do_concat_batches": False,
        "learning_rate": 5e-5,
        "weight_decay": 1e-4,
        # DETR's recipe: clip gradients hard (its losses spike early on).
        "max_grad_norm": 0.1,
        "per_device_train_batch_size": 8,
        "per_device_eval_batch_size": 8,
    },
    head_name="detection head",
    callbacks=preview_callback,
)
