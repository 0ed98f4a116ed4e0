"""Bounding-box formats and the check of every box, before any training step.

A recipe declares one format (`data.bbox_format`); boxes are converted once, to absolute
`pascal_voc` corners (x_min, y_min, x_max, y_max in pixels), which is what everything after the
data loading reads:

    coco        x_min, y_min, width, height     absolute pixels (COCO annotations, cppe-5)
    pascal_voc  x_min, y_min, x_max, y_max      absolute pixels (Pascal VOC XML)
    yolo        x_center, y_center, width, height, relative to the image (0-1, YOLO .txt)

Every converted box must have a positive area and lie inside its image (a pixel of slack for
rounding in annotation tools); the others are listed by split, row and box index, or, with
`data.clip_boxes: true`, clipped to the image and counted (a box with no area left is dropped).
When boxes fail, the other formats are tried on the same numbers: "every box fits as
pascal_voc" is the usual cause (a format slip), and the message says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

FORMATS: dict[str, str] = {
    "coco": "x_min, y_min, width, height in pixels",
    "pascal_voc": "x_min, y_min, x_max, y_max in pixels",
    "yolo": "x_center, y_center, width, height relative to the image",
}
# Pixels a box may stick out of its image before it counts as outside (annotation rounding).
SLACK = 1.0


def to_corners(
    boxes: Sequence[Sequence[float]], fmt: str, width: float, height: float
) -> np.ndarray:
    """(n, 4) absolute x_min, y_min, x_max, y_max from boxes in `fmt` on a width x height image."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if fmt == "pascal_voc":
        return b.copy()
    if fmt == "coco":
        return np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], axis=1)
    if fmt == "yolo":
        cx, cy, w, h = b[:, 0] * width, b[:, 1] * height, b[:, 2] * width, b[:, 3] * height
        return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    raise ValueError(f"unknown box format {fmt!r}; one of {sorted(FORMATS)}")


def from_corners(corners: np.ndarray, fmt: str, width: float, height: float) -> np.ndarray:
    """The inverse of `to_corners` (used by tests and to write fixtures)."""
    c = np.asarray(corners, dtype=np.float64).reshape(-1, 4)
    w, h = c[:, 2] - c[:, 0], c[:, 3] - c[:, 1]
    if fmt == "pascal_voc":
        return c.copy()
    if fmt == "coco":
        return np.stack([c[:, 0], c[:, 1], w, h], axis=1)
    if fmt == "yolo":
        return np.stack(
            [(c[:, 0] + w / 2) / width, (c[:, 1] + h / 2) / height, w / width, h / height], axis=1
        )
    raise ValueError(f"unknown box format {fmt!r}; one of {sorted(FORMATS)}")


def box_problem(box: np.ndarray, width: float, height: float) -> str | None:
    """Why one absolute corner box is unusable on a width x height image, or None."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if not np.all(np.isfinite(box)):
        return "has a non-finite coordinate"
    if x1 <= x0 or y1 <= y0:
        return f"has no area ({x1 - x0:g} x {y1 - y0:g} pixels)"
    if x0 < -SLACK or y0 < -SLACK or x1 > width + SLACK or y1 > height + SLACK:
        return f"lies outside the {width:g}x{height:g} image"
    return None


def clip(box: np.ndarray, width: float, height: float) -> np.ndarray:
    """The box clipped to the image."""
    return np.clip(box, [0, 0, 0, 0], [width, height, width, height])


@dataclass
class BoxCheck:
    """What the check of a split's boxes found."""

    bad: list[str] = field(default_factory=list)  # "train row 3 (a.jpg) box 1 [..]: why"
    clipped: int = 0
    dropped: int = 0
    total: int = 0
    # format -> boxes that fail as that format (for the format-slip hint)
    fail_as: dict[str, int] = field(default_factory=dict)


def check_row(
    raw: Sequence[Sequence[float]],
    fmt: str,
    size: tuple[float, float] | None,
    clip_boxes: bool,
    where: str,
    found: BoxCheck,
) -> tuple[np.ndarray, list[int]]:
    """One image's boxes as absolute corners, checked (problems recorded in `found`): (the boxes
    kept, clipped where `clip_boxes` allows, their indices). `size` None: the image could not
    be read (the image check reports it), its boxes are converted unchecked."""
    if len(raw) and any(len(b) != 4 for b in raw):
        lengths = sorted({len(b) for b in raw})
        found.bad.append(f"{where}: a box has {lengths} numbers, not 4")
        return np.zeros((0, 4)), []
    width, height = size or (1.0, 1.0)
    corners = to_corners(raw, fmt, width, height) if len(raw) else np.zeros((0, 4))
    found.total += len(corners)
    if size is None:
        return corners, list(range(len(corners)))
    for other in FORMATS:
        converted = to_corners(raw, other, width, height) if len(raw) else corners
        fails = sum(box_problem(b, width, height) is not None for b in converted)
        found.fail_as[other] = found.fail_as.get(other, 0) + fails
    kept, index = [], []
    for i, box in enumerate(corners):
        why = box_problem(box, width, height)
        if why is None:
            kept.append(box)
            index.append(i)
            continue
        if clip_boxes and np.all(np.isfinite(box)):
            clipped = clip(box, width, height)
            if box_problem(clipped, width, height) is None:
                found.clipped += 1
                kept.append(clipped)
                index.append(i)
                continue
            found.dropped += 1
            continue
        shown = ", ".join(f"{v:g}" for v in np.asarray(raw[i], dtype=float))
        found.bad.append(f"{where} box {i} [{shown}] {why}")
    return np.asarray(kept, dtype=np.float64).reshape(-1, 4), index


def slip_hint(found: BoxCheck, fmt: str) -> str:
    """A sentence naming the format the failing boxes would all fit, when there is one."""
    failing = found.fail_as.get(fmt, 0)
    fits = [f for f, n in found.fail_as.items() if f != fmt and n == 0]
    if failing and fits:
        return (
            f"; every box fits its image as {fits[0]} ({FORMATS[fits[0]]}): is data.bbox_format "
            f"{fits[0]}?"
        )
    return ""
