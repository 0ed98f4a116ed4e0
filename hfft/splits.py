"""Carving held-out splits out of train (stratified, seeded), and checking that what is left
can be learned: every class of a held-out split has training rows, most classes have two or more.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import datasets

from hfft.errors import DataError

log = logging.getLogger("hfft")
MAX_NAMED = 10


# `spec` below is the recipe's `data:` section (hfft.recipe.DataSpec), not imported even for
# typing: hfft.recipe loads the tasks, whose label schemes use this module.
def carve_missing_splits(
    splits: dict[str, datasets.Dataset],
    spec: Any,
    carve: Callable[..., Any] | None = None,
) -> dict[str, datasets.Dataset]:
    """Carve test (when asked) and validation (when missing) out of train, seeded, stratified as
    `carve` (the label scheme's; by default single-label `split_off`) does."""
    carve = carve or split_off
    if "test" not in splits and spec.test_fraction > 0:
        splits["train"], splits["test"] = carve(
            splits["train"], spec.test_fraction, spec.seed, "test"
        )
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
        splits["train"], splits["validation"] = carve(
            splits["train"], min(fraction, 0.5), spec.seed, "validation"
        )
    return splits


def split_off(
    ds: datasets.Dataset, fraction: float, seed: int, name: str
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """(the rest, a held-out `name` split of about `fraction` of the rows), stratified by label.

    Stratifying needs two rows of a class: classes with a single row stay in train and the
    others are stratified. When even that cannot be done (fewer held-out rows than classes),
    the split is random, and the log says so."""
    if len(ds) < 2:
        raise DataError(f"the train split has {len(ds)} row(s): too few to carve a held-out split")
    try:
        # The common case first, exactly as before: the same seed carves the same rows.
        parts = ds.train_test_split(test_size=fraction, stratify_by_column="label", seed=seed)
        return parts["train"], parts["test"]
    except ValueError as err:
        reason = str(err)
    labels = list(ds["label"])
    counts = Counter(labels)
    single = sorted(c for c, n in counts.items() if n == 1)
    rest = ds.select([i for i, label in enumerate(labels) if counts[label] > 1])
    alone = ds.select([i for i, label in enumerate(labels) if counts[label] == 1])
    # As many held-out rows as the fraction of the whole split asks (datasets' rounding), drawn
    # from the rest.
    held = min(math.ceil(fraction * len(ds)), len(rest) - 1)
    if single and held >= 1:
        names = ds.features["label"].names
        try:
            parts = rest.train_test_split(test_size=held, stratify_by_column="label", seed=seed)
            log.info(
                "%s split: %d class(es) have a single row (%s) and stay in train; the other %d "
                "classes are stratified",
                name,
                len(single),
                _named([names[c] for c in single]),
                len(counts) - len(single),
            )
            return datasets.concatenate_datasets([parts["train"], alone]), parts["test"]
        except ValueError as err:
            reason = str(err)
        # Random, but the single-row classes still stay in train: they have nothing to spare.
        parts = rest.train_test_split(test_size=held, seed=seed)
        _say_random(name, reason, held, len(counts) - len(single), len(single))
        return datasets.concatenate_datasets([parts["train"], alone]), parts["test"]
    parts = ds.train_test_split(test_size=fraction, seed=seed)
    _say_random(name, reason, len(parts["test"]), len(counts), 0)
    return parts["train"], parts["test"]


def _say_random(name: str, reason: str, held: int, classes: int, single: int) -> None:
    """Log why a held-out split was carved at random, and what to do about it."""
    kept = f" ({single} single-row class(es) stay in train)" if single else ""
    if held < classes:
        # The usual cause: the split is too small to hold every class once.
        log.warning(
            "the %s split gets %d row(s) for %d classes, too few to hold one of each, so it was "
            "carved at random%s: raise data.%s_fraction, or give the dataset its own %s split",
            name,
            held,
            classes,
            kept,
            name,
            name,
        )
        return
    log.warning(
        "could not stratify the %s split (%s): carved it at random%s, so its class mix may "
        "differ from train's",
        name,
        reason.rstrip("."),
        kept,
    )


def check_class_coverage(splits: dict[str, datasets.Dataset], names: Sequence[str]) -> None:
    """Refuse labels a model cannot learn: a held-out class with no training row (left after
    carving), or a label column where most classes have fewer than 2 training rows (a per-row
    id or a free-text column mapped as the label)."""
    train = Counter(splits["train"]["label"])
    rare = [c for c in range(len(names)) if train[c] < 2]
    if rare and len(rare) > len(names) / 2:
        rows = sum(len(ds) for ds in splits.values())
        raise DataError(
            f"the label column has {len(names)} classes on {rows} rows, and {len(rare)} of them "
            f"have fewer than 2 training rows (e.g. {_named([names[c] for c in rare][:5])}): a "
            "model cannot learn them. Is data.columns.label the right column? (A value per row "
            "looks like an id.) If it is, gather more rows per class"
        )
    for split, ds in splits.items():
        if split == "train":
            continue
        missing = sorted({names[c] for c in set(ds["label"]) if train[c] == 0})
        if missing:
            raise DataError(
                f"class(es) {_named(missing)} have rows in the {split} split but no training row "
                f"left after carving it out of train (too few rows of them): add rows of those "
                "classes, drop them, or give the dataset its own split"
            )


def _named(values: Sequence[str]) -> str:
    more = f" and {len(values) - MAX_NAMED} more" if len(values) > MAX_NAMED else ""
    return f"{list(values[:MAX_NAMED])}{more}"
