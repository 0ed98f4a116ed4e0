"""`hfft wise-ft RUN_DIR`: weight-space ensembles of a fine-tuned run and its zero-shot start
(WiSE-FT, Wortsman et al. 2022): for each alpha the weights (1 - alpha) * start + alpha *
fine-tuned, evaluated on the run's validation and test splits.

The start is recoverable only for a run trained with `model.head_init: zero-shot`: its backbone
is the checkpoint the recipe names, and its head is the zero-shot head, which the model keeps in
its `zero_shot_weight`/`zero_shot_bias` buffers (saved with the weights, LoRA merged). The head
is also computed again from the checkpoint's text tower and must match the saved one: a
checkpoint that changed since training (another revision, other files at the path) is refused,
never interpolated silently wrong. Alpha 0 is then exactly the start and alpha 1 exactly the
fine-tuned run (the mix is written as (1 - a) * x + a * y, which is exact at both ends).

Writes RUN_DIR/wise-ft/: wise_ft.json, wise_ft.md (the table) and wise_ft.png (the curves);
`--save ALPHA` (or `best`: the best alpha on validation) writes that model as a complete run
directory (model, processor, recipe, metrics, confusion matrix, examples, card).
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from hfft.errors import HfftError

log = logging.getLogger("hfft")

WISE_FT_DIR = "wise-ft"
TABLE_JSON, TABLE_MD, PLOT = "wise_ft.json", "wise_ft.md", "wise_ft.png"
# How far the head recomputed from the checkpoint may differ from the saved start head (float
# noise of another machine); beyond it the checkpoint is not the one the run started from.
HEAD_TOLERANCE = 1e-4


def mix(start: dict[str, Any], tuned: dict[str, Any], alpha: float) -> dict[str, Any]:
    """(1 - alpha) * start + alpha * tuned for every floating-point tensor (others: tuned's)."""
    out = {}
    for key, value in tuned.items():
        if value.is_floating_point():
            out[key] = (1.0 - alpha) * start[key] + alpha * value
        else:
            out[key] = value
    return out


def load_pair(run_dir: Path) -> tuple[Any, Any, Any, Any, list[str]]:
    """(recipe, task, fine-tuned model, start state dict, label names) of a finished run that
    started from a zero-shot head."""
    from hfft import checkpoint, modes
    from hfft.recipe import load_recipe
    from hfft.run_files import CONFIG_FILE, RECIPE_FILE, open_finished
    from hfft.tasks import TASKS
    from hfft.zero_shot import start_head
    from hfft.zero_shot_spec import ZERO_SHOT

    run_dir = open_finished(run_dir, "interpolate", need_recipe=True, need_weights=True).path
    recipe = load_recipe(run_dir / RECIPE_FILE, ["training.report_to=none"])
    task = TASKS[recipe.task].for_config(json.loads((run_dir / CONFIG_FILE).read_text()))
    names = checkpoint.label_names(run_dir)
    tuned = checkpoint.load_model(task, modes.saved_model_spec(recipe.model, run_dir), names)
    head = start_head(tuned)
    if head is None or recipe.model.head_init != ZERO_SHOT:
        raise HfftError(
            f"cannot interpolate {run_dir}: it did not start from a zero-shot head (its recipe's "
            "model.head_init is not zero-shot), so its start cannot be recovered; train it with "
            "model.head_init=zero-shot on a CLIP/SigLIP checkpoint"
        )
    from hfft.zero_shot import load_zero_shot_model

    spec = replace(recipe.model, checkpoint=_checkpoint_here(recipe, run_dir))
    start = load_zero_shot_model(task, spec, names)
    recomputed = start.classifier.weight.detach()
    gap = float((recomputed - head[0]).abs().max())
    if recomputed.shape != head[0].shape or gap > HEAD_TOLERANCE:
        raise HfftError(
            f"cannot interpolate {run_dir}: the zero-shot head of '{recipe.model.checkpoint}' now "
            f"differs from the one the run started from (by up to {gap:.3g}): the checkpoint "
            "changed since training; point model.checkpoint (and model.revision) at the one it "
            "trained from"
        )
    start.set_zero_shot_head(*head)  # exactly the saved start head
    return recipe, task, tuned, start.state_dict(), names


def _checkpoint_here(recipe: Any, run_dir: Path) -> str:
    """The recipe's checkpoint as seen from here: a relative local path that is missing here
    is looked up where the run was trained (as `hfft eval` does for data)."""
    from hfft.eval_run import training_origin

    source = str(recipe.model.checkpoint)
    if Path(source).expanduser().exists() or Path(source).is_absolute():
        return source
    origin = training_origin(run_dir, recipe.output_dir)
    if origin is not None and (origin / source).exists():
        return str(origin / source)
    return source


def wise_ft(
    run_dir: Path, alphas: list[float], save: str | None = None, out: Path | None = None
) -> dict[str, Any]:
    """Evaluate every alpha, write RUN_DIR/wise-ft/ and, with `save`, one alpha's run
    directory; returns the table ({"alphas": [...], "rows": [...], "best": alpha, ...})."""
    from transformers import Trainer

    from hfft import checkpoint, run_manifest
    from hfft.data import load_data
    from hfft.eval_run import data_here, evaluation_arguments
    from hfft.evaluation import predict_split

    run_dir = Path(run_dir).expanduser()
    choice = _save_choice(save, alphas)
    recipe, task, model, start, names = load_pair(run_dir)
    tuned = {k: v.clone() for k, v in model.state_dict().items()}
    processor = checkpoint.load_processor(task, replace(recipe.model, checkpoint=str(run_dir)))
    data = load_data(data_here(recipe.data, run_dir, recipe.output_dir), task)
    held_out = {n: s for n, s in data.splits.items() if n in ("validation", "test")}
    prepared = task.prepare(held_out, processor, recipe)
    metrics = task.labels.build_metrics(recipe.eval.metrics, names, recipe.eval.threshold)
    trainer = Trainer(
        model=model,
        args=evaluation_arguments(recipe, task, run_dir / WISE_FT_DIR),
        eval_dataset=next(iter(prepared.values())),
        data_collator=task.collator(processor),
        processing_class=processor,
    )
    rows = []
    for alpha in alphas:
        model.load_state_dict(mix(start, tuned, alpha))
        row: dict[str, Any] = {"alpha": alpha}
        for split, ds in prepared.items():
            entry, _ = metrics.report(*predict_split(trainer, ds, metrics, split))
            row[split] = {k: v for k, v in entry.items() if isinstance(v, int | float)}
        rows.append(row)
        log.info("alpha %.2f: %s", alpha, {s: row[s] for s in prepared})
    key = metrics.names[0]
    judge = "validation" if "validation" in prepared else next(iter(prepared))
    best = max(rows, key=lambda r: r[judge].get(key, float("-inf")))["alpha"]
    table = {"metric": key, "chosen_on": judge, "best": best, "rows": rows}
    folder = run_dir / WISE_FT_DIR
    run_manifest.record_written(run_dir, [WISE_FT_DIR])  # an overwrite of the run removes it
    folder.mkdir(exist_ok=True)
    (folder / TABLE_JSON).write_text(json.dumps(table, indent=2) + "\n")
    (folder / TABLE_MD).write_text(table_markdown(table, list(prepared)))
    plot_table(table, list(prepared), folder / PLOT)
    if choice is not None:
        alpha = best if choice == "best" else float(choice)
        model.load_state_dict(mix(start, tuned, alpha))
        target = Path(out) if out else run_dir.with_name(f"{run_dir.name}-wise-ft-{alpha:g}")
        table["saved"] = str(save_run(target, run_dir, recipe, task, data, model, processor, alpha))
    return table


def _save_choice(save: str | None, alphas: list[float]) -> str | None:
    if save is None or save == "best":
        return save
    try:
        value = float(save)
    except ValueError:
        raise HfftError(f"--save {save!r}: give an alpha in [0, 1] or best") from None
    if not 0.0 <= value <= 1.0:
        raise HfftError(f"--save {save}: alpha must lie in [0, 1]")
    return save


def table_markdown(table: dict[str, Any], splits: list[str]) -> str:
    """The table as markdown: one row per alpha, every metric of each split."""
    names = list(dict.fromkeys(n for r in table["rows"] for s in splits for n in r[s]))
    header = ["alpha", *(f"{s} {n}" for s in splits for n in names)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table["rows"]:
        mark = " (best)" if row["alpha"] == table["best"] else ""
        cells = [f"{row['alpha']:g}{mark}"]
        cells += [f"{row[s].get(n, float('nan')):.4f}" for s in splits for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    intro = (
        "WiSE-FT: weights (1 - alpha) * zero-shot start + alpha * fine-tuned. alpha 0 is the "
        f"zero-shot model, 1 the fine-tuned one; best on {table['chosen_on']} "
        f"{table['metric']}: alpha {table['best']:g}.\n\n"
    )
    return intro + "\n".join(lines) + "\n"


def plot_table(table: dict[str, Any], splits: list[str], path: Path) -> None:
    """The first metric against alpha, one line per split."""
    from hfft.plots import new_figure

    fig = new_figure(5, 3.4)
    ax = fig.add_subplot()
    alphas = [r["alpha"] for r in table["rows"]]
    for split in splits:
        ax.plot(alphas, [r[split].get(table["metric"]) for r in table["rows"]], "o-", label=split)
    ax.axvline(table["best"], color="grey", linestyle=":", label=f"best alpha {table['best']:g}")
    ax.set_xlabel("alpha (0: zero-shot start, 1: fine-tuned)")
    ax.set_ylabel(table["metric"])
    ax.set_title("WiSE-FT weight interpolation")
    ax.legend()
    fig.savefig(path, dpi=110)


def save_run(
    target: Path,
    source: Path,
    recipe: Any,
    task: Any,
    data: Any,
    model: Any,
    processor: Any,
    alpha: float,
) -> Path:
    """Write the interpolated model as a complete run directory (as `hfft train` would)."""
    from transformers import Trainer

    from hfft import run_dir as run_state
    from hfft import run_manifest
    from hfft.card import write_model_card
    from hfft.eval_run import evaluation_arguments
    from hfft.evaluation import evaluate_and_report
    from hfft.redact import redact_tree
    from hfft.run_files import EXAMPLES_DIR
    from hfft.zero_shot_run import plan_write

    recipe = replace(recipe, training={**recipe.training, "output_dir": str(target)})
    start = plan_write(target, overwrite=True)  # replaces only its own earlier output
    held_out = {n: s for n, s in data.splits.items() if n in ("validation", "test")}
    prepared = task.prepare(held_out, processor, recipe)
    run_state.begin(target, recipe, start)
    with run_manifest.recording(target):
        trainer = Trainer(
            model=model,
            args=evaluation_arguments(recipe, task, target),
            eval_dataset=next(iter(prepared.values())),
            data_collator=task.collator(processor),
            processing_class=processor,
        )
        metrics = evaluate_and_report(
            trainer, dict(prepared), target, task, data.label_names, recipe.eval.metrics,
            threshold=recipe.eval.threshold, fit=True,
        )  # fmt: skip
        run_state.mark_unfinished(target)
        model.save_pretrained(target)
        processor.save_pretrained(target)
        if (source / EXAMPLES_DIR).is_dir():
            shutil.copytree(source / EXAMPLES_DIR, target / EXAMPLES_DIR, dirs_exist_ok=True)

        def summary(base: str, dataset: str) -> str:
            return (
                f"A WiSE-FT weight-space ensemble (alpha {alpha:g}) of an image classifier "
                f"fine-tuned from {base} on {dataset} with hfft (`{source.name}`) and its "
                f"zero-shot start: weights (1 - {alpha:g}) * zero-shot + {alpha:g} * fine-tuned."
            )

        write_model_card(target, redact_tree(recipe.to_dict()), metrics, summary=summary)
    run_state.mark_finished(target)
    log.info("alpha %g saved as a run directory: %s", alpha, target)
    return target
