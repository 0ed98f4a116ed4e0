"""The single-label scheme: one class per example, a `ClassLabel` shared by every split,
stratified carving, cross-entropy, and the classification metrics of
`hfft.tasks.single_label_metrics`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hfft.errors import DataError, RecipeError
from hfft.run_files import CONFUSION_MATRIX_FILE
from hfft.tasks.single_label_baselines import fit_baselines
from hfft.tasks.single_label_metrics import DEFAULT_METRICS, plot, scheme_metrics
from hfft.tasks.task import LabelScheme

if TYPE_CHECKING:
    import datasets

log = logging.getLogger("hfft")


def encode(
    splits: dict[str, datasets.Dataset],
) -> tuple[list[str], dict[str, datasets.Dataset]]:
    """Give every split the same `ClassLabel` (names from train) and check no split has labels
    that train lacks (every split checked, problems reported together). Names come from a
    ClassLabel, else sorted strings, else sorted integers."""
    from hfft.problems import each_split

    names = label_names(splits["train"])
    encoded = each_split(splits, lambda split, ds: encode_with(ds, names, split, against="train"))
    return names, encoded


def encode_with(
    ds: datasets.Dataset, names: Sequence[str], split: str, against: str = "model"
) -> datasets.Dataset:
    """Encode a split's labels as the class ids of `names`: a trained model's (`against=
    "model"`, data evaluated against it) or the train labels (`against="train"`)."""
    import datasets

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


def label_names(train: datasets.Dataset) -> list[str]:
    """The class names of a train split, in class-id order."""
    import datasets

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
    dtype = getattr(ds.features["label"], "dtype", None) or ""
    if dtype.startswith("float") and all(v is None or float(v).is_integer() for v in values):
        return [None if v is None else int(v) for v in values]
    return values


def _label_strings(ds: datasets.Dataset, split: str) -> list[str]:
    import datasets

    feature = ds.features["label"]
    values = _label_values(ds)
    if any(v is None for v in values):
        raise DataError(f"the {split} split has rows with no label: drop or fill them")
    if isinstance(feature, datasets.ClassLabel):
        return [feature.int2str(v) for v in values]
    return [str(v) for v in values]


def resolve(splits: dict[str, datasets.Dataset], spec: Any) -> tuple[str, dict] | None:
    """Single-label data: one label per row. Multi-label settings (tried first by a task that
    has that scheme) are refused here, for a task that has none."""
    columns = (getattr(spec, "columns", None) or {}).get("label")
    asked = [
        key
        for key, on in (
            ("data.multi_label", getattr(spec, "multi_label", None)),
            ("data.label_separator", getattr(spec, "label_separator", None) is not None),
            ("data.columns.label as a list", isinstance(columns, list)),
        )
        if on
    ]
    if asked:
        raise RecipeError(f"{asked[0]} asks for multi-label labels, which this task lacks")
    forced = getattr(spec, "multi_label", None) is False
    return ("data.multi_label is false" if forced else "one label per row"), splits


def carve(ds: datasets.Dataset, fraction: float, seed: int, name: str) -> Any:
    """A held-out split stratified by class (see `hfft.splits.split_off`)."""
    from hfft.splits import split_off

    return split_off(ds, fraction, seed, name)


def check_coverage(splits: dict[str, datasets.Dataset], names: Sequence[str]) -> None:
    """Refuse classes a model cannot learn (see `hfft.splits.check_class_coverage`)."""
    from hfft.splits import check_class_coverage

    check_class_coverage(splits, names)


def pick_examples(split: datasets.Dataset, n: int) -> list[int]:
    """Up to `n` rows, one class after another, so the demo shows every class it can."""
    by_class: dict[int, list[int]] = {}
    for row, label in enumerate(split["label"]):
        by_class.setdefault(label, []).append(row)
    order: list[int] = []
    while len(order) < min(n, len(split)):
        for rows in by_class.values():
            if rows and len(order) < n:
                order.append(rows.pop(0))
    return order


def example_label(label: int, names: Sequence[str]) -> str:
    return names[label]


def head_loss(logits: Any, labels: Any) -> Any:
    """Cross-entropy, the loss of transformers' single-label classification heads."""
    from torch import nn

    return nn.functional.cross_entropy(logits, labels)


SINGLE_LABEL = LabelScheme(
    name="single-label",
    encode=encode,
    encode_with=encode_with,
    carve=carve,
    check_coverage=check_coverage,
    pick_examples=pick_examples,
    example_label=example_label,
    head_loss=head_loss,
    build_metrics=scheme_metrics,
    plot=plot,
    plots=(("Confusion matrix", CONFUSION_MATRIX_FILE),),
    usage_kwargs=", top_k=5",
    default_metrics=DEFAULT_METRICS,
    resolve=resolve,
    baselines=fit_baselines,
)
