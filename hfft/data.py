"""Datasets: load anything `datasets.load_dataset` takes, map columns onto hfft's standard names
(`image`/`text`, `label`), encode labels as a `ClassLabel`, and carve missing splits.

Everything downstream sees a `DatasetDict` with `train`, `validation` and maybe `test`, two
columns (the task's input column and `label`), and one label order shared by every split.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from hfft.bad_examples import BadExample, drop_bad_examples, find_bad_examples
from hfft.errors import DataError, RecipeError, did_you_mean, first_line
from hfft.local_paths import looks_like_local_path
from hfft.recipe import DataSpec
from hfft.splits import carve_missing_splits, check_class_coverage

__all__ = [
    "BadExample",
    "LoadedData",
    "drop_bad_examples",
    "encode_labels",
    "encode_with",
    "find_bad_examples",
    "load_data",
    "load_split",
    "standardize_columns",
]

STANDARD_COLUMNS = ("image", "text", "label")
# Tried in order when the recipe maps no column for a standard name.
ALIASES = {
    "image": ("image", "img", "picture", "photo", "pixel_values"),
    "text": ("text", "sentence", "content", "review", "document", "sms"),
    "label": ("label", "labels", "class", "category", "target", "fine_label"),
}
VALIDATION_NAMES = ("validation", "valid", "val", "dev")
# A data file given as data.path -> the builder that reads it (and its options).
FILE_BUILDERS: dict[str, tuple[str, dict[str, Any]]] = {
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"sep": "\t"}),
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
    ".parquet": ("parquet", {}),
    ".txt": ("text", {}),
}

log = logging.getLogger("hfft")


@dataclass
class LoadedData:
    """Standardised splits plus the label names (index = class id)."""

    splits: datasets.DatasetDict
    label_names: list[str]

    def sizes(self) -> dict[str, int]:
        """Rows per split."""
        return {name: len(ds) for name, ds in self.splits.items()}


def load_data(spec: DataSpec, input_column: str) -> LoadedData:
    """Load, standardise, check, label-encode and split a dataset as the recipe describes.

    Problems are collected across splits (a column missing from two splits, unusable examples,
    labels only some splits have) and raised together as one `PreflightError`."""
    from hfft.preflight import Problems

    raw = _load(spec)
    _check_image_folder_labels(raw, spec, input_column)
    picked = _pick_splits(raw, spec)
    problems = Problems()
    standard = {}
    for name, ds in picked.items():
        with problems.collect():
            standard[name] = standardize_columns(ds, spec.columns, input_column, name)
    problems.raise_if_any()
    with problems.collect():
        standard = drop_bad_examples(standard, input_column, spec.on_bad_example)
    problems.raise_if_any()
    label_names, picked = encode_labels(standard)
    picked = carve_missing_splits(picked, spec)
    for name, ds in picked.items():
        if len(ds) == 0:
            raise DataError(
                f"the {name} split is empty: check data.path/data_files and the split names"
            )
    # On the data as it is, before max_*_samples: a capped smoke run is not a data problem.
    check_class_coverage(picked, label_names)
    if spec.max_train_samples:
        picked["train"] = picked["train"].select(
            range(min(spec.max_train_samples, len(picked["train"])))
        )
    if spec.max_eval_samples:
        for name in ("validation", "test"):
            if name in picked:
                n = min(spec.max_eval_samples, len(picked[name]))
                picked[name] = picked[name].select(range(n))
    return LoadedData(datasets.DatasetDict(picked), label_names)


def _load(spec: DataSpec) -> datasets.DatasetDict:
    if spec.data_dir and not Path(spec.data_dir).exists():
        raise DataError(f"data.data_dir '{spec.data_dir}' does not exist")
    kwargs = {
        key: getattr(spec, key)
        for key in ("name", "data_dir", "data_files", "revision")
        if getattr(spec, key) is not None
    }
    if _is_builder(spec.path) and not (spec.data_dir or spec.data_files):
        # Without them the builder searches the current directory, recursively.
        raise DataError(
            f"data.path '{spec.path}' reads local files: set data.data_dir (a folder) or "
            "data.data_files (a file, a glob, or {train: ..., test: ...})"
        )
    local = Path(spec.path).expanduser()
    if local.is_dir() and (
        (local / "dataset_dict.json").exists() or (local / "state.json").exists()
    ):
        return _as_dict(datasets.load_from_disk(str(local)))  # a `save_to_disk` folder
    if looks_like_local_path(spec.path) and not local.exists():
        raise DataError(f"data.path '{spec.path}' does not exist")
    # A data file as data.path: `load_dataset` only takes files through data_files.
    path = _file_builder(spec, local, kwargs) if local.is_file() else spec.path
    try:
        loaded = datasets.load_dataset(path, **kwargs)
    except (FileNotFoundError, ValueError, ConnectionError, OSError) as err:
        empty = re.search(r'Instruction "(.+)" corresponds to no data', str(err))
        if empty:
            raise DataError(
                f"the {empty.group(1)} split is empty: its data files have no rows"
            ) from None
        raise DataError(
            f"could not load dataset '{spec.path}' ({type(err).__name__}: {first_line(err)}); "
            "data.path takes a Hub dataset id, a local folder or data file, or a builder such "
            "as imagefolder/csv/json/parquet with data.data_dir or data.data_files"
        ) from None
    return _as_dict(loaded)


def _as_dict(loaded: datasets.Dataset | datasets.DatasetDict) -> datasets.DatasetDict:
    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict({"train": loaded})
    return loaded


def _file_builder(spec: DataSpec, file: Path, kwargs: dict[str, Any]) -> str:
    """The builder that reads the data file `file` (data.path), its options set in `kwargs`."""
    if file.suffix.lower() not in FILE_BUILDERS:
        raise DataError(
            f"data.path '{spec.path}' is a file hfft cannot read by its extension; use one of "
            f"{sorted(FILE_BUILDERS)}, or set data.path to a builder (csv, json, ...) and "
            "data.data_files to the file"
        )
    if spec.data_files or spec.data_dir:
        raise DataError(
            f"data.path '{spec.path}' is a file, so data.data_files/data.data_dir would be "
            "ignored: give the data either as data.path or as data.data_files"
        )
    builder, options = FILE_BUILDERS[file.suffix.lower()]
    kwargs.update(options, data_files=str(file))
    return builder


def _image_folder(spec: DataSpec, input_column: str) -> tuple[str, str] | None:
    """(folder, its recipe key) when the labels come from image folder names, else None."""
    if input_column != "image" or "label" in spec.columns:
        return None
    return (spec.data_dir, "data.data_dir") if spec.data_dir else (spec.path, "data.path")


def _check_image_folder_labels(
    raw: datasets.DatasetDict, spec: DataSpec, input_column: str
) -> None:
    """An image folder whose layout gave no labels, or labels from the wrong folder level: say
    what was found (one error, or a warning where the layout may be meant)."""
    from hfft.image_folders import explain_missing_labels, subfolders_as_labels

    found = _image_folder(spec, input_column)
    train = raw.get(spec.train_split)
    if found is None or train is None:
        return
    if not any(c in train.column_names for c in ALIASES["label"]):
        reason = explain_missing_labels(*found)
        if reason:
            raise DataError(reason)
    elif isinstance(train.features.get("label"), datasets.ClassLabel):
        warning = subfolders_as_labels(*found)
        if warning:
            log.warning(warning)


def _is_builder(path: str) -> bool:
    """A datasets packaged builder (imagefolder, csv, json, parquet...), not a dataset."""
    try:
        from datasets.packaged_modules import _PACKAGED_DATASETS_MODULES as builders
    except ImportError:  # a private name: keep the common ones if it moves
        builders = {"imagefolder", "audiofolder", "csv", "json", "parquet", "text", "arrow"}
    return path in builders and not Path(path).exists()


def _pick_splits(raw: datasets.DatasetDict, spec: DataSpec) -> dict[str, datasets.Dataset]:
    available = list(raw)

    def require(split: str, key: str) -> datasets.Dataset:
        if split not in raw:
            raise DataError(
                f"data.{key} '{split}' not found{did_you_mean(split, available)}; "
                f"the dataset has splits {available}"
            )
        return raw[split]

    picked = {"train": require(spec.train_split, "train_split")}
    if spec.validation_split:
        picked["validation"] = require(spec.validation_split, "validation_split")
    else:
        found = next((s for s in VALIDATION_NAMES if s in raw and s != spec.train_split), None)
        if found:
            picked["validation"] = raw[found]
    if spec.test_split:
        picked["test"] = require(spec.test_split, "test_split")
    elif "test" in raw and spec.train_split != "test":
        picked["test"] = raw["test"]
    return picked


def standardize_columns(
    ds: datasets.Dataset, mapping: dict[str, str], input_column: str, split: str
) -> datasets.Dataset:
    """Keep the input and label columns, renamed to hfft's standard names."""
    for std in mapping:
        if std not in STANDARD_COLUMNS:
            raise RecipeError(
                f"data.columns has unknown standard name '{std}'"
                f"{did_you_mean(std, STANDARD_COLUMNS)}; "
                f"map {input_column!r} and 'label' to your dataset's columns"
            )
    existing = list(ds.column_names)
    sources = {}
    for std in (input_column, "label"):
        if std in mapping:
            source = mapping[std]
            if source not in existing:
                raise DataError(
                    f"column '{source}' (data.columns.{std}) not found in the {split} split"
                    f"{did_you_mean(source, existing)}; its columns are {existing}"
                )
        else:
            source = next((c for c in ALIASES[std] if c in existing), None)
            if source is None:
                raise DataError(
                    f"no {std} column in the {split} split; its columns are {existing}: "
                    f"set data.columns.{std} to one of them"
                )
        sources[std] = source
    ds = ds.select_columns(list(sources.values()))
    ds = ds.rename_columns({src: std for std, src in sources.items() if src != std})
    if input_column == "image" and _dtype(ds.features["image"]) in ("string", "large_string"):
        ds = ds.cast_column("image", datasets.Image())  # a column of file paths
    return ds


