"""`hfft eval RUN_DIR [--split test] [--data PATH] [--baselines]`."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger("hfft")


def eval_command(args: argparse.Namespace) -> int:
    """Evaluate a finished run directory and print the split's metrics as JSON (each with its
    95% interval, `<name>_ci`, and with --baselines the baselines' scores)."""
    from hfft.eval_run import evaluate_run
    from hfft.threads import apply_threads

    choice = apply_threads(getattr(args, "threads", None))
    results = evaluate_run(
        Path(args.run_dir),
        split=args.split,
        data=args.data,
        baselines=getattr(args, "baselines", False),
    )
    # said after, not before: a bad run directory's error stays the only line
    log.info("evaluated with %s", choice.describe())
    shown = {k: v for k, v in results.items() if k != "per_class"}
    print(json.dumps(shown, indent=2))
    return 0
