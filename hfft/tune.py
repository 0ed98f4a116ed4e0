"""`hfft tune`: Optuna hyper-parameter search over a recipe.

Each trial is the base recipe with the trial's values set (dotted keys, see hfft.search_space),
trained by the same `build_run` that `hfft train` uses: the model is rebuilt and its mode applied
for every trial, so structural parameters (LoRA r/alpha, `freeze_layers`, the mode itself) are
searchable, and `best.yaml` - the best trial's resolved recipe - reproduces that trial exactly.
The study is seeded (TPE sampler), bad trials are pruned on the validation metric after each
evaluation (median pruner), and trials run one after another in this process, on CPU or GPU.

Output, in `RUN_DIR/tune/` (RUN_DIR = the recipe's training.output_dir):

    trials.csv, trials.md   one row per trial: state, metric, validation loss, time, parameters
    tune.png                the metric per trial, and the parameter importances
    best.yaml               a complete recipe: `hfft train RUN_DIR/tune/best.yaml`

The recipe's `tune:` section (all optional):

    tune:
      trials: 20               # --trials
      timeout: null            # seconds for the whole search (--timeout)
      metric: accuracy         # an eval.metrics name or `loss` (default: the first eval metric)
      direction: null          # maximize | minimize (default: minimize for loss, else maximize)
      seed: null               # sampler seed (default: training.seed, else 42)
      pruning: true            # median pruner on the validation metric
      startup_trials: 2        # trials that finish before any is pruned
      warmup_evaluations: 1    # evaluations of a trial before it can be pruned
      enqueue: []              # trials to run first, e.g. [{training.learning_rate: 1.0e-4}]
      space:                   # merged over the default space for the mode; `key: null` drops one
        training.learning_rate: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
"""

from __future__ import annotations

import argparse
import csv
import gc
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hfft import search_space
from hfft.errors import HfftError, RecipeError, did_you_mean, first_line
from hfft.recipe import Recipe, load_recipe
from hfft.search_space import Param

log = logging.getLogger("hfft")

DEFAULTS: dict[str, Any] = {
    "trials": 20,
    "timeout": None,
    "metric": None,
    "direction": None,
    "seed": None,
    "pruning": True,
    "startup_trials": 2,
    "warmup_evaluations": 1,
    "enqueue": [],
    "space": {},
}
TUNE_DIR = "tune"
TABLE_CSV = "trials.csv"
TABLE_MD = "trials.md"
PLOT = "tune.png"
BEST = "best.yaml"


@dataclass
class TuneSettings:
    """The validated `tune:` section, with command-line values applied."""

    trials: int
    timeout: float | None
    metric: str
    direction: str
    seed: int
    pruning: bool
    startup_trials: int
    warmup_evaluations: int
    space: dict[str, Param]
    enqueue: list[dict[str, Any]] = field(default_factory=list)

    @property
    def metric_key(self) -> str:
        """The key of the metric in `Trainer.evaluate()`'s results."""
        return f"eval_{self.metric}"


@dataclass
class TuneResult:
    """What a search produced: the Optuna study and the files written."""

    study: Any
    settings: TuneSettings
    tune_dir: Path
    best_trial: Any  # optuna FrozenTrial, see `best_trial()`
    best_recipe: Recipe
    best_path: Path
    importances: dict[str, float]

    @property
    def best_value(self) -> float:
        """The best trial's validation metric."""
        return float(self.best_trial.value)


# --------------------------------------------------------------------------------------------
# Settings