def _dtype(feature: Any) -> str | None:
    return getattr(feature, "dtype", None)


def encode_labels(
    splits: dict[str, datasets.Dataset],
) -> tuple[list[str], dict[str, datasets.Dataset]]:
    """Give every split the same `ClassLabel` (names from train) and check no split has labels
    that train lacks (every split checked, problems reported together). Names come from a
    ClassLabel, else sorted strings, else sorted integers."""
    from hfft.preflight import Problems

    names = _label_names(splits["train"])
    problems = Problems()
    encoded = {}
    for split, ds in splits.items():
        with problems.collect():
            encoded[split] = encode_with(ds, names, split)
    problems.raise_if_any()
    return names, encoded


def encode_with(
    ds: datasets.Dataset, names: Sequence[str], split: str, against: str = "train"
) -> datasets.Dataset:
    """Encode a split's labels as the class ids of `names`: the train labels (`against="train"`)
    or a trained model's (`against="model"`, data evaluated against it)."""
    index = {name: i for i, name in enumerate(names)}
    values = _label_strings(ds, split)
    unseen = sorted(set(values) - set(index))
    if unseen:
        shown = f"{list(names[:20])}{' ...' if len(names) > 20 else ''}"
        if against == "model":
            raise DataError(
                f"label(s) {unseen[:10]} in the {split} split are not among the model's labels "
                f"({shown}); it cannot predict them: evaluate on data with the model's labels, or "
                "drop those rows"
            )
        raise DataError(
            f"label(s) {unseen[:10]} appear in the {split} split but not in train "
            f"(train labels: {shown}); "
            "a model cannot learn a class it never sees: fix the data or drop those rows"
        )
    ds = ds.remove_columns("label").add_column("label", [index[v] for v in values])
    return ds.cast_column("label", datasets.ClassLabel(names=list(names)))


