"""`hfft demo [--task T] [--out DIR] [--quick] [--threads N] [--seeds N] [--methods]`: the
transfer-learning story, offline (handwritten digits; `--task audio-classification`: spoken words;
`--methods`: also DoRA, IA3, layer-wise lr decay and LP-FT)."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

log = logging.getLogger("hfft")


def demo_command(args: argparse.Namespace) -> int:
    """Run the demo (hfft.demo) offline and print its comparison table."""
    from hfft.demo import OFFLINE_ENV, format_table, run_demo, story_for
    from hfft.demo_compare import format_comparisons

    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    from hfft.threads import apply_threads

    story = story_for(args.task)
    out = Path(args.out or story.out)
    log.info("demo: %s", apply_threads(getattr(args, "threads", None)).describe())
    # threads=None: run_demo keeps the choice just applied (each run's start line says it)
    result = run_demo(
        out,
        quick=args.quick,
        threads=None,
        story=story,
        seeds=getattr(args, "seeds", 1),
        methods=getattr(args, "methods", False),
    )
    print()
    print(format_table(result.rows, result.baselines))
    if result.comparisons:
        print()
        print(format_comparisons(result.comparisons, story.unit))
    print()
    log.info(
        "demo done in %.0fs: %s, %s, run directories under %s",
        result.total_seconds,
        result.out / "results.md",
        result.out / "results.png",
        result.out / "runs",
    )
    return 0
