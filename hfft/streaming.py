"""`data.streaming: true`: train from a `datasets.IterableDataset` (Hub streaming, or local
files too large to convert), as the transformers examples do with `streaming=True`.

- The train split stays a stream: shuffled within `data.shuffle_buffer` rows (reshuffled each
  pass through `set_epoch`, which the Trainer calls), labels encoded and rows checked batch by
  batch as it is read, with the label scheme's and the modality's own whole-split functions
  applied to each batch. Training needs `training.max_steps` (a stream has no length); an
  interrupted run resumes from its checkpoint, the Trainer skipping the batches it has seen
  (the same seed gives the same order).
- The preflight reads the first `data.preflight_rows` train rows and checks them as for any run
  (bad examples, label scheme, label names), and says so; a bad row later in the stream stops
  the run with its row number (or is skipped, with `data.on_bad_example: skip`).
- Held-out splits are read once into a scratch Arrow file (memory-mapped, deleted at exit), so
  evaluation, intervals, reports and examples work as for any run. Without a validation split,
  the first `data.max_eval_samples` (default 1,000) train rows are held out.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hfft.errors import DataError

if TYPE_CHECKING:
    import datasets

    from hfft.loaded_data import LoadedData
    from hfft.recipe import DataSpec
    from hfft.tasks import Task

log = logging.getLogger("hfft")

DEFAULT_VALIDATION_ROWS = 1000
# Rows per call of the batch-wise label encoding and checks on the stream.
BATCH_ROWS = 64


def load_streamed(spec: DataSpec, task: Task) -> LoadedData:
    """Splits for a streamed run: train an IterableDataset (labels encoded, rows checked and
    shuffled as it is read), the held-out splits read once into scratch Arrow files; the
    preflight's checks on the first `data.preflight_rows` train rows."""
    import datasets

    from hfft.bad_examples import drop_bad_examples
    from hfft.columns import standardize_columns
    from hfft.data_sources import pick_splits
    from hfft.loaded_data import LoadedData
    from hfft.problems import Problems, each_split
    from hfft.stream_sources import intended_features, materialize, no_scan_cache, open_stream

    picked = pick_splits(open_stream(spec, task), spec)
    problems = Problems()
    standard = {}
    for name, ds in picked.items():
        with problems.collect():
            standard[name] = standardize_columns(ds, spec.columns, task, name)
    problems.raise_if_any()
    train, skipped = standard.pop("train"), 0
    if "validation" not in standard:
        skipped = spec.max_eval_samples or DEFAULT_VALIDATION_ROWS
        log.info("no validation split: the first %d streamed train rows are held out", skipped)
        standard["validation"] = train.take(skipped)
        train = train.skip(skipped)
    target = intended_features(train, task)
    held_out = {k: materialize(ds, spec.max_eval_samples, target) for k, ds in standard.items()}
    checked = {"train": materialize(train, spec.preflight_rows, target), **held_out}
    for name, ds in checked.items():
        if len(ds) == 0 and name == "train" and skipped:
            raise DataError(
                f"the train stream has no rows left after the first {len(checked['validation'])} "
                "held out for validation (data.max_eval_samples): give the dataset a validation "
                "split, or set data.max_eval_samples lower"
            )
        if len(ds) == 0:
            raise DataError(
                f"the {name} split is empty: check data.path/data_files and the split names"
            )
    log.info(
        "streaming: the preflight checks the first %d train rows (data.preflight_rows); later "
        "rows are checked as they stream",
        len(checked["train"]),
    )
    task, reason, checked = task.resolve_labels(checked, spec)
    with no_scan_cache():  # scratch copies: their results would never be read again
        checked = drop_bad_examples(checked, task.modality, spec.on_bad_example)
    names = list(spec.label_names) if spec.label_names else _label_names(task, checked)
    encoded = each_split(
        checked, lambda split, ds: task.labels.encode_with(ds, names, split, against="train")
    )
    for name in ("train", "validation") if skipped else ("train",):
        _warn_if_sorted(encoded[name], name, names, spec.shuffle_buffer)
    if spec.max_train_samples:
        train = train.take(spec.max_train_samples)
    stream = _encoded_stream(train, task, spec, names, encoded["train"].features, skipped)
    splits = datasets.DatasetDict({"train": stream, **{k: encoded[k] for k in held_out}})
    return LoadedData(splits, names, task, reason, checked_train=encoded["train"])


def _label_names(task: Task, checked: dict[str, datasets.Dataset]) -> list[str]:
    """The label names the checked rows give (a ClassLabel's whole list where the data declares
    one): train's first rows and the held-out splits together."""
    import datasets

    try:
        pool = datasets.concatenate_datasets(list(checked.values()))
    except ValueError:  # held-out splits typed differently: train's rows alone
        pool = checked["train"]
    names, _ = task.labels.encode({"train": pool})
    return names


