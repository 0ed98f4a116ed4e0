"""Unusable examples: images that do not decode or are not 8-bit, empty texts, missing labels.

`open_rgb_image` is the one image check: training's scan (`find_bad_examples`) and
`hfft predict` both use it, so a file training refuses is never predicted on either.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import datasets

from hfft.errors import DataError, first_line

log = logging.getLogger("hfft")

# Pillow modes with more than 8 bits per channel: converting them to RGB clips every value above
# 255, so a 16-bit or float image would train (or be predicted) as a white or black square.
WIDE_MODES = ("I", "F")
MAX_LISTED = 20


class UnusableImage(ValueError):
    """An image that cannot be used as it is; the message says why and what to do."""


def open_rgb_image(source: Any) -> Any:
    """Decode `source` (a path or a binary file object) into an RGB `PIL.Image`, or raise
    `UnusableImage`: not a readable image, or more than 8 bits per channel (would clip)."""
    from PIL import Image

    try:
        with Image.open(source) as image:
            image.load()
            if image.mode.split(";")[0] in WIDE_MODES:
                raise UnusableImage(
                    f"image mode {image.mode} has more than 8 bits per channel, and converting "
                    "it to RGB would clip it: convert the images to 8-bit"
                )
            return image.convert("RGB")
    except UnusableImage:
        raise
    except Exception as err:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBomb...
        reason = f"not a readable image ({type(err).__name__}: {first_line(err)})"
        raise UnusableImage(reason) from err


def image_problem(value: Any) -> str | None:
    """Why an undecoded `datasets.Image` value ({"bytes", "path"}) cannot be used, or None."""
    import io

    if value is None:
        return "no image"
    if not isinstance(value, dict):
        return None
    data, path = value.get("bytes"), value.get("path")
    if not data and not path:
        return "no image"
    try:
        open_rgb_image(io.BytesIO(data) if data else path)
    except UnusableImage as err:
        return str(err)
    return None


def text_problem(value: Any) -> str | None:
    """Why a text value cannot be used, or None."""
    if value is None:
        return "no text"
    if not isinstance(value, str):
        return f"not a text: {value!r} ({type(value).__name__})"
    if not value.strip():
        return "empty text"
    return None


def _no_problem(value: Any) -> str | None:
    return None


@dataclass
class BadExample:
    """One unusable row: where it is and why."""

    split: str
    row: int
    reason: str
    file: str | None = None

    def __str__(self) -> str:
        where = f"{self.split} row {self.row}" + (f" ({self.file})" if self.file else "")
        return f"{where}: {self.reason}"


def find_bad_examples(ds: datasets.Dataset, input_column: str, split: str) -> list[BadExample]:
    """Rows whose input cannot be used (an image that does not decode or is not 8-bit, an empty
    or non-text text) or that have no label. Images are decoded here, once, so a corrupt file
    stops the run before training rather than in the middle of an epoch."""
    view, check = ds, text_problem
    if input_column == "image":
        if not isinstance(ds.features.get("image"), datasets.Image):
            check = _no_problem  # pixel arrays: nothing to decode
        else:
            view = ds.cast_column("image", datasets.Image(decode=False))  # raw bytes and paths
            check = image_problem

    def scan(batch: dict[str, list]) -> dict[str, list]:
        reasons = []
        for value, label in zip(batch[input_column], batch["label"], strict=True):
            reason = check(value)
            if reason is None and label is None:
                reason = "no label"
            reasons.append(reason)
        return {"reason": reasons, "file": [_file_of(v) for v in batch[input_column]]}

    found = view.map(
        scan,
        batched=True,
        batch_size=64,
        remove_columns=view.column_names,
        desc=f"Checking {split} examples",
    )
    return [
        BadExample(split, row, reason, file)
        for row, (reason, file) in enumerate(zip(found["reason"], found["file"], strict=True))
        if reason is not None
    ]


def _file_of(value: Any) -> str | None:
    return value.get("path") if isinstance(value, dict) else None


def drop_bad_examples(
    splits: dict[str, datasets.Dataset], input_column: str, policy: str
) -> dict[str, datasets.Dataset]:
    """Apply data.on_bad_example: "error" raises with the list of unusable rows; "skip" leaves
    them out and logs how many, per split."""
    bad = {split: find_bad_examples(ds, input_column, split) for split, ds in splits.items()}
    found = [b for rows in bad.values() for b in rows]
    if not found:
        return splits
    listed = "; ".join(str(b) for b in found[:MAX_LISTED])
    more = f"; ... and {len(found) - MAX_LISTED} more" if len(found) > MAX_LISTED else ""
    if policy == "error":
        raise DataError(
            f"{len(found)} unusable example(s): {listed}{more}. Fix or remove them, or set "
            "data.on_bad_example=skip to train without them"
        )
    counts = ", ".join(f"{split} {len(rows)}" for split, rows in bad.items() if rows)
    log.warning(
        "skipped %d unusable example(s) (data.on_bad_example=skip): %s | %s%s",
        len(found),
        counts,
        listed,
        more,
    )
    out = {}
    for split, ds in splits.items():
        drop = {b.row for b in bad[split]}
        out[split] = ds.select([i for i in range(len(ds)) if i not in drop]) if drop else ds
    return out
