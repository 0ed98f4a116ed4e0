"""`hfft zero-shot RECIPE`: classify a recipe's held-out data with an image-text checkpoint and
no training, and write a run directory like a trained one; and the zero-shot baseline row of a
fine-tuned run.

The run directory holds what `hfft train` writes, for a model trained for zero steps: the
zero-shot classifier (hfft.modeling_zero_shot; `pipeline()`, `hfft predict`, `hfft eval` and
`hfft serve` load it), the image processor, recipe.yaml (with `model.head_init: zero-shot`),
metrics.json with the same metric names and splits as a fine-tuned run of the recipe (splits
carved with the same seed), the per-class report, the confusion matrix, examples and a card.
It follows the run directory's rules (hfft.run_dir): nothing is written before every input is
checked, a folder hfft did not write is refused, the unfinished marker stays until the end.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from hfft.errors import HfftError
from hfft.zero_shot_baseline import AUTO_CLASS
from hfft.zero_shot_spec import ZERO_SHOT

log = logging.getLogger("hfft")


def check_task(task: Any) -> None:
    """Zero-shot classifiers exist for the task whose models they are (image classification)."""
    if task.model_class != AUTO_CLASS:
        raise HfftError(
            f"zero-shot classifies images with an image-text checkpoint; task {task.name} has "
            "no zero-shot classifier: use an image classification recipe"
        )


def zero_shot(recipe: Any, overwrite: bool = False) -> dict[str, Any]:
    """Evaluate the recipe's checkpoint zero-shot on its held-out splits and write a run
    directory to training.output_dir; returns metrics.json's content."""
    from transformers import Trainer

    from hfft import checkpoint, run_manifest
    from hfft import run_dir as run_state
    from hfft.card import write_model_card
    from hfft.data import load_data
    from hfft.eval_run import evaluation_arguments
    from hfft.evaluation import evaluate_and_report
    from hfft.redact import redact_tree
    from hfft.run import save_examples
    from hfft.tasks import TASKS
    from hfft.zero_shot import check_dual_encoder, load_zero_shot_model

    recipe = replace(recipe, model=replace(recipe.model, head_init=ZERO_SHOT))
    task = TASKS[recipe.task]
    check_task(task)
    run_dir = recipe.output_dir
    start = plan_write(run_dir, overwrite)
    check_dual_encoder(recipe.model)
    processor = checkpoint.load_processor(task, recipe.model)
    data = load_data(recipe.data, task)
    task = data.task
    model = load_zero_shot_model(task, recipe.model, data.label_names)
    held_out = {n: s for n, s in data.splits.items() if n in ("validation", "test")}
    prepared = task.prepare(held_out, processor, recipe)
    args = evaluation_arguments(recipe, task, run_dir)
    run_state.begin(run_dir, recipe, start)
    with run_manifest.recording(run_dir):
        trainer = Trainer(
            model=model,
            args=args,
            eval_dataset=next(iter(prepared.values())),
            data_collator=task.collator(processor),
            processing_class=processor,
        )
        metrics = evaluate_and_report(
            trainer, dict(prepared), run_dir, task, data.label_names, recipe.eval.metrics,
            threshold=recipe.eval.threshold, fit=True,
        )  # fmt: skip
        run_state.mark_unfinished(run_dir)
        model.save_pretrained(run_dir)
        processor.save_pretrained(run_dir)
        save_examples(data, task, run_dir)
        write_model_card(
            run_dir, redact_tree(recipe.to_dict()), metrics, summary=card_summary(recipe)
        )
    run_state.mark_finished(run_dir)
    return metrics


def plan_write(run_dir: Path, overwrite: bool) -> Any:
    """How to start writing `run_dir` (refusing what `hfft train` refuses)."""
    from hfft import run_dir as run_state
    from hfft import run_lock
    from hfft.run_files import is_finished

    if run_dir.exists() and not run_dir.is_dir():
        raise HfftError(f"training.output_dir {run_dir} is a file: point it at a folder")
    run_state.refuse_foreign(run_dir)
    run_lock.refuse_second_writer(run_dir)
    if is_finished(run_dir) and not overwrite:
        raise HfftError(
            f"{run_dir} already holds a finished run: add --overwrite to replace it, or set "
            "another training.output_dir"
        )
    started = run_dir.is_dir() and run_state.is_run_dir(run_dir)
    return run_state.Start(wipe=started, why="--overwrite" if overwrite else "starting over")


def card_summary(recipe: Any) -> Any:
    """The card's opening sentence for a zero-shot run (given the base model and dataset)."""
    from hfft.zero_shot import prompts

    templates = recipe.model.zero_shot.templates
    example = prompts(["{label}"], templates)[0][0]
    n = len(prompts(["x"], templates)[0])

    def summary(base: str, dataset: str) -> str:
        return (
            f"A zero-shot image classifier: {base}'s image embeddings compared with the text "
            f'embeddings of class prompts ({n} templates, e.g. "{example}"), evaluated on '
            f"{dataset} with hfft, without training on it. Its classification head is the "
            "normalised prompt embeddings times the checkpoint's logit scale, so fine-tuning "
            "with `model.head_init: zero-shot` starts from exactly this model."
        )

    return summary
