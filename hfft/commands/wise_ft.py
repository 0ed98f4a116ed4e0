"""`hfft wise-ft RUN_DIR [--alphas 0,0.25,0.5,0.75,1] [--save ALPHA|best] [--out DIR]`."""

from __future__ import annotations

import argparse
from pathlib import Path


def wise_ft_command(args: argparse.Namespace) -> int:
    """Interpolate, evaluate every alpha, print the table (and where --save wrote)."""
    from hfft.commands.train import _configure_library_loggers
    from hfft.threads import apply_threads
    from hfft.wise_ft import TABLE_MD, WISE_FT_DIR, wise_ft

    apply_threads(getattr(args, "threads", None))

    _configure_library_loggers()
    out = Path(args.out) if args.out else None
    table = wise_ft(Path(args.run_dir), args.alphas, save=args.save, out=out)
    print((Path(args.run_dir) / WISE_FT_DIR / TABLE_MD).read_text(), end="")
    if "saved" in table:
        print(f"\nsaved: {table['saved']}")
    return 0
