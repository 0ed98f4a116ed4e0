"""Unusable examples: inputs the task's modality cannot use (an image that does not decode or is
not 8-bit, an empty text) and rows without a label, found before the first training step.

The check of one input is the modality's (`Modality.scan`, hfft/tasks/); `hfft predict` uses the
same check, so a file training refuses is never predicted on either.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from hfft.errors import DataError
from hfft.tasks import Modality

log = logging.getLogger("hfft")

MAX_LISTED = 20
# Below this many rows per process, starting processes costs more than the scan they share.
SCAN_ROWS_PER_PROCESS = 5_000


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


def scan_cache_dir() -> Path:
    """Where scan results live (one small JSON file per scanned split), beside datasets' cache."""
    return Path(datasets.config.HF_DATASETS_CACHE) / "hfft-scans"


def _scan_file(view: datasets.Dataset, modality: Modality) -> Path | None:
    """The result file of scanning `view`: keyed by its datasets fingerprint (its files, their
    modification times, every transform so far), the modality and hfft's version; None when
    caching is off."""
    from hfft import __version__

    if not datasets.is_caching_enabled():
        return None
    key = hashlib.sha256(f"{view._fingerprint}-{modality.name}-{__version__}".encode())
    return scan_cache_dir() / f"{key.hexdigest()[:32]}.json"


def scan_processes(rows: int) -> int:
    """Processes for the scan: one per idle usable core (hfft.threads), for splits big enough
    that starting them pays (SCAN_ROWS_PER_PROCESS rows each at least)."""
    from hfft.threads import default_threads

    return max(1, min(default_threads().threads, rows // SCAN_ROWS_PER_PROCESS))


def find_bad_examples(ds: datasets.Dataset, modality: Modality, split: str) -> list[BadExample]:
    """Rows whose input cannot be used (the modality's check: an image that does not decode or
    is not 8-bit, an empty or non-text text) or that have no label. Files are decoded here, once,
    so a corrupt one stops the run before training rather than in the middle of an epoch; on
    idle cores in parallel, and a rerun on unchanged data reads the result back."""
    input_column = modality.name
    view, check = modality.scan(ds)
    result_file = _scan_file(view, modality)
    if result_file is not None and result_file.is_file():
        try:
            rows = json.loads(result_file.read_text())
            return [BadExample(split, row, reason, file) for row, reason, file in rows]
        except (ValueError, TypeError):  # a damaged result file: scan again
            pass

    def scan(batch: dict[str, list]) -> dict[str, list]:
        reasons = []
        for value, label in zip(batch[input_column], batch["label"], strict=True):
            reason = check(value)
            if reason is None and label is None:
                reason = "no label"
            reasons.append(reason)
        return {"reason": reasons, "file": [_file_of(v) for v in batch[input_column]]}

    processes = scan_processes(len(view))
    found = view.map(
        scan,
        batched=True,
        batch_size=64,
        remove_columns=view.column_names,
        num_proc=processes if processes > 1 else None,
        desc=f"Checking {split} examples",
    )
    # Only the bad rows leave the Arrow table: a 60,000-row split holds a handful at most.
    bad_rows = found.filter(
        lambda reasons: [r is not None for r in reasons], input_columns="reason", batched=True
    )
    bad = [
        BadExample(split, row, reason, file)
        for row, reason, file in zip(
            _row_numbers(found, bad_rows), bad_rows["reason"], bad_rows["file"], strict=True
        )
    ]
    if result_file is not None:
        result_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = result_file.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps([[b.row, b.reason, b.file] for b in bad]))
        temporary.replace(result_file)  # whole or not at all: a parallel run reads either
    return bad


def _row_numbers(found: datasets.Dataset, kept: datasets.Dataset) -> list[int]:
    """The row numbers in `found` of the rows `filter` kept (its indices mapping)."""
    if kept._indices is None:  # nothing filtered out
        return list(range(len(kept)))
    return kept._indices.column(0).to_pylist()


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
