"""Columns: a split's input and label columns kept and renamed to hfft's standard names (the
task's input column, `label`), the input typed for decoding. Works on a dataset and on a
stream (data.streaming) alike."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import datasets

from hfft.errors import DataError, RecipeError, did_you_mean

if TYPE_CHECKING:
    from hfft.tasks import Task

LABEL = "label"
# Tried in order when the recipe maps no label column.
LABEL_ALIASES = ("label", "labels", "class", "category", "target", "fine_label")


def standardize_columns(
    ds: datasets.Dataset, mapping: dict[str, str], task: Task, split: str
) -> datasets.Dataset:
    """Keep the input and label columns, renamed to hfft's standard names, the input typed for
    decoding (a column of image paths becomes an Image column)."""
    input_column = task.input_column
    standard = (input_column, LABEL)
    for std in mapping:
        if std not in standard:
            raise RecipeError(
                f"data.columns has unknown standard name '{std}'{did_you_mean(std, standard)}; "
                f"{task.name} reads {input_column!r} and 'label': map them to your dataset's "
                "columns"
            )
    if isinstance(mapping.get(LABEL), list):  # 0/1 columns, one per label: the scheme reads them
        ds, mapping = _pack_label_columns(ds, mapping, split)
    existing = list(ds.column_names)
    aliases = {input_column: task.modality.aliases, LABEL: task.labels.aliases or LABEL_ALIASES}
    sources = {}
    for std in standard:
        if std in mapping:
            source = mapping[std]
            if source not in existing:
                raise DataError(
                    f"column '{source}' (data.columns.{std}) not found in the {split} split"
                    f"{did_you_mean(source, existing)}; its columns are {existing}"
                )
        else:
            source = next((c for c in aliases[std] if c in existing), None)
            if source is None:
                raise DataError(
                    f"no {std} column in the {split} split; its columns are {existing}: "
                    f"set data.columns.{std} to one of them"
                )
        sources[std] = source
    ds = ds.select_columns(list(sources.values()))
    ds = ds.rename_columns({src: std for std, src in sources.items() if src != std})
    return task.modality.cast(ds)


def _pack_label_columns(
    ds: datasets.Dataset, mapping: dict[str, Any], split: str
) -> tuple[datasets.Dataset, dict[str, Any]]:
    """The columns data.columns.label lists, packed into one column of per-row value lists (in
    the listed order) that the label scheme reads; the mapping then names that column."""
    columns = list(mapping[LABEL])
    missing = [c for c in columns if c not in ds.column_names]
    if missing:
        raise DataError(
            f"column(s) {missing} (data.columns.label) not found in the {split} split"
            f"{did_you_mean(missing[0], ds.column_names)}; its columns are {ds.column_names}"
        )
    packed = "__hfft_label_columns__"
    if isinstance(ds, datasets.IterableDataset):  # a stream: packed as it is read
        ds = ds.map(
            lambda b: {packed: [list(v) for v in zip(*(b[c] for c in columns), strict=True)]},
            batched=True,
            remove_columns=columns,
        )._resolve_features()  # the stream's columns, for the mapping that follows
        return ds, {**mapping, LABEL: packed}
    rows = [list(values) for values in zip(*(ds[c] for c in columns), strict=True)]
    ds = ds.remove_columns(columns).add_column(packed, rows)
    return ds, {**mapping, LABEL: packed}
