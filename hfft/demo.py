"""`hfft demo`: the embedded default. The founding document's transfer-learning story, end to end,
offline, on real data, through the same recipes and pipeline (`hfft.run.train`) a user runs on a
GPU with Hub checkpoints:

1. pretrain a small ViT from a config on the source task (handwritten digits 0-4) and save it as
   an ordinary HF checkpoint directory;
2. fine-tune that checkpoint on the target task (digits 5-9, a small labelled budget) in each mode
   (full, full with freeze_layers, frozen backbone, LoRA), plus a from-scratch baseline with the
   same data, steps and architecture;
3. evaluate every run on the same held-out target test split and write one comparison table
   (results.md, results.json) and a bar chart (results.png).

The recipes live in recipes/demo/; their paths point into `demo-out/`, and the demo relocates them
into `--out` with ordinary dotted overrides.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hfft.demo_stories import DIGITS, FULL_SPLIT, QUICK_SPLIT, Story, story_for
from hfft.recipe import Recipe, load_recipe

log = logging.getLogger("hfft")

# The default story's recipes (recipes/demo/), as earlier versions named them.
DEMO_RECIPES = DIGITS.recipes
# The prefix of every path in recipes/demo/*.yaml (and `--out`'s default); `--out` replaces it.
RECIPE_OUT = DIGITS.out
PRETRAIN_RECIPE = DIGITS.pretrain
TARGET_FILES = DIGITS.targets
# (row name in the table, recipe file).
TARGET_RECIPES = DIGITS.target_recipes
# Keys holding a path into the output directory.
PATH_KEYS = ("data.data_dir", "model.checkpoint", "training.output_dir")
OFFLINE_ENV = {
    # The demo needs nothing from the Hub: never wait on a network call it does not need.
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_EVALUATE_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}
__all__ = ["FULL_SPLIT", "QUICK_SPLIT", "Story", "run_demo", "story_for"]


@dataclass
class DemoRow:
    """One line of the comparison table: a step-2 run evaluated on the target test split."""

    run: str
    starts_from: str
    mode: str
    accuracy: float
    f1_macro: float
    trainable_parameters: int
    total_parameters: int
    train_seconds: float
    run_dir: str
    # 95% bootstrap intervals over the test images (one seed), or the spread over seeds.
    accuracy_ci: list[float] | None = None
    f1_macro_ci: list[float] | None = None
    seeds: list[int] = field(default_factory=list)
    accuracy_std: float | None = None
    f1_macro_std: float | None = None
    accuracy_values: list[float] = field(default_factory=list)


@dataclass
class DemoResult:
    """The whole demo: the comparison rows, step 1's metrics, the data counts, where it wrote."""

    rows: list[DemoRow]
    source_metrics: dict[str, Any]
    data_counts: dict[str, dict]
    total_seconds: float
    out: Path
    story: Story = DIGITS
    # Paired comparisons of the rows on the test split (hfft.comparisons), and the baselines
    # (majority class, linear probe on the step-1 model) of the recipe that asks for them.
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)
    methods: bool = False  # `--methods`: DoRA, IA3, layer decay and LP-FT rows too


def demo_recipe(name: str, out: Path, extra: tuple[str, ...] = (), story: Story = DIGITS) -> Recipe:
    """A story's recipe (with `extra` overrides) with its `demo-out/...` paths moved under
    `out`."""
    path = story.recipes / name
    raw = load_recipe(path, extra).to_dict()
    overrides = []
    for key in PATH_KEYS:
        section, field = key.split(".")
        value = raw[section].get(field)
        if value:
            overrides.append(f"{key}={relocate(value, out, story.out)}")
    return load_recipe(path, [*extra, *overrides])  # the moved paths win


def relocate(value: str, out: Path, prefix: str = RECIPE_OUT) -> str:
    """`demo-out/x/y` -> `<out>/x/y`; any other value is returned as it is."""
    parts = Path(value).parts
    if parts and parts[0] == prefix:
        return str(Path(out, *parts[1:]))
    return value


def run_demo(
    out: Path,
    quick: bool = False,
    threads: int | None = 1,
    story: Story = DIGITS,
    seeds: int = 1,
    methods: bool = False,
) -> DemoResult:
    """Write the data, pretrain (step 1), fine-tune each way (step 2; `methods`: also DoRA,
    IA3, layer-wise lr decay and LP-FT), compare (step 3). With `seeds` > 1 each step-2 recipe
    trains once per seed (hfft.seeds: its training.seed + 0..N-1, into runs/<row>/seed-<seed>/)
    and the table reports the mean and spread."""
    import torch

    from hfft.errors import HfftError

    reason = story.unavailable()
    if reason:
        raise HfftError(reason)
    start = time.perf_counter()
    default_threads = torch.get_num_threads()
    if threads:
        # Tiny models gain little from a second intra-op thread, and when another process holds
        # a core, OpenMP threads spin-waiting on each other made a step ~10x slower (measured).
        torch.set_num_threads(threads)
    try:
        with _quiet_libraries():
            return _run_demo(Path(out), quick, start, story, seeds, methods)
    finally:
        torch.set_num_threads(default_threads)


