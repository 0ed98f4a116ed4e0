"""The boxes scheme: per image, a list of boxes with one category each (an `objects` column of
{"bbox": [...], "category": [...]}, cppe-5's shape; categories as names or `ClassLabel` ids).

Boxes are converted once from `data.bbox_format` to absolute corners and every one is checked
against its image (hfft.tasks.box_formats) when the data loads (`resolve`), before anything
trains. One category list is shared by every split; metrics are COCO mAP
(hfft.tasks.boxes_metrics); `hfft predict` gives boxes with label, score and pixel corners.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hfft.errors import DataError
from hfft.tasks.box_formats import BoxCheck, check_row, slip_hint
from hfft.tasks.boxes_metrics import (
    DEFAULT_METRICS,
    EXAMPLES_FILE,
    PER_CLASS_AP_FILE,
    build_metrics,
    plot,
)
from hfft.tasks.task import LabelScheme

if TYPE_CHECKING:
    import datasets

log = logging.getLogger("hfft")
LABEL, IMAGE = "label", "image"
BOX_KEYS = ("bbox", "bboxes", "boxes", "box")
CATEGORY_KEYS = ("category", "categories", "category_id", "label", "labels", "class")
MAX_LISTED = 10


def _listed(items: Sequence[str]) -> str:
    more = f"; ... and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    return "; ".join(items[:MAX_LISTED]) + more


def _pick(value: dict, keys: Sequence[str], what: str, split: str) -> Any:
    for key in keys:
        if key in value:
            return value[key]
    raise DataError(
        f"the objects of the {split} split have no {what} (keys {sorted(value)}); give each "
        f"image {{'bbox': [[...], ...], 'category': [...]}} (one of {list(keys)} for the {what})"
    )


def _objects(value: Any, split: str) -> tuple[list, list]:
    """(boxes, categories) of one row's objects: a dict of lists, or a list of dicts."""
    if value is None:
        return [], []
    if isinstance(value, list):  # [{"bbox": [...], "category": ...}, ...]
        pairs = [(_pick(o, BOX_KEYS, "boxes", split), _pick(o, CATEGORY_KEYS, "categories", split))
                 for o in value if isinstance(o, dict)]  # fmt: skip
        if len(pairs) != len(value):
            raise DataError(f"the objects column of the {split} split holds {value!r:.80}")
        return [p[0] for p in pairs], [p[1] for p in pairs]
    if not isinstance(value, dict):
        raise DataError(
            f"the objects column of the {split} split holds {type(value).__name__} values "
            f"({value!r:.60}); object-detection reads per image {{'bbox': [...], 'category': "
            "[...]}}"
        )
    boxes = list(_pick(value, BOX_KEYS, "boxes", split) or [])
    categories = _pick(value, CATEGORY_KEYS, "categories", split)
    categories = list(categories or []) if isinstance(categories, list | tuple) else [categories]
    return boxes, categories


def _category_names(ds: datasets.Dataset) -> list[str] | None:
    """The names of a `ClassLabel` category feature, or None."""
    import datasets

    feature = ds.features[LABEL]
    if isinstance(feature, datasets.List | datasets.LargeList | datasets.Sequence):
        feature = feature.feature
    if not isinstance(feature, dict):
        return None
    for key in CATEGORY_KEYS:
        inner = getattr(feature.get(key), "feature", None)
        if isinstance(inner, datasets.ClassLabel):
            return list(inner.names)
    return None


def _image_size(value: Any) -> tuple[float, float] | None:
    """(width, height) of an undecoded image (its header only), or None when unreadable."""
    import io

    from PIL import Image

    if hasattr(value, "size") and not isinstance(value, dict):  # a decoded PIL image
        return value.size
    if not isinstance(value, dict) or not (value.get("bytes") or value.get("path")):
        return None
    try:
        with Image.open(io.BytesIO(value["bytes"]) if value.get("bytes") else value["path"]) as im:
            return im.size
    except Exception:  # unreadable: the image check lists it
        return None