def tune_settings(
    recipe: Recipe,
    *,
    trials: int | None = None,
    timeout: float | None = None,
    space: dict[str, Any] | None = None,
    num_blocks: int | None = None,
) -> TuneSettings:
    """Validate `recipe.tune` and merge the command line's values (which win) into it.

    The search space is the default space for the mode(s), then `tune.space`, then `space`.
    `num_blocks` bounds `model.freeze_layers` (found from the model's config when None).
    """
    raw = recipe.tune or {}
    for key in raw:
        if key not in DEFAULTS:
            raise RecipeError(
                f"unknown recipe key 'tune.{key}'"
                f"{did_you_mean(f'tune.{key}', [f'tune.{k}' for k in DEFAULTS])}; "
                f"valid keys under tune: {sorted(DEFAULTS)}"
            )
    values = {**DEFAULTS, **{k: v for k, v in raw.items() if v is not None}}
    if trials is not None:
        values["trials"] = trials
    if timeout is not None:
        values["timeout"] = timeout
    for key in ("trials", "startup_trials", "warmup_evaluations", "seed"):
        value = values[key]
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise RecipeError(f"tune.{key}: expected an integer, got {value!r}")
    if values["trials"] < 1:
        raise RecipeError(f"tune.trials must be >= 1, got {values['trials']}")
    if values["timeout"] is not None and (
        isinstance(values["timeout"], bool)
        or not isinstance(values["timeout"], (int, float))
        or values["timeout"] <= 0
    ):
        raise RecipeError(
            f"tune.timeout must be a positive number of seconds, got {values['timeout']!r}"
        )
    if not isinstance(values["pruning"], bool):
        raise RecipeError(f"tune.pruning: expected true or false, got {values['pruning']!r}")

    metric, direction = _metric(recipe, values["metric"], values["direction"])
    user_space = _mapping(values["space"], "tune.space")
    layers = [user_space, _mapping(space or {}, "the --search file")]
    modes = search_space.modes_searched(recipe, {**user_space, **(space or {})})
    if num_blocks is None and _needs_blocks(recipe, modes, layers):
        num_blocks = count_blocks(recipe)
    defaults = search_space.default_space(recipe, modes, num_blocks or 0)
    params = search_space.build_space(recipe, [defaults, *layers], num_blocks)
    enqueue = _enqueue(values["enqueue"], params)
    seed = values["seed"] if values["seed"] is not None else int(recipe.training.get("seed", 42))
    return TuneSettings(
        trials=values["trials"],
        timeout=float(values["timeout"]) if values["timeout"] is not None else None,
        metric=metric,
        direction=direction,
        seed=seed,
        pruning=values["pruning"],
        startup_trials=values["startup_trials"],
        warmup_evaluations=values["warmup_evaluations"],
        space=params,
        enqueue=enqueue,
    )


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RecipeError(
            f"{where} must map dotted recipe keys to ranges, e.g. "
            f"{{training.learning_rate: {{type: float, low: 1.0e-5, high: 1.0e-3, log: true}}}}, "
            f"got {value!r}"
        )
    for key in value:
        if not isinstance(key, str):
            raise RecipeError(f"{where}: keys must be dotted recipe keys, got {key!r}")
    return value


def _metric(recipe: Recipe, metric: Any, direction: Any) -> tuple[str, str]:
    choices = ["loss", *recipe.eval.metrics]
    metric = str(metric or recipe.eval.metrics[0])
    if metric.removeprefix("eval_") in choices:
        metric = metric.removeprefix("eval_")
    else:
        raise RecipeError(
            f"tune.metric {metric!r} is not computed on the validation split"
            f"{did_you_mean(str(metric), choices)}; choose one of {choices} (or add it to "
            "eval.metrics)"
        )
    default = "minimize" if metric == "loss" else "maximize"
    direction = direction or default
    if direction not in ("maximize", "minimize"):
        raise RecipeError(f"tune.direction must be maximize or minimize, got {direction!r}")
    return metric, direction


def _needs_blocks(recipe: Recipe, modes: list[str], layers: list[dict[str, Any]]) -> bool:
    """Whether freeze_layers is (or would be, by default) part of the search."""
    dropped = any(layer.get("model.freeze_layers", 0) is None for layer in layers)
    return "full" in modes and not dropped


def _enqueue(items: Any, space: dict[str, Param]) -> list[dict[str, Any]]:
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise RecipeError(
            "tune.enqueue must be a list of trials, e.g. [{training.learning_rate: 1.0e-4}]"
        )
    for item in items:
        for key in item:
            if key not in space:
                raise RecipeError(
                    f"tune.enqueue: '{key}' is not in the search space"
                    f"{did_you_mean(str(key), space)}; searched keys: {sorted(space)}"
                )
    return items


def count_blocks(recipe: Recipe) -> int:
    """How many blocks `model.freeze_layers` can freeze, from the model's config alone (the model
    is built on the meta device: no weights are loaded or allocated)."""
    import torch
    import transformers
    from transformers import AutoConfig

    from hfft import checkpoint, modes
    from hfft.tasks import TASKS

    spec = recipe.model
    try:
        if spec.config is not None:
            settings = dict(spec.config)
            config = AutoConfig.for_model(settings.pop("model_type"), **settings)
        else:
            config = AutoConfig.from_pretrained(
                checkpoint.resolve(spec.checkpoint), **checkpoint.load_kwargs(spec)
            )
        auto = getattr(transformers, TASKS[recipe.task].model_class)
        with torch.device("meta"):
            model = auto.from_config(config, trust_remote_code=spec.trust_remote_code)
    except (OSError, ValueError) as err:
        raise HfftError(
            f"could not read the config of '{recipe.source}' to size model.freeze_layers: "
            f"{first_line(err)}"
        ) from None
    return modes.anatomy(model).num_blocks