def _run_demo(
    out: Path, quick: bool, start: float, story: Story, seeds: int = 1, methods: bool = False
) -> DemoResult:
    from hfft.run import train

    extra = story.quick_overrides if quick else ()
    log.info("demo: writing the data (%s) to %s", story.data_note, out / "data")
    counts = story.write_data(out / "data", quick)
    log.info("demo: %s %s", describe_counts(counts), story.unit)

    log.info(
        "demo: step 1/3 — pretrain a %s from scratch on the source task (%s)",
        story.model_name,
        story.source_task,
    )
    source = train(demo_recipe(story.pretrain, out, extra, story), overwrite=True)

    rows = []
    targets = [(name, file, ()) for name, file in story.target_recipes]
    targets += list(story.methods) if methods else []
    for i, (name, recipe_file, settings) in enumerate(targets, 1):
        recipe = demo_recipe(recipe_file, out, (*settings, *extra), story)
        log.info(
            "demo: step 2/3 — run %d/%d: %s on the target task (%s), from %s",
            i,
            len(targets),
            name,
            story.target_task,
            recipe.source,
        )
        results = _train_seeds(recipe, seeds, train)
        rows.append(demo_row(name, recipe, results, seeds))

    log.info("demo: step 3/3 — compare every run on the held-out target test split")
    from hfft.demo_compare import compare_rows, find_baselines

    total = time.perf_counter() - start
    demo = DemoResult(rows, source.metrics, counts, total, out, story, methods=methods)
    demo.comparisons = compare_rows(rows)
    demo.baselines = find_baselines(rows)
    write_results(demo, quick)
    return demo


def _train_seeds(recipe: Recipe, seeds: int, train: Any) -> list[Any]:
    """The step-2 run of `recipe`, or one per seed (hfft.seeds) when `seeds` > 1."""
    if seeds <= 1:
        return [train(recipe, overwrite=True)]
    from hfft.seeds import seed_list, seed_recipe, write_summary

    values = seed_list(recipe, seeds)
    results = [train(seed_recipe(recipe, seed), overwrite=True) for seed in values]
    write_summary(recipe.output_dir, [r.run_dir for r in results], values)
    return results


def demo_row(name: str, recipe: Recipe, results: list[Any], seeds: int = 1) -> DemoRow:
    """A table row from a step-2 recipe's run(s): the first seed's run and its intervals, or
    the mean and spread over seeds."""
    import numpy as np

    from hfft.seeds import seed_list

    first, tests = results[0], [r.metrics["test"] for r in results]
    accuracy = [t["accuracy"] for t in tests]
    f1 = [t["f1_macro"] for t in tests]
    several = len(results) > 1
    return DemoRow(
        run=name,
        starts_from="scratch" if recipe.model.config else "step-1 model",
        mode=recipe.model.mode,
        accuracy=float(np.mean(accuracy)),
        f1_macro=float(np.mean(f1)),
        trainable_parameters=first.trainable_parameters,
        total_parameters=first.total_parameters,
        train_seconds=float(np.mean([r.train_seconds for r in results])),
        run_dir=str(first.run_dir),
        accuracy_ci=None if several else tests[0].get("accuracy_ci"),
        f1_macro_ci=None if several else tests[0].get("f1_macro_ci"),
        seeds=seed_list(recipe, seeds) if several else [],
        accuracy_std=float(np.std(accuracy, ddof=1)) if several else None,
        f1_macro_std=float(np.std(f1, ddof=1)) if several else None,
        accuracy_values=[float(a) for a in accuracy] if several else [],
    )


@contextlib.contextmanager
def _quiet_libraries() -> Iterator[None]:
    """Keep the Trainer's progress bar and metric lines; drop the per-save "Writing model shards"
    and per-load dataset bars and the CPU pin_memory warning that would drown them."""
    import datasets
    from transformers.utils import logging as hf_logging

    hf_bars = hf_logging.is_progress_bar_enabled()
    ds_bars = datasets.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*'pin_memory' argument is set as true")
            yield
    finally:
        if hf_bars:
            hf_logging.enable_progress_bar()
        if ds_bars:
            datasets.enable_progress_bars()


def describe_counts(counts: dict[str, dict]) -> str:
    """`source train 801 / validation 100; target train 100 / ...` (examples per split)."""
    return "; ".join(
        f"{task} "
        + " / ".join(f"{split} {sum(per_class.values())}" for split, per_class in splits.items())
        for task, splits in counts.items()
    )


# --------------------------------------------------------------------------------------------
# Step 3: the comparison table and chart


def _score(value: float, interval: list[float] | None, std: float | None) -> str:
    """'0.912 [0.89, 0.93]' (one seed: 95% interval), '0.912 ± 0.011' (over seeds)."""
    from hfft.uncertainty import format_interval

    if std is not None:
        return f"{value:.3f} ± {std:.3f}"
    return format_interval(value, interval)


