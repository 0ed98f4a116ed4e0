"""`hfft train RECIPE [key=value ...] [--resume [CHECKPOINT] | --overwrite] [--seeds N]`."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hfft.recipe import Recipe


def train_command(args: argparse.Namespace, recipe: Recipe | None = None) -> int:
    """Train the recipe (loaded from `args` unless given), resuming or overwriting as the flags
    say. On Ctrl-C, say how to continue."""
    from hfft.recipe import load_recipe

    # Validated before torch and transformers are imported: a typo fails in a fraction of a second.
    if recipe is None:
        recipe = load_recipe(args.recipe, args.overrides)
    from hfft import run_dir as run_state
    from hfft.redact import install_log_redaction
    from hfft.run import train
    from hfft.threads import apply_threads

    apply_threads(getattr(args, "threads", None))  # said in the run's start line

    _configure_library_loggers()
    install_log_redaction()
    resume, overwrite = getattr(args, "resume", None), getattr(args, "overwrite", False)
    seeds = getattr(args, "seeds", None)
    try:
        if seeds:
            from hfft.run import TRAINING_DEFAULTS
            from hfft.seeds import train_seeds

            summary = train_seeds(
                recipe,
                seeds,
                lambda one: train(one, resume=resume, overwrite=overwrite),
                default_seed=TRAINING_DEFAULTS["seed"],
                keep_finished=not overwrite,
            )
            _print_seed_summary(summary)
        else:
            train(recipe, resume=resume, overwrite=overwrite)
    except KeyboardInterrupt:
        if seeds:
            raise KeyboardInterrupt(
                "the finished seeds are kept; rerun the same command to train the rest"
            ) from None
        checkpoint_dir = run_state.last_checkpoint(recipe.output_dir)
        if checkpoint_dir is None:
            hint = "no checkpoint was saved yet, so the next run starts over"
        else:
            hint = (
                f"{checkpoint_dir.name} (step {run_state.checkpoint_step(checkpoint_dir)}) is "
                "saved; continue with: "
                + run_state.resume_command(args.recipe, list(args.overrides))
            )
        raise KeyboardInterrupt(hint) from None
    return 0


def _print_seed_summary(summary: dict) -> None:
    """The mean ± std of each metric of the primary split, on stdout."""
    from hfft.evaluation import primary_split

    split = primary_split(list(summary["metrics"]))
    for name, s in (summary["metrics"].get(split) or {}).items():
        print(f"{split} {name}: {s['mean']:.4f} ± {s['std']:.4f} over {len(s['values'])} seeds")


def _configure_library_loggers() -> None:
    """Create the transformers/datasets log handlers now, so redaction can be attached to them;
    show datasets' progress bars on a terminal only (in a log file they are noise, and they
    would bury a preflight error)."""
    import datasets
    from datasets.utils import logging as datasets_logging
    from transformers.utils import logging as transformers_logging

    transformers_logging.get_logger()
    datasets_logging.get_logger()
    if not sys.stderr.isatty():
        datasets.disable_progress_bars()
