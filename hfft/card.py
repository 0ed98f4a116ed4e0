"""The model card (README.md) of a run directory, built with `huggingface_hub.ModelCard`.

The metadata block only ever names Hub ids: a local data path or checkpoint in `datasets` or
`base_model` makes the Hub reject the push (AutoTrain #648), and a builder name such as
`imagefolder` is not a dataset. Local paths in the recipe shown in the card are reduced to their
base name, and no token ever reaches the card (the rules: `hfft.redact`).
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from hfft.baselines import BASELINES_KEY
from hfft.baselines import NOTES as BASELINE_NOTES
from hfft.baselines import TITLES as BASELINE_TITLES
from hfft.evaluation import primary_split
from hfft.modes import mode_named
from hfft.redact import (
    PUBLISHED_MASK,
    basename,
    builder_names,
    is_hub_id,
    redact,
    sanitize_recipe,
)
from hfft.run_files import CARD_FILE, CONFIG_FILE, LEARNING_RATES_FILE, TRAINING_CURVES_FILE
from hfft.tasks import TASKS
from hfft.uncertainty import format_interval

# metric ids the Hub knows: an hfft name's base ("f1" of f1_macro) is published as one of these
_HUB_METRICS = frozenset({"accuracy", "precision", "recall", "f1"})
_AVERAGES = frozenset({"macro", "micro", "weighted", "samples"})
# The per-label table of a split's metrics.json entry, by its key, and the card's title for it.
_PER_LABEL_TABLES = (("per_class", "Per class"), ("per_label", "Per label"))
# the splits of the recipe's dataset: the only results the model-index attributes to it
RUN_SPLITS = ("train", "validation", "test")
_FRAMEWORKS = ("hfft", "transformers", "torch", "datasets", "evaluate", "huggingface_hub")


def _dataset_description(
    data: Mapping[str, Any], task: str | None = None
) -> tuple[str | None, str, str]:
    """(Hub dataset id or None, model-index dataset type, human-readable dataset name)."""
    path = str(data.get("path") or "")
    # A format the task's modality reads itself (`conll`) names local files, like a builder.
    own = TASKS[task].modality.readers if task in TASKS else {}
    if is_hub_id(path) and path not in own:
        return path, path, path
    where = data.get("data_dir") or data.get("data_files") or path
    if isinstance(where, Mapping):
        where = next(iter(where.values()), path)
    if isinstance(where, list | tuple):
        where = where[0] if where else path
    name = basename(str(where)) if where else "local data"
    kind = path if path in builder_names() or path in own else "local"
    return None, kind if kind != "local" else name, name


def _metric_parts(name: str) -> tuple[str, str, dict[str, Any] | None]:
    """(Hub metric id, pretty name, metric args) for an hfft metric name."""
    top_k = re.match(r"^top(\d+)_accuracy$", name)
    if top_k:
        return name, f"Top-{top_k.group(1)} accuracy", {"k": int(top_k.group(1))}
    coco = re.match(r"^map(?:_(\d+)|_(small|medium|large))?$", name)  # COCO mean average precision
    if coco:
        iou, size = coco.groups()
        return name, "mAP" + (f"@{iou}" if iou else f" ({size})" if size else ""), None
    base, _, average = name.partition("_")
    if average and average not in _AVERAGES:  # exact_match, hamming_loss, ...: a name, whole
        return name, name.replace("_", " ").capitalize(), None
    pretty = base.capitalize() if base != "f1" else "F1"
    metric_id = base if base in _HUB_METRICS else name
    if average:
        return metric_id, f"{pretty} ({average})", {"average": average}
    return metric_id, pretty, None


def _scalar_metrics(split_metrics: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in split_metrics.items() if isinstance(v, int | float)}


def _ordered_splits(metrics: Mapping[str, Any]) -> list[str]:
    order = {"test": 0, "validation": 1}
    return sorted(metrics, key=lambda s: (order.get(s, 2), s))


def _framework_versions(mode: str) -> list[str]:
    lines = []
    for package in (*_FRAMEWORKS, *mode_named(mode).packages):
        try:
            lines.append(f"- {package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return lines


_COLUMN_TITLES = {"f1": "F1", "ap": "AP"}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "–" if value is None else str(value)


def _score(entry: Mapping[str, Any], name: str) -> str:
    """'0.912 [0.89, 0.93]' (point value and 95% interval), '0.9120' without an interval."""
    if name not in entry:
        return "–"
    interval = entry.get(f"{name}_ci")
    return format_interval(entry[name], interval) if interval else f"{entry[name]:.4f}"


def _results_note(
    metrics: Mapping[str, Any], main: str, baselines: Mapping[str, Any], unit: str = "examples"
) -> str:
    """What the brackets and the baseline rows mean (empty when there are neither)."""
    notes = []
    if any(k.endswith("_ci") for k in metrics[main]):
        notes.append(
            f"Brackets: 95% bootstrap interval over the split's {unit} (1,000 seeded "
            "resamples of the saved predictions)."
        )
    if baselines:
        described = "; ".join(f"*{BASELINE_TITLES.get(b, b)}*: {BASELINE_NOTES[b]}"
                              for b in baselines if b in BASELINE_NOTES)  # fmt: skip
        notes.append(f"Baselines — {described}.")
    return " ".join(notes)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).strip()


def build_card_data(recipe: Mapping[str, Any], metrics: Mapping[str, Any]) -> ModelCardData:
    """The card's metadata block: Hub ids only, results as a `model-index`."""
    task = recipe["task"]
    model = recipe.get("model") or {}
    data = recipe.get("data") or {}
    hub = recipe.get("hub") or {}
    mode = mode_named(model.get("mode")).name
    checkpoint = model.get("checkpoint")
    dataset_id, dataset_type, dataset_name = _dataset_description(data, task)
    repo_id = hub.get("repo_id")
    output_dir = (recipe.get("training") or {}).get("output_dir") or "model"
    model_name = str(repo_id).split("/")[-1] if repo_id else basename(str(output_dir))

    eval_results = []
    metric_ids: list[str] = []
    for split in _ordered_splits(metrics):
        if split not in RUN_SPLITS:
            continue  # results on other data (older `hfft eval --data`): not this dataset's
        for name, value in _scalar_metrics(metrics[split]).items():
            metric_id, pretty, args = _metric_parts(name)
            if metric_id in _HUB_METRICS and metric_id not in metric_ids:
                metric_ids.append(metric_id)
            eval_results.append(
                EvalResult(
                    task_type=task,
                    dataset_type=dataset_type,
                    dataset_name=dataset_name,
                    dataset_config=data.get("name") if dataset_id else None,
                    dataset_split=split,
                    metric_type=metric_id,
                    metric_value=round(value, 4),
                    metric_name=f"{pretty} ({split})",
                    metric_args=args,
                )
            )
    license_ = hub.get("license")
    return ModelCardData(
        library_name="transformers",
        base_model=checkpoint if is_hub_id(checkpoint) else None,
        datasets=[dataset_id] if dataset_id else None,
        metrics=metric_ids or None,
        pipeline_tag=task,
        tags=["hfft", task, mode],
        license=license_,
        model_name=model_name,
        eval_results=eval_results or None,
    )


