"""One recipe, several training seeds: `hfft train RECIPE --seeds N`.

Run k (k = 0..N-1) trains with `training.seed` = the recipe's seed + k (so run 0 is the run
`hfft train RECIPE` makes) into OUTPUT_DIR/seed-<seed>/, an ordinary run directory each. Only the
training seed changes (the new head's initialisation, dropout, data order); `data.seed` stays, so
every run is evaluated on the same carved validation and test rows. Beside the runs,
OUTPUT_DIR/seeds.json holds, per split and metric, every run's value, their mean and their
sample standard deviation, and OUTPUT_DIR/seeds.md the same as a table.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from hfft.errors import RecipeError
from hfft.recipe import Recipe

log = logging.getLogger("hfft")

SUMMARY_FILE = "seeds.json"
SUMMARY_TABLE = "seeds.md"
SEED_DIR = "seed-{seed}"


def seed_list(recipe: Recipe, count: int, default_seed: int = 42) -> list[int]:
    """The `count` training seeds: the recipe's `training.seed` (hfft's default when unset)
    and the ones after it."""
    if count < 1:
        raise RecipeError(f"--seeds {count}: give at least 1 (the number of runs)")
    if recipe.hub.push and count > 1:
        raise RecipeError(
            f"hub.push is true with --seeds {count}: every seed's run would be pushed to "
            f"{recipe.hub.repo_id}; set hub.push=false and `hfft push` the run you want"
        )
    base = int(recipe.training.get("seed", default_seed))
    return [base + k for k in range(count)]


def seed_recipe(recipe: Recipe, seed: int) -> Recipe:
    """The recipe of the run with this seed, in its own folder under the output directory."""
    folder = Path(recipe.output_dir) / SEED_DIR.format(seed=seed)
    return replace(recipe, training={**recipe.training, "seed": seed, "output_dir": str(folder)})


def train_seeds(
    recipe: Recipe,
    count: int,
    train: Callable[[Recipe], Any],
    default_seed: int = 42,
    keep_finished: bool = True,
) -> dict[str, Any]:
    """Train one run per seed with `train(recipe)` (hfft.run.train with the caller's resume /
    overwrite), then write and return the summary. With `keep_finished` a seed whose run
    directory is already finished is not trained again, so rerunning an interrupted
    `--seeds N` command continues where it stopped."""
    from hfft.run_files import is_finished

    seeds = seed_list(recipe, count, default_seed)
    run_dirs = []
    for k, seed in enumerate(seeds, 1):
        run = seed_recipe(recipe, seed)
        if keep_finished and is_finished(run.output_dir):
            log.info("seeds: run %d/%d (seed %d) is already trained: %s", k, len(seeds), seed,
                     run.output_dir)  # fmt: skip
            run_dirs.append(Path(run.output_dir))
            continue
        log.info("seeds: run %d/%d, training.seed=%d", k, len(seeds), seed)
        run_dirs.append(Path(train(run).run_dir))
    return write_summary(Path(recipe.output_dir), run_dirs, seeds)


def summarize(metrics: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """{split: {metric: {"values", "mean", "std"}}} over several runs' metrics.json contents:
    every scalar metric each run has (std: the sample standard deviation, 0 for one run)."""
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    splits = [s for s in metrics[0] if all(isinstance(m.get(s), dict) for m in metrics)]
    for split in splits:
        names = [
            n
            for n, v in metrics[0][split].items()
            if isinstance(v, int | float) and all(n in m[split] for m in metrics)
        ]
        summary[split] = {}
        for name in names:
            values = np.array([float(m[split][name]) for m in metrics])
            summary[split][name] = {
                "values": values.tolist(),
                "mean": float(values.mean()),
                "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            }
    return summary


def write_summary(out: Path, run_dirs: Sequence[Path], seeds: Sequence[int]) -> dict[str, Any]:
    """OUT/seeds.json and OUT/seeds.md from the runs' metrics.json."""
    from hfft.evaluation import load_metrics

    summary = {
        "seeds": list(seeds),
        "runs": [str(p) for p in run_dirs],
        "metrics": summarize([load_metrics(p) for p in run_dirs]),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    (out / SUMMARY_TABLE).write_text(format_summary(summary) + "\n")
    log.info("seeds: %d runs summarised in %s", len(run_dirs), out / SUMMARY_FILE)
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """A markdown table: split, metric, mean ± std, and each seed's value."""
    seeds = summary["seeds"]
    lines = [
        f"Over {len(seeds)} training seeds ({', '.join(map(str, seeds))}); std is the sample "
        "standard deviation.",
        "",
        "| split | metric | mean ± std | " + " | ".join(f"seed {s}" for s in seeds) + " |",
        "|---|---|--:|" + "--:|" * len(seeds),
    ]
    for split, per_metric in summary["metrics"].items():
        for name, s in per_metric.items():
            values = " | ".join(f"{v:.4f}" for v in s["values"])
            lines.append(f"| {split} | {name} | {s['mean']:.4f} ± {s['std']:.4f} | {values} |")
    return "\n".join(lines)