def load_split(
    spec: DataSpec, input_column: str, split: str, label_names: Sequence[str]
) -> datasets.Dataset:
    """One split of a dataset, standardised and encoded with a trained model's label names. A
    dataset with a single split (a CSV file, a flat image folder) gives that split."""
    raw = _load(spec)
    if split in raw:
        ds = raw[split]
    elif len(raw) == 1:
        ds = next(iter(raw.values()))
    else:
        raise DataError(
            f"split '{split}' not found{did_you_mean(split, list(raw))}; the dataset has splits "
            f"{list(raw)}"
        )
    ds = standardize_columns(ds, spec.columns, input_column, split)
    ds = drop_bad_examples({split: ds}, input_column, spec.on_bad_example)[split]
    return encode_with(ds, label_names, split, against="model")


def _label_names(train: datasets.Dataset) -> list[str]:
    feature = train.features["label"]
    if isinstance(feature, datasets.ClassLabel):
        # Only the classes train has: `imagefolder` declares one ClassLabel over every split's
        # folders, so a class only the test split has must be caught like any other loader's.
        present = set(train["label"])
        names = [name for i, name in enumerate(feature.names) if i in present]
        absent = [name for i, name in enumerate(feature.names) if i not in present]
        if absent:
            log.info(
                "the dataset declares class(es) %s that no train row has; the model gets the "
                "%d that train has",
                absent[:10],
                len(names),
            )
        return names
    values = _label_values(train)
    if any(v is None for v in values):
        raise DataError("the train split has rows with no label: drop or fill them")
    if all(isinstance(v, str) for v in values):
        return sorted(set(values))
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return [str(v) for v in sorted(set(values))]
    kinds = sorted({type(v).__name__ for v in values})
    raise DataError(f"the label column must hold class names or integer ids, found {kinds}")


def _label_values(ds: datasets.Dataset) -> list[Any]:
    """The label column's values, integral floats as ints: pandas makes an integer column with a
    missing value float64 (3.0, 7.0, NaN), and once that row is skipped they are ids again."""
    values = list(ds["label"])
    dtype = _dtype(ds.features["label"]) or ""
    if dtype.startswith("float") and all(v is None or float(v).is_integer() for v in values):
        return [None if v is None else int(v) for v in values]
    return values


def _label_strings(ds: datasets.Dataset, split: str) -> list[str]:
    feature = ds.features["label"]
    values = _label_values(ds)
    if any(v is None for v in values):
        raise DataError(f"the {split} split has rows with no label: drop or fill them")
    if isinstance(feature, datasets.ClassLabel):
        return [feature.int2str(v) for v in values]
    return [str(v) for v in values]
