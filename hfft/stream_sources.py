"""Where a streamed run's rows come from (data.streaming, hfft.streaming): the dataset opened
as undecoded streams, local class folders in a seeded file order, and the first rows of a
stream read into a scratch Arrow file."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hfft.errors import DataError

if TYPE_CHECKING:
    import datasets

    from hfft.recipe import DataSpec
    from hfft.tasks import Task

# Scratch folders of this process's materialised splits; deleted at exit.
_SCRATCH: list[tempfile.TemporaryDirectory] = []


def open_stream(spec: DataSpec, task: Task) -> datasets.IterableDatasetDict:
    """The dataset's splits as streams: `load_dataset(..., streaming=True)`; data that loads
    without it (a `save_to_disk` folder, a format the modality reads itself) read as
    IterableDatasets. Features resolved: CSV/JSON streams declare none until read."""
    import datasets

    from hfft.data_sources import load_arguments, load_whole
    from hfft.errors import first_line

    whole = load_whole(spec, task)
    if whole is not None:
        loaded: Any = datasets.IterableDatasetDict(
            {name: ds.to_iterable_dataset(num_shards=_shards(ds)) for name, ds in whole.items()}
        )
    else:
        path, kwargs = _in_random_file_order(spec, task, *load_arguments(spec, task))
        try:
            loaded = datasets.load_dataset(path, streaming=True, **kwargs)
        except (FileNotFoundError, ValueError, ConnectionError, OSError) as err:
            raise DataError(
                f"could not stream dataset '{spec.path}' ({type(err).__name__}: "
                f"{first_line(err)}); data.path takes a Hub dataset id, a local folder or data "
                "file, or a builder such as imagefolder/csv/json/parquet with data.data_dir or "
                "data.data_files"
            ) from None
    if isinstance(loaded, datasets.IterableDataset):
        loaded = datasets.IterableDatasetDict({"train": loaded})
    # _resolve_features reads the first row: the only way datasets offers for an untyped stream.
    typed = {k: ds if ds.features is not None else ds._resolve_features() for k, ds in
             loaded.items()}  # fmt: skip
    # Undecoded from the start: a map (a renamed column) fixes the decoding of the features it
    # was built on, and what to decode is hfft's choice (`intended_features`).
    return datasets.IterableDatasetDict(
        {k: ds.decode(False) if _decodes(ds.features) else ds for k, ds in typed.items()}
    )


def _decodes(features: datasets.Features) -> bool:
    return any(hasattr(f, "decode") for f in features.values())


def intended_features(stream: datasets.IterableDataset, task: Task) -> datasets.Features:
    """The features a standardised split has without streaming (images decoded, audio left to
    hfft's own decoding): the modality's `cast` of the stream's features with decoding on."""
    import dataclasses

    import datasets

    decoding = datasets.Features(
        {k: dataclasses.replace(f, decode=True) if hasattr(f, "decode") else f for k, f in
         stream.features.items()}
    )  # fmt: skip
    empty = datasets.Dataset.from_dict({k: [] for k in decoding}, features=decoding)
    return task.modality.cast(empty).features


def _in_random_file_order(
    spec: DataSpec, task: Task, path: str, kwargs: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """A local folder whose labels are its folder names (imagefolder, audiofolder) streams its
    files in the order they are listed, one class folder after another, which no shuffle buffer
    smaller than a class can mix: list the files (as datasets does) and give them to the
    builder in an order shuffled with data.seed."""
    import random

    from datasets.data_files import DataFilesDict, get_data_patterns, sanitize_patterns

    builder = task.modality.folder_builder
    local = Path(spec.path).expanduser()
    if builder is None or not (path == builder or local.is_dir()):
        return path, kwargs
    base = spec.data_dir or (str(local) if local.is_dir() else None)
    if base is None and not spec.data_files:
        return path, kwargs
    base = str(Path(base or Path.cwd()).expanduser())
    patterns = sanitize_patterns(spec.data_files) if spec.data_files else get_data_patterns(base)
    try:
        found = DataFilesDict.from_patterns(patterns, base_path=base)
    except FileNotFoundError:  # let load_dataset say what is missing, as without streaming
        return path, kwargs
    files = {str(split): random.Random(spec.seed).sample(list(v), len(v)) for split, v in
             found.items()}  # fmt: skip
    rest = {k: v for k, v in kwargs.items() if k not in ("data_dir", "data_files")}
    return builder, {**rest, "data_files": files}


def _shards(ds: datasets.Dataset) -> int:
    # Shards are what the stream's shuffle permutes, and what loader workers divide among them.
    return max(1, min(len(ds), 64))


def materialize(
    stream: datasets.IterableDataset, limit: int | None, features: datasets.Features
) -> datasets.Dataset:
    """The first `limit` rows (all: None) of an undecoded stream as an Arrow dataset with
    `features`, in a scratch folder of this process (memory-mapped like any dataset, deleted at
    exit). Files are copied as their encoded bytes, not decoded."""
    import datasets

    rows = stream
    if limit is not None:
        rows = rows.take(limit)
    scratch = Path(datasets.config.HF_DATASETS_CACHE) / "hfft-streams"
    scratch.mkdir(parents=True, exist_ok=True)
    folder = tempfile.TemporaryDirectory(prefix="split-", dir=scratch)
    _SCRATCH.append(folder)
    with quiet_progress():
        try:
            return datasets.Dataset.from_generator(
                _rows, gen_kwargs={"stream": rows}, features=features, cache_dir=folder.name
            )
        except ValueError as err:  # datasets refuses to build a split of no rows
            if "corresponds to no data" not in str(err):
                raise
            return datasets.Dataset.from_dict({k: [] for k in features}, features=features)


def _rows(stream: datasets.IterableDataset) -> Iterator[dict[str, Any]]:
    yield from stream


@contextlib.contextmanager
def no_scan_cache() -> Iterator[None]:
    import datasets

    was = datasets.is_caching_enabled()
    datasets.disable_caching()
    try:
        yield
    finally:
        if was:
            datasets.enable_caching()


@contextlib.contextmanager
def quiet_progress() -> Iterator[None]:
    from datasets.utils import logging as datasets_logging

    was = datasets_logging.is_progress_bar_enabled()
    datasets_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            datasets_logging.enable_progress_bar()
