"""Step 3 of `hfft demo`, the part that says what the table supports: paired comparisons of the
step-2 runs on the same test split (hfft.comparisons: paired bootstrap of the difference, from
each run's saved predictions), and the baselines (majority class, linear probe on the step-1
model) that a recipe asked for with `eval.baselines: true`.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from hfft.seeds import SEED_DIR

# What a model's predictions.json entry holds; baselines' predictions sit beside it.
ENTRY = ("predictions", "label_ids")
BASELINES, PROBE = "baselines", "linear_probe"
PROBE_ROW = "linear probe"
# The metric the verdicts are about; the JSON keeps every metric's comparison.
VERDICT_METRIC = "accuracy"
METRICS = ("accuracy", "f1_macro")


def _run_dirs(row: Any) -> list[Path]:
    """The run directories behind a row: one, or one per seed."""
    first = Path(row.run_dir)
    if not row.seeds:
        return [first]
    return [first.parent / SEED_DIR.format(seed=seed) for seed in row.seeds]


def compare_rows(rows: list[Any], split: str = "test") -> list[dict[str, Any]]:
    """Every pair of rows compared on `split`, seed by seed, then every row with the linear
    probe when a run computed it: [{"a", "b", "per_seed": [each metric's comparison],
    "verdict"}]."""
    import json

    from hfft import checkpoint
    from hfft.comparisons import compare_predictions
    from hfft.evaluation import load_predictions
    from hfft.run_files import CONFIG_FILE
    from hfft.tasks import task_of_config

    if len(rows) < 2:
        return []
    dirs = {row.run: _run_dirs(row) for row in rows}
    first = dirs[rows[0].run][0]
    task = task_of_config(json.loads((first / CONFIG_FILE).read_text()))
    metrics = task.labels.build_metrics(list(METRICS), checkpoint.label_names(first))
    kept = {name: [load_predictions(d)[split] for d in paths] for name, paths in dirs.items()}
    predictions = {name: [{k: p[k] for k in ENTRY} for p in runs] for name, runs in kept.items()}
    pairs = list(itertools.combinations([row.run for row in rows], 2))
    # The probe does not depend on the training seed: each run is compared with the one fit.
    probe = next(
        (p[0][BASELINES][PROBE] for p in kept.values() if PROBE in p[0].get(BASELINES, {})), None
    )
    if probe is not None:
        predictions[PROBE_ROW] = [probe] * len(next(iter(predictions.values())))
        pairs += [(row.run, PROBE_ROW) for row in rows]
    out = []
    for a, b in pairs:
        per_seed = []
        for pa, pb in zip(predictions[a], predictions[b], strict=True):
            found = compare_predictions(metrics, pa, pb, what=f"{a} and {b}")
            entry: dict[str, Any] = {name: c.to_dict() for name, c in found.items()}
            entry["verdict"] = found[VERDICT_METRIC].verdict(a, b)
            per_seed.append(entry)
        out.append({"a": a, "b": b, "per_seed": per_seed, "verdict": _overall(a, b, per_seed)})
    return out


def _overall(a: str, b: str, per_seed: list[dict[str, Any]]) -> str:
    """One verdict over the seeds: the single seed's, or how many seeds found which order."""
    if len(per_seed) == 1:
        return per_seed[0]["verdict"]
    n = len(per_seed)
    wins_a = sum(1 for s in per_seed if s["verdict"].startswith(f"{a} > "))
    wins_b = sum(1 for s in per_seed if s["verdict"].startswith(f"{b} > "))
    parts = [f"{a} > {b} in {wins_a}/{n} seeds"] if wins_a else []
    parts += [f"{b} > {a} in {wins_b}/{n} seeds"] if wins_b else []
    rest = n - wins_a - wins_b
    if rest:
        parts.append(f"no significant difference in {rest}/{n}")
    return ", ".join(parts)


def find_baselines(rows: list[Any], split: str = "test") -> dict[str, dict[str, Any]]:
    """The test-split baselines of the first run that computed them (the frozen recipe asks
    for them: their probe uses the same step-1 model), else {}."""
    from hfft.evaluation import load_metrics

    for row in rows:
        found = (load_metrics(row.run_dir).get(split) or {}).get("baselines")
        if found:
            return found
    return {}


def format_comparisons(comparisons: list[dict[str, Any]], unit: str = "images") -> str:
    """The pairwise verdicts as a markdown table (accuracy difference A - B with its 95%
    interval, on the first seed's predictions); `unit`: what the test split holds."""
    if not comparisons:
        return ""
    several = len(comparisons[0]["per_seed"]) > 1
    lines = [
        f"Paired comparisons on the same test {unit} (paired bootstrap of the accuracy "
        "difference, 1,000 seeded resamples; significant when its 95% interval excludes 0"
        + ("; the verdict counts the seeds, the difference is the first seed's" if several else "")
        + "):",
        "",
        f"| A | B | accuracy A − B{', first seed' if several else ''} [95% interval] | verdict |",
        "|---|---|--:|---|",
    ]
    for c in comparisons:
        first = c["per_seed"][0][VERDICT_METRIC]
        low, high = first["difference_ci"]
        lines.append(
            f"| {c['a']} | {c['b']} | {first['difference']:+.3f} [{low:+.2f}, {high:+.2f}] | "
            f"{c['verdict']} |"
        )
    return "\n".join(lines)


def spread_note(rows: list[Any], test_size: int, unit: str = "images") -> str:
    """What the brackets (or the ± spread) in the table mean."""
    if rows and rows[0].seeds:
        seeds = ", ".join(map(str, rows[0].seeds))
        return (
            f"Each run trained with {len(rows[0].seeds)} seeds ({seeds}): mean ± sample "
            "standard deviation over the seeds; train s is the mean."
        )
    return (
        f"Brackets: 95% bootstrap interval over the {test_size} test {unit} (1,000 seeded "
        "resamples of each run's saved predictions)."
    )
