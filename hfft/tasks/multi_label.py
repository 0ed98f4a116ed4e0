"""The multi-label scheme: a set of labels per example (an empty set is valid), encoded as a 0/1
vector over every label, BCE with logits (`problem_type: multi_label_classification`),
iterative stratification, per-label thresholds chosen on validation, and the metrics of
`hfft.tasks.multi_label_metrics`.

A run is multi-label when its label column holds lists (of names or ids: JSON, JSON lines and
parquet list columns, a `datasets` Sequence(ClassLabel)), when `data.label_separator` splits a
string column, or when `data.columns.label` lists 0/1 columns (one per label, named by the
column). `data.multi_label: true|false` forces the choice (`hfft.tasks.multi_label_formats`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hfft.errors import DataError
from hfft.run_files import LABEL_CONFUSION_FILE, PER_LABEL_F1_FILE, THRESHOLDS_FILE
from hfft.tasks.multi_label_baselines import fit_baselines
from hfft.tasks.multi_label_formats import resolve
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
    from hfft.problems import each_split

    names = label_names(splits["train"])
    encoded = each_split(splits, lambda split, ds: encode_with(ds, names, split, against="train"))
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
    baselines=fit_baselines,
    usage_note=(
        "Each label gets its own sigmoid score. A label is predicted when its score reaches its "
        f"threshold in `{THRESHOLDS_FILE}`, chosen on the validation split to maximise that "
        f"label's F1 ({DEFAULT_THRESHOLD} for labels with fewer than {MIN_POSITIVES} validation "
        "examples, or the recipe's fixed `eval.threshold`); `hfft predict` applies them."
    ),
)
