"""Real data for object detection that installs offline: scikit-learn's handwritten digits (UCI,
8x8 scans) pasted at random positions and sizes onto crops of scikit-learn's two sample photos
(a Chinese temple, a flower), each box known to the pixel (the ink's extent).

`python -m hfft.digit_scenes OUT_DIR` writes an `imagefolder` with `metadata.jsonl` per split
(train/validation/test): `{"file_name": "3.png", "objects": {"bbox": [[x, y, w, h], ...],
"category": ["7", ...]}}`, COCO boxes in pixels: the layout `datasets.load_dataset("imagefolder",
data_dir=OUT_DIR)` reads, and recipes/object-detection/tiny-rt-detr_digit-scenes_full.yaml
trains on.
The same seed always writes the same files.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DIGITS = (0, 3, 7)


@dataclass(frozen=True)
class SceneSpec:
    """How many scenes go where, and how they look."""

    train: int = 240
    validation: int = 40
    test: int = 60
    size: int = 96  # square scenes, in pixels
    min_digit: int = 20  # a pasted digit's side, in pixels
    max_digit: int = 44
    max_objects: int = 3
    digits: tuple[int, ...] = DIGITS
    seed: int = 0


def _backgrounds() -> list[np.ndarray]:
    from sklearn.datasets import load_sample_images

    return [np.asarray(im) for im in load_sample_images().images]


def _paste(scene: np.ndarray, glyph: np.ndarray, x: int, y: int, ink: np.ndarray) -> None:
    """Blend a digit (ink intensity 0-1) onto the scene in the ink colour."""
    h, w = glyph.shape
    alpha = glyph[..., None]
    region = scene[y : y + h, x : x + w].astype(np.float32)
    scene[y : y + h, x : x + w] = (region * (1 - alpha) + ink * alpha).astype(np.uint8)


def _glyph(pixels: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    grey = Image.fromarray((pixels * (255.0 / 16.0)).astype(np.uint8), mode="L")
    return np.asarray(grey.resize((side, side), Image.BICUBIC), dtype=np.float32) / 255.0


def _overlaps(box: tuple[int, int, int, int], taken: list[tuple[int, int, int, int]]) -> bool:
    x, y, w, h = box
    return any(
        x < tx + tw and tx < x + w and y < ty + th and ty < y + h for tx, ty, tw, th in taken
    )


def scene(rng: np.random.RandomState, spec: SceneSpec, photos: list, digits: object) -> tuple:
    """One scene: (RGB array, COCO boxes, category names)."""
    from PIL import Image

    photo = photos[rng.randint(len(photos))]
    side = rng.randint(spec.size, min(photo.shape[:2]))
    top, left = rng.randint(photo.shape[0] - side + 1), rng.randint(photo.shape[1] - side + 1)
    crop = Image.fromarray(photo[top : top + side, left : left + side])
    canvas = np.asarray(crop.resize((spec.size, spec.size), Image.BILINEAR)).copy()
    boxes, names, taken = [], [], []
    for _ in range(rng.randint(1, spec.max_objects + 1)):
        digit = spec.digits[rng.randint(len(spec.digits))]
        rows = np.flatnonzero(digits.target == digit)
        side = rng.randint(spec.min_digit, spec.max_digit + 1)
        glyph = _glyph(digits.images[rows[rng.randint(len(rows))]], side)
        ys, xs = np.nonzero(glyph > 0.25)  # the ink's extent: the box
        for _try in range(20):
            x = rng.randint(spec.size - glyph.shape[1] + 1)
            y = rng.randint(spec.size - glyph.shape[0] + 1)
            box = (x + int(xs.min()), y + int(ys.min()), int(xs.max() - xs.min() + 1),
                   int(ys.max() - ys.min() + 1))  # fmt: skip
            if not _overlaps(box, taken):
                break
        else:
            continue
        ink = np.array([255, 255, 255] if rng.rand() < 0.5 else [0, 0, 0], dtype=np.float32)
        _paste(canvas, glyph, x, y, ink)
        taken.append(box)
        boxes.append([float(v) for v in box])
        names.append(str(digit))
    return canvas, boxes, names


def write_digit_scenes(root: str | Path, spec: SceneSpec = SceneSpec()) -> dict[str, int]:
    """Write the scenes under `root` (replaced when it exists); returns {split: boxes}."""
    from PIL import Image
    from sklearn.datasets import load_digits

    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    rng = np.random.RandomState(spec.seed)
    photos, digits = _backgrounds(), load_digits()
    counts = {}
    for split, n in (("train", spec.train), ("validation", spec.validation), ("test", spec.test)):
        folder = root / split
        folder.mkdir(parents=True)
        lines, total = [], 0
        for i in range(n):
            pixels, boxes, names = scene(rng, spec, photos, digits)
            Image.fromarray(pixels).save(folder / f"{i}.png")
            lines.append(json.dumps({"file_name": f"{i}.png",
                                     "objects": {"bbox": boxes, "category": names}}))  # fmt: skip
            total += len(boxes)
        (folder / "metadata.jsonl").write_text("\n".join(lines) + "\n")
        counts[split] = total
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", help="folder to write (replaced when it exists)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    counts = write_digit_scenes(args.out_dir, SceneSpec(seed=args.seed))
    print(json.dumps({"out_dir": str(args.out_dir), "boxes": counts}))


if __name__ == "__main__":
    main()
