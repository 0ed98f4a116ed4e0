"""The zero-shot baseline row of a fine-tuned run: when the recipe's checkpoint is an
image-text one (CLIP, SigLIP), its zero-shot classifier (hfft.zero_shot) is scored on the run's
held-out splits with the run's metrics, and the entry goes under each split's "baselines" in
metrics.json as "zero_shot" (beside any other baseline), which the card shows above the
fine-tuned model's row. `model.zero_shot.baseline: false` turns it off.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from hfft.baselines import BASELINES_KEY
from hfft.zero_shot_spec import ZERO_SHOT

log = logging.getLogger("hfft")

# The key of this baseline under a split's "baselines" in metrics.json (hfft.baselines names
# it, TITLES and NOTES, beside the others).
BASELINE = "zero_shot"
# The Auto class the zero-shot classifiers register with: the task they serve.
AUTO_CLASS = "AutoModelForImageClassification"


def baseline_rows(
    model_spec: Any,
    task: Any,
    label_names: list[str],
    prepare: Callable[[], Mapping[str, Any]],
    collator: Any,
    metric_names: Any,
    threshold: Any = None,
    batch_size: int = 32,
    keep: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """{split: zero-shot metrics entry} on the model-ready splits `prepare()` gives (called
    only when there is a row to compute), or {} when the checkpoint
    cannot classify zero-shot (or the recipe turned the baseline off). Runs on one process: a
    plain loop, no Trainer (under torchrun only the main process writes the report). `keep`
    gets {split: what predictions.json keeps of its predictions}, for paired comparisons."""
    from hfft.zero_shot import load_zero_shot_model, supports

    if not model_spec.zero_shot.baseline or task.model_class != AUTO_CLASS:
        return {}
    why = supports(model_spec)
    if why is not None:
        log.debug("no zero-shot baseline: %s", why)
        return {}
    spec = replace(model_spec, head_init=ZERO_SHOT)
    model = load_zero_shot_model(task, spec, label_names)
    metrics = task.labels.build_metrics(list(metric_names or ()), label_names, threshold)
    out = {}
    for name, dataset in prepare().items():
        predictions, label_ids = predict_plain(model, dataset, collator, batch_size, metrics)
        entry, _ = metrics.report(predictions, label_ids)
        entry.pop("per_class", None)  # the card's per-class report is the model's
        out[name] = entry
        if keep is not None:
            keep[name] = metrics.keep(predictions, label_ids)
    shown = {s: round(e.get(metrics.names[0], float("nan")), 4) for s, e in out.items()}
    log.info("zero-shot baseline (%s): %s", metrics.names[0], shown)
    return out


def predict_plain(model: Any, dataset: Any, collator: Any, batch_size: int, metrics: Any):
    """(predictions, label ids) of a model-ready split, reduced batch by batch as the Trainer
    would (`metrics.preprocess_logits_for_metrics`)."""
    import numpy as np
    import torch
    from transformers import default_data_collator

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = model.to(device).eval()
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, collate_fn=collator or default_data_collator
    )
    predictions, labels = [], []
    with torch.no_grad():
        for batch in loader:
            y = batch.pop("labels")
            logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
            reduced = metrics.preprocess_logits_for_metrics(logits, y.to(device))
            predictions.append(reduced.cpu().numpy())
            labels.append(y.numpy())
    return np.concatenate(predictions), np.concatenate(labels)


def add_baseline(report: dict[str, Any], rows: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """metrics.json content with each split's zero-shot row among its "baselines"."""
    for split, entry in rows.items():
        if split in report:
            report[split].setdefault(BASELINES_KEY, {})[BASELINE] = dict(entry)
    return report


def add_to_run(run: Any, splits: Mapping[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    """A finished training run's metrics.json (rewritten) with the zero-shot row on each of its
    held-out `splits` (`run`: hfft.run.Run), for a checkpoint that classifies zero-shot;
    unchanged for any other. A failure only logs: the trained model is saved all the same."""
    import datasets

    from hfft.errors import HfftError
    from hfft.evaluation import load_predictions
    from hfft.run_files import METRICS_FILE, PREDICTIONS_FILE

    # Prepared anew: the run's own may be cached backbone features (frozen mode).
    raw = datasets.DatasetDict({name: run.data.splits[name] for name in splits})
    kept: dict[str, Any] = {}
    try:
        rows = baseline_rows(
            run.recipe.model,
            run.task,
            run.data.label_names,
            lambda: run.task.prepare(raw, run.processor, run.recipe),
            run.task.collator(run.processor),
            run.recipe.eval.metrics,
            run.recipe.eval.threshold,
            int(run.trainer.args.per_device_eval_batch_size),
            keep=kept,
        )
    except HfftError as err:
        log.warning("no zero-shot baseline: %s", err)
        return metrics
    if rows:
        out = run.recipe.output_dir
        metrics = add_baseline(metrics, rows)
        (out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
        predictions = load_predictions(out)
        for split, entry in kept.items():
            predictions.setdefault(split, {}).setdefault(BASELINES_KEY, {})[BASELINE] = entry
        (out / PREDICTIONS_FILE).write_text(json.dumps(predictions) + "\n")
    return metrics
