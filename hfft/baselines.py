"""Baselines for every card: what a fine-tuned score has to beat.

- the majority class: every example gets the most frequent training label;
- a linear probe: the label scheme's logistic regression on the *frozen checkpoint's* features
  (the checkpoint as the recipe names it, before any training), fitted on train and scored on
  each held-out split.

The features are what the checkpoint offers a classifier: for a sentence-transformers checkpoint
the pooling it declares (hfft.sentence_pooling: the embedding its objective trained), for any
other the input of the task model's new head (caught by a forward pre-hook, as the frozen-
feature cache does; a sequence-shaped head input gives its first token, which transformers'
sequence heads pool on). A recipe that trains from a config has no checkpoint: majority only.

Scores come from the label scheme's own metrics (intervals included) and go into metrics.json
under each split's "baselines": {"majority_class": {...}, "linear_probe": {...}}; their
predictions go into predictions.json the same way, for paired comparisons. Computed by
`hfft train` when the recipe sets `eval.baselines: true`, and by `hfft eval --baselines`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hfft.errors import HfftError

log = logging.getLogger("hfft")

BASELINES_KEY = "baselines"
# How the card names each baseline row.
TITLES = {
    "majority_class": "majority class",
    "linear_probe": "linear probe on the frozen checkpoint",
}
# The name of the train split while it is prepared for the probe: any name but "train", which a
# task prepares with its training augmentation.
_PROBE_TRAIN = "probe_train"


def compute_baselines(
    task: Any,
    recipe: Any,
    splits: Mapping[str, Any],
    label_names: Sequence[str],
    processor: Any,
    held_out: Mapping[str, Any],
    keep: dict[str, Any] | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """{split: {baseline: metrics entry}} for each split of `held_out` (standardised, label-
    encoded splits keyed as metrics.json names them), the baselines fitted on `splits["train"]`.
    `keep` gets {split: {baseline: {"predictions", "label_ids"}}} (ranked class ids, as
    predictions.json keeps a model's), for paired comparisons."""
    import datasets

    if task.labels.baselines is None:
        raise HfftError(f"the {task.labels.name} label scheme has no baselines")
    start = time.perf_counter()
    to_prepare = datasets.DatasetDict({_PROBE_TRAIN: splits["train"], **held_out})
    prepared = task.prepare(to_prepare, processor, recipe)
    batch_size = int(recipe.training.get("per_device_eval_batch_size", 32))
    model = None
    if recipe.model.checkpoint is not None:
        from hfft import checkpoint

        model = checkpoint.load_model(task, recipe.model, list(label_names))
    features, labels = {}, {}
    for name, ds in prepared.items():
        features[name], labels[name] = extract(model, ds, task.collator(processor), batch_size,
                                               pooling=_pooling(recipe))  # fmt: skip
    fitted = task.labels.baselines(
        features[_PROBE_TRAIN],
        labels[_PROBE_TRAIN],
        {name: features[name] for name in held_out},
        len(label_names),
    )
    metrics = task.labels.build_metrics(recipe.eval.metrics, label_names)
    out: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in held_out}
    for baseline, per_split in fitted.items():
        for name, predictions in per_split.items():
            entry, _ = metrics.report(predictions, labels[name])
            entry.pop("per_class", None)  # the card shows the model's per-class report only
            out[name][baseline] = entry
            if keep is not None:
                # kept as compactly as the scheme reduces logits (ranked ids), else as they are
                reduce = getattr(metrics, "ranked", np.asarray)
                keep.setdefault(name, {})[baseline] = {
                    "predictions": np.asarray(reduce(predictions)).tolist(),
                    "label_ids": np.asarray(labels[name]).tolist(),
                }
    log.info(
        "baselines (%s) in %.1fs: %s",
        ", ".join(fitted),
        time.perf_counter() - start,
        "; ".join(
            f"{name} {b} {entry.get(metrics.names[0], float('nan')):.4f}"
            for name, per in out.items()
            for b, entry in per.items()
        ),
    )
    return out


def _pooling(recipe: Any) -> str | None:
    from hfft.checkpoint import load_kwargs
    from hfft.sentence_pooling import declared_pooling

    return declared_pooling(recipe.model.checkpoint, **load_kwargs(recipe.model))


def extract(
    model: Any, dataset: Any, collator: Any, batch_size: int, pooling: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(features (n x d), labels) of a model-ready split: the frozen model's probe features
    (see the module docstring); zero columns when `model` is None."""
    import torch
    from transformers import default_data_collator

    from hfft.modes import anatomy
    from hfft.sentence_pooling import pool

    collate = collator or default_data_collator
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, collate_fn=collate)
    if model is None:
        labels = [np.asarray(batch["labels"]) for batch in loader]
        ys = np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)
        return np.zeros((len(ys), 0)), ys
    seen: dict[str, Any] = {}
    if pooling is not None:
        hook = model.base_model.register_forward_hook(
            lambda _m, _a, out: seen.__setitem__("hidden", out[0])
        )
    else:
        head = model.get_submodule(anatomy(model).head[0])
        hook = head.register_forward_pre_hook(lambda _m, args: seen.__setitem__("head", args[0]))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device).eval()
    feats, ys = [], []
    try:
        with torch.no_grad():
            for batch in loader:
                ys.append(np.asarray(batch.pop("labels")))
                inputs = {k: v.to(device) for k, v in batch.items()}
                model(**inputs)
                if pooling is not None:
                    x = pool(seen["hidden"], inputs.get("attention_mask"), pooling)
                else:
                    x = seen["head"]
                    x = x[:, 0] if x.dim() == 3 else x.reshape(len(x), -1)
                feats.append(x.float().cpu().numpy())
    finally:
        hook.remove()
    return np.concatenate(feats), np.concatenate(ys)


def add_to_report(
    report: dict[str, Any], baselines: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """metrics.json content with each split's baselines under its "baselines" key."""
    for split, entries in baselines.items():
        if split in report:
            report[split][BASELINES_KEY] = dict(entries)
    return report


def write_baselines(
    out: Any,
    report: dict[str, Any],
    task: Any,
    recipe: Any,
    data: Any,
    processor: Any,
    held_out: Mapping[str, Any],
) -> dict[str, Any]:
    """Compute the baselines on `held_out` (fitted on `data`'s train split: a LoadedData), add
    them to `report` and rewrite OUT/metrics.json; returns the report."""
    import json
    from pathlib import Path

    from hfft.evaluation import load_predictions
    from hfft.run_files import METRICS_FILE, PREDICTIONS_FILE

    kept: dict[str, Any] = {}
    found = compute_baselines(
        task, recipe, data.splits, data.label_names, processor, held_out, keep=kept
    )
    report = add_to_report(report, found)
    (Path(out) / METRICS_FILE).write_text(json.dumps(report, indent=2) + "\n")
    predictions = load_predictions(out)
    for split, entries in kept.items():
        predictions.setdefault(split, {})[BASELINES_KEY] = entries
    (Path(out) / PREDICTIONS_FILE).write_text(json.dumps(predictions) + "\n")
    return report
