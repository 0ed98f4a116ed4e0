"""The multi-label scheme: a set of labels per example (an empty set is valid), encoded as a 0/1
vector over every label, BCE with logits (`problem_type: multi_label_classification`),
iterative stratification, per-label thresholds chosen on validation, and the metrics of
`hfft.tasks.multi_label_metrics`.

A run is multi-label when its label column holds lists (of names or ids: JSON, JSON lines and
parquet list columns, a `datasets` Sequence(ClassLabel)), when `data.label_separator` splits a
string column, or when `data.columns.label` lists 0/1 columns (one per label, named by the
column). `data.multi_label: true|false` forces the choice (`resolve`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hfft.errors import DataError, RecipeError
from hfft.run_files import LABEL_CONFUSION_FILE, PER_LABEL_F1_FILE, THRESHOLDS_FILE
from hfft.tasks.multi_label_metrics import STANDARD_METRICS, scheme_metrics
from hfft.tasks.multi_label_plots import plot
from hfft.tasks.task import LabelScheme
from hfft.tasks.thresholds import DEFAULT_THRESHOLD, MIN_POSITIVES

if TYPE_CHECKING:
    import datasets

log = logging.getLogger("hfft")
MAX_NAMED = 10


def _named(values: Sequence[Any]) -> str:
    more = f" and {len(values) - MAX_NAMED} more" if len(values) > MAX_NAMED else ""
    return f"{list(values[:MAX_NAMED])}{more}"


# ------------------------------------------------------------------ which data is multi-label


def resolve(
    splits: dict[str, datasets.Dataset], spec: Any
) -> tuple[str, dict[str, datasets.Dataset]] | None:
    """(why the data is multi-label, the splits with a list of labels per row) or None when it is
    single-label. Contradictory settings are one clear error."""
    forced = getattr(spec, "multi_label", None)
    separator = getattr(spec, "label_separator", None)
    columns = (getattr(spec, "columns", None) or {}).get("label")
    if isinstance(columns, list):
        if forced is False:
            raise RecipeError(
                "data.columns.label lists 0/1 columns (one per label), which only a multi-label "
                "run reads, but data.multi_label is false: map one label column, or drop "
                "data.multi_label"
            )
        if separator is not None:
            raise RecipeError(
                "data.label_separator splits one string column, but data.columns.label lists "
                "0/1 columns: remove data.label_separator"
            )
        out = {name: _from_indicators(ds, columns, name) for name, ds in splits.items()}
        return f"data.columns.label lists {len(columns)} 0/1 columns", out
    lists = [name for name, ds in splits.items() if _holds_lists(ds)]
    if separator is not None:
        if forced is False:
            raise RecipeError(
                "data.label_separator splits labels for a multi-label run, but data.multi_label "
                "is false: remove one of them"
            )
        if lists:
            raise DataError(
                f"data.label_separator {separator!r} splits a string label column, but the "
                f"{lists[0]} split's label column holds lists already: remove "
                "data.label_separator"
            )
        out = {name: _split_strings(ds, separator, name) for name, ds in splits.items()}
        return f"data.label_separator {separator!r} splits the label column", out
    if lists:
        if forced is False:
            raise DataError(
                f"the label column of the {lists[0]} split holds lists of labels (multi-label "
                "data), but data.multi_label is false: set it to true, or remove it"
            )
        out = {name: _as_lists(ds, name, lists[0]) for name, ds in splits.items()}
        return "the label column holds lists of labels", out
    if forced:
        out = {name: _as_lists(ds, name, None) for name, ds in splits.items()}
        return "data.multi_label is true", out
    return None


def _list_feature(feature: Any) -> bool:
    import datasets

    return isinstance(feature, datasets.List | datasets.LargeList)


def _holds_lists(ds: datasets.Dataset) -> bool:
    """A list-typed label column, or a mixed JSON one (datasets' `Json`) with a list in it."""
    import datasets

    feature = ds.features["label"]
    if _list_feature(feature):
        return True
    return isinstance(feature, datasets.Json) and any(isinstance(v, list) for v in ds["label"])


def _with_labels(ds: datasets.Dataset, labels: list[Any]) -> datasets.Dataset:
    return ds.remove_columns("label").add_column("label", labels)


def _as_lists(ds: datasets.Dataset, split: str, listed: str | None) -> datasets.Dataset:
    """The split with a list of labels per row. A list column stays as it is (ClassLabel ids
    keep their names); in a mixed column every value must be a list (or null: a bad example);
    `listed` is the split whose lists made the run multi-label (None: data.multi_label forced
    it, and a plain value is a one-label list)."""
    feature = ds.features["label"]
    if _list_feature(feature):
        return ds
    values = list(ds["label"])
    if listed is not None:
        row, value = next(
            ((i, v) for i, v in enumerate(values) if v is not None and not isinstance(v, list)),
            (None, None),
        )
        if row is not None:
            where = "" if listed == split else f" (the {listed} split's holds lists)"
            raise DataError(
                f"the label column of the {split} split mixes lists and single values{where}: "
                f"row {row} holds {value!r} ({type(value).__name__}); a multi-label column "
                "holds a list of labels in every row ([] for none)"
            )
        return _with_labels(ds, values)
    return _with_labels(ds, [v if v is None or isinstance(v, list) else [v] for v in values])


def _split_strings(ds: datasets.Dataset, separator: str, split: str) -> datasets.Dataset:
    """Each string split on `separator` into stripped, non-empty labels; an empty cell (read as
    null) is no label at all."""
    values = list(ds["label"])
    bad = next(((i, v) for i, v in enumerate(values) if v is not None and not isinstance(v, str)),
               None)  # fmt: skip
    if bad is not None:
        row, value = bad
        raise DataError(
            f"data.label_separator {separator!r} splits strings, but the {split} split's label "
            f"column holds {value!r} ({type(value).__name__}) in row {row}: map a string column, "
            "or remove data.label_separator"
        )
    labels = [
        [] if v is None else [part.strip() for part in v.split(separator) if part.strip()]
        for v in values
    ]
    return _with_labels(ds, labels)


def _from_indicators(ds: datasets.Dataset, columns: list[str], split: str) -> datasets.Dataset:
    """The 0/1 columns of data.columns.label (packed into one row vector by the data loader) ->
    the names of the columns that hold 1. A missing value leaves the row without a label."""
    labels = []
    for row, vector in enumerate(ds["label"]):
        if any(v is None for v in vector):
            labels.append(None)
            continue
        for column, value in zip(columns, vector, strict=True):
            if isinstance(value, bool) or value in (0, 1):
                continue
            raise DataError(
                f"column {column!r} of data.columns.label holds {value!r} in the {split} split "
                f"(row {row}); those columns must hold 0 or 1 (one column per label): fix the "
                "column or leave it out of data.columns.label"
            )
        labels.append([c for c, v in zip(columns, vector, strict=True) if v == 1])
    return _with_labels(ds, labels)


# ------------------------------------------------------------------ encoding


def _strings(ds: datasets.Dataset, split: str) -> list[list[str]]:
    """Each row's labels as names (ClassLabel ids through their names)."""
    import datasets

    feature = ds.features["label"]
    inner = getattr(feature, "feature", None)
    rows = list(ds["label"])
    if any(v is None for v in rows):
        raise DataError(f"the {split} split has rows with no label: drop or fill them")
    if isinstance(inner, datasets.ClassLabel):
        return [[inner.int2str(v) for v in row] for row in rows]
    kinds = {type(v).__name__ for row in rows for v in row}
    if kinds - {"str", "int"} or len(kinds) > 1:
        raise DataError(
            f"the label lists of the {split} split must hold label names or integer ids, found "
            f"{sorted(kinds)}"
        )
    return [[str(v) for v in row] for row in rows]


def label_names(train: datasets.Dataset) -> list[str]:
    """Every label a train row has: ClassLabel order for ids, else sorted (integers as
    numbers)."""
    import datasets

    inner = getattr(train.features["label"], "feature", None)
    rows = _strings(train, "train")
    present = {name for row in rows for name in row}
    if not present:
        raise DataError(
            "no train row has a label: a multi-label model needs rows with labels to learn from"
        )
    if isinstance(inner, datasets.ClassLabel):
        absent = [name for name in inner.names if name not in present]
        if absent:
            log.info("the dataset declares label(s) %s that no train row has; the model gets "
                     "the %d that train has", _named(absent), len(present))  # fmt: skip
        return [name for name in inner.names if name in present]
    if all(isinstance(v, int) for row in train["label"] for v in row):
        return [str(v) for v in sorted(int(name) for name in present)]
    return sorted(present)


def encode(
    splits: dict[str, datasets.Dataset],
) -> tuple[list[str], dict[str, datasets.Dataset]]:
    """Label names from train, and every split's labels as 0/1 vectors over them; a label some
    held-out split has and train lacks is an error (every split checked, reported together)."""
    from hfft.preflight import Problems

    names = label_names(splits["train"])
    problems = Problems()
    encoded = {}
    for split, ds in splits.items():
        with problems.collect():
            encoded[split] = encode_with(ds, names, split, against="train")
    problems.raise_if_any()
    return names, encoded


def encode_with(
    ds: datasets.Dataset, names: Sequence[str], split: str, against: str = "model"
) -> datasets.Dataset:
    """A split's labels as float 0/1 vectors over `names` (a trained model's, or train's): the
    targets BCE with logits takes."""
    import datasets

    index = {name: i for i, name in enumerate(names)}
    rows = _strings(ds, split)
    unseen = sorted({name for row in rows for name in row} - set(index))
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
            f"(train labels: {shown}); a model cannot learn a label it never sees: fix the data "
            "or drop those rows"
        )
    vectors = np.zeros((len(rows), len(names)), dtype=np.float32)
    for i, row in enumerate(rows):
        vectors[i, [index[name] for name in row]] = 1.0
    feature = datasets.List(datasets.Value("float32"), length=len(names))
    ds = ds.remove_columns("label").add_column("label", vectors.tolist())
    return ds.cast_column("label", feature)


