"""The tags scheme: one tag per word (a `tags` column of lists, tag names or the ids of a
`Sequence(ClassLabel)` such as conll2003's `ner_tags`), one tag list shared by every split,
the tagging scheme checked (hfft.tasks.tag_schemes), token-level cross-entropy, the entity
metrics of hfft.tasks.tags_metrics, and entities (not labels) out of `hfft predict`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hfft.errors import DataError
from hfft.run_files import CONFUSION_MATRIX_FILE
from hfft.tasks.tag_schemes import PLAIN, breaks, detect_scheme, entity_types
from hfft.tasks.tag_schemes import order_tags as _order
from hfft.tasks.tags_baselines import fit_baselines
from hfft.tasks.tags_metrics import DEFAULT_METRICS, PER_TYPE_F1_FILE, build_metrics, plot
from hfft.tasks.task import LabelScheme

if TYPE_CHECKING:
    import datasets

log = logging.getLogger("hfft")
TOKENS, LABEL = "tokens", "label"
MAX_LISTED = 5


def _listed(items: Sequence[str], total: int | None = None) -> str:
    total = len(items) if total is None else total
    more = f"; ... and {total - MAX_LISTED} more" if total > MAX_LISTED else ""
    return "; ".join(items[:MAX_LISTED]) + more


def tag_strings(ds: datasets.Dataset, split: str) -> list[list[str]]:
    """Each row's tags as names, checked against its words: one tag per word, ids the column's
    ClassLabel knows. DataError (one line, rows named) otherwise."""
    import datasets

    feature = ds.features[LABEL]
    if not isinstance(feature, datasets.List | datasets.LargeList | datasets.Sequence):
        kind = getattr(feature, "dtype", type(feature).__name__)
        raise DataError(
            f"the tags column of the {split} split holds {kind} values, not lists: "
            "token-classification needs one tag per word (a list of tags per row)"
        )
    inner = feature.feature
    names = inner.names if isinstance(inner, datasets.ClassLabel) else None
    if names is None and str(getattr(inner, "dtype", "")).startswith(("int", "uint")):
        raise DataError(
            f"the tags column of the {split} split holds integer ids without names (no "
            "ClassLabel), so which id is O or B-PER is unknown: give tag names, or a "
            "Sequence(ClassLabel(names=[...])) feature"
        )
    uneven, unknown, out = [], [], []
    for row, (words, tags) in enumerate(zip(ds[TOKENS], ds[LABEL], strict=True)):
        if len(words) != len(tags):
            uneven.append(f"row {row} has {len(words)} words but {len(tags)} tags")
            continue
        strings = []
        for i, tag in enumerate(tags):
            if tag is None:
                unknown.append(f"row {row} word {i} ({words[i]!r}) has no tag")
            elif names is not None and not 0 <= tag < len(names):
                unknown.append(
                    f"row {row} has tag id {tag}, but the tags' ClassLabel has {len(names)} "
                    f"names (ids 0-{len(names) - 1})"
                )
            else:
                strings.append(names[tag] if names is not None else str(tag))
        out.append(strings)
    if uneven:
        raise DataError(
            f"the {split} split has {len(uneven)} row(s) whose words and tags differ in number: "
            f"{_listed(uneven)}; give every word exactly one tag"
        )
    if unknown:
        raise DataError(f"unknown tags in the {split} split: {_listed(unknown)}; fix the data")
    return out


def _declared(ds: datasets.Dataset) -> list[str] | None:
    import datasets

    inner = getattr(ds.features[LABEL], "feature", None)
    return list(inner.names) if isinstance(inner, datasets.ClassLabel) else None


def encode(
    splits: dict[str, datasets.Dataset],
) -> tuple[list[str], dict[str, datasets.Dataset]]:
    """Give every split the same tag list (a ClassLabel's names in its order, else tag names
    ordered O first, then by entity type), check that held-out splits use only tags train has,
    and list sequences that break the tagging scheme (data.repair_tags repairs them)."""
    from hfft.problems import Problems, each_split

    strings = each_split(splits, lambda split, ds: tag_strings(ds, split))
    in_train = {t for row in strings["train"] for t in row}
    names = _declared(splits["train"]) or _order(in_train)
    scheme = detect_scheme(names)
    broken = {split: _breaks(rows, scheme) for split, rows in strings.items()}
    # repair writes a B-X (IOBES: also E-X, S-X) for an entity type that may only have I-X
    added = []
    if any(broken.values()) and scheme != PLAIN:
        added = [t for t in _order(_completed(names, scheme)) if t not in names]
        names += added
    problems = Problems()
    for split, rows in strings.items():
        if split == "train":
            continue
        with problems.collect():
            unseen = sorted({t for row in rows for t in row} - in_train)
            if unseen:
                raise DataError(
                    f"tag(s) {unseen[:10]} appear in the {split} split but not in train (train "
                    f"tags: {_order(in_train)[:20]}); a model cannot learn a tag it never sees: "
                    "fix the data or drop those rows"
                )
    problems.raise_if_any()
    _log_scheme(names, scheme, broken, added)
    return names, {split: _with_ids(splits[split], rows, names) for split, rows in strings.items()}


def _breaks(rows: list[list[str]], scheme: str) -> list[str]:
    found = []
    for row, tags in enumerate(rows):
        for i, tag, before in breaks(tags, scheme):
            found.append(f"row {row} word {i}: {tag} after {before}")
    return found


def _completed(names: Sequence[str], scheme: str) -> set[str]:
    letters = {"IOB2": "BI", "IOBES": "BIES", "BILOU": "BILU"}[scheme]
    return {f"{letter}-{kind}" for kind in entity_types(names) for letter in letters}


def _log_scheme(
    names: list[str], scheme: str, broken: dict[str, list[str]], added: list[str]
) -> None:
    kinds = entity_types(names) if scheme != PLAIN else []
    log.info(
        "tags: %s scheme, %d tags%s",
        scheme,
        len(names),
        f", {len(kinds)} entity types ({', '.join(kinds[:10])})" if kinds else "",
    )
    for split, found in broken.items():
        if found:
            log.warning(
                "%s split: %d tag(s) break the %s scheme (%s); data.repair_tags: true rewrites "
                "them (an I-X after O or after B-Y becomes B-X)",
                split,
                len(found),
                scheme,
                _listed(found),
            )
    if added:
        log.info("tags %s added (no train row has them): repaired sequences need them", added[:10])


def _with_ids(ds: datasets.Dataset, rows: list[list[str]], names: Sequence[str]) -> Any:
    import datasets

    index = {name: i for i, name in enumerate(names)}
    ds = ds.remove_columns(LABEL).add_column(LABEL, [[index[t] for t in row] for row in rows])
    return ds.cast_column(LABEL, datasets.List(datasets.ClassLabel(names=list(names))))


def encode_with(
    ds: datasets.Dataset, names: Sequence[str], split: str, against: str = "model"
) -> datasets.Dataset:
    """Encode a split's tags with a trained model's tag list."""
    rows = tag_strings(ds, split)
    unseen = sorted({t for row in rows for t in row} - set(names))
    if unseen:
        raise DataError(
            f"tag(s) {unseen[:10]} in the {split} split are not among the {against}'s tags "
            f"({list(names[:20])}); it cannot predict them: evaluate on data with its tags"
        )
    return _with_ids(ds, rows, names)


def tags_in(ds: datasets.Dataset) -> set[int]:
    """The tag ids a split's rows use."""
    return {t for row in ds[LABEL] for t in row}