def resolve(splits: dict[str, datasets.Dataset], spec: Any) -> tuple[str, dict]:
    """Every split's boxes converted from data.bbox_format to absolute corners and checked
    against their image (out-of-image or empty boxes listed by split, row and box; or clipped
    with data.clip_boxes), categories as names. DataError for what cannot be used."""
    import datasets

    fmt = getattr(spec, "bbox_format", "coco")
    clip_boxes = bool(getattr(spec, "clip_boxes", False))
    out, checks = {}, {}
    for split, ds in splits.items():
        names = _category_names(ds)
        view = ds.cast_column(IMAGE, datasets.Image(decode=False)) if _is_image(ds) else ds
        found = BoxCheck()
        rows = []
        for row, (image, value) in enumerate(zip(view[IMAGE], ds[LABEL], strict=True)):
            boxes, categories = _objects(value, split)
            if len(boxes) != len(categories):
                found.bad.append(
                    f"{split} row {row}: {len(boxes)} boxes but {len(categories)} categories"
                )
                continue
            file = image.get("path") if isinstance(image, dict) else None
            where = f"{split} row {row}" + (f" ({file})" if file else "")
            kept, index = check_row(boxes, fmt, _image_size(image), clip_boxes, where, found)
            rows.append({"bbox": kept.tolist(), "category": [categories[i] for i in index]})
        checks[split] = found
        if found.bad:
            continue
        kind = datasets.ClassLabel(names=names) if names else datasets.Value("string")
        if names is None:  # ids without names: the ids are the names
            rows = [{**r, "category": [str(c) for c in r["category"]]} for r in rows]
        ds = ds.remove_columns(LABEL).add_column(LABEL, rows)
        out[split] = ds.cast_column(LABEL, _features(kind))
    _raise_or_log(checks, fmt, clip_boxes)
    return f"{fmt} boxes", out


def _features(category: Any) -> Any:
    """The label column's features: boxes as float corners, categories as `category`."""
    import datasets

    return datasets.Features(
        {"bbox": datasets.List(datasets.List(datasets.Value("float32"))),
         "category": datasets.List(category)}
    )  # fmt: skip


def _is_image(ds: datasets.Dataset) -> bool:
    import datasets

    return isinstance(ds.features.get(IMAGE), datasets.Image)


def _raise_or_log(checks: dict[str, BoxCheck], fmt: str, clip_boxes: bool) -> None:
    bad = [b for found in checks.values() for b in found.bad]
    if bad:
        merged = BoxCheck()
        for found in checks.values():
            for key, n in found.fail_as.items():
                merged.fail_as[key] = merged.fail_as.get(key, 0) + n
        fix = "" if clip_boxes else ", or set data.clip_boxes: true to clip them to the image"
        raise DataError(
            f"{len(bad)} unusable box(es) as data.bbox_format {fmt}: {_listed(bad)}"
            f"{slip_hint(merged, fmt)}; fix the boxes or data.bbox_format{fix}"
        )
    for split, found in checks.items():
        if found.clipped or found.dropped:
            log.warning(
                "%s split: %d of %d box(es) clipped to their image, %d dropped (no area left) "
                "(data.clip_boxes)",
                split,
                found.clipped,
                found.total,
                found.dropped,
            )


def _category_strings(ds: datasets.Dataset) -> list[list[str]]:
    names = _category_names(ds)
    rows = [list(value["category"]) for value in ds[LABEL]]
    return [[names[c] for c in row] for row in rows] if names else rows


def _order(name: str) -> tuple:
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def label_names(splits: dict[str, datasets.Dataset]) -> list[str]:
    """The category names: a ClassLabel's order (those train has), else sorted (numbers by
    value)."""
    train = splits["train"]
    present = {c for row in _category_strings(train) for c in row}
    declared = _category_names(train) or []
    ordered = [n for n in declared if n in present]
    return ordered + sorted(present - set(ordered), key=_order)


def encode(splits: dict[str, datasets.Dataset]) -> tuple[list[str], dict[str, datasets.Dataset]]:
    """One category list for every split (from train); held-out categories train lacks are
    refused."""
    from hfft.problems import each_split

    names = label_names(splits)
    encoded = each_split(splits, lambda split, ds: encode_with(ds, names, split, against="train"))
    counts = {split: sum(len(r["bbox"]) for r in ds[LABEL]) for split, ds in encoded.items()}
    log.info("boxes: %d categories; boxes per split %s", len(names), counts)
    return names, encoded


def encode_with(
    ds: datasets.Dataset, names: Sequence[str], split: str, against: str = "model"
) -> datasets.Dataset:
    """A split's categories as the ids of `names` (a trained model's, or train's)."""
    import datasets

    index = {name: i for i, name in enumerate(names)}
    boxes = [r["bbox"] for r in ds[LABEL]]
    categories = _category_strings(ds)
    unseen = sorted({c for row in categories for c in row} - set(index))
    if unseen:
        raise DataError(
            f"categor(ies) {unseen[:10]} in the {split} split are not among the {against}'s "
            f"({list(names[:20])}); "
            + ("it cannot predict them: evaluate on data with its categories"
               if against == "model" else "a model cannot learn a category it never sees: fix "
               "the data or drop those boxes")
        )  # fmt: skip
    encoded = [
        {"bbox": b, "category": [index[c] for c in row]}
        for b, row in zip(boxes, categories, strict=True)
    ]
    ds = ds.remove_columns(LABEL).add_column(LABEL, encoded)
    return ds.cast_column(LABEL, _features(datasets.ClassLabel(names=list(names))))


