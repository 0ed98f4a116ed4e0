"""`hfft eval`: re-evaluate a finished run directory on one split of its own data (rebuilt from
its recipe with the same seed, so carved splits hold the same rows) or on other data, and write
the report under RUN_DIR/eval/<name>/ without touching the training run's report or card."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from hfft.errors import DataError
from hfft.evaluation import evaluate_and_report
from hfft.run_files import CONFIG_FILE, EVAL_DIR, METRICS_FILE

log = logging.getLogger("hfft")


def evaluate_run(
    run_dir: Path, split: str = "test", data: str | None = None, baselines: bool = False
) -> dict[str, Any]:
    """Re-evaluate a finished run directory on one split of its own data (rebuilt from its
    recipe with the same seed, so carved splits hold the same rows) or of other data (`data`: a
    folder, a csv/json/parquet file or a Hub id). Writes RUN_DIR/eval/<name>/ (metrics.json and
    the confusion matrix) and returns the metrics of that split; with `baselines`, also the
    majority class and a linear probe on the recipe's frozen checkpoint, fitted on the run's own
    train split (hfft.baselines)."""
    from dataclasses import replace

    from datasets import DatasetDict
    from transformers import Trainer

    from hfft import checkpoint, modes, run_manifest
    from hfft.data import load_data, load_split
    from hfft.errors import RecipeError
    from hfft.recipe import load_recipe
    from hfft.run_files import RECIPE_FILE, open_finished
    from hfft.tasks import TASKS

    run_dir = open_finished(run_dir, "evaluate", need_recipe=True).path
    source = data_source(data) if data is not None else None  # a missing file fails first
    try:
        # Evaluation reports to no integration: the run's (wandb, ...) may not be installed here.
        recipe = load_recipe(run_dir / RECIPE_FILE, ["training.report_to=none"])
    except RecipeError as err:
        raise RecipeError(f"{run_dir / RECIPE_FILE}: {err}") from None
    # With the label scheme the saved model has (its config's problem_type).
    task = TASKS[recipe.task].for_config(json.loads((run_dir / CONFIG_FILE).read_text()))
    # The saved model is complete (LoRA merged, head trained): evaluate it as it is.
    saved = modes.saved_model_spec(recipe.model, run_dir)
    processor = checkpoint.load_processor(task, saved)
    names = checkpoint.label_names(run_dir)
    loaded = None
    if source is None or baselines:  # the baselines fit on the run's own train split
        loaded = load_data(data_here(recipe.data, run_dir, recipe.output_dir), task)
        if loaded.task is not None and loaded.task.labels.name != task.labels.name:
            raise DataError(
                f"the data's labels are {loaded.task.labels.name} ({loaded.scheme_reason}), but "
                f"the model is {task.labels.name}"
            )
    if source is None:
        held_out = sorted(s for s in loaded.splits if s != "train")
        if split not in held_out:
            raise DataError(
                f"split '{split}' not found; this run has {held_out} "
                "(use --split validation, or --data to evaluate other data)"
            )
        if loaded.label_names != names:
            raise DataError(
                f"the data's labels {loaded.label_names[:10]} differ from the model's {names[:10]}"
            )
        splits, key, folder = DatasetDict({split: loaded.splits[split]}), split, split
    else:
        spec = replace(recipe.data, **source)
        splits = DatasetDict({split: load_split(spec, task, split, names)})
        path = Path(data).expanduser()
        label = path.resolve().name if path.exists() else data
        key = f"{label}:{split}"
        folder = re.sub(r"[^\w.-]+", "_", f"{label}-{split}")
    prepared = task.prepare(splits, processor, recipe)
    trainer = Trainer(
        model=task.adapt_model(checkpoint.load_model(task, saved, names), processor, recipe),
        args=evaluation_arguments(recipe, task, run_dir),
        eval_dataset=prepared[split],
        data_collator=task.collator(processor),
        processing_class=processor,
    )
    out = run_dir / EVAL_DIR / folder
    # hfft wrote eval/: starting the run over (--overwrite) removes it with the old model's files
    run_manifest.record_written(run_dir, [EVAL_DIR])
    report = evaluate_and_report(  # with the thresholds chosen when the run was trained
        trainer, {key: prepared[split]}, out, task, names, recipe.eval.metrics,
        threshold=recipe.eval.threshold, decision_dir=run_dir,
    )  # fmt: skip
    if baselines:
        from hfft.baselines import write_baselines

        held_out = {key: splits[split]}
        report = write_baselines(out, report, task, recipe, loaded, processor, held_out)
    log.info("report written to %s (%s and plots)", out, METRICS_FILE)
    return report[key]


def evaluation_arguments(recipe: Any, task: Any, run_dir: Path | None = None) -> Any:
    """The run's TrainingArguments for prediction on this machine: without the mixed precision
    it lacks (a run trained with bf16 on a GPU evaluates in fp32 on a CPU, as `hfft predict`
    does), reporting to no integration, pushing nothing, and rooted at `run_dir` (the Trainer
    creates its output folder: a relative training.output_dir would land in the current one)."""
    from dataclasses import replace

    from hfft.recipe_checks import unsupported_precision
    from hfft.run import training_arguments

    training = {**recipe.training, "report_to": "none", "push_to_hub": False}
    if run_dir is not None:
        training["output_dir"] = str(run_dir)
    dropped = unsupported_precision(training)
    if dropped:
        log.info(
            "evaluating in fp32: the run trained with %s, which this machine does not support",
            "/".join(f"{key}=true" for key in dropped),
        )
        training.update(dict.fromkeys(dropped, False))
    return training_arguments(replace(recipe, training=training), task)


def data_here(spec: Any, run_dir: Path, output_dir: Path) -> Any:
    """The recipe's data spec with its relative local paths (data_dir, data_files, a local
    data.path) as seen from here: kept when they exist relative to the current folder, else
    resolved against the folder the run was trained from (found from where the run directory is
    and the relative training.output_dir it was given). A path found in neither is an error that
    says so and what to do."""
    from dataclasses import replace

    from hfft.local_paths import looks_like_local_path
    from hfft.redact import is_hub_id

    origin = training_origin(run_dir, output_dir)

    def here(key: str, value: str) -> str:
        if "://" in value or Path(value).expanduser().is_absolute() or _exists(value):
            return value
        if origin is not None and _exists(str(origin / value)):
            return str(origin / value)
        trained_in = f" nor to {origin}, where the run was trained" if origin else ""
        raise DataError(
            f"the run's recipe reads data.{key} '{value}', which does not exist relative to "
            f"{Path.cwd()}{trained_in}: run `hfft eval` from the folder you trained in, or "
            "pass --data PATH"
        )

    changes: dict[str, Any] = {}
    if spec.data_dir:
        changes["data_dir"] = here("data_dir", spec.data_dir)
    # With data_dir set, datasets reads data_files relative to it: they move with it.
    files = None if spec.data_dir else spec.data_files
    if isinstance(files, str):
        changes["data_files"] = here("data_files", files)
    elif isinstance(files, list):
        changes["data_files"] = [here("data_files", f) for f in files]
    elif isinstance(files, dict):
        changes["data_files"] = {
            split: [here(f"data_files.{split}", f) for f in paths]
            if isinstance(paths, list)
            else here(f"data_files.{split}", paths)
            for split, paths in files.items()
        }
    path = spec.path
    local = looks_like_local_path(path) or (not is_hub_id(path) and "/" in path)
    at_origin = origin is not None and (origin / path).exists() and not Path(path).exists()
    if local or at_origin:
        changes["path"] = here("path", path)
    changed = {k: v for k, v in changes.items() if v != getattr(spec, k)}
    if changed:
        log.info("the recipe's data paths resolved against %s, where the run was trained", origin)
    return replace(spec, **changed)


def _exists(path: str) -> bool:
    """A path or a glob (data_files takes `data/*.csv`) that matches something."""
    import glob

    expanded = str(Path(path).expanduser())
    return bool(glob.glob(expanded)) if glob.has_magic(expanded) else Path(expanded).exists()


def training_origin(run_dir: Path, output_dir: Path) -> Path | None:
    """The folder `hfft train` ran in, when the run's training.output_dir was relative and the
    run directory is still at that path below it (runs/x trained in PROJECT and found at
    PROJECT/runs/x -> PROJECT); else None."""
    relative = Path(output_dir)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        return None
    found = Path(run_dir).resolve()
    tail = relative.parts
    if found.parts[-len(tail) :] != tail:
        return None
    return Path(*found.parts[: -len(tail)])


def data_source(data: str) -> dict[str, Any]:
    """DataSpec fields for `--data`: a folder, a csv/json/jsonl/parquet file (or one a task's
    modality reads itself, such as .conll), or a Hub id."""
    from hfft.redact import is_hub_id
    from hfft.tasks import TASKS

    path = Path(data).expanduser()
    builders = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
    source: dict[str, Any] = {"name": None, "revision": None, "data_dir": None, "data_files": None}
    own = {ext for task in TASKS.values() for ext in task.modality.readers if ext[:1] == "."}
    if path.is_file():
        if path.suffix.lower() in own - set(builders):
            return {**source, "path": str(path)}  # read as data.path, by the task's modality
        if path.suffix not in builders:
            raise DataError(f"--data {data}: expected a folder or a {sorted(builders)} file")
        return {**source, "path": builders[path.suffix], "data_files": str(path)}
    if path.exists():
        return {**source, "path": str(path)}
    if path.suffix in builders or not is_hub_id(data):
        raise DataError(
            f"--data {data}: {path.absolute()} does not exist (give a folder, a "
            f"{'/'.join(sorted(s.lstrip('.') for s in builders))} file or a Hub dataset id)"
        )
    return {**source, "path": data}
