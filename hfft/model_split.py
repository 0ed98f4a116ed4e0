"""One standardised split made ready for a trained model (`hfft eval`, streamed or not): its
labels as the model's label scheme reads them, unusable rows handled as data.on_bad_example
says, and the labels encoded as the model's class ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hfft.bad_examples import drop_bad_examples
from hfft.errors import DataError

if TYPE_CHECKING:
    import datasets

    from hfft.tasks import Task


def for_model(
    ds: datasets.Dataset, spec: Any, task: Task, split: str, label_names: Sequence[str]
) -> datasets.Dataset:
    """`ds` (standardised) read as the model's scheme reads labels and encoded with its
    `label_names`; `spec` is the recipe's `data:` section."""
    claimed = task.labels.resolve({split: ds}, spec) if task.labels.resolve else ("", {split: ds})
    if claimed is None:
        raise DataError(
            f"the {split} split holds one label per row, but the model is {task.labels.name}: "
            "give it lists of labels (or set data.multi_label: true / data.label_separator)"
        )
    ds = drop_bad_examples(claimed[1], task.modality, spec.on_bad_example)[split]
    return task.labels.encode_with(ds, label_names, split)
