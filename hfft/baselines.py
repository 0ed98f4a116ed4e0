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

log = logging.getLogger("hfft")

BASELINES_KEY = "baselines"
# How the card names each baseline row.
TITLES = {
    "majority_class": "majority class",
    "majority_label_set": "most frequent label set",
    "majority_tag": "most frequent tag for every word",
    "linear_probe": "linear probe on the frozen checkpoint",
    "zero_shot": "zero-shot (class prompts, no training)",  # hfft.zero_shot_baseline
}
# What each baseline is, for the card's note under the results.
NOTES = {
    "majority_class": "every example given the most frequent training label",
    "majority_label_set": "every row given the training split's most frequent set of labels",
    "majority_tag": "every word given the most frequent training tag, O in entity data",
    "linear_probe": "a logistic regression on the frozen base checkpoint's features (before any "
    "fine-tuning) fitted on the train split, one per label for multi-label data and one per "
    "word for a tagger",
    "zero_shot": "the image-text checkpoint itself, each image given the class whose prompts' "
    "text embeddings it is most similar to (model.zero_shot.templates), no training",
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
        log.info("baselines: none for the %s label scheme", task.labels.name)
        return {}
    start = time.perf_counter()
    to_prepare = datasets.DatasetDict({_PROBE_TRAIN: splits["train"], **held_out})
    prepared = task.prepare(to_prepare, processor, recipe)
    batch_size = int(recipe.training.get("per_device_eval_batch_size", 32))
    model = None
    if recipe.model.checkpoint is not None:
        from hfft import checkpoint

        model = checkpoint.load_model(task, recipe.model, list(label_names))
    else:
        log.info("baselines: no linear probe (the recipe trains from a config: no checkpoint)")
    token_level = task.labels.token_level
    # a sentence-transformers checkpoint's declared pooling pools a sequence into one vector
    pooling = None if token_level or model is None else _pooling(recipe)
    features, labels = {}, {}
    for name, ds in prepared.items():
        features[name], labels[name] = extract(
            model, ds, task.collator(processor), batch_size, pooling, token_level
        )
    fitted = task.labels.baselines(
        features[_PROBE_TRAIN],
        labels[_PROBE_TRAIN],
        {name: features[name] for name in held_out},
        len(label_names),
        {name: labels[name] for name in held_out},
    )
    metrics = task.labels.build_metrics(recipe.eval.metrics, label_names, recipe.eval.threshold)
    out: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in held_out}
    for baseline, per_split in fitted.items():
        for name, predictions in per_split.items():
            entry, _ = metrics.report(predictions, labels[name])
            entry.pop("per_class", None)  # the card shows the model's per-class report only
            out[name][baseline] = entry
            if keep is not None:
                keep.setdefault(name, {})[baseline] = metrics.keep(predictions, labels[name])
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
    model: Any,
    dataset: Any,
    collator: Any,
    batch_size: int,
    pooling: str | None = None,
    token_level: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of a model-ready split: the frozen model's probe features (see the
    module docstring), zero columns when `model` is None. `token_level` (a tagger): one feature
    row per scored token (label not -100), in row order, and the labels as the split's rows
    padded with -100 to one width."""
    import torch
    from transformers import default_data_collator

    from hfft.modes import anatomy
    from hfft.sentence_pooling import pool

    collate = collator or default_data_collator
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, collate_fn=collate)
    seen: dict[str, Any] = {}
    hook = None
    if model is not None and pooling is not None:
        hook = model.base_model.register_forward_hook(
            lambda _m, _a, out: seen.__setitem__("hidden", out[0])
        )
    elif model is not None:
        head = model.get_submodule(anatomy(model).head[0])
        hook = head.register_forward_pre_hook(lambda _m, args: seen.__setitem__("head", args[0]))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if model is not None:
        model.to(device).eval()
    feats, ys = [], []
    try:
        with torch.no_grad():
            for batch in loader:
                y = batch.pop("labels")
                ys.append(np.asarray(y))
                if model is None:
                    continue
                inputs = {k: v.to(device) for k, v in batch.items()}
                model(**inputs)
                if pooling is not None:
                    x = pool(seen["hidden"], inputs.get("attention_mask"), pooling)
                elif token_level:
                    x = seen["head"][y.to(device) != -100]
                else:
                    x = seen["head"]
                    x = x[:, 0] if x.dim() == 3 else x.reshape(len(x), -1)
                feats.append(x.float().cpu().numpy())
    finally:
        if hook is not None:
            hook.remove()
    if token_level:
        width = max((y.shape[1] for y in ys), default=0)
        ys = [np.pad(y, ((0, 0), (0, width - y.shape[1])), constant_values=-100) for y in ys]
    labels = np.concatenate(ys) if ys else np.zeros(0, dtype=np.int64)
    if model is None:
        rows = int((labels != -100).sum()) if token_level else len(labels)
        return np.zeros((rows, 0)), labels
    return np.concatenate(feats), labels


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
