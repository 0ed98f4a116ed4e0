"""`python -m bench`: run the benchmark sections and write results.json + results.md."""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# Before anything imports huggingface_hub or datasets: nothing here may reach the network (each
# Hub call would otherwise retry for ~23 s), and the scratch HF_HOME keeps caches out of ~/.cache.
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_EVALUATE_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",
    "DATASETS_VERBOSITY": "error",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # also transformers' "Loading weights" bars
    # The Trainer asks for pinned memory by default (torch warns without a GPU), and library
    # deprecation notices say nothing about the numbers; the job server inherits this.
    "PYTHONWARNINGS": "ignore:'pin_memory' argument is set as true,ignore::FutureWarning",
}

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def sections() -> dict[str, Callable]:
    """Section name -> run(ctx) in the order they run (a plain dict, imported lazily)."""
    from bench import (
        audio,
        caching,
        defaults,
        efficiency,
        eval_memory,
        methods,
        modes,
        overhead,
        pipeline,
        prediction,
        scale,
        startup,
        streaming,
    )

    return {
        overhead.NAME: overhead.run,
        caching.NAME: caching.run,
        modes.NAME: modes.run,
        methods.NAME: methods.run,
        efficiency.NAME: efficiency.run,
        startup.NAME: startup.run,
        prediction.NAME: prediction.run,
        audio.NAME: audio.run,
        defaults.NAME: defaults.run,
        scale.NAME: scale.run,
        streaming.NAME: streaming.run,
        eval_memory.NAME: eval_memory.run,
        pipeline.NAME: pipeline.run,
    }


NAMES = (
    "overhead", "caching", "modes", "methods", "efficiency", "startup", "predict", "audio",
    "defaults", "scale", "streaming", "evalmem", "pipeline",
)  # fmt: skip


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="a small version of every section (~1 min)")
    # For the bench's own tests: every section in seconds, the numbers meaningless.
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--only", nargs="+", choices=NAMES, metavar="NAME", help=f"sections: {NAMES}")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder")
    p.add_argument(
        "--threads",
        type=int,
        help="torch threads (default: torch's choice); 1 is steadier on a shared machine",
    )
    p.add_argument(
        "--update-readme",
        action="store_true",
        help="also replace the results table in bench/README.md",
    )
    return p.parse_args(argv)


def run(argv: Sequence[str] | None = None, quiet: bool = False) -> dict:
    """Run the chosen sections; write the results; return them (as written to results.json)."""
    args = parse_args(argv)
    for key, value in OFFLINE.items():
        os.environ.setdefault(key, value)
    if args.threads:
        # Before torch is imported here or in the job server (which inherits the environment).
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import warnings

    warnings.filterwarnings("ignore", message=".*'pin_memory' argument is set as true")
    warnings.filterwarnings("ignore", category=FutureWarning)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    import shutil

    from bench import report
    from bench.context import Context
    from bench.measure import load_average, machine
    from bench.workloads import SCALES

    command = "python -m bench " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    scale = SCALES["tiny" if args.tiny else "quick" if args.quick else "full"]
    chosen = args.only or list(NAMES)
    work = Path(tempfile.mkdtemp(prefix="hfft-bench-"))
    # The datasets cache of the bench's scratch data is scratch too (unless datasets, already
    # imported by the caller, has fixed its cache folder).
    os.environ.setdefault("HF_DATASETS_CACHE", str(work / "datasets-cache"))
    ctx = Context(scale, work, quiet=quiet)
    results = {
        "command": command.strip(),
        "scale": scale.name,
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "load_before": load_average(),
        "machine": machine(),
    }
    done: list[report.Section] = []
    start = time.perf_counter()
    runners = sections()
    try:
        for name in chosen:
            ctx.log(f"section {name} ...")
            t0 = time.perf_counter()
            section = runners[name](ctx)
            section.seconds = time.perf_counter() - t0
            done.append(section)
            ctx.log(f"section {name} done in {section.seconds:.0f} s: {section.ratios}")
    finally:
        ctx.close()
        shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = time.perf_counter() - start
    results["load_after"] = load_average()
    json_path, md_path = report.write(args.out, results, done)
    if args.update_readme:
        report.update_readme(results, done)
    if not quiet:
        print(report.headline_table(done))
        print(f"\nwrote {json_path} and {md_path}")
    return {**results, "sections": {s.name: s.to_dict() for s in done}}


def main(argv: Sequence[str] | None = None) -> int:
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
