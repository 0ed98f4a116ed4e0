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
from collections.abc import Sequence
from pathlib import Path

import datasets

from hfft.bad_examples import BadExample, drop_bad_examples, find_bad_examples
from hfft.columns import LABEL, LABEL_ALIASES, standardize_columns
from hfft.data_sources import load_raw, one_split, pick_splits
from hfft.errors import DataError
from hfft.loaded_data import LoadedData
from hfft.model_split import for_model
from hfft.recipe import DataSpec
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

log = logging.getLogger("hfft")


def load_data(spec: DataSpec, task: Task) -> LoadedData:
    """Load, standardise, check, label-encode and split a dataset as the recipe describes.

    Problems are collected across splits (a column missing from two splits, unusable examples,
    labels only some splits have) and raised together as one `PreflightError`. With
    data.streaming the train split is a stream (hfft.streaming)."""
    from hfft.problems import Problems

    if spec.streaming:
        from hfft.streaming import load_streamed

        return load_streamed(spec, task)
    raw = load_raw(spec, task)
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


def load_split(
    spec: DataSpec, task: Task, split: str, label_names: Sequence[str]
) -> datasets.Dataset:
    """One split of a dataset, standardised and encoded with a trained model's label names. A
    dataset with a single split (a CSV file, a flat image folder) gives that split."""
    if spec.streaming:
        from hfft.streaming import stream_split

        return stream_split(spec, task, split, list(label_names))
    ds = standardize_columns(one_split(load_raw(spec, task), split), spec.columns, task, split)
    return for_model(ds, spec, task, split, label_names)
