"""The names of everything in a run directory, in one place, and the one way to open a finished
run for an action (evaluate, predict with, push, serve). space/app.py, which cannot import hfft,
repeats the few names it reads (the marker, examples/, recipe.yaml, metrics.json);
tests/test_run_files.py checks that its copies equal these.

    config.json, model.safetensors, processor files   the model (`pipeline()` loads the folder)
    recipe.yaml        the resolved recipe            metrics.json        metrics per split
    predictions.json   per-example predictions, for paired comparisons (hfft.comparisons)
    README.md          the model card                 training_curves.png, the scheme's plots
    thresholds.json    multi-label decision thresholds per label (chosen on validation)
    examples/          demo inputs + examples.json    adapter/            LoRA and PEFT only
    learning_rates.json  the lr per optimizer group (optim.layer_decay / head_lr_scale only)
    checkpoints/       Trainer checkpoints            eval/               `hfft eval` reports
    tune/              `hfft tune` study              unfinished.json     present while unfinished
    .hfft-written.json what hfft wrote (a start-over removes only these)
    .hfft-lock         while `hfft train` runs: its pid, host and start time (hfft/run_lock.py)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hfft.errors import HfftError

CONFIG_FILE = "config.json"
RECIPE_FILE = "recipe.yaml"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.json"
CARD_FILE = "README.md"
TRAINING_CURVES_FILE = "training_curves.png"
CONFUSION_MATRIX_FILE = "confusion_matrix.png"
# Multi-label runs: per-label F1 bars, per-label confusion, the thresholds chosen on validation.
PER_LABEL_F1_FILE = "per_label_f1.png"
LABEL_CONFUSION_FILE = "label_confusion.png"
THRESHOLDS_FILE = "thresholds.json"
EXAMPLES_DIR = "examples"
EXAMPLES_FILE = "examples.json"
ADAPTER_DIR = "adapter"
LEARNING_RATES_FILE = "learning_rates.json"
CHECKPOINTS = "checkpoints"
CHECKPOINT_MARKER = "hfft_complete"  # inside checkpoint-N/, written last
EVAL_DIR = "eval"  # RUN_DIR/eval/<split> for the run's own data, eval/<data>-<split> for other
TUNE_DIR = "tune"
MARKER = "unfinished.json"
MANIFEST = ".hfft-written.json"


# Weights `save_pretrained` writes (one file, or shards with their index).
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
WEIGHTS = "model weights (model.safetensors)"  # how a message names them


@dataclass(frozen=True)
class FinishedRun:
    """A run directory that holds a whole, finished hfft run (or a plain saved model)."""

    path: Path

    @property
    def config(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def recipe(self) -> Path:
        return self.path / RECIPE_FILE

    @property
    def has_recipe(self) -> bool:
        return self.recipe.is_file()

    @property
    def has_weights(self) -> bool:
        return any((self.path / name).is_file() for name in WEIGHT_FILES)


def is_unfinished(run_dir: str | Path) -> bool:
    """True while a run is training into the folder, or after it was interrupted."""
    return (Path(run_dir) / MARKER).is_file()


def is_finished(run_dir: str | Path) -> bool:
    """True for a folder holding a whole hfft run: its model and recipe, and no marker."""
    run = FinishedRun(Path(run_dir))
    return run.has_recipe and run.config.is_file() and not is_unfinished(run.path)


def refuse_unfinished(run_dir: str | Path, action: str) -> None:
    """Refuse to `action` a folder holding an unfinished run: say whether a run is in progress
    there (a live process holds its lock, hfft/run_lock.py) or how to finish it."""
    from hfft.run_lock import live_holder

    path = Path(run_dir).expanduser()
    if path.is_dir() and is_unfinished(path):
        holder = live_holder(path)
        if holder is not None:
            raise HfftError(
                f"cannot {action} {path}: it is an unfinished hfft run and a run is in progress: "
                f"`hfft train` ({holder.describe()}) is training into it; wait for it to finish, "
                "then use the finished run directory"
            )
        raise HfftError(
            f"cannot {action} {path}: it is an unfinished hfft run ({MARKER} is there: training "
            "was interrupted or is still running). Continue it with `hfft train "
            f"{path / RECIPE_FILE} --resume`, or point at a finished run directory"
        )


def open_finished(
    run_dir: str | Path,
    action: str,
    *,
    need_recipe: bool = False,
    need_weights: bool = False,
    or_hub_id: bool = False,
) -> FinishedRun:
    """The finished run in `run_dir`, to `action` (evaluate, predict with, push, serve).

    One-line HfftError, before anything is read, for a folder that is missing, unfinished, or
    not a trained model directory (no config.json; with `need_weights`, no weights either), and
    with `need_recipe`, not an hfft run (a plain save_pretrained folder has no recipe).
    `or_hub_id`: the command takes a Hub id too, and the message says so."""
    path = Path(run_dir).expanduser()
    if not path.is_dir():
        raise HfftError(f"cannot {action} {path}: there is no such folder")
    refuse_unfinished(path, action)
    run = FinishedRun(path)
    instead = "pass the training.output_dir of a finished `hfft train` run" + (
        ", or a Hub model id" if or_hub_id else ""
    )
    missing = [] if run.config.is_file() else [CONFIG_FILE]
    if need_recipe and not run.has_recipe:
        missing.append(RECIPE_FILE)
        raise HfftError(
            f"cannot {action} {path}: it is not an hfft run directory (no "
            f"{' and no '.join(missing)}); train one with `hfft train RECIPE`"
        )
    if need_weights and not run.has_weights:
        missing.append(WEIGHTS)
    if missing and need_weights:
        raise HfftError(
            f"cannot {action} {path}: it is not a finished run: no {' and no '.join(missing)}; "
            f"{instead} (an interrupted run only has {CHECKPOINTS}/)"
        )
    if missing:
        raise HfftError(
            f"cannot {action} {path}: it has no {CONFIG_FILE}, so it is not a trained model "
            f"directory; {instead}"
        )
    return run
