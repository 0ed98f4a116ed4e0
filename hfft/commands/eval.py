"""`hfft eval RUN_DIR [--split test] [--data PATH] [--baselines]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def eval_command(args: argparse.Namespace) -> int:
    """Evaluate a finished run directory and print the split's metrics as JSON (each with its
    95% interval, `<name>_ci`, and with --baselines the baselines' scores)."""
    from hfft.eval_run import evaluate_run

    results = evaluate_run(
        Path(args.run_dir),
        split=args.split,
        data=args.data,
        baselines=getattr(args, "baselines", False),
    )
    shown = {k: v for k, v in results.items() if k != "per_class"}
    print(json.dumps(shown, indent=2))
    return 0
