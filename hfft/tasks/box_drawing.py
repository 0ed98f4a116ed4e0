"""Pictures of boxes: a grid of images with their boxes and labels drawn (torchvision's
`draw_bounding_boxes`), one colour per category. Used for the run's preview of augmented
training images (`box_preview.png`, written before the first step) and the card's held-out
images with their predicted boxes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

# matplotlib's tab10: saturated, told apart at a glance; categories beyond it cycle.
PALETTE = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)  # fmt: skip
TILE = 256  # the longest side of one image in the grid, in pixels
LINE = 3


def colour(category: int) -> tuple[int, int, int]:
    """The colour boxes of a category are drawn in."""
    return PALETTE[category % len(PALETTE)]


def draw_tile(image: Any, boxes: Any, categories: Sequence[int], captions: Sequence[str]) -> Any:
    """One image (PIL) scaled to TILE pixels on its longest side, with its boxes (pixel corners
    in the image as given) drawn and captioned."""
    import torch
    from PIL import Image
    from torchvision.utils import draw_bounding_boxes

    image = image.convert("RGB") if hasattr(image, "convert") else Image.fromarray(image)
    scale = TILE / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    image = image.resize(size, Image.BILINEAR)
    boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float32)).reshape(-1, 4) * scale
    pixels = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)
    if len(boxes):
        pixels = draw_bounding_boxes(
            pixels,
            boxes,
            labels=list(captions),
            colors=[colour(c) for c in categories],
            width=LINE,
        )
    return Image.fromarray(pixels.permute(1, 2, 0).numpy())


def draw_grid(
    tiles: Sequence[tuple[Any, Any, Sequence[int], Sequence[str]]],
    num_categories: int,
    path: Path,
    title: str,
    columns: int = 4,
) -> Path:
    """A PNG of the tiles (image, boxes, categories, captions) in rows of `columns`, under a
    title line."""
    from PIL import Image, ImageDraw

    drawn = [draw_tile(*tile) for tile in tiles]
    columns = max(1, min(columns, len(drawn)))
    rows = -(-len(drawn) // columns)
    head, gap = 22, 4
    sheet = Image.new("RGB", (columns * (TILE + gap) + gap, head + rows * (TILE + gap)), "white")
    for i, tile in enumerate(drawn):
        x = gap + (i % columns) * (TILE + gap)
        y = head + (i // columns) * (TILE + gap)
        sheet.paste(tile, (x, y))
    ImageDraw.Draw(sheet).text((gap, 5), title, fill=(0, 0, 0))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