# --------------------------------------------------------------------------------------------
# The search


def _pruning_callback(trial: Any, key: str) -> Any:
    """A Trainer callback that reports the validation metric after each evaluation and stops a
    trial the pruner judges bad (by raising `optuna.TrialPruned` out of `Trainer.train`). Reports
    are numbered by evaluation (1, 2, ...) rather than by step, so trials with different batch
    sizes are compared epoch for epoch."""
    import optuna
    from transformers import TrainerCallback

    class OptunaPruning(TrainerCallback):
        def __init__(self) -> None:
            self.evaluations = 0
            self.active = True

        def on_evaluate(
            self, args: Any, state: Any, control: Any, metrics: Any = None, **kwargs: Any
        ) -> None:
            if not self.active or not metrics or key not in metrics:
                return
            self.evaluations += 1
            value = float(metrics[key])
            trial.report(value, self.evaluations)
            # Pruning at the last evaluation saves nothing and loses a finished trial.
            if state.global_step < state.max_steps and trial.should_prune():
                raise optuna.TrialPruned(
                    f"{key}={value:.4g} at evaluation {self.evaluations}, worse than the median"
                )

    return OptunaPruning()


def _objective(base: Recipe, settings: TuneSettings, tune_dir: Path) -> Any:
    """The Optuna objective: train one trial's recipe and return its validation metric."""
    import optuna

    from hfft import modes
    from hfft.run import build_run

    def objective(trial: optuna.Trial) -> float:
        values = search_space.sample(trial, settings.space, base.model.mode)
        trial_dir = tune_dir / "trials" / f"trial-{trial.number:03d}"
        recipe = search_space.apply_values(base, values, output_dir=str(trial_dir))
        shown = ", ".join(f"{k.rsplit('.', 1)[-1]}={_fmt(v)}" for k, v in values.items())
        log.info("trial %d: %s", trial.number, shown)
        start = time.perf_counter()
        run = None
        try:
            run = build_run(recipe)
            trial.set_user_attr("trainable_parameters", modes.count_parameters(run.model)[0])
            pruning = _pruning_callback(trial, settings.metric_key)
            run.trainer.add_callback(pruning)
            run.trainer.train()
            # The final score is the model `hfft train` would save (the best checkpoint restored),
            # measured like its metrics.json; this evaluation is not a pruning report.
            pruning.active = False
            metrics = run.trainer.evaluate()
            trial.set_user_attr("eval_loss", float(metrics["eval_loss"]))
            trial.set_user_attr("epochs", float(run.trainer.state.epoch or 0))
            value = float(metrics[settings.metric_key])
            log.info(
                "trial %d: %s=%.4f (%.1fs)",
                trial.number,
                settings.metric,
                value,
                time.perf_counter() - start,
            )
            return value
        except optuna.TrialPruned as pruned:
            log.info("trial %d: pruned (%s)", trial.number, pruned)
            if run is not None:
                trial.set_user_attr("epochs", float(run.trainer.state.epoch or 0))
            raise
        finally:
            trial.set_user_attr("seconds", round(time.perf_counter() - start, 2))
            # Checkpoints only serve the best-model restore inside the trial: keep disk use flat.
            shutil.rmtree(trial_dir, ignore_errors=True)
            del run
            _free_memory()

    return objective


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def tune(
    recipe: Recipe,
    *,
    trials: int | None = None,
    timeout: float | None = None,
    space: dict[str, Any] | None = None,
) -> TuneResult:
    """Search hyper-parameters of `recipe` with Optuna and write `RUN_DIR/tune/`.

    `trials`, `timeout` and `space` (dotted keys -> ranges) override the recipe's `tune:`.
    """
    import optuna
    import torch

    settings = tune_settings(recipe, trials=trials, timeout=timeout, space=space)
    tune_dir = recipe.output_dir / TUNE_DIR
    tune_dir.mkdir(parents=True, exist_ok=True)
    log.info(
        "tuning %s (%s) over %d trials%s: %s",
        settings.metric,
        settings.direction,
        settings.trials,
        f" or {settings.timeout:g}s" if settings.timeout else "",
        ", ".join(f"{k} {_describe(p)}" for k, p in settings.space.items()),
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # hfft logs one line per trial
    pruner: Any = (
        optuna.pruners.MedianPruner(
            n_startup_trials=settings.startup_trials, n_warmup_steps=settings.warmup_evaluations
        )
        if settings.pruning
        else optuna.pruners.NopPruner()
    )
    study = optuna.create_study(
        direction=settings.direction,
        sampler=optuna.samplers.TPESampler(seed=settings.seed),
        pruner=pruner,
        study_name=recipe.output_dir.name,
    )
    for params in settings.enqueue:
        study.enqueue_trial(params)
    interrupted = False
    try:
        study.optimize(
            _objective(recipe, settings, tune_dir),
            n_trials=settings.trials,
            timeout=settings.timeout,
            # A batch size too large for the GPU fails that trial, not the search.
            catch=(torch.OutOfMemoryError,),
        )
    except KeyboardInterrupt:
        # Ctrl-C ends the search, not the report: the finished trials are still worth having.
        log.info("interrupted: reporting the %d trials so far", len(study.trials))
        interrupted = True
    trials_dir = tune_dir / "trials"
    if trials_dir.is_dir() and not any(trials_dir.iterdir()):
        trials_dir.rmdir()
    result = _report(study, recipe, settings, tune_dir)
    if interrupted:
        raise KeyboardInterrupt  # still the exit status of an interrupted command
    return result


def _report(study: Any, base: Recipe, settings: TuneSettings, tune_dir: Path) -> TuneResult:
    import optuna

    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    importances = param_importances(study, settings.seed)
    write_tables(study, settings, tune_dir, importances)
    plot_study(study, settings, tune_dir / PLOT, importances)
    if not complete:
        states = [t.state.name.lower() for t in study.trials]
        counts = ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states)))
        raise HfftError(
            f"no trial completed ({counts}); "
            f"see {tune_dir / TABLE_MD}; more trials, tune.pruning=false or wider ranges may help"
        )
    best = best_trial(study, settings)
    best_recipe = search_space.apply_values(base, best.params, output_dir=str(base.output_dir))
    best_path = tune_dir / BEST
    header = (
        f"# hfft train {best_path}\n"
        f"# Best of {len(study.trials)} trials (trial {best.number}): validation "
        f"{settings.metric} = {best.value:.6g}. Written by `hfft tune`.\n"
    )
    best_path.write_text(header + best_recipe.to_yaml())
    log.info(
        "best trial %d: %s=%.4f | %s | next: hfft train %s",
        best.number,
        settings.metric,
        best.value,
        ", ".join(f"{k}={_fmt(v)}" for k, v in best.params.items()),
        best_path,
    )
    return TuneResult(study, settings, tune_dir, best, best_recipe, best_path, importances)


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


