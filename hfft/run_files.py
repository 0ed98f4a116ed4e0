"""The names of everything in a run directory, in one place, and the one way to open a finished
run for an action (evaluate, predict with, push, serve). space/app.py, which cannot import hfft,
repeats the few names it reads (config.json, the marker, examples/, recipe.yaml, metrics.json).

    config.json, model.safetensors, processor files   the model (`pipeline()` loads the folder)
    recipe.yaml        the resolved recipe            metrics.json        metrics per split
    README.md          the model card                 training_curves.png, the scheme's plots
    examples/          demo inputs + examples.json    adapter/            LoRA only
    checkpoints/       Trainer checkpoints            eval/               `hfft eval` reports
    tune/              `hfft tune` study              unfinished.json     present while unfinished
    .hfft-written.json what hfft wrote (a start-over removes only these)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hfft.errors import HfftError

CONFIG_FILE = "config.json"
RECIPE_FILE = "recipe.yaml"
METRICS_FILE = "metrics.json"
CARD_FILE = "README.md"
TRAINING_CURVES_FILE = "training_curves.png"
CONFUSION_MATRIX_FILE = "confusion_matrix.png"
EXAMPLES_DIR = "examples"
EXAMPLES_FILE = "examples.json"
ADAPTER_DIR = "adapter"
CHECKPOINTS = "checkpoints"
CHECKPOINT_MARKER = "hfft_complete"  # inside checkpoint-N/, written last
EVAL_DIR = "eval"  # RUN_DIR/eval/<split> for the run's own data, eval/<data>-<split> for other
TUNE_DIR = "tune"
MARKER = "unfinished.json"
MANIFEST = ".hfft-written.json"


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


def is_unfinished(run_dir: str | Path) -> bool:
    """True while a run is training into the folder, or after it was interrupted."""
    return (Path(run_dir) / MARKER).is_file()


def open_finished(run_dir: str | Path, action: str, *, need_recipe: bool = False) -> FinishedRun:
    """The finished run in `run_dir`, to `action` (evaluate, predict with, push, serve); one-line
    HfftError for a folder that is missing, unfinished, or not a trained model directory (and,
    with `need_recipe`, not an hfft run: a plain save_pretrained folder has no recipe)."""
    path = Path(run_dir).expanduser()
    if not path.is_dir():
        raise HfftError(f"cannot {action} {path}: there is no such folder")
    if is_unfinished(path):
        raise HfftError(
            f"cannot {action} {path}: it is an unfinished hfft run ({MARKER} is there: training "
            "was interrupted or is still running). Continue it with `hfft train "
            f"{path / RECIPE_FILE} --resume`, or point at a finished run directory"
        )
    run = FinishedRun(path)
    if not run.config.is_file():
        raise HfftError(
            f"cannot {action} {path}: it has no {CONFIG_FILE}, so it is not a trained model "
            "directory; pass the training.output_dir of a finished `hfft train` run"
        )
    if need_recipe and not run.has_recipe:
        raise HfftError(
            f"cannot {action} {path}: it is not an hfft run directory (no {RECIPE_FILE}); "
            "train one with `hfft train RECIPE`"
        )
    return run
