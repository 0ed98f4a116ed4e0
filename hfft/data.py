"""Datasets: load anything `datasets.load_dataset` takes, map columns onto hfft's standard names
(`image`/`text`, `label`), encode labels as a `ClassLabel`, and carve missing splits.

Everything downstream sees a `DatasetDict` with `train`, `validation` and maybe `test`, two
columns (the task's input column and `label`), and one label order shared by every split.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from hfft.errors import DataError, RecipeError, did_you_mean
from hfft.recipe import DataSpec

STANDARD_COLUMNS = ("image", "text", "label")
# Tried in order when the recipe maps no column for a standard name.
ALIASES = {
    "image": ("image", "img", "picture", "photo", "pixel_values"),
    "text": ("text", "sentence", "content", "review", "document", "sms"),
    "label": ("label", "labels", "class", "category", "target", "fine_label"),
}
VALIDATION_NAMES = ("validation", "valid", "val", "dev")


@dataclass
class LoadedData:
    """Standardised splits plus the label names (index = class id)."""

    splits: datasets.DatasetDict
    label_names: list[str]

    def sizes(self) -> dict[str, int]:
        return {name: len(ds) for name, ds in self.splits.items()}


def load_data(spec: DataSpec, input_column: str) -> LoadedData:
    """Load, standardise, label-encode and split a dataset as the recipe describes."""
    raw = _load(spec)
    picked = _pick_splits(raw, spec)
    picked = {
        name: standardize_columns(ds, spec.columns, input_column, name)
        for name, ds in picked.items()
    }
    label_names, picked = encode_labels(picked)
    picked = _carve_missing_splits(picked, spec)
    for name, ds in picked.items():
        if len(ds) == 0:
            raise DataError(
                f"the {name} split is empty: check data.path/data_files and the split names"
            )
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
    for key in ("data_dir",):
        value = getattr(spec, key)
        if value and not Path(value).exists():
            raise DataError(f"data.{key} '{value}' does not exist")
    kwargs = {
        key: getattr(spec, key)
        for key in ("name", "data_dir", "data_files", "revision")
        if getattr(spec, key) is not None
    }
    local = Path(spec.path).expanduser()
    if local.is_dir() and (
        (local / "dataset_dict.json").exists() or (local / "state.json").exists()
    ):
        loaded = datasets.load_from_disk(str(local))  # a `save_to_disk` folder
    elif _looks_like_path(spec.path) and not local.exists():
        raise DataError(f"data.path '{spec.path}' does not exist")
    else:
        try:
            loaded = datasets.load_dataset(spec.path, **kwargs)
        except (FileNotFoundError, ValueError, ConnectionError, OSError) as err:
            empty = re.search(r'Instruction "(.+)" corresponds to no data', str(err))
            if empty:
                raise DataError(
                    f"the {empty.group(1)} split is empty: its data files have no rows"
                ) from None
            raise DataError(
                f"could not load dataset '{spec.path}' ({type(err).__name__}: {_first_line(err)}); "
                "data.path takes a Hub dataset id, a local folder, or a builder such as "
                "imagefolder/csv/json/parquet with data.data_dir or data.data_files"
            ) from None
    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict({"train": loaded})
    return loaded


def _looks_like_path(path: str) -> bool:
    return path.startswith(("/", "./", "../", "~")) or path.count("/") > 1


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else ""


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
    that train lacks. Names come from a ClassLabel, else sorted strings, else sorted integers."""
    names = _label_names(splits["train"])
    return names, {split: encode_with(ds, names, split) for split, ds in splits.items()}


def encode_with(ds: datasets.Dataset, names: Sequence[str], split: str) -> datasets.Dataset:
    """Encode a split's labels as the class ids of `names` (the train labels, or a model's)."""
    index = {name: i for i, name in enumerate(names)}
    values = _label_strings(ds, split)
    unseen = sorted(set(values) - set(index))
    if unseen:
        raise DataError(
            f"label(s) {unseen[:10]} appear in the {split} split but not in train "
            f"(train labels: {list(names[:20])}{' ...' if len(names) > 20 else ''}); "
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
    return encode_with(ds, label_names, split)


def _label_names(train: datasets.Dataset) -> list[str]:
    feature = train.features["label"]
    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names)
    values = list(train["label"])
    if any(v is None for v in values):
        raise DataError("the train split has rows with no label: drop or fill them")
    if all(isinstance(v, str) for v in values):
        return sorted(set(values))
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return [str(v) for v in sorted(set(values))]
    kinds = sorted({type(v).__name__ for v in values})
    raise DataError(f"the label column must hold class names or integer ids, found {kinds}")


def _label_strings(ds: datasets.Dataset, split: str) -> list[str]:
    feature = ds.features["label"]
    values = list(ds["label"])
    if any(v is None for v in values):
        raise DataError(f"the {split} split has rows with no label: drop or fill them")
    if isinstance(feature, datasets.ClassLabel):
        return [feature.int2str(v) for v in values]
    return [str(v) for v in values]


def _carve_missing_splits(
    splits: dict[str, datasets.Dataset], spec: DataSpec
) -> dict[str, datasets.Dataset]:
    """Carve test (when asked) and validation (when missing) out of train, stratified, seeded."""
    if "test" not in splits and spec.test_fraction > 0:
        splits["train"], splits["test"] = _split(splits["train"], spec.test_fraction, spec.seed)
    if "validation" not in splits:
        if spec.validation_fraction <= 0:
            raise DataError(
                "the dataset has no validation split and data.validation_fraction is 0: "
                "set data.validation_fraction (e.g. 0.1) or data.validation_split"
            )
        # Of what is left of train after the test split, keep the fraction of the original size.
        fraction = spec.validation_fraction / (
            1.0 - spec.test_fraction if "test" in splits else 1.0
        )
        splits["train"], splits["validation"] = _split(
            splits["train"], min(fraction, 0.5), spec.seed
        )
    return splits


def _split(
    ds: datasets.Dataset, fraction: float, seed: int
) -> tuple[datasets.Dataset, datasets.Dataset]:
    if len(ds) < 2:
        raise DataError(f"the train split has {len(ds)} row(s): too few to carve a held-out split")
    try:
        parts = ds.train_test_split(test_size=fraction, stratify_by_column="label", seed=seed)
    except ValueError:
        # Stratification needs at least one row per class on each side; fall back to random.
        parts = ds.train_test_split(test_size=fraction, seed=seed)
    return parts["train"], parts["test"]
