"""`hfft tune RECIPE [key=value ...] [--trials N] [--timeout S] [--search SPACE.yaml]`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hfft.tune import TuneResult


def tune_command(args: argparse.Namespace) -> int:
    """Run the search (hfft.tune) and print the best value, the trials table and how to
    reproduce the best trial; on Ctrl-C, the same for the trials that finished."""
    from hfft.recipe import load_recipe
    from hfft.threads import apply_threads
    from hfft.tune import TuneInterrupted, load_space_file, tune

    recipe = load_recipe(args.recipe, getattr(args, "overrides", []) or [])
    space = load_space_file(args.search) if getattr(args, "search", None) else None
    apply_threads(getattr(args, "threads", None))  # each trial's start line says it
    try:
        result = tune(recipe, trials=args.trials, timeout=args.timeout, space=space)
    except TuneInterrupted as stopped:
        if stopped.result is not None:
            _print_summary(stopped.result)
        raise KeyboardInterrupt(str(stopped)) from None  # the CLI prints it, exit status 130
    _print_summary(result)
    return 0


def _print_summary(result: TuneResult) -> None:
    from hfft.tune_report import TABLE_MD

    print(f"best {result.settings.metric}: {result.best_value:.4f}")
    print(f"trials: {result.tune_dir / TABLE_MD}")
    print(f"reproduce: hfft train {result.best_path}")
