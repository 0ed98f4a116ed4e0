"""`LoadedData`: what loading a recipe's data gives the rest of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import datasets

if TYPE_CHECKING:
    from hfft.tasks import Task


@dataclass
class LoadedData:
    """Standardised splits plus the label names (index = class id), and the task with the
    label scheme the data asked for (and why)."""

    splits: datasets.DatasetDict
    label_names: list[str]
    task: Task | None = None
    scheme_reason: str = ""
    # A streamed run (data.streaming): the train rows the preflight checked, encoded; the train
    # split itself is an IterableDataset.
    checked_train: datasets.Dataset | None = None

    def sizes(self) -> dict[str, int | str]:
        """Rows per split ("streamed" for a stream, which has no length)."""
        return {
            name: "streamed" if isinstance(ds, datasets.IterableDataset) else len(ds)
            for name, ds in self.splits.items()
        }

    def fitting_splits(self) -> datasets.DatasetDict:
        """The splits with a train split that can be read whole (baselines fit on it): the
        checked first rows of a streamed one."""
        if self.checked_train is None:
            return self.splits
        return datasets.DatasetDict({**self.splits, "train": self.checked_train})
