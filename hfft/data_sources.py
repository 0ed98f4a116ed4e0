"""Where a recipe's data comes from: `datasets.load_dataset` with the recipe's arguments
(checked first: a builder without files, a missing path, a data file as data.path), a
`save_to_disk` folder, or a format the task's modality reads itself; and which of its splits
are train, validation and test."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import datasets

from hfft.errors import DataError, did_you_mean, first_line
from hfft.local_paths import looks_like_local_path
from hfft.redact import builder_names

if TYPE_CHECKING:
    from hfft.recipe import DataSpec
    from hfft.tasks import Task

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


def load_raw(spec: DataSpec, task: Task) -> datasets.DatasetDict:
    """The dataset's splits as loaded, before anything is standardised."""
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


def one_split(raw: Any, split: str) -> Any:
    """The split named `split` of loaded splits (datasets or streams); a dataset with a single
    split (a CSV file, a flat image folder) gives that split."""
    if split in raw:
        return raw[split]
    if len(raw) == 1:
        return next(iter(raw.values()))
    raise DataError(
        f"split '{split}' not found{did_you_mean(split, list(raw))}; the dataset has splits "
        f"{list(raw)}"
    )