def build_card(
    run_dir: str | Path,
    recipe: Mapping[str, Any],
    metrics: Mapping[str, Any],
    summary: Callable[[str, str], str] | None = None,
) -> str:
    """The full README.md text (metadata + body) for a run; `summary` (base model, dataset) ->
    the opening sentence, for a run that was not fine-tuned (zero-shot)."""
    run_dir = Path(run_dir)
    card_data = build_card_data(recipe, metrics)
    task, num_labels = _task_of_run(run_dir, recipe)
    model = recipe.get("model") or {}
    hub = recipe.get("hub") or {}
    mode = mode_named(model.get("mode"))
    checkpoint = str(model.get("checkpoint") or "")
    dataset_id, _, dataset_name = _dataset_description(recipe.get("data") or {}, task.name)

    base = (
        f"[{checkpoint}](https://huggingface.co/{checkpoint})"
        if is_hub_id(checkpoint)
        else f"a local checkpoint (`{basename(checkpoint)}`)"
    )
    dataset = (
        f"the [{dataset_id}](https://huggingface.co/datasets/{dataset_id}) dataset"
        if dataset_id
        else f"a local dataset (`{dataset_name}`)"
    )
    opening = (
        summary(base, dataset)
        if summary is not None
        else f"{'An' if task.name[:1] in 'aeiou' else 'A'} {task.name} model fine-tuned from "
        f"{base} on {dataset} with hfft in **{mode.name}** mode: {mode.describe(model)}."
    )
    parts = [f"# {card_data.model_name}", opening]
    data = recipe.get("data") or {}
    if data.get("streaming"):
        steps = (recipe.get("training") or {}).get("max_steps")
        parts.append(
            f"It was trained from a stream (`data.streaming`) for {steps} steps: the preflight "
            f"checked the first {data.get('preflight_rows')} training rows, and every later row "
            "was checked as it was read."
        )
    if model.get("head_init") and summary is None:
        parts.append(
            f"The new head started from the checkpoint's {model['head_init']} classifier (the "
            "normalised text embeddings of the class prompts, times its logit scale): before any "
            "step the model predicted exactly what zero-shot classification does."
        )

    splits = _ordered_splits(metrics)
    if splits:
        names = list(dict.fromkeys(n for s in splits for n in _scalar_metrics(metrics[s])))
        main = primary_split(splits)
        header = ["split", *(_metric_parts(n)[1] for n in names)]
        rows = [[s, *(_score(metrics[s], n) for n in names)] for s in splits]
        baselines = metrics[main].get(BASELINES_KEY) or {}
        if baselines:  # rows above the model's: what its score has to beat
            header = ["model", *header]
            rows = [
                [f"baseline: {BASELINE_TITLES.get(b, b)}", main, *(_score(e, n) for n in names)]
                for b, e in baselines.items()
            ] + [["this model", *row] for row in rows]
        parts += ["## Results", _table(header, rows)]
        note = _results_note(metrics, main, baselines, task.labels.example_unit)
        if note:
            parts.append(note)
        for key, title in _PER_LABEL_TABLES:
            per_class = metrics[main].get(key) or {}
            if not per_class:
                continue
            columns = list(next(iter(per_class.values())))
            rows = [
                [str(label).replace("|", "\\|"), *(_cell(c.get(k)) for k in columns)]
                for label, c in per_class.items()
            ]
            parts += [
                f"### {title} ({main} split)",
                _table(["label", *(_COLUMN_TITLES.get(k, k) for k in columns)], rows),
            ]
    plots = [
        (title, name)
        for title, name in (*task.labels.plots, ("Training curves", TRAINING_CURVES_FILE))
        if (run_dir / name).is_file()
    ]
    if plots:
        parts.append("## Plots")
        parts += [f"![{title}]({name})" for title, name in plots]

    target = hub.get("repo_id") or f"path/to/{run_dir.name}"
    example = task.modality.usage_example
    parts += [
        "## Usage",
        "```python\nfrom transformers import pipeline\n\n"
        f'classifier = pipeline("{task.name}", model="{target}"{_code_kwarg(run_dir)})\n'
        f"print(classifier({example}{task.labels.usage_kwargs.format(num_labels=num_labels)}))"
        "\n```",
        # one shell word: a text example unquoted would be predicted word by word
        f"or, with hfft: `hfft predict {target} {shlex.quote(ast.literal_eval(example))}`",
    ]
    if task.labels.usage_note:
        parts.append(task.labels.usage_note)

    published = sanitize_recipe(recipe)
    hyper = {k: v for k, v in (published.get("training") or {}).items() if k != "output_dir"}
    hyper["mode"] = mode.name
    hyper.update(mode.hyperparameters(model))
    hyper.update({f"optim.{k}": v for k, v in (recipe.get("optim") or {}).items() if v != 1.0})
    parts += [
        "## Training procedure",
        _table(["hyper-parameter", "value"], [[f"`{k}`", f"`{v}`"] for k, v in hyper.items()]),
        *_learning_rates(run_dir),
        "### Recipe",
        "The resolved recipe, local paths reduced to their base name: with them pointed back "
        "at the data, `hfft train recipe.yaml` reproduces the run.",
        f"```yaml\n{_yaml(published)}\n```",
        "## Framework versions",
        "\n".join(_framework_versions(mode.name)),
    ]
    text = f"---\n{card_data.to_yaml()}\n---\n\n" + "\n\n".join(parts) + "\n"
    return redact(text, secrets=(), mask=PUBLISHED_MASK)