def format_table(rows: list[DemoRow], baselines: dict[str, dict[str, Any]] | None = None) -> str:
    """The comparison as a markdown table (what the README shows); `baselines` (name -> test
    metrics) become rows above the runs."""
    from hfft.baselines import TITLES

    lines = [
        "| run | starts from | test accuracy | test macro F1 | trainable parameters | train s |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for name, entry in (baselines or {}).items():
        lines.append(
            f"| baseline: {TITLES.get(name, name)} | step-1 model | "
            f"{_score(entry['accuracy'], entry.get('accuracy_ci'), None)} | "
            f"{_score(entry['f1_macro'], entry.get('f1_macro_ci'), None)} | – | – |"
        )
    for row in rows:
        share = 100 * row.trainable_parameters / max(row.total_parameters, 1)
        lines.append(
            f"| {row.run} | {row.starts_from} | "
            f"{_score(row.accuracy, row.accuracy_ci, row.accuracy_std)} | "
            f"{_score(row.f1_macro, row.f1_macro_ci, row.f1_macro_std)} | "
            f"{row.trainable_parameters:,} ({share:.1f}%) | {row.train_seconds:.1f} |"
        )
    return "\n".join(lines)


def write_results(demo: DemoResult, quick: bool) -> None:
    """results.md, results.json and results.png in the output directory."""
    out, story = demo.out, demo.story
    source = demo.source_metrics.get("validation", {})
    test_size = sum(demo.data_counts["target"]["test"].values())
    budget = demo.data_counts["target"]["train"]
    low, high = min(budget.values()), max(budget.values())
    per_class = f"{low}" if low == high else f"{low}-{high}"
    command = "hfft demo" + ("" if story is DIGITS else f" --task {story.task}")
    command += " --methods" if demo.methods else ""
    header = [
        f"# hfft demo: {story.title}",
        "",
        f"Command: `{command}{' --quick' if quick else ''}{_seeds_flag(demo.rows)}` — total "
        f"{demo.total_seconds:.0f} s.",
        "",
        f"- Data: {describe_counts(demo.data_counts)} {story.unit} ({story.data_note}).",
        f"- Step 1, the source model ({story.source_task}): validation accuracy "
        f"{source.get('accuracy', float('nan')):.3f}.",
        f"- Step 2: every run trains on the same {sum(budget.values())} labelled target "
        f"{story.unit} ({per_class} per {story.per_class}, {story.target_task}) for the same "
        f"steps; step 3 evaluates each on the same {test_size} held-out test {story.unit}"
        f"{story.test_note}.",
        "",
        "",
    ]
    from hfft.demo_compare import format_comparisons, spread_note

    chart = "\n\n![test accuracy and macro F1 per run](results.png)\n"
    body = [
        format_table(demo.rows, demo.baselines),
        spread_note(demo.rows, test_size, story.unit),
        format_comparisons(demo.comparisons, story.unit),
    ]
    (out / "results.md").write_text("\n".join(header) + "\n\n".join(b for b in body if b) + chart)
    (out / "results.json").write_text(
        json.dumps(
            {
                "rows": [asdict(row) for row in demo.rows],
                "baselines": demo.baselines,
                "comparisons": demo.comparisons,
                "source_validation": source,
                "data": demo.data_counts,
                "total_seconds": demo.total_seconds,
                "quick": quick,
            },
            indent=2,
        )
        + "\n"
    )
    plot_results(demo.rows, out / "results.png", test_size, story)


def _seeds_flag(rows: list[DemoRow]) -> str:
    return f" --seeds {len(rows[0].seeds)}" if rows and rows[0].seeds else ""


def plot_results(rows: list[DemoRow], path: Path, test_size: int, story: Story = DIGITS) -> None:
    """Grouped bars: test accuracy and macro F1 per run, trainable parameters under each name."""
    import numpy as np

    from hfft.plots import new_figure

    x = np.arange(len(rows))
    width = 0.38
    # No pyplot: switching its backend here would change the caller's (a notebook's) backend.
    fig = new_figure(8, 4.2)
    ax = fig.add_subplot()
    for offset, key, label in (
        (-width / 2, "accuracy", "accuracy"),
        (width / 2, "f1_macro", "macro F1"),
    ):
        values = [getattr(row, key) for row in rows]
        bars = ax.bar(x + offset, values, width, label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize=8, padding=2)
    ax.set_xticks(
        x,
        [f"{row.run}\n{row.trainable_parameters:,} trainable" for row in rows],
        fontsize=8,
    )
    ax.set_ylim(0, 1.1)
    ax.set_ylabel(f"held-out target test split ({test_size} {story.unit})")
    ax.set_title(
        f"{story.target_task.capitalize()} from a {story.source_task} model: each fine-tuning "
        "mode vs from scratch"
    )
    ax.legend(loc="upper right", fontsize=8)
    fig.savefig(path, dpi=110)
