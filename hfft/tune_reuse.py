"""What the trials of one `hfft tune` search share, so that a trial pays only for its own work.

A search's trials never vary `data.*` (hfft.search_space refuses those keys), so the dataset is
loaded, standardised and checked once (by the first trial's `build_run`, with its preflight) and
every later trial gets the same splits. Trials evaluate on validation only: the test split is
left out of them, so a frozen-backbone search never extracts its features (`hfft train
best.yaml` evaluates on test).

Between trials the garbage collector runs (a GPU's memory must come back), and a full collection
walks every object the process holds: ~0.4 s with torch, transformers and datasets imported,
once per trial and once more in the Trainer (accelerate's `free_memory`). What survives a
trial is frozen when the next one starts (`gc.freeze`), so later collections walk only a trial's
own objects; the search unfreezes when it ends.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

TRIAL_SPLITS = ("train", "validation")


class DataOnce:
    """A `build_run` loader (`load=`) that loads the data on its first call and hands the same
    `LoadedData`, without its test split, to every call after. `loads` counts real loads.

    Only map-style splits are shared: a streamed one (an `IterableDataset`) is loaded by every
    trial, whole, as before (a stream carries its reading state)."""

    def __init__(self) -> None:
        self.loaded: Any = None
        self.loads = 0

    def __call__(self, spec: Any, task: Any) -> Any:
        import datasets

        from hfft.data import load_data

        if self.loaded is not None:
            return self.loaded
        data = load_data(spec, task)
        self.loads += 1
        if not all(isinstance(ds, datasets.Dataset) for ds in data.splits.values()):
            return data
        splits = {k: v for k, v in data.splits.items() if k in TRIAL_SPLITS}
        self.loaded = replace(data, splits=datasets.DatasetDict(splits))
        return self.loaded


def free_memory() -> None:
    """Collect a finished trial's garbage and hand the GPU's cached blocks back."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def freeze_survivors() -> None:
    """At a trial's start: collect, then freeze what is left so this trial's collections skip
    it. Not at the end of the trial before: a pruned trial's exception, still propagating
    there, holds its Trainer and model in a reference cycle that only a later collection frees
    (frozen, they would stay for the whole search)."""
    free_memory()
    gc.freeze()


@contextlib.contextmanager
def frozen_between_trials() -> Iterator[None]:
    """Unfreeze at the end what `freeze_survivors` froze (unless the caller had frozen objects
    itself: theirs stay as they were)."""
    frozen_before = gc.get_freeze_count()
    try:
        yield
    finally:
        if not frozen_before:
            gc.unfreeze()