def _code_kwarg(run_dir: Path) -> str:
    """`, trust_remote_code=True` for a model whose class ships with it (config.json's
    auto_map: hfft's zero-shot classifier, modeling_zero_shot.py beside the weights)."""
    import json

    try:
        config = json.loads((run_dir / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return ""
    return ", trust_remote_code=True" if config.get("auto_map") else ""


def _learning_rates(run_dir: Path) -> list[str]:
    """The learning rate of each optimizer group (`optim:` layer decay / head multiplier)."""
    import json

    path = run_dir / LEARNING_RATES_FILE
    rows = json.loads(path.read_text()) if path.is_file() else []
    if not rows:
        return []
    cells = [
        [r["group"], f"{r['lr']:.3g}", f"{r['weight_decay']:g}", f"{r['parameters']:,}"]
        for r in rows
    ]
    return [
        "### Learning rate per parameter group (at the schedule's start)",
        _table(["group", "learning rate", "weight decay", "parameters"], cells),
    ]


def _task_of_run(run_dir: Path, recipe: Mapping[str, Any]) -> tuple[Any, int]:
    """(the recipe's task with the label scheme of the saved model, its number of labels), from
    the run's config.json (the default scheme when there is none yet)."""
    import json

    config_file = run_dir / CONFIG_FILE
    try:
        config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    except ValueError:
        config = {}
    task = TASKS[recipe["task"]].for_config(config)
    return task, len(config.get("id2label") or {}) or 5


def write_model_card(
    run_dir: str | Path,
    recipe: Mapping[str, Any],
    metrics: Mapping[str, Any],
    summary: Callable[[str, str], str] | None = None,
) -> Path:
    """Write README.md (the model card) into `run_dir` and return its path."""
    path = Path(run_dir) / CARD_FILE
    ModelCard(build_card(run_dir, recipe, metrics, summary)).save(path)
    return path
