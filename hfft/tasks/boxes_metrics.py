"""Detection metrics: COCO mean average precision by torchmetrics' `MeanAveragePrecision`
(pycocotools underneath), on boxes in the pixels of each original image.

    map                 AP averaged over IoU thresholds 0.50:0.95 (the COCO metric)
    map_50, map_75      AP at IoU 0.50 / 0.75
    map_small/_medium/_large   AP of objects under 32², up to 96², above 96² pixels
    mar_1, mar_10, mar_100     recall with at most 1/10/100 detections per image

plus per-class AP (`per_class`), a per-class AP bar plot and a grid of held-out images with
their predicted boxes. A size group without objects has no AP: null in metrics.json.

The Trainer hands over each batch's model outputs and labels (`eval_do_concat_batches` is off:
images hold different numbers of boxes). Predictions are decoded as the model's image processor
does: a softmax over the classes with the last one "no object" (DETR, YOLOS: one more logit than
labels), else a sigmoid per class with the best (query, class) pairs, as many as queries and at
most 100, COCO's detections per image (Conditional/Deformable DETR, RT-DETR, D-FINE). Boxes come
as (cx, cy, w, h) relative to the padded batch canvas; each label carries the canvas size in the
original image's pixels (`hfft_canvas`), which maps them back.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hfft.errors import RecipeError, did_you_mean

log = logging.getLogger("hfft")
DEFAULT_METRICS: tuple[str, ...] = (
    "map",
    "map_50",
    "map_75",
    "map_small",
    "map_medium",
    "map_large",
)
AVAILABLE_METRICS: tuple[str, ...] = (*DEFAULT_METRICS, "mar_1", "mar_10", "mar_100")
PER_CLASS_AP_FILE = "per_class_ap.png"
EXAMPLES_FILE = "predicted_boxes.png"
MAX_DETECTIONS = 100
# Held-out images drawn with their predicted boxes, and the score a drawn box needs.
SHOWN_IMAGES, SHOWN_SCORE = 6, 0.3
# source key -> a held-out split's raw rows (images), registered by the task's prepare so the
# report can draw its predictions; only the latest few are kept.
_SOURCES: dict[int, Any] = {}


_KEYS = itertools.count(1)


def register_source(ds: Any) -> int:
    """Remember a split's raw rows for the drawing of predictions; returns its key (never one
    given before: an old key must not name another split)."""
    key = next(_KEYS)
    _SOURCES[key] = ds
    for old in sorted(_SOURCES)[:-8]:
        _SOURCES.pop(old)
    return key


def validate_metric_names(names: Sequence[str]) -> list[str]:
    names = list(dict.fromkeys(names))
    for name in names:
        if name not in AVAILABLE_METRICS:
            raise RecipeError(
                f"unknown metric {name!r} in eval.metrics"
                f"{did_you_mean(str(name), AVAILABLE_METRICS)}; object-detection computes "
                f"{', '.join(AVAILABLE_METRICS)}"
            )
    return names


def _tensors(outputs: Any) -> list[Any]:
    import torch

    items = outputs if isinstance(outputs, tuple | list) else (outputs,)
    return [t for t in items if isinstance(t, torch.Tensor | np.ndarray)]


def decode(logits: Any, boxes: Any, num_labels: int, canvas: Any) -> dict[str, Any]:
    """One image's predictions as the processor decodes them: {"boxes" (pixel corners),
    "scores", "labels"}, the best `MAX_DETECTIONS` first."""
    import torch

    logits = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float32))
    if logits.shape[-1] == num_labels + 1:  # softmax with a "no object" class
        scores, labels = logits.softmax(-1)[:, :-1].max(-1)
        order = scores.argsort(descending=True)[:MAX_DETECTIONS]
        scores, labels, chosen = scores[order], labels[order], boxes[order]
    else:  # sigmoid per class: the best (query, class) pairs, as many as queries (RT-DETR)
        flat = logits.sigmoid().flatten()
        scores, index = flat.topk(min(MAX_DETECTIONS, logits.shape[0]))
        labels, chosen = index % logits.shape[-1], boxes[index // logits.shape[-1]]
    cx, cy, w, h = chosen.unbind(-1)
    corners = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)
    width, height = (float(v) for v in np.asarray(canvas).reshape(-1)[:2][::-1])
    corners = corners * torch.tensor([width, height, width, height])
    return {"boxes": corners, "scores": scores, "labels": labels.long()}


def _target(label: dict[str, Any]) -> dict[str, Any]:
    import torch

    return {
        "boxes": torch.as_tensor(np.asarray(label["hfft_boxes"], dtype=np.float32)).reshape(-1, 4),
        "labels": torch.as_tensor(np.asarray(label["class_labels"])).long().reshape(-1),
    }


@dataclass
class BoxMetrics:
    """COCO mAP of a detection run, for the Trainer and the report."""

    names: list[str]
    label_names: list[str]

    def preprocess_logits_for_metrics(self, logits: Any, labels: Any) -> Any:
        """(class logits, boxes) of the batch: the model's other outputs (auxiliary decoder
        layers, hidden states) are dropped before they pile up."""
        tensors = _tensors(logits)
        return tensors[0].float(), tensors[1].float()

    def pairs(self, predictions: Any, label_ids: Any) -> tuple[list[dict], list[dict]]:
        """(decoded predictions, targets) per image, in pixels of the original images."""
        preds, targets = [], []
        batches = predictions if isinstance(predictions, list) else [predictions]
        label_batches = label_ids if isinstance(label_ids, list) and label_ids and isinstance(
            label_ids[0], list | tuple) else [label_ids]  # fmt: skip
        for batch, labels in zip(batches, label_batches, strict=True):
            logits, boxes = _tensors(batch)[:2]
            for i, label in enumerate(labels):
                preds.append(
                    decode(logits[i], boxes[i], len(self.label_names), label["hfft_canvas"])
                )
                targets.append(_target(label))
        return preds, targets

    def scores(self, preds: list[dict], targets: list[dict]) -> dict[str, Any]:
        """Every metric and the per-class AP, by torchmetrics."""
        from torchmetrics.detection import MeanAveragePrecision

        metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", class_metrics=True)
        metric.update(preds, targets)
        found = metric.compute()
        values = {k: _value(v) for k, v in found.items() if k in AVAILABLE_METRICS}
        results: dict[str, Any] = {name: values.get(name) for name in self.names}
        classes = [int(c) for c in np.asarray(found["classes"]).reshape(-1)]
        ap = np.asarray(found["map_per_class"]).reshape(-1)
        ar = np.asarray(found["mar_100_per_class"]).reshape(-1)
        support = np.bincount(
            np.concatenate([t["labels"].numpy() for t in targets] or [np.zeros(0, int)]),
            minlength=len(self.label_names),
        )
        results["per_class"] = {
            self.label_names[c]: {"ap": _value(ap[i]), "ar_100": _value(ar[i]),
                                  "boxes": int(support[c])}
            for i, c in enumerate(classes) if 0 <= c < len(self.label_names)
        }  # fmt: skip
        return results

    def compute(self, predictions: Any, label_ids: Any) -> dict[str, float]:
        scores = self.scores(*self.pairs(predictions, label_ids))
        # The Trainer logs floats: a size group without objects is -1 there, as torchmetrics says.
        return {name: -1.0 if scores[name] is None else scores[name] for name in self.names}

    # A detector's decision is its score threshold at prediction time: nothing fitted or saved.
    def fit(self, predictions: Any, label_ids: Any) -> None:
        return None

    def decision(self) -> None:
        return None

    def use(self, saved: Any) -> None:
        return None

    def keep(self, predictions: Any, label_ids: Any) -> dict[str, list]:
        """What predictions.json keeps: each image's decoded boxes (pixels, rounded), scores and
        labels, and its true boxes and labels."""
        preds, targets = self.pairs(predictions, label_ids)

        def plain(item: dict[str, Any]) -> dict[str, list]:
            return {k: np.round(np.asarray(v, dtype=float), 2).tolist() for k, v in item.items()}

        return {"predictions": [plain(p) for p in preds], "label_ids": [plain(t) for t in targets]}

    def interval_stats(self, predictions: Any, label_ids: Any) -> Any:
        """Refused: mAP ranks every box of the split together, so it is no sum of per-image
        counts (hfft.uncertainty's form): no paired bootstrap comparison of detectors yet."""
        from hfft.errors import HfftError

        raise HfftError(
            "paired comparisons of detectors are not available: mAP is no sum of per-image "
            "counts; compare the runs' metrics.json instead"
        )

    def compute_metrics(self, eval_pred: Any) -> dict[str, float]:
        return self.compute(eval_pred.predictions, eval_pred.label_ids)

    def report(self, predictions: Any, label_ids: Any) -> tuple[dict[str, Any], Any]:
        """(the split's metrics.json entry, its plot data: per-class AP and a few images with
        their predictions)."""
        preds, targets = self.pairs(predictions, label_ids)
        results = self.scores(preds, targets)
        labels = _flat_labels(label_ids)
        shown = []
        for label, pred in list(zip(labels, preds, strict=True))[:SHOWN_IMAGES]:
            if "hfft_source" in label:
                keep = pred["scores"] >= SHOWN_SCORE
                shown.append(
                    (int(np.asarray(label["hfft_source"]).reshape(-1)[0]),
                     int(np.asarray(label["hfft_row"]).reshape(-1)[0]),
                     pred["boxes"][keep].numpy(), pred["labels"][keep].numpy(),
                     pred["scores"][keep].numpy())
                )  # fmt: skip
        return results, (results["per_class"], results.get("map"), shown)


def _flat_labels(label_ids: Any) -> list[dict]:
    if isinstance(label_ids, list) and label_ids and isinstance(label_ids[0], list | tuple):
        return [label for batch in label_ids for label in batch]
    return list(label_ids)


def _value(v: Any) -> float | None:
    v = float(np.asarray(v).reshape(-1)[0]) if np.asarray(v).size else -1.0
    return None if v < 0 else v


def build_metrics(
    names: Sequence[str], label_names: Sequence[str], threshold: float | None = None
) -> BoxMetrics:
    """The detection metrics `names` (the defaults when empty). eval.threshold is a multi-label
    setting: refused (`hfft predict --threshold` sets a detector's score threshold)."""
    if threshold is not None:
        raise RecipeError(
            f"eval.threshold={threshold:g} applies to multi-label runs; mAP ranks every box by "
            "score: remove eval.threshold (hfft predict --threshold sets the score a box needs)"
        )
    return BoxMetrics(validate_metric_names(list(names) or DEFAULT_METRICS), list(label_names))


def plot(data: Any, label_names: Sequence[str], run_dir: Path, split: str) -> list[str]:
    """Per-class AP bars, and a few held-out images with their predicted boxes (when the
    split's images are at hand); returns the file names written."""
    from hfft.tasks.box_drawing import draw_grid

    per_class, overall, shown = data
    written = []
    if per_class:
        _plot_per_class(per_class, Path(run_dir) / PER_CLASS_AP_FILE, split, overall)
        written.append(PER_CLASS_AP_FILE)
    tiles = []
    for source, row, boxes, labels, scores in shown:
        ds = _SOURCES.get(source)
        if ds is None:
            continue
        captions = [f"{label_names[c]} {s:.2f}" for c, s in zip(labels, scores, strict=True)]
        tiles.append((ds[row]["image"], boxes, [int(c) for c in labels], captions))
    if tiles:
        draw_grid(tiles, len(label_names), Path(run_dir) / EXAMPLES_FILE,
                  f"{split} split: predicted boxes (score >= {SHOWN_SCORE})")  # fmt: skip
        written.append(EXAMPLES_FILE)
    return written


def _plot_per_class(per_class: dict, path: Path, split: str, overall: float | None) -> None:
    from hfft.plots import plot_score_bars

    plot_score_bars(
        [f"{n} ({per_class[n]['boxes']})" for n in per_class],
        [per_class[n]["ap"] or 0.0 for n in per_class],
        path,
        "AP (IoU 0.50:0.95)",
        f"{split} split: AP per class (boxes)",
        None if overall is None else ("mAP", overall),
    )
