"""`hfft zero-shot RECIPE [key=value ...] [--overwrite]`."""

from __future__ import annotations

import argparse
import json


def zero_shot_command(args: argparse.Namespace) -> int:
    """Classify the recipe's held-out data zero-shot; print the main split's metrics."""
    from hfft.recipe import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)  # validated before torch loads
    from hfft.commands.train import _configure_library_loggers
    from hfft.evaluation import primary_split
    from hfft.redact import install_log_redaction
    from hfft.threads import apply_threads
    from hfft.zero_shot_run import zero_shot

    apply_threads(getattr(args, "threads", None))

    _configure_library_loggers()
    install_log_redaction()
    metrics = zero_shot(recipe, overwrite=args.overwrite)
    main = primary_split(list(metrics))
    shown = {k: v for k, v in metrics.get(main, {}).items() if isinstance(v, int | float)}
    print(json.dumps({"split": main, **shown, "run_dir": str(recipe.output_dir)}, indent=2))
    return 0
