"""`hfft train`: the whole pipeline, top to bottom. No task or mode branches live here."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hfft import (
    checkpoint,
    distributed,
    feature_cache,
    modes,
    precision,
    run_manifest,
    stream_settings,
    threads,
    zero_shot_baseline,
)
from hfft import run_dir as run_state
from hfft.data import LoadedData, load_data
from hfft.recipe import Recipe
from hfft.run_files import CHECKPOINTS, EXAMPLES_DIR, EXAMPLES_FILE, RECIPE_FILE
from hfft.tasks import TASKS, Task

log = logging.getLogger("hfft")

# hfft's TrainingArguments defaults; a task's defaults and then the recipe's training: win.
TRAINING_DEFAULTS: dict[str, Any] = {
    "num_train_epochs": 3,
    "per_device_train_batch_size": 16,
    "per_device_eval_batch_size": 32,
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "logging_strategy": "epoch",
    "save_total_limit": 2,
    # Early stopping and "best model restored at the end" both follow validation loss.
    "load_best_model_at_end": True,
    "metric_for_best_model": "eval_loss",
    "greater_is_better": False,
    "report_to": "none",
    # Every hfft task's targets are `labels`; named here because the Trainer otherwise drops
    # that column for a model whose forward takes it through **kwargs (Qwen3.5).
    "label_names": ["labels"],
    "seed": 42,
}
NUM_EXAMPLES = 8


@dataclass
class TrainResult:
    """What `train` returns: where the run directory is, its metrics, time and sizes."""

    run_dir: Path
    metrics: dict[str, Any]
    train_seconds: float
    trainable_parameters: int
    total_parameters: int


def training_arguments(recipe: Recipe, task: Task) -> Any:
    """TrainingArguments from hfft's defaults, the task's, then the recipe's `training:`.

    TrainingArguments' own errors come back as one RecipeError line, whole (its messages run
    over several lines: "... but found" and then the values found)."""
    import re

    import torch
    from transformers import TrainingArguments

    from hfft.errors import RecipeError
    from hfft.recipe_checks import unsupported_precision

    kwargs = effective_training(recipe, task)
    if kwargs.get("bf16") and not kwargs.get("use_cpu") and precision.cpu_can_bf16(kwargs):
        kwargs["use_cpu"] = True  # no GPU here; the Trainer's bf16 on a CPU needs use_cpu
    # Loader workers with an accelerator (the machine's business: not saved in recipe.yaml).
    kwargs.update(threads.dataloader_defaults(kwargs, precision.on_cpu(kwargs)))
    if "dataloader_pin_memory" not in recipe.training and not torch.cuda.is_available():
        kwargs["dataloader_pin_memory"] = False  # pinning needs an accelerator; skip the warning
    # Checkpoints go in a subfolder: the run directory itself holds the final model.
    kwargs["output_dir"] = str(recipe.output_dir / CHECKPOINTS)
    if kwargs.get("gradient_checkpointing"):
        kwargs.setdefault("gradient_checkpointing_kwargs", {"use_reentrant": False})
    # TrainingArguments' own check, in hfft's words: it says "assign use_cpu", but what a recipe
    # written for a GPU needs on this machine is bf16 off.
    bf16 = [key for key in unsupported_precision(kwargs) if key.startswith("bf16")]
    if bf16:
        here = "this machine's GPU lacks it" if torch.cuda.is_available() else "none is here"
        raise RecipeError(
            f"training.{bf16[0]}=true needs a GPU with bf16 support (NVIDIA Ampere or newer) "
            f"or a CPU with bf16 instructions (avx512_bf16, amx_bf16), and {here}: set "
            f"training.{bf16[0]}=false (or auto)"
        )
    try:
        return TrainingArguments(**kwargs)
    except (ValueError, TypeError) as err:
        lines = [line.strip().removeprefix("- ") for line in str(err).splitlines()]
        head, *found = [line for line in lines if line] or [type(err).__name__]
        message = head + (" " + "; ".join(found) if found else "")
        # "IntervalStrategy.EPOCH" -> "epoch": the value as the recipe spells it
        message = re.sub(r"\b[A-Z]\w*Strategy\.(\w+)", lambda m: m.group(1).lower(), message)
        raise RecipeError(f"invalid training: settings: {message}") from None


def effective_training(recipe: Recipe, task: Task) -> dict[str, Any]:
    """The `training:` settings a run really uses: hfft's defaults, the task's, the recipe's,
    with bf16/fp16 `auto` decided for this machine (hfft.precision)."""
    training = _training(recipe, task)
    return {**training, **precision.resolve(training, _width(recipe))[0]}


def precision_note(recipe: Recipe, task: Task) -> str:
    """The precision a run trains in and why, for the start line: "bf16 (auto: ...)"."""
    return precision.resolve(_training(recipe, task), _width(recipe))[1]


def _training(recipe: Recipe, task: Task) -> dict[str, Any]:
    # A streamed run's defaults (steps, not epochs) come after the task's: a stream has no
    # epochs whatever the task.
    streamed = stream_settings.training_defaults(recipe)
    return {**TRAINING_DEFAULTS, **task.training_defaults, **streamed, **recipe.training}


def _width(recipe: Recipe) -> Any:
    return lambda: checkpoint.model_width(recipe.model)


@dataclass
class Run:
    """A training run ready to go: the recipe, its data, and a configured Trainer."""

    recipe: Recipe
    task: Task
    data: LoadedData
    prepared: Any  # model-ready DatasetDict (train augmented)
    processor: Any
    model: Any  # the whole task model (PEFT-wrapped for LoRA); what the run directory saves
    trainer: Any  # trains `model`, or only its head on cached features


def build_run(recipe: Recipe, *, load: Callable[..., LoadedData] | None = None) -> Run:
    """Everything up to a ready `Trainer`: data, model in its mode, arguments, metrics.
    `load(recipe.data, task)` loads the data (default `hfft.data.load_data`; `hfft tune`
    passes one that loads once for all its trials).

    Preflight: every check that can fail (training arguments, output directory, checkpoint and
    its weights, processor, data columns/labels/examples, Hub token) runs before anything trains,
    and all their problems are raised together (`hfft.preflight.PreflightError`)."""
    from transformers import EarlyStoppingCallback, default_data_collator, set_seed

    from hfft import param_groups, preflight
    from hfft.callbacks import NativeKeyCheckpoints, ResumeReport

    task = TASKS[recipe.task]
    preflight.check_deepspeed(recipe.training)  # before transformers fails on the import
    problems = preflight.Problems()
    args = problems.run(training_arguments, recipe, task)
    problems.run(preflight.check_output_dir, recipe.output_dir)
    checkpoint_ok = problems.run(preflight.check_checkpoint, recipe.model) is not preflight.FAILED
    # The mode's needs, checked on a weightless copy: before data or weights load.
    mode_ok = checkpoint_ok and problems.run(preflight.check_mode, task, recipe.model) is None
    processor = preflight.FAILED
    if checkpoint_ok or recipe.model.checkpoint is None:
        processor = problems.run(checkpoint.load_processor, task, recipe.model)
    if recipe.hub.push:
        problems.run(preflight.check_hub, recipe.hub)
    main_first = (
        args.main_process_first(desc="loading data")
        if args is not preflight.FAILED
        else contextlib.nullcontext()
    )
    # Under torchrun/accelerate the main process fills the datasets cache, the others reuse it.
    with main_first:
        data = problems.run(load or load_data, recipe.data, task)
    model = metrics = preflight.FAILED
    if data is not preflight.FAILED:
        task = data.task  # with the label scheme the data asked for (multi-label lists...)
        problems.run(preflight.check_processes, task, args)
        metrics = problems.run(
            task.labels.build_metrics, recipe.eval.metrics, data.label_names, recipe.eval.threshold
        )
    if mode_ok and data is not preflight.FAILED and args is not preflight.FAILED:
        set_seed(args.seed)  # the new head's initialisation
        model = problems.run(_load_model_in_mode, task, recipe, data.label_names, processor)
    problems.raise_if_any()

    if args.gradient_checkpointing:
        modes.enable_checkpointing_inputs(model)
    collator = task.collator(processor)
    train_model = model
    cache, why = feature_cache.cache_decision(recipe, model)
    with args.main_process_first(desc="preparing data"):
        prepared = task.prepare(data.splits, processor, recipe)
        if cache:
            log.info("caching frozen-backbone features: %s", why)
            train_model, prepared = feature_cache.cache_features(
                model,
                prepared,
                collator,
                args.per_device_eval_batch_size,
                task.labels.head_loss,
                recipe.model.backbone,
                keys=feature_cache.data_keys(data.splits, processor, recipe),
                autocast=feature_cache.autocast_dtype(args),
            )
            # Plain feature tensors: with None the Trainer would pick the tokenizer's padding
            # collator for a text model, which expects input_ids.
            collator = default_data_collator
    from hfft.streaming import fit_loader_workers

    fit_loader_workers(args, prepared["train"], recipe.training)
    callbacks: list[Any] = [NativeKeyCheckpoints(), ResumeReport(recipe.output_dir)]
    callbacks += modes.mode_of(recipe.model).callbacks(model, recipe.model)
    callbacks += task.callbacks(recipe, prepared, processor, data.label_names)
    if recipe.early_stopping.patience:
        callbacks.append(
            EarlyStoppingCallback(recipe.early_stopping.patience, recipe.early_stopping.threshold)
        )
    distributed.wrap_blocks(args, train_model)  # before the Trainer builds its FSDP plugin
    trainer = param_groups.trainer_class(recipe.optim)(
        model=train_model,
        args=args,
        train_dataset=prepared["train"],
        eval_dataset=prepared["validation"],
        data_collator=collator,
        processing_class=processor,
        compute_metrics=metrics.compute_metrics,
        preprocess_logits_for_metrics=metrics.preprocess_logits_for_metrics,
        callbacks=callbacks,
    )
    param_groups.setup(trainer, model, train_model, recipe.optim, recipe.model.backbone)
    return Run(recipe, task, data, prepared, processor, model, trainer)


def _load_model_in_mode(task: Task, recipe: Recipe, label_names: list[str], processor: Any) -> Any:
    from hfft import head_init
    from hfft.preflight import FAILED

    model = head_init.load_model(task, recipe.model, label_names)
    if processor is not FAILED:  # else its problem is reported, and nothing trains
        model = task.adapt_model(model, processor, recipe)
    return modes.apply_mode(model, recipe.model)


def train(
    recipe: Recipe, *, resume: bool | str | None = None, overwrite: bool = False
) -> TrainResult:
    """Fine-tune as the recipe says and write a complete run directory.

    An interrupted run in the output directory is continued from its last complete checkpoint
    (resume=None, the default); resume=True demands one and resume="checkpoint-N" (or a path)
    names one. A finished run directory is only trained again with overwrite=True."""
    start = run_state.plan_start(recipe, resume, overwrite)
    run = build_run(recipe)
    log_main = log.info if run.trainer.is_world_process_zero() else log.debug
    log_main(
        "task %s | %s labels (%s) | checkpoint %s | mode %s | trainable %s | splits %s | "
        "%d labels %s | %s | %s",
        recipe.task,
        run.task.labels.name,
        run.data.scheme_reason,
        recipe.source,
        recipe.model.mode
        + (f" (freeze_layers={recipe.model.freeze_layers})" if recipe.model.freeze_layers else ""),
        modes.trainable_summary(run.model),
        run.data.sizes(),
        len(run.data.label_names),
        _preview(run.data.label_names),
        precision_note(recipe, run.task),
        threads.describe(),
    )
    # The other processes wait: none may read or write checkpoints while the folder is wiped.
    with run.trainer.args.main_process_first(desc="preparing the run directory"):
        if run.trainer.is_world_process_zero():
            run_state.begin(recipe.output_dir, recipe, start)
    began = time.perf_counter()
    resume_from = str(start.resume_from) if start.resume_from else None
    from hfft.callbacks import stop_on_failed_save

    with stop_on_failed_save(run.trainer, recipe.output_dir):  # disk full: one line, not a trace
        if resume_from is None:  # a checkpoint holds the probed head already
            from hfft.probe import train_head_first

            train_head_first(run)  # LP-FT's linear probe; nothing in the other modes
        run.trainer.train(resume_from_checkpoint=resume_from)
    return finish_run(run, time.perf_counter() - began)


def finish_run(run: Run, seconds: float) -> TrainResult:
    """Evaluate the trained model and write the run directory (on the main process only)."""
    from hfft import param_groups
    from hfft.card import write_model_card
    from hfft.evaluation import evaluate_and_report
    from hfft.redact import redact_tree

    recipe, trainer, run_dir = run.recipe, run.trainer, run.recipe.output_dir
    trainable, total = modes.count_parameters(run.model)
    main_process = trainer.is_world_process_zero()
    eval_splits = {
        name: run.prepared[name] for name in ("validation", "test") if name in run.prepared
    }
    # Whatever this writes into the run directory goes in its manifest (save_pretrained and the
    # processor choose their own file names), so that starting over removes it and nothing else.
    with run_manifest.recording(run_dir, enabled=main_process):
        metrics = evaluate_and_report(  # every process predicts (collective); the main one writes
            trainer,
            eval_splits,
            run_dir,
            run.task,
            run.data.label_names,
            recipe.eval.metrics,
            log_history=trainer.state.log_history,
            write=main_process,
            threshold=recipe.eval.threshold,
            fit=True,
        )
        # Under FSDP every process joins the gather of the shards; the main one gets the model.
        model = distributed.unsharded_model(
            trainer,
            run.model,
            lambda: _load_model_in_mode(run.task, recipe, run.data.label_names, run.processor),
        )
        if not main_process:
            return TrainResult(run_dir, metrics, seconds, trainable, total)
        if recipe.eval.baselines:
            from hfft.baselines import write_baselines

            held_out = {name: run.data.splits[name] for name in eval_splits}
            fitting = replace(run.data, splits=run.data.fitting_splits())
            metrics = write_baselines(
                run_dir, metrics, run.task, recipe, fitting, run.processor, held_out
            )
        metrics = zero_shot_baseline.add_to_run(run, eval_splits, metrics)
        # The unfinished marker (written when training began) goes last: an interruption
        # anywhere before leaves a run directory that says it is unfinished.
        run_state.mark_unfinished(run_dir)
        # The saved recipe spells out every training setting, defaults included, so it
        # reproduces the run even if hfft's defaults change.
        recipe = replace(recipe, training=effective_training(recipe, run.task))
        recipe.save(run_dir / RECIPE_FILE)
        model = modes.finalize(model, run_dir)
        model.save_pretrained(run_dir)
        param_groups.write_summary(trainer, run_dir)
        run.processor.save_pretrained(run_dir)
        save_examples(run.data, run.task, run_dir)
        write_model_card(run_dir, redact_tree(recipe.to_dict()), metrics)
    run_state.mark_finished(run_dir)
    if recipe.hub.push:
        from hfft.hub import push_run

        pushed = push_run(run_dir, recipe.hub.repo_id, private=recipe.hub.private)
        log.info("pushed to %s", pushed.repo_url)
    main_split = "test" if "test" in metrics else "validation"
    shown = {k: round(v, 4) for k, v in metrics.get(main_split, {}).items() if isinstance(v, float)}
    log.info("done in %.1fs | %s %s | run directory %s", seconds, main_split, shown, run_dir)
    return TrainResult(run_dir, metrics, seconds, trainable, total)


def save_examples(data: LoadedData, task: Task, run_dir: Path, n: int = NUM_EXAMPLES) -> None:
    """A few held-out inputs with their true labels (picked by the label scheme to cover the
    labels), for the demo app."""
    split = data.splits["test"] if "test" in data.splits else data.splits["validation"]
    folder = run_dir / EXAMPLES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    examples = []
    for i, row in enumerate(task.labels.pick_examples(split, n)):
        item = split[row]
        examples.append(
            {
                "input": task.modality.save_example(item[task.input_column], folder, i),
                "label": task.labels.example_label(item["label"], data.label_names),
            }
        )
    (folder / EXAMPLES_FILE).write_text(json.dumps(examples, indent=2))


def _preview(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return f"[{shown}{', ...' if len(names) > limit else ''}]"