def _matrix(ds: datasets.Dataset) -> np.ndarray:
    """The encoded labels of a split as a (rows, labels) 0/1 matrix."""
    return (np.asarray(ds.with_format("numpy")["label"]) >= 0.5).astype(np.int64)


# ------------------------------------------------------------------ splits and coverage


def carve(
    ds: datasets.Dataset, fraction: float, seed: int, name: str
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """(the rest, a held-out `name` split of about `fraction` of the rows), stratified by label
    with iterative stratification (Sechidis et al. 2011, `iterative-stratification`), which keeps
    each label's share, rare ones included; random (and said so) when that cannot be done."""
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    if len(ds) < 2:
        raise DataError(f"the train split has {len(ds)} row(s): too few to carve a held-out split")
    try:
        splitter = MultilabelStratifiedShuffleSplit(
            n_splits=1, test_size=fraction, random_state=seed
        )
        kept, held = next(splitter.split(np.zeros(len(ds)), _matrix(ds)))
    except ValueError as err:
        log.warning(
            "could not stratify the %s split by label (%s): carved it at random, so its label "
            "mix may differ from train's",
            name,
            str(err).rstrip("."),
        )
        parts = ds.train_test_split(test_size=fraction, seed=seed)
        return parts["train"], parts["test"]
    log.info("%s split: %d rows carved from train by iterative stratification", name, len(held))
    return ds.select(sorted(kept)), ds.select(sorted(held))


def check_coverage(splits: dict[str, datasets.Dataset], names: Sequence[str]) -> None:
    """Refuse a held-out label without training rows (left after carving)."""
    train = _matrix(splits["train"]).sum(axis=0)
    for split, ds in splits.items():
        if split == "train" or len(ds) == 0:
            continue
        held = _matrix(ds).sum(axis=0)
        missing = [names[j] for j in range(len(names)) if held[j] and not train[j]]
        if missing:
            raise DataError(
                f"label(s) {_named(missing)} have rows in the {split} split but no training row "
                "left after carving it out of train (too few rows of them): add rows of those "
                "labels, drop them, or give the dataset its own split"
            )


def pick_examples(split: datasets.Dataset, n: int) -> list[int]:
    """Up to `n` rows, one label after another, so the demo shows every label it can."""
    matrix = _matrix(split)
    order: list[int] = []
    rows_of = [list(np.flatnonzero(matrix[:, j])) for j in range(matrix.shape[1])]
    while len(order) < min(n, len(split)) and any(rows_of):
        for rows in rows_of:
            while rows and rows[0] in order:
                rows.pop(0)
            if rows and len(order) < n:
                order.append(int(rows.pop(0)))
    order += [i for i in range(len(split)) if i not in order][: max(0, n - len(order))]
    return order


def example_label(label: Sequence[float], names: Sequence[str]) -> str:
    """The labels of one example, comma-separated ("none" for an empty set)."""
    return ", ".join(name for name, v in zip(names, label, strict=True) if v >= 0.5) or "none"


def head_loss(logits: Any, labels: Any) -> Any:
    """BCE with logits on float targets, the loss of transformers' multi-label heads."""
    from torch import nn

    return nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


def predict_fields(
    scores: list[dict[str, Any]], decision: Any, top_k: int, all_scores: bool
) -> dict[str, Any]:
    """The labels whose score reaches their threshold (saved in thresholds.json; 0.5 where
    none is saved), best first; with `all_scores` every label's score and threshold too."""
    thresholds = decision if isinstance(decision, dict) else {}
    cut = {s["label"]: float(thresholds.get(s["label"], DEFAULT_THRESHOLD)) for s in scores}
    out: dict[str, Any] = {"predictions": [s for s in scores if s["score"] >= cut[s["label"]]]}
    if all_scores:
        out["scores"] = [{**s, "threshold": cut[s["label"]]} for s in scores]
    return out


MULTI_LABEL = LabelScheme(
    name="multi-label",
    encode=encode,
    encode_with=encode_with,
    carve=carve,
    check_coverage=check_coverage,
    pick_examples=pick_examples,
    example_label=example_label,
    head_loss=head_loss,
    build_metrics=scheme_metrics,
    plot=plot,
    plots=(("Per-label F1", PER_LABEL_F1_FILE), ("Per-label confusion", LABEL_CONFUSION_FILE)),
    # Every label's sigmoid score (the image pipeline returns 5 unless told).
    usage_kwargs=", top_k={num_labels}",
    model_kwargs={"problem_type": "multi_label_classification"},
    default_metrics=STANDARD_METRICS,
    resolve=resolve,
    decision_file=THRESHOLDS_FILE,
    predict_fields=predict_fields,
    usage_note=(
        "Each label gets its own sigmoid score. A label is predicted when its score reaches its "
        f"threshold in `{THRESHOLDS_FILE}`, chosen on the validation split to maximise that "
        f"label's F1 ({DEFAULT_THRESHOLD} for labels with fewer than {MIN_POSITIVES} validation "
        "examples, or the recipe's fixed `eval.threshold`); `hfft predict` applies them."
    ),
)
