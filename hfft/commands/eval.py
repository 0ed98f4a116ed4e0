"""`hfft eval RUN_DIR [--split test] [--data PATH]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def eval_command(args: argparse.Namespace) -> int:
    """Evaluate a finished run directory and print the split's metrics as JSON."""
    from hfft.eval_run import evaluate_run

    results = evaluate_run(Path(args.run_dir), split=args.split, data=args.data)
    shown = {k: v for k, v in results.items() if k != "per_class"}
    print(json.dumps(shown, indent=2))
    return 0