def carve(ds: datasets.Dataset, fraction: float, seed: int, name: str) -> Any:
    """A random held-out split (an image holds several categories: no stratification)."""
    if len(ds) < 2:
        raise DataError(f"the train split has {len(ds)} row(s): too few to carve a held-out split")
    parts = ds.train_test_split(test_size=fraction, seed=seed)
    return parts["train"], parts["test"]


def _categories_in(ds: datasets.Dataset) -> set[int]:
    return {c for r in ds[LABEL] for c in r["category"]}


def check_coverage(splits: dict[str, datasets.Dataset], names: Sequence[str]) -> None:
    """Refuse categories of a held-out split that no training box has (left after carving)."""
    train = _categories_in(splits["train"])
    for split, ds in splits.items():
        missing = sorted(names[c] for c in _categories_in(ds) - train) if split != "train" else []
        if missing:
            raise DataError(
                f"categor(ies) {missing[:10]} have boxes in the {split} split but no training "
                "box left after carving it out of train: add images with them, or give the "
                "dataset its own split"
            )


def pick_examples(split: datasets.Dataset, n: int) -> list[int]:
    """Up to `n` images for the demo, each adding categories the ones before lack."""
    rows = [(i, set(r["category"])) for i, r in enumerate(split[LABEL][:2000])]
    seen: set[int] = set()
    order: list[int] = []
    while len(order) < min(n, len(rows)):
        row, cats = max(
            (r for r in rows if r[0] not in order), key=lambda r: (len(r[1] - seen), -r[0])
        )
        order.append(row)
        seen |= cats
    return order


def example_label(label: dict, names: Sequence[str]) -> str:
    """The image's objects as text: "2 x helmet, 1 x mask"."""
    from collections import Counter

    counts = Counter(names[c] for c in label["category"])
    return ", ".join(f"{n} x {name}" for name, n in sorted(counts.items())) or "no objects"


def head_loss(logits: Any, labels: Any) -> Any:
    """Never called: a detector is not trained on cached features (its varying_inputs say
    why); its loss is the model's own Hungarian-matched one."""
    raise NotImplementedError("object detection trains no head on cached features")


def predict_kwargs(pipe: Any) -> dict[str, Any]:
    """The pipeline's own defaults (threshold 0.5); `hfft predict --threshold` sets it."""
    return {}


def boxes_out(output: Any, payload: Any) -> list[dict[str, Any]]:
    """`hfft predict`'s boxes, best first: label, score and pixel corners [x_min, y_min,
    x_max, y_max]."""
    found = [
        {
            "label": o["label"],
            "score": float(o["score"]),
            "box": [float(o["box"][k]) for k in ("xmin", "ymin", "xmax", "ymax")],
        }
        for o in output
    ]
    return sorted(found, key=lambda o: -o["score"])


def box_fields(
    found: list[dict[str, Any]], decision: Any, top_k: int, all_scores: bool
) -> dict[str, Any]:
    """A detector's `hfft predict` line: every box above the threshold (--top-k and
    --all-scores rank the labels of a whole input, which a detector has none of)."""
    return {"predictions": found}


BOXES = LabelScheme(
    name="boxes",
    encode=encode,
    encode_with=encode_with,
    carve=carve,
    check_coverage=check_coverage,
    pick_examples=pick_examples,
    example_label=example_label,
    head_loss=head_loss,
    build_metrics=build_metrics,
    plot=plot,
    plots=(("Per-class AP", PER_CLASS_AP_FILE), ("Predicted boxes", EXAMPLES_FILE)),
    usage_kwargs=", threshold=0.5",
    usage_note="Each box is {'score', 'label', 'box': {'xmin', 'ymin', 'xmax', 'ymax'}} in pixels.",
    default_metrics=DEFAULT_METRICS,
    resolve=resolve,
    aliases=("objects", "annotations", "boxes", "label", "labels"),
    predict_kwargs=predict_kwargs,
    predict_threshold=True,
    read_output=boxes_out,
    predict_fields=box_fields,
    example_unit="images",
    intervals=False,
    multi_process_eval=False,
)
