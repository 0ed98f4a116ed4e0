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

from hfft.errors import DataError, RecipeError, did_you_mean, first_line
from hfft.local_paths import looks_like_local_path
from hfft.recipe import DataSpec

STANDARD_COLUMNS = ("image", "text", "label")
# Tried in order when the recipe maps no column for a standard name.
ALIASES = {
    "image": ("image", "img", "picture", "photo", "pixel_values"),
    "text": ("text", "sentence", "content", "review", "document", "sms"),
    "label": ("label", "labels", "class", "category", "target", "fine_label"),
}
VALIDATION_NAMES = ("validation", "valid", "val", "dev")

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
        loaded = datasets.load_from_disk(str(local))  # a `save_to_disk` folder
    elif looks_like_local_path(spec.path) and not local.exists():
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
                f"could not load dataset '{spec.path}' ({type(err).__name__}: {first_line(err)}); "
                "data.path takes a Hub dataset id, a local folder, or a builder such as "
                "imagefolder/csv/json/parquet with data.data_dir or data.data_files"
            ) from None
    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict({"train": loaded})
    return loaded


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
    ds = drop_bad_examples({split: ds}, input_column, spec.on_bad_example)[split]
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


# --------------------------------------------------------------------------------------------
# Unusable examples

# Pillow modes with more than 8 bits per channel: converting them to RGB clips every value above
# 255, so a 16-bit or float image would train as a white (or black) square.
WIDE_MODES = ("I", "F")
MAX_LISTED = 20


@dataclass
class BadExample:
    split: str
    row: int
    reason: str
    file: str | None = None

    def __str__(self) -> str:
        where = f"{self.split} row {self.row}" + (f" ({self.file})" if self.file else "")
        return f"{where}: {self.reason}"


def find_bad_examples(ds: datasets.Dataset, input_column: str, split: str) -> list[BadExample]:
    """Rows whose input cannot be used (an image that does not decode or is not 8-bit, an empty
    or non-text text) or that have no label. Images are decoded here, once, so a corrupt file
    stops the run before training rather than in the middle of an epoch."""
    view, check = ds, _text_problem
    if input_column == "image":
        if not isinstance(ds.features.get("image"), datasets.Image):
            check = _no_problem  # pixel arrays: nothing to decode
        else:
            view = ds.cast_column("image", datasets.Image(decode=False))  # raw bytes and paths
            check = _image_problem

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


def _no_problem(value: Any) -> str | None:
    return None


def _image_problem(value: Any) -> str | None:
    import io

    from PIL import Image

    if value is None:
        return "no image"
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
        if not data and not path:
            return "no image"
        source: Any = io.BytesIO(data) if data else path
    else:
        return None
    try:
        image = Image.open(source)
        image.load()
        if image.mode.split(";")[0] in WIDE_MODES:
            return (
                f"image mode {image.mode} has more than 8 bits per channel, and converting it "
                "to RGB would clip it: convert the images to 8-bit"
            )
        image.convert("RGB")
    except Exception as err:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBomb...
        return f"not a readable image ({type(err).__name__}: {first_line(err)})"
    return None


def _text_problem(value: Any) -> str | None:
    if value is None:
        return "no text"
    if not isinstance(value, str):
        return f"not a text: {value!r} ({type(value).__name__})"
    if not value.strip():
        return "empty text"
    return None


def drop_bad_examples(
    splits: dict[str, datasets.Dataset], input_column: str, policy: str
) -> dict[str, datasets.Dataset]:
    """Apply data.on_bad_example: "error" raises with the list of unusable rows; "skip" leaves
    them out and logs how many, per split."""
    bad = {split: find_bad_examples(ds, input_column, split) for split, ds in splits.items()}
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
