"""What `hfft tune` writes about a study: trials.csv, trials.md and tune.png, and the best trial
(ties broken on validation loss)."""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path
from typing import Any

from hfft.tune_config import TuneSettings

log = logging.getLogger("hfft")

TABLE_CSV = "trials.csv"
TABLE_MD = "trials.md"
PLOT = "tune.png"
BEST = "best.yaml"
# User attribute of a trial cut off by Ctrl-C (Optuna records it as pruned).
INTERRUPTED = "interrupted"


def is_interrupted(trial: Any) -> bool:
    """Cut off by Ctrl-C: marked by the objective, or left running when it came in between."""
    import optuna

    running = trial.state in (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)
    return running or bool(trial.user_attrs.get(INTERRUPTED))


def best_trial(study: Any, settings: TuneSettings) -> Any:
    """The best completed trial; ties on the metric (frequent for accuracy on small validation
    sets) go to the lower validation loss, then to the earlier trial. None when none completed."""
    import optuna

    sign = -1.0 if settings.direction == "maximize" else 1.0
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    return min(
        complete,
        key=lambda t: (sign * t.value, t.user_attrs.get("eval_loss", math.inf), t.number),
        default=None,
    )


def param_importances(study: Any, seed: int) -> dict[str, float]:
    """Optuna's parameter importances (fANOVA, seeded), or {} below 2 completed trials or when
    every completed trial used the same values."""
    import optuna

    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < 2:
        return {}
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
        return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
    except (RuntimeError, ValueError, ZeroDivisionError) as err:
        log.info("parameter importances unavailable: %s", err)
        return {}


def trial_rows(study: Any, settings: TuneSettings) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, one row per trial) of the trials table."""
    keys = list(settings.space)
    columns = [
        "trial",
        "state",
        settings.metric,
        "eval_loss",
        "epochs",
        "seconds",
        "trainable_parameters",
        *keys,
    ]
    rows = []
    for trial in study.trials:
        attrs = trial.user_attrs
        interrupted = is_interrupted(trial)
        # Optuna gives a pruned trial its last report as value; an interrupted one has none.
        value = None if interrupted else trial.value
        if value is None and trial.intermediate_values and not interrupted:
            value = trial.intermediate_values[max(trial.intermediate_values)]  # pruned: last report
        row = {
            "trial": trial.number,
            # Cut off by Ctrl-C: neither failed nor judged, and its metric is no result.
            "state": "interrupted" if interrupted else trial.state.name.lower(),
            settings.metric: value,
            "eval_loss": attrs.get("eval_loss"),
            "epochs": attrs.get("epochs"),
            "seconds": attrs.get("seconds"),
            "trainable_parameters": attrs.get("trainable_parameters"),
        }
        row.update({key: trial.params.get(key) for key in keys})
        rows.append(row)
    return columns, rows


def write_tables(
    study: Any, settings: TuneSettings, tune_dir: Path, importances: dict[str, float]
) -> None:
    """trials.csv and trials.md (with the best trial marked and the importances)."""
    columns, rows = trial_rows(study, settings)
    with (tune_dir / TABLE_CSV).open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    best = getattr(best_trial(study, settings), "number", None)
    lines = [
        f"# Hyper-parameter search: validation {settings.metric} ({settings.direction})",
        "",
        f"{len(rows)} trials, TPE sampler (seed {settings.seed}), "
        + ("median pruner." if settings.pruning else "no pruning."),
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in rows:
        cells = [fmt(row[c]) for c in columns]
        if row["trial"] == best:
            cells = [f"**{c}**" if c else c for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    if best is not None:
        reproduce = f"hfft train {tune_dir / BEST}"
        lines += ["", f"Best: trial {best} (bold). Reproduce it with `{reproduce}`."]
    if importances:
        lines += ["", "| parameter | importance |", "|---|---|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in importances.items()]
    (tune_dir / TABLE_MD).write_text("\n".join(lines) + "\n")


def plot_study(
    study: Any, settings: TuneSettings, path: Path, importances: dict[str, float]
) -> Path:
    """The metric of each trial (pruned trials at their last report, the best-so-far line) and
    the parameter importances, side by side."""
    from hfft.plots import new_figure

    fig = new_figure(11, 4.2)
    left, right = fig.subplots(1, 2, width_ratios=[3, 2])
    _, rows = trial_rows(study, settings)
    for state, marker, color in (("complete", "o", "tab:blue"), ("pruned", "x", "tab:gray")):
        points = [(r["trial"], r[settings.metric]) for r in rows if r["state"] == state]
        points = [(x, y) for x, y in points if y is not None and math.isfinite(y)]
        if points:
            left.scatter(
                [x for x, _ in points],
                [y for _, y in points],
                marker=marker,
                color=color,
                label=state,
                zorder=3,
            )
    best_x, best_y, best = [], [], None
    better = max if settings.direction == "maximize" else min
    for row in rows:
        value = row[settings.metric]
        if row["state"] == "complete" and value is not None:
            best = value if best is None else better(best, value)
        if best is not None:
            best_x.append(row["trial"])
            best_y.append(best)
    if best_x:
        left.step(best_x, best_y, where="post", color="tab:orange", label="best so far")
    left.set_xlabel("trial")
    left.set_ylabel(f"validation {settings.metric}")
    left.set_title(f"validation {settings.metric} per trial ({settings.direction})")
    left.grid(alpha=0.3)
    if left.get_legend_handles_labels()[0]:  # nothing to show when no trial has a metric
        left.legend(loc="best", fontsize=8)
    if importances:
        names = list(importances)[:10][::-1]
        right.barh(names, [importances[n] for n in names], color="tab:blue")
        right.set_xlabel("importance (fANOVA)")
        right.set_title("most important parameters")
    else:
        right.axis("off")
        right.text(
            0.5,
            0.5,
            "parameter importances need\n2 or more completed trials\nwith different values",
            ha="center",
            va="center",
        )
    fig.savefig(path, dpi=100)
    return Path(path)


def fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
