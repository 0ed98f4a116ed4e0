"""Which data is multi-label, and its labels as one list per row: list columns (JSON, JSON lines,
parquet, a `datasets` Sequence(ClassLabel)), a string column split by `data.label_separator`, or
the 0/1 columns `data.columns.label` lists; `data.multi_label: true|false` forces the choice.
Contradictory settings and malformed label data are one clear error here, before anything loads
a model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hfft.errors import DataError, RecipeError

if TYPE_CHECKING:
    import datasets


def resolve(
    splits: dict[str, datasets.Dataset], spec: Any
) -> tuple[str, dict[str, datasets.Dataset]] | None:
    """(why the data is multi-label, the splits with a list of labels per row) or None when it is
    single-label. Contradictory settings are one clear error."""
    forced = getattr(spec, "multi_label", None)
    separator = getattr(spec, "label_separator", None)
    columns = (getattr(spec, "columns", None) or {}).get("label")
    if isinstance(columns, list):
        if forced is False:
            raise RecipeError(
                "data.columns.label lists 0/1 columns (one per label), which only a multi-label "
                "run reads, but data.multi_label is false: map one label column, or drop "
                "data.multi_label"
            )
        if separator is not None:
            raise RecipeError(
                "data.label_separator splits one string column, but data.columns.label lists "
                "0/1 columns: remove data.label_separator"
            )
        out = {name: _from_indicators(ds, columns, name) for name, ds in splits.items()}
        return f"data.columns.label lists {len(columns)} 0/1 columns", out
    lists = [name for name, ds in splits.items() if _holds_lists(ds)]
    if separator is not None:
        if forced is False:
            raise RecipeError(
                "data.label_separator splits labels for a multi-label run, but data.multi_label "
                "is false: remove one of them"
            )
        if lists:
            raise DataError(
                f"data.label_separator {separator!r} splits a string label column, but the "
                f"{lists[0]} split's label column holds lists already: remove "
                "data.label_separator"
            )
        out = {name: _split_strings(ds, separator, name) for name, ds in splits.items()}
        return f"data.label_separator {separator!r} splits the label column", out
    if lists:
        if forced is False:
            raise DataError(
                f"the label column of the {lists[0]} split holds lists of labels (multi-label "
                "data), but data.multi_label is false: set it to true, or remove it"
            )
        out = {name: _as_lists(ds, name, lists[0]) for name, ds in splits.items()}
        return "the label column holds lists of labels", out
    if forced:
        out = {name: _as_lists(ds, name, None) for name, ds in splits.items()}
        return "data.multi_label is true", out
    return None


def _list_feature(feature: Any) -> bool:
    import datasets

    return isinstance(feature, datasets.List | datasets.LargeList)


def _holds_lists(ds: datasets.Dataset) -> bool:
    """A list-typed label column, or a mixed JSON one (datasets' `Json`) with a list in it."""
    import datasets

    feature = ds.features["label"]
    if _list_feature(feature):
        return True
    return isinstance(feature, datasets.Json) and any(isinstance(v, list) for v in ds["label"])


def _with_labels(ds: datasets.Dataset, labels: list[Any]) -> datasets.Dataset:
    return ds.remove_columns("label").add_column("label", labels)


def _as_lists(ds: datasets.Dataset, split: str, listed: str | None) -> datasets.Dataset:
    """The split with a list of labels per row. A list column stays as it is (ClassLabel ids
    keep their names); in a mixed column every value must be a list (or null: a bad example);
    `listed` is the split whose lists made the run multi-label (None: data.multi_label forced
    it, and a plain value is a one-label list)."""
    feature = ds.features["label"]
    if _list_feature(feature):
        return ds
    values = list(ds["label"])
    if listed is not None:
        row, value = next(
            ((i, v) for i, v in enumerate(values) if v is not None and not isinstance(v, list)),
            (None, None),
        )
        if row is not None:
            where = "" if listed == split else f" (the {listed} split's holds lists)"
            raise DataError(
                f"the label column of the {split} split mixes lists and single values{where}: "
                f"row {row} holds {value!r} ({type(value).__name__}); a multi-label column "
                "holds a list of labels in every row ([] for none)"
            )
        return _with_labels(ds, values)
    return _with_labels(ds, [v if v is None or isinstance(v, list) else [v] for v in values])


def _split_strings(ds: datasets.Dataset, separator: str, split: str) -> datasets.Dataset:
    """Each string split on `separator` into stripped, non-empty labels; an empty cell (read as
    null) is no label at all."""
    values = list(ds["label"])
    bad = next(((i, v) for i, v in enumerate(values) if v is not None and not isinstance(v, str)),
               None)  # fmt: skip
    if bad is not None:
        row, value = bad
        raise DataError(
            f"data.label_separator {separator!r} splits strings, but the {split} split's label "
            f"column holds {value!r} ({type(value).__name__}) in row {row}: map a string column, "
            "or remove data.label_separator"
        )
    labels = [
        [] if v is None else [part.strip() for part in v.split(separator) if part.strip()]
        for v in values
    ]
    return _with_labels(ds, labels)


def _from_indicators(ds: datasets.Dataset, columns: list[str], split: str) -> datasets.Dataset:
    """The 0/1 columns of data.columns.label (packed into one row vector by the data loader) ->
    the names of the columns that hold 1. A missing value leaves the row without a label."""
    labels = []
    for row, vector in enumerate(ds["label"]):
        if any(v is None for v in vector):
            labels.append(None)
            continue
        for column, value in zip(columns, vector, strict=True):
            if isinstance(value, bool) or value in (0, 1):
                continue
            raise DataError(
                f"column {column!r} of data.columns.label holds {value!r} in the {split} split "
                f"(row {row}); those columns must hold 0 or 1 (one column per label): fix the "
                "column or leave it out of data.columns.label"
            )
        labels.append([c for c, v in zip(columns, vector, strict=True) if v == 1])
    return _with_labels(ds, labels)
