"""Datasets: load anything `datasets.load_dataset` takes, map columns onto hfft's standard names
(the task's input column, `label`), encode labels as the task's label scheme says, and carve
missing splits.

Everything downstream sees a `DatasetDict` with `train`, `validation` and maybe `test`, two
columns (the task's input column and `label`), and one label order shared by every split. What
differs between tasks (column aliases, casting, the check of one example, label encoding and
stratification) comes from the `Task` (hfft/tasks/); this module has no task branches.
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
from hfft.columns import LABEL, LABEL_ALIASES, standardize_columns
from hfft.errors import DataError, did_you_mean, first_line
from hfft.local_paths import looks_like_local_path
from hfft.recipe import DataSpec
from hfft.redact import builder_names
from hfft.splits import carve_missing_splits
from hfft.tasks import Task

__all__ = [
    "BadExample",
    "LoadedData",
    "drop_bad_examples",
    "find_bad_examples",
    "load_data",
    "load_split",
    "standardize_columns",
]

VALIDATION_NAMES = ("validation", "valid", "val", "dev")
# A data file given as data.path -> the builder that reads it (and its options).
FILE_BUILDERS: dict[str, tuple[str, dict[str, Any]]] = {
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"sep": "\t"}),
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
    ".parquet": ("parquet", {}),
    ".txt": ("text", {}),  # datasets builder (one row per line), not the text modality
}

log = logging.getLogger("hfft")


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


def load_data(spec: DataSpec, task: Task) -> LoadedData:
    """Load, standardise, check, label-encode and split a dataset as the recipe describes.

    Problems are collected across splits (a column missing from two splits, unusable examples,
    labels only some splits have) and raised together as one `PreflightError`. With
    data.streaming the train split is a stream (hfft.streaming)."""
    from hfft.problems import Problems

    if spec.streaming:
        from hfft.streaming import load_streamed

        return load_streamed(spec, task)
    raw = _load(spec, task)
    _check_folder_labels(raw, spec, task)
    picked = pick_splits(raw, spec)
    problems = Problems()
    standard = {}
    for name, ds in picked.items():
        with problems.collect():
            standard[name] = standardize_columns(ds, spec.columns, task, name)
    problems.raise_if_any()
    # Single- or multi-label (lists of labels...): the task's label schemes decide from the data.
    task, reason, standard = task.resolve_labels(standard, spec)
    with problems.collect():
        standard = drop_bad_examples(standard, task.modality, spec.on_bad_example)
    problems.raise_if_any()
    label_names, picked = task.labels.encode(standard)
    picked = carve_missing_splits(picked, spec, task.labels.carve)
    for name, ds in picked.items():
        if len(ds) == 0:
            raise DataError(
                f"the {name} split is empty: check data.path/data_files and the split names"
            )
    # On the data as it is, before max_*_samples: a capped smoke run is not a data problem.
    task.labels.check_coverage(picked, label_names)
    if spec.max_train_samples:
        picked["train"] = picked["train"].select(
            range(min(spec.max_train_samples, len(picked["train"])))
        )
    if spec.max_eval_samples:
        for name in ("validation", "test"):
            if name in picked:
                n = min(spec.max_eval_samples, len(picked[name]))
                picked[name] = picked[name].select(range(n))
    return LoadedData(datasets.DatasetDict(picked), label_names, task, reason)


def _load(spec: DataSpec, task: Task) -> datasets.DatasetDict:
    whole = load_whole(spec, task)
    if whole is not None:
        return whole
    path, kwargs = load_arguments(spec, task)
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


def load_whole(spec: DataSpec, task: Task) -> datasets.DatasetDict | None:
    """The splits of data that load without `datasets.load_dataset`: a format the task's
    modality reads itself, or a `save_to_disk` folder; None for everything else."""
    if spec.data_dir and not Path(spec.data_dir).expanduser().exists():
        raise DataError(f"data.data_dir '{spec.data_dir}' does not exist")
    own = _own_format(spec, task.modality.readers)
    if own is not None:
        return own
    local = Path(spec.path).expanduser()
    if local.is_dir() and (
        (local / "dataset_dict.json").exists() or (local / "state.json").exists()
    ):
        return _as_dict(datasets.load_from_disk(str(local)))  # a `save_to_disk` folder
    return None


def load_arguments(spec: DataSpec, task: Task) -> tuple[str, dict[str, Any]]:
    """(path, keyword arguments) of the `datasets.load_dataset` call that reads the recipe's
    data, checked: a builder without files, a local path that does not exist, a data file
    given as data.path (`load_dataset` takes files only through data_files)."""
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
    if looks_like_local_path(spec.path) and not local.exists():
        raise DataError(f"data.path '{spec.path}' does not exist")
    readers = task.modality.readers
    path = _file_builder(spec, local, kwargs, readers) if local.is_file() else spec.path
    return path, kwargs


def _refuse_files_beside_a_file(spec: DataSpec) -> None:
    if spec.data_files or spec.data_dir:
        raise DataError(
            f"data.path '{spec.path}' is a file, so data.data_files/data.data_dir would be "
            "ignored: give the data either as data.path or as data.data_files"
        )


def _own_format(spec: DataSpec, readers: Any) -> datasets.DatasetDict | None:
    """The splits of a format the task's modality reads itself (`Modality.readers`): a data
    file with one of its extensions as data.path, or its name as data.path with data.data_files
    or data.data_dir (resolved, globs and split names, as `datasets` does); else None."""
    from datasets.data_files import DataFilesDict, get_data_patterns, sanitize_patterns

    local = Path(spec.path).expanduser()
    if local.is_file() and local.suffix.lower() in readers:
        _refuse_files_beside_a_file(spec)
        return datasets.DatasetDict(readers[local.suffix.lower()]({"train": [str(local)]}))
    if spec.path not in readers or local.exists():
        return None
    if not (spec.data_dir or spec.data_files):
        raise DataError(
            f"data.path '{spec.path}' reads local files: set data.data_dir (a folder) or "
            "data.data_files (a file, a glob, or {train: ..., test: ...})"
        )
    base = str(Path(spec.data_dir).expanduser()) if spec.data_dir else str(Path.cwd())
    try:
        files = spec.data_files
        patterns = sanitize_patterns(files) if files else get_data_patterns(base)
        files = DataFilesDict.from_patterns(patterns, base_path=base)
    except FileNotFoundError as err:  # datasets' DataFilesNotFoundError, EmptyDatasetError
        raise DataError(f"data.path '{spec.path}': {first_line(err)}") from None
    return datasets.DatasetDict(readers[spec.path]({str(k): list(v) for k, v in files.items()}))


def _as_dict(loaded: datasets.Dataset | datasets.DatasetDict) -> datasets.DatasetDict:
    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict({"train": loaded})
    return loaded


def _file_builder(spec: DataSpec, file: Path, kwargs: dict[str, Any], readers: Any = ()) -> str:
    """The builder that reads the data file `file` (data.path), its options set in `kwargs`."""
    if file.suffix.lower() not in FILE_BUILDERS:
        known = sorted({*FILE_BUILDERS, *(r for r in readers if r.startswith("."))})
        raise DataError(
            f"data.path '{spec.path}' is a file hfft cannot read by its extension; use one of "
            f"{known}, or set data.path to a builder (csv, json, ...) and "
            "data.data_files to the file"
        )
    _refuse_files_beside_a_file(spec)
    builder, options = FILE_BUILDERS[file.suffix.lower()]
    kwargs.update(options, data_files=str(file))
    return builder


def _label_folder(spec: DataSpec, task: Task) -> tuple[str, str] | None:
    """(folder, its recipe key) when the labels come from folder names (the modality's folder
    builder, such as imagefolder), else None."""
    builder = task.modality.folder_builder
    if builder is None or LABEL in spec.columns:
        return None
    if spec.data_dir and spec.path == builder:
        return spec.data_dir, "data.data_dir"
    if Path(spec.path).expanduser().is_dir():
        return spec.path, "data.path"
    return None


def _check_folder_labels(raw: datasets.DatasetDict, spec: DataSpec, task: Task) -> None:
    """An image folder whose layout gave no labels, or labels from the wrong folder level: say
    what was found (one error, or a warning where the layout may be meant)."""
    from hfft.image_folders import explain_missing_labels, subfolders_as_labels

    found = _label_folder(spec, task)
    train = raw.get(spec.train_split)
    if found is None or train is None:
        return
    if not any(c in train.column_names for c in LABEL_ALIASES):
        reason = explain_missing_labels(*found)
        if reason:
            raise DataError(reason)
    elif isinstance(train.features.get("label"), datasets.ClassLabel):
        warning = subfolders_as_labels(*found)
        if warning:
            log.warning(warning)


def _is_builder(path: str) -> bool:
    """A datasets packaged builder (imagefolder, csv, json, parquet...), not a dataset."""
    return path in builder_names() and not Path(path).exists()


def pick_splits(raw: datasets.DatasetDict, spec: DataSpec) -> dict[str, datasets.Dataset]:
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


def load_split(
    spec: DataSpec, task: Task, split: str, label_names: Sequence[str]
) -> datasets.Dataset:
    """One split of a dataset, standardised and encoded with a trained model's label names. A
    dataset with a single split (a CSV file, a flat image folder) gives that split."""
    if spec.streaming:
        from hfft.streaming import stream_split

        return stream_split(spec, task, split, list(label_names))
    raw = _load(spec, task)
    if split in raw:
        ds = raw[split]
    elif len(raw) == 1:
        ds = next(iter(raw.values()))
    else:
        raise DataError(
            f"split '{split}' not found{did_you_mean(split, list(raw))}; the dataset has splits "
            f"{list(raw)}"
        )
    ds = standardize_columns(ds, spec.columns, task, split)
    # The labels as the model's scheme reads them (lists of labels for a multi-label model).
    claimed = task.labels.resolve({split: ds}, spec) if task.labels.resolve else ("", {split: ds})
    if claimed is None:
        raise DataError(
            f"the {split} split holds one label per row, but the model is {task.labels.name}: "
            "give it lists of labels (or set data.multi_label: true / data.label_separator)"
        )
    ds = drop_bad_examples(claimed[1], task.modality, spec.on_bad_example)[split]
    return task.labels.encode_with(ds, label_names, split)