def carve(ds: datasets.Dataset, fraction: float, seed: int, name: str) -> Any:
    """A random held-out split (tag sequences cannot be stratified by one class)."""
    if len(ds) < 2:
        raise DataError(f"the train split has {len(ds)} row(s): too few to carve a held-out split")
    parts = ds.train_test_split(test_size=fraction, seed=seed)
    return parts["train"], parts["test"]


def check_coverage(splits: dict[str, datasets.Dataset], names: Sequence[str]) -> None:
    """Refuse tags of a held-out split that no training row has (left after carving)."""
    train = tags_in(splits["train"])
    for split, ds in splits.items():
        missing = sorted(names[t] for t in tags_in(ds) - train) if split != "train" else []
        if missing:
            raise DataError(
                f"tag(s) {missing[:10]} have rows in the {split} split but no training row left "
                "after carving it out of train (too few rows of them): add rows with those "
                "tags, or give the dataset its own split"
            )


def pick_examples(split: datasets.Dataset, n: int) -> list[int]:
    """Up to `n` rows for the demo, each adding tags the ones before lack (short rows first)."""
    rows = list(enumerate(split[LABEL][:2000]))
    rows.sort(key=lambda item: len(item[1]) if len(item[1]) <= 40 else 1000 + len(item[1]))
    seen: set[int] = set()
    order: list[int] = []
    while len(order) < min(n, len(rows)):
        row, tags = max(
            (item for item in rows if item[0] not in order),
            key=lambda item: len(set(item[1]) - seen),
        )
        order.append(row)
        seen |= set(tags)
    return order


def example_label(tags: Sequence[int], names: Sequence[str]) -> str:
    """The row's tags as text, one per word."""
    return " ".join(names[t] for t in tags)


def head_loss(logits: Any, labels: Any) -> Any:
    """Token-level cross-entropy, -100 ignored: the loss of transformers' token heads."""
    from torch import nn

    return nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100
    )


def predict_kwargs(pipe: Any) -> dict[str, Any]:
    """Entities grouped from the word tags (aggregation "simple"), long texts in windows."""
    from hfft.tasks.tokens import pipeline_windows

    return {"aggregation_strategy": "simple", **pipeline_windows(pipe)}


def entities(output: Any, text: Any) -> list[dict[str, Any]]:
    """`hfft predict`'s entities: type, the text span, its character offsets, the score. A
    group of no characters (a lone space-marker token of a BPE tokenizer) is no entity."""
    found = []
    for entity in sorted(output, key=lambda e: e["start"]):
        start, end = int(entity["start"]), int(entity["end"])
        if end <= start:
            continue
        span = text[start:end] if isinstance(text, str) else entity["word"]
        found.append(
            {
                "label": entity["entity_group"],
                "text": span,
                "start": start,
                "end": end,
                "score": float(entity["score"]),
            }
        )
    return found


def entity_fields(
    found: list[dict[str, Any]], decision: Any, top_k: int, all_scores: bool
) -> dict[str, Any]:
    """A tagger's `hfft predict` line: every entity found (--top-k and --all-scores rank
    labels of a whole input, which a tagger has none of)."""
    return {"predictions": found}


TAGS = LabelScheme(
    name="tags",
    encode=encode,
    encode_with=encode_with,
    carve=carve,
    check_coverage=check_coverage,
    pick_examples=pick_examples,
    example_label=example_label,
    head_loss=head_loss,
    build_metrics=build_metrics,
    plot=plot,
    plots=(("Per-type F1", PER_TYPE_F1_FILE), ("Tag confusion matrix", CONFUSION_MATRIX_FILE)),
    usage_kwargs=', aggregation_strategy="simple"',
    default_metrics=DEFAULT_METRICS,
    aliases=("tags", "ner_tags", "labels", "label", "tag", "ner"),
    predict_kwargs=predict_kwargs,
    read_output=entities,
    predict_fields=entity_fields,
    baselines=fit_baselines,
    token_level=True,
    example_unit="sentences",
)
