"""Images with boxes: the image modality with the recipe options of a detection task (the box
format, clipping, box-aware augmentation) and a reader of COCO `annotations.json` files.

Augmentation runs on the image and its boxes together, through torchvision transforms v2
(`tv_tensors.BoundingBoxes`): a horizontal flip, a scale jitter (the content zoomed in or out
about the centre), an SSD-style random crop that keeps the boxes it cuts consistent (boxes left
without area are dropped with their labels), and colour jitter; all of it switchable off.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from hfft.errors import DataError, RecipeError
from hfft.tasks.image import IMAGE


@dataclass
class BoxAugmentationSpec:
    """Train-time augmentation of images with their boxes (torchvision transforms v2)."""

    enabled: bool = True
    horizontal_flip: bool = True
    # Zoom range of the scale jitter ([1.0, 1.0]: off): below 1 objects shrink, above 1 grow.
    scale_jitter: list[float] = field(default_factory=lambda: [0.8, 1.2])
    # Probability of a random crop (torchvision's RandomIoUCrop, boxes kept consistent).
    crop_probability: float = 0.3
    # Brightness, contrast and saturation jitter (0: off).
    color_jitter: float = 0.2

    def __post_init__(self) -> None:
        from hfft.recipe_schema import check_range

        scale = self.scale_jitter
        if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 4:
            raise RecipeError(
                "data.augmentation.scale_jitter must be [low, high] with 0 < low <= high <= 4, "
                f"got {self.scale_jitter}"
            )
        check_range("data.augmentation.crop_probability", self.crop_probability, 0, 1)
        check_range("data.augmentation.color_jitter", self.color_jitter, 0, 1)


@dataclass
class DetectionOptions:
    """The `data:` options of a detection task."""

    # How the dataset's boxes are written (hfft.tasks.box_formats): coco = x, y, width, height
    # in pixels; pascal_voc = x_min, y_min, x_max, y_max in pixels; yolo = centre x, centre y,
    # width, height relative to the image.
    bbox_format: Literal["coco", "pascal_voc", "yolo"] = "coco"
    # Clip boxes that leave their image to it (counted in the log) instead of refusing them.
    clip_boxes: bool = False
    augmentation: BoxAugmentationSpec = field(default_factory=BoxAugmentationSpec)


def box_augmentation(spec: BoxAugmentationSpec) -> Any:
    """(PIL image, corners (n, 4), categories) -> the same, augmented; None when off."""
    from torchvision.transforms import v2

    steps: list[Any] = []
    if spec.crop_probability:
        steps.append(v2.RandomApply([v2.RandomIoUCrop()], p=spec.crop_probability))
    if spec.scale_jitter != [1.0, 1.0]:
        steps.append(v2.RandomAffine(degrees=0, scale=tuple(spec.scale_jitter)))
    if spec.horizontal_flip:
        steps.append(v2.RandomHorizontalFlip())
    if spec.color_jitter:
        c = spec.color_jitter
        steps.append(v2.ColorJitter(brightness=c, contrast=c, saturation=c))
    if not (spec.enabled and steps):
        return None
    # Boxes cut to nothing by the crop or the zoom go, with their labels.
    pipeline = v2.Compose([*steps, v2.ClampBoundingBoxes(), v2.SanitizeBoundingBoxes(min_size=1)])

    def augment(image: Any, corners: Any, categories: Sequence[int]) -> tuple[Any, Any, list]:
        import numpy as np
        import torch
        from torchvision import tv_tensors

        pixels = tv_tensors.Image(torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1))
        boxes = tv_tensors.BoundingBoxes(
            torch.as_tensor(np.asarray(corners, dtype=np.float32)).reshape(-1, 4),
            format="XYXY",
            canvas_size=tuple(pixels.shape[-2:]),
        )
        sample = {"image": pixels, "boxes": boxes, "labels": torch.as_tensor(list(categories))}
        if len(boxes) == 0:  # RandomIoUCrop needs boxes to keep: leave such an image whole
            sample = v2.Compose([s for s in steps if not isinstance(s, v2.RandomApply)])(sample)
        else:
            sample = pipeline(sample)
        out = sample["image"].permute(1, 2, 0).numpy()
        return out, sample["boxes"].numpy(), sample["labels"].tolist()

    return augment


def varying_inputs(recipe: Any) -> list[str]:
    """hfft caches one head input per row; a detector's transformer reads the backbone's feature
    maps with their masks and queries, and trains in frozen mode too: nothing fixed to cache."""
    return [
        "a detector's encoder/decoder trains on the backbone's feature maps (no single head "
        "input per image to cache)"
    ]


def _image_file(folder: Path, name: str) -> str:
    for candidate in (folder / name, folder / "images" / name, folder / Path(name).name):
        if candidate.is_file():
            return str(candidate)
    raise DataError(f"image {name!r} of {folder}/ (a COCO file's images[].file_name) not found")


def read_coco_file(path: str) -> Any:
    """One COCO annotations file (images, annotations, categories) as rows of {image path,
    objects: {bbox (COCO x, y, width, height), category (names)}}; images without annotations
    are rows without objects. Image files are found beside the file or in its images/."""
    import datasets

    file = Path(path)
    try:
        coco = json.loads(file.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read the COCO file {file} ({err})") from None
    if not isinstance(coco, dict) or "images" not in coco or "annotations" not in coco:
        raise DataError(
            f"{file} is no COCO annotations file (a JSON object with images, annotations and "
            "categories)"
        )
    names = {c["id"]: str(c["name"]) for c in coco.get("categories", [])}
    objects: dict[Any, dict[str, list]] = {im["id"]: {"bbox": [], "category": []}
                                           for im in coco["images"]}  # fmt: skip
    for ann in coco["annotations"]:
        if ann.get("iscrowd"):
            continue  # crowd regions are not boxes to find one by one
        if ann["image_id"] not in objects:
            raise DataError(f"{file}: annotation {ann.get('id')} names an unknown image_id")
        objects[ann["image_id"]]["bbox"].append([float(v) for v in ann["bbox"]])
        objects[ann["image_id"]]["category"].append(names.get(ann["category_id"],
                                                              str(ann["category_id"])))  # fmt: skip
    rows = {
        "image": [_image_file(file.parent, im["file_name"]) for im in coco["images"]],
        "objects": [objects[im["id"]] for im in coco["images"]],
    }
    features = datasets.Features(
        {"image": datasets.Image(),
         "objects": {"bbox": datasets.List(datasets.List(datasets.Value("float32"))),
                     "category": datasets.List(datasets.Value("string"))}}
    )  # fmt: skip
    return datasets.Dataset.from_dict(rows, features=features)


def read_coco(files: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """{split: [COCO files]} -> {split: rows} (several files of a split concatenated)."""
    import datasets

    return {
        split: datasets.concatenate_datasets([read_coco_file(f) for f in paths])
        for split, paths in files.items()
    }


def read_json(files: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """A .json data file: a COCO annotations file, else JSON (lines) rows as `datasets` reads
    them."""
    import datasets

    paths = [p for ps in files.values() for p in ps]
    if all(_is_coco(p) for p in paths):
        return read_coco(files)
    loaded = datasets.load_dataset("json", data_files={k: list(v) for k, v in files.items()})
    return dict(loaded)


def _is_coco(path: str) -> bool:
    with open(path, encoding="utf-8") as f:
        head = f.read(4096).lstrip()
    return head.startswith("{") and ('"images"' in head or '"annotations"' in head)


DETECTION_IMAGES = replace(
    IMAGE,
    options=DetectionOptions,
    varying_inputs=varying_inputs,
    folder_builder=None,  # labels come from metadata.jsonl, not from folder names
    readers={"coco": read_coco, ".json": read_json},
)
