"""`hfft demo [--task T] [--out DIR] [--quick] [--threads N]`: the transfer-learning story,
offline (handwritten digits; `--task audio-classification`: spoken words)."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

log = logging.getLogger("hfft")


def demo_command(args: argparse.Namespace) -> int:
    """Run the demo (hfft.demo) offline and print its comparison table."""
    from hfft.demo import OFFLINE_ENV, format_table, run_demo, story_for

    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    from hfft.threads import apply_threads

    story = story_for(args.task)
    out = Path(args.out or story.out)
    log.info("demo: %s", apply_threads(getattr(args, "threads", None)).describe())
    # threads=None: run_demo keeps the choice just applied (each run's start line says it)
    result = run_demo(out, quick=args.quick, threads=None, story=story)
    print()
    print(format_table(result.rows))
    print()
    log.info(
        "demo done in %.0fs: %s, %s, run directories under %s",
        result.total_seconds,
        result.out / "results.md",
        result.out / "results.png",
        result.out / "runs",
    )
    return 0