def _warn_if_sorted(rows: datasets.Dataset, split: str, names: list[str], buffer: int) -> None:
    """A stream in label order (files listed class by class) cannot be mixed by a shuffle
    buffer smaller than a class, and its first rows held out are one class: say so while it
    can be fixed."""
    if len(names) < 2 or len(rows) < 2 or not isinstance(rows[0]["label"], int):
        return
    seen = set(rows["label"])
    if len(seen) == 1:
        log.warning(
            "the %d %s rows read first from the stream all have the label %r: the stream looks "
            "sorted by label, and a shuffle buffer of %d rows (data.shuffle_buffer) mixes only "
            "neighbours; give the data in random order (or its own validation split), raise "
            "data.shuffle_buffer, or save it with save_to_disk and drop data.streaming",
            len(rows),
            split,
            names[next(iter(seen))],
            buffer,
        )


def _encoded_stream(
    train: datasets.IterableDataset,
    task: Task,
    spec: DataSpec,
    names: list[str],
    features: datasets.Features,
    offset: int,
) -> datasets.IterableDataset:
    """The train stream with its labels encoded and its rows checked as it is read (the same
    functions as the preflight, on each batch), then shuffled; decoding (an image) after the
    shuffle, so the buffer holds encoded bytes, not pixels."""
    import datasets

    raw = train  # undecoded (`open_stream`)
    raw_features = raw.features
    decodes = getattr(features[task.input_column], "decode", False)
    out_features = datasets.Features(
        {k: raw_features[k] if k == task.input_column else v for k, v in features.items()}
    )

    from hfft.stream_sources import quiet_progress

    def encode(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        with quiet_progress():  # datasets' bars for each batch's casts would flood the log
            rows = datasets.Dataset.from_dict(batch, features=raw_features)
            rows = _checked_rows(rows, task, spec, [offset + i for i in indices])
            try:
                claimed = (
                    task.labels.resolve({"train": rows}, spec) if task.labels.resolve else None
                )
                rows = claimed[1]["train"] if claimed else rows
                return task.labels.encode_with(rows, names, "train", against="train").to_dict()
            except DataError as err:
                # The scheme numbers the rows of the batch it was given: say which batch.
                first, last = offset + indices[0], offset + indices[-1]
                raise DataError(
                    f"found while streaming train rows {first}-{last} (a row number below counts "
                    f"from {first}): {err}"
                ) from None

    stream = raw.map(
        encode,
        batched=True,
        batch_size=BATCH_ROWS,
        with_indices=True,
        remove_columns=list(raw_features),
        features=out_features,
    )
    stream = stream.shuffle(seed=spec.seed, buffer_size=spec.shuffle_buffer)
    if not decodes:
        return stream
    # Decoded by an explicit step of the chain: datasets' `.decode(True)` is applied only when
    # rows leave the dataset, not to what the task's own map reads next.
    return stream.map(features.decode_example, features=features)


def _checked_rows(
    rows: datasets.Dataset, task: Task, spec: DataSpec, numbers: list[int]
) -> datasets.Dataset:
    """The batch without its unusable rows (the modality's check, and no label): a DataError
    naming the first with data.on_bad_example: error, a warning per row with skip."""
    view, check = task.modality.scan(rows)
    bad = []
    for i, (value, label) in enumerate(zip(view[task.input_column], view["label"], strict=True)):
        reason = check(value) or ("no label" if label is None else None)
        if reason:
            file = value.get("path") if isinstance(value, dict) else None
            bad.append((i, f"train row {numbers[i]}" + (f" ({file})" if file else "") + ": "
                        + reason))  # fmt: skip
    if not bad:
        return rows
    if spec.on_bad_example == "error":
        raise DataError(
            f"unusable example found while streaming (the preflight checked the first "
            f"{spec.preflight_rows} rows): {bad[0][1]}. Fix or remove it, or set "
            "data.on_bad_example=skip to train without such rows"
        )
    for _, where in bad:
        log.warning("skipped an unusable streamed example (data.on_bad_example=skip): %s", where)
    drop = {i for i, _ in bad}
    return rows.select([i for i in range(len(rows)) if i not in drop])


def stream_split(
    spec: DataSpec, task: Task, split: str, label_names: list[str]
) -> datasets.Dataset:
    """One split of a streamed dataset read into a scratch Arrow file, standardised and encoded
    with a trained model's label names (`hfft eval` on a streaming recipe)."""
    from hfft.columns import standardize_columns
    from hfft.data_sources import one_split
    from hfft.model_split import for_model
    from hfft.stream_sources import intended_features, materialize, no_scan_cache, open_stream

    ds = standardize_columns(one_split(open_stream(spec, task), split), spec.columns, task, split)
    ds = materialize(ds, spec.max_eval_samples, intended_features(ds, task))
    with no_scan_cache():  # a scratch copy: its scan result would never be read again
        return for_model(ds, spec, task, split, label_names)


def fit_loader_workers(args: Any, train: Any, training: dict[str, Any]) -> None:
    """At most one loader worker per shard of a streamed train split, unless the recipe chose:
    datasets gives each worker whole shards, so more would wait idle (a local class folder
    streams as one shard; a Hub dataset as one per parquet file)."""
    from hfft.tasks.lazy_splits import is_stream

    if not is_stream(train) or "dataloader_num_workers" in training:
        return
    shards = train.n_shards
    if args.dataloader_num_workers > shards:
        log.info(
            "streaming: %d loader worker(s), one per shard of the stream (not %d)",
            shards,
            args.dataloader_num_workers,
        )
        args.dataloader_num_workers = shards
