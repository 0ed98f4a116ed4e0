"""Unusable examples: inputs the task's modality cannot use (an image that does not decode or is
not 8-bit, an empty text) and rows without a label, found before the first training step.

The check of one input is the modality's (`Modality.scan`, hfft/tasks/); `hfft predict` uses the
same check, so a file training refuses is never predicted on either.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import datasets

from hfft.errors import DataError
from hfft.tasks import Modality

log = logging.getLogger("hfft")

MAX_LISTED = 20


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


def find_bad_examples(ds: datasets.Dataset, modality: Modality, split: str) -> list[BadExample]:
    """Rows whose input cannot be used (the modality's check: an image that does not decode or
    is not 8-bit, an empty or non-text text) or that have no label. Files are decoded here, once,
    so a corrupt one stops the run before training rather than in the middle of an epoch."""
    input_column = modality.name
    view, check = modality.scan(ds)

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
    splits: dict[str, datasets.Dataset], modality: Modality, policy: str
) -> dict[str, datasets.Dataset]:
    """Apply data.on_bad_example: "error" raises with the list of unusable rows; "skip" leaves
    them out and logs how many, per split."""
    bad = {split: find_bad_examples(ds, modality, split) for split, ds in splits.items()}
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
