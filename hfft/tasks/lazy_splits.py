"""The two ways a task's `prepare` turns rows into model inputs, for a split that is a
`datasets.Dataset` or a stream (`datasets.IterableDataset`, data.streaming): a transform run on
each batch as it is read (`set_transform` on a dataset; a lazy `map` on a stream, which has no
formatting transforms), and a tokenizing `map` (written to the datasets cache for a dataset; run
as the stream is read otherwise)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datasets

# Rows per transform call on a stream: a few batches' worth of decoded inputs at a time.
STREAM_BATCH_ROWS = 32


def is_stream(ds: Any) -> bool:
    """True for a `datasets.IterableDataset`."""
    import datasets

    return isinstance(ds, datasets.IterableDataset)


def transformed(ds: Any, transform: Callable[[dict[str, list]], dict[str, Any]]) -> Any:
    """`ds` whose rows come out through `transform` (a batch of raw columns -> model inputs),
    applied each time they are read: augmentation draws anew every epoch."""
    if is_stream(ds):
        return ds.map(
            transform,
            batched=True,
            batch_size=STREAM_BATCH_ROWS,
            remove_columns=list(ds.column_names or ()),
        )
    return ds.with_transform(transform)


def mapped(
    ds: Any,
    function: Callable[..., dict[str, Any]],
    *,
    remove_columns: list[str],
    desc: str,
    fn_kwargs: dict[str, Any] | None = None,
) -> Any:
    """`ds.map(function, batched=True, ...)`: cached for a dataset, lazy for a stream."""
    if is_stream(ds):
        return ds.map(
            function, batched=True, remove_columns=remove_columns, fn_kwargs=fn_kwargs or {}
        )
    return ds.map(
        function, batched=True, remove_columns=remove_columns, desc=desc, fn_kwargs=fn_kwargs
    )


def prepared(splits: Any, prepare_one: Callable[[str, Any], Any]) -> datasets.DatasetDict:
    """{split: prepare_one(name, split)} as a DatasetDict (which holds streams as well)."""
    import datasets

    return datasets.DatasetDict({name: prepare_one(name, ds) for name, ds in splits.items()})