# --------------------------------------------------------------------------------------------
# Report: tables and plot


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
        value = trial.value
        if value is None and trial.intermediate_values:  # pruned: its last report
            value = trial.intermediate_values[max(trial.intermediate_values)]
        row = {
            "trial": trial.number,
            "state": trial.state.name.lower(),
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
        cells = [_fmt(row[c]) for c in columns]
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


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _describe(param: Param) -> str:
    if param.type == "categorical":
        return str(param.choices)
    return f"[{_fmt(param.low)}, {_fmt(param.high)}]{' log' if param.log else ''}"


# --------------------------------------------------------------------------------------------
# CLI


def load_space_file(path: str | Path) -> dict[str, Any]:
    """A `--search SPACE.yaml` file: a mapping of dotted recipe keys to ranges."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"search space file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise RecipeError(f"{path} is not valid YAML: {err}") from None
    if isinstance(raw, dict) and set(raw) == {"space"}:  # a copy of a recipe's tune.space
        raw = raw["space"]
    return _mapping(raw if raw is not None else {}, str(path))


def tune_command(args: argparse.Namespace) -> int:
    """CLI entry: `hfft tune RECIPE [key=value ...] [--trials N] [--timeout S] [--search F]`."""
    recipe = load_recipe(args.recipe, getattr(args, "overrides", []) or [])
    space = load_space_file(args.search) if getattr(args, "search", None) else None
    result = tune(recipe, trials=args.trials, timeout=args.timeout, space=space)
    print(f"best {result.settings.metric}: {result.best_value:.4f}")
    print(f"trials: {result.tune_dir / TABLE_MD}")
    print(f"reproduce: hfft train {result.best_path}")
    return 0
