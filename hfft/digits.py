"""Real data that installs offline: scikit-learn's UCI handwritten digits (1,797 8x8 scans),
upscaled and written out as two `imagefolder` datasets for the embedded demo.

- source task: digits 0-4, plenty of labels (what a base model is pretrained on);
- target task: digits 5-9, a small labelled training budget per class, a small validation split
  and a fixed held-out test split (every remaining image of 5-9).

The split is a seeded per-class shuffle, so the same seed always writes the same files. Each
imagefolder is `<root>/<split>/<digit>/<n>.png`, which `datasets.load_dataset("imagefolder",
data_dir=...)` reads with the folder names as labels — any folder of the user's own images in the
same layout works with the same recipes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SOURCE_DIGITS = (0, 1, 2, 3, 4)
TARGET_DIGITS = (5, 6, 7, 8, 9)


@dataclass(frozen=True)
class DigitsSplit:
    """How many images per class go where. `None` means "all that are left"."""

    # Source task (pretraining): validation first, train gets the rest (or at most this many).
    source_validation_per_class: int = 20
    source_train_per_class: int | None = None
    # Target task: a small labelled budget, a small validation split, a fixed held-out test split.
    target_train_per_class: int = 20
    target_validation_per_class: int = 10
    target_test_per_class: int | None = None
    image_size: int = 32
    seed: int = 0


def digit_image(pixels: np.ndarray, size: int) -> object:
    """One 8x8 scan (ink intensity 0-16) as a `size`x`size` RGB PIL image, dark ink on white."""
    from PIL import Image

    grey = (255 - pixels.astype(np.float32) * (255.0 / 16.0)).round().astype(np.uint8)
    # Bicubic upscaling keeps the strokes smooth instead of blocky, closer to a photographed digit.
    return Image.fromarray(grey, mode="L").resize((size, size), Image.BICUBIC).convert("RGB")


def write_digits(root: str | Path, split: DigitsSplit = DigitsSplit()) -> dict[str, dict]:
    """Write `root/source` and `root/target` imagefolders; return {task: {split: {digit: n}}}.

    `root` is replaced when it exists, so stale images from a bigger split never linger.
    """
    from sklearn.datasets import load_digits

    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    digits = load_digits()
    rng = np.random.RandomState(split.seed)
    plan = {
        "source": (
            SOURCE_DIGITS,
            [
                ("validation", split.source_validation_per_class),
                ("train", split.source_train_per_class),
            ],
        ),
        "target": (
            TARGET_DIGITS,
            [
                ("train", split.target_train_per_class),
                ("validation", split.target_validation_per_class),
                ("test", split.target_test_per_class),
            ],
        ),
    }
    counts: dict[str, dict] = {}
    for task, (classes, parts) in plan.items():
        counts[task] = {name: {} for name, _ in parts}
        for digit in classes:
            rows = rng.permutation(np.flatnonzero(digits.target == digit))
            start = 0
            for name, n in parts:
                chosen = rows[start:] if n is None else rows[start : start + n]
                start += len(chosen)
                folder = root / task / name / str(digit)
                folder.mkdir(parents=True, exist_ok=True)
                for row in chosen:
                    digit_image(digits.images[row], split.image_size).save(folder / f"{row}.png")
                counts[task][name][str(digit)] = len(chosen)
    return counts
