"""`hfft tune`: Optuna hyper-parameter search over a recipe.

Each trial is the base recipe with the trial's values set (dotted keys, see hfft.search_space),
trained by the same `build_run` that `hfft train` uses: the model is rebuilt and its mode applied
for every trial, so structural parameters (LoRA r/alpha, `freeze_layers`, the mode itself) are
searchable, and `best.yaml` - the best trial's resolved recipe - reproduces that trial exactly.
The study is seeded (TPE sampler), bad trials are pruned on the validation metric after each
evaluation (median pruner), and trials run one after another in this process, on CPU or GPU.
Trials share what does not change between them (hfft.tune_reuse): the data, loaded once, and in
a frozen mode the backbone's features, extracted by the first trial and read back from disk by
the others (hfft.feature_cache).

Output, in `RUN_DIR/tune/` (RUN_DIR = the recipe's training.output_dir):

    trials.csv, trials.md   one row per trial: state, metric, validation loss, time, parameters
    tune.png                the metric per trial, and the parameter importances
    best.yaml               a complete recipe: `hfft train RUN_DIR/tune/best.yaml`
    comparison.json         the best trial vs the recipe's values (trial 0), paired bootstrap

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
      baseline: true           # the recipe's own values as trial 0, the best compared with it
      enqueue: []              # trials to run first, e.g. [{training.learning_rate: 1.0e-4}]
      space:                   # merged over the default space for the mode; `key: null` drops one
        training.learning_rate: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hfft import search_space, tune_baseline, tune_reuse
from hfft.errors import HfftError
from hfft.recipe import Recipe
from hfft.search_space import Param
from hfft.tune_config import (
    TuneSettings,
    count_blocks,
    load_space_file,
    tune_settings,
)
from hfft.tune_report import (
    BEST,
    INTERRUPTED,
    PLOT,
    TABLE_MD,
    best_trial,
    fmt,
    is_interrupted,
    param_importances,
    plot_study,
    write_tables,
)

__all__ = [
    "TuneInterrupted",
    "TuneResult",
    "TuneSettings",
    "best_trial",
    "count_blocks",
    "load_space_file",
    "tune",
    "tune_settings",
]

log = logging.getLogger("hfft")

TUNE_DIR = "tune"


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


class TuneInterrupted(KeyboardInterrupt):
    """Ctrl-C ended the search; `result` reports the trials that finished (None if none did)."""

    def __init__(self, message: str, result: TuneResult | None = None):
        super().__init__(message)
        self.result = result


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


def _objective(
    base: Recipe, settings: TuneSettings, tune_dir: Path, keep: bool, load: Any = None
) -> Any:
    """The Optuna objective: train one trial's recipe and return its validation metric.
    `load`: the data loader for `build_run` (`tune_reuse.DataOnce`: one load for all trials)."""
    import optuna

    from hfft import modes
    from hfft.run import build_run

    def objective(trial: optuna.Trial) -> float:
        tune_reuse.freeze_survivors()  # earlier trials' objects: not walked again by the GC
        values = search_space.sample(trial, settings.space, base.model.mode)
        trial_dir = tune_dir / "trials" / f"trial-{trial.number:03d}"
        recipe = search_space.apply_values(base, values, output_dir=str(trial_dir))
        shown = ", ".join(f"{k.rsplit('.', 1)[-1]}={fmt(v)}" for k, v in values.items())
        log.info("trial %d: %s", trial.number, shown)
        start = time.perf_counter()
        run = None
        try:
            run = build_run(recipe, load=load)
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
            if keep:  # for the paired comparison with the baseline trial
                tune_baseline.keep_validation_predictions(run, tune_dir, trial.number)
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
        except KeyboardInterrupt:
            # Optuna would record Ctrl-C as a failed trial and log its whole traceback. The trial
            # was cut off, not wrong: end it as pruned, marked interrupted, and end the search
            # (`tune` then reports and re-raises the interruption).
            log.info("trial %d: interrupted", trial.number)
            trial.set_user_attr(INTERRUPTED, True)
            if run is not None:
                trial.set_user_attr("epochs", float(run.trainer.state.epoch or 0))
            trial.study.stop()
            raise optuna.TrialPruned("interrupted (Ctrl-C)") from None
        finally:
            trial.set_user_attr("seconds", round(time.perf_counter() - start, 2))
            # Checkpoints only serve the best-model restore inside the trial: keep disk use flat.
            shutil.rmtree(trial_dir, ignore_errors=True)
            del run
            tune_reuse.free_memory()

    return objective


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
    baseline = tune_baseline.baseline_values(recipe, settings.space) if settings.baseline else None
    if baseline is not None:
        study.enqueue_trial(baseline)  # trial 0
    for params in settings.enqueue:
        study.enqueue_trial(params)

    def keep_best_predictions(study: Any, trial: Any) -> None:
        best = best_trial(study, settings)
        tune_baseline.prune_predictions(tune_dir, {0, getattr(best, "number", 0)})

    interrupted = False
    objective = _objective(
        recipe, settings, tune_dir, keep=baseline is not None, load=tune_reuse.DataOnce()
    )
    try:
        with tune_reuse.frozen_between_trials():
            study.optimize(
                objective,
                n_trials=settings.trials,
                callbacks=[keep_best_predictions] if baseline is not None else None,
                timeout=settings.timeout,
                # A batch size too large for the GPU fails that trial, not the search.
                catch=(torch.OutOfMemoryError,),
            )
    except KeyboardInterrupt:
        # Ctrl-C outside a trial's training (between trials, while sampling): same as inside.
        interrupted = True
    interrupted = interrupted or any(is_interrupted(t) for t in study.trials)
    trials_dir = tune_dir / "trials"
    if trials_dir.is_dir() and not any(trials_dir.iterdir()):
        trials_dir.rmdir()
    if not interrupted:
        return _report(study, recipe, settings, tune_dir, baseline is not None)
    # Ctrl-C ends the search, not the report: the finished trials are still worth having.
    finished = len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)))
    finished_trials = f"{finished} finished trial{'' if finished == 1 else 's'}"
    log.info("interrupted: reporting the %s", finished_trials)
    try:
        result = _report(study, recipe, settings, tune_dir, baseline is not None)
    except HfftError:  # no trial finished: the tables are written, there is no best
        raise TuneInterrupted(
            f"no trial finished before the interruption; see {tune_dir / TABLE_MD}"
        ) from None
    raise TuneInterrupted(
        f"the search stopped after {finished_trials} of {settings.trials}", result
    )


def _report(
    study: Any, base: Recipe, settings: TuneSettings, tune_dir: Path, compared: bool = False
) -> TuneResult:
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
    if compared:
        _report_comparison(base, settings, tune_dir, best.number)
    log.info(
        "best trial %d: %s=%.4f | %s | next: hfft train %s",
        best.number,
        settings.metric,
        best.value,
        ", ".join(f"{k}={fmt(v)}" for k, v in best.params.items()),
        best_path,
    )
    return TuneResult(study, settings, tune_dir, best, best_recipe, best_path, importances)


def _report_comparison(base: Recipe, settings: TuneSettings, tune_dir: Path, best: int) -> None:
    """The best trial vs trial 0 (the recipe's values): logged and added to trials.md."""
    found = tune_baseline.compare_with_baseline(base, tune_dir, best, settings.metric)
    if found is None:
        return
    low, high = found["difference_ci"]
    line = (
        f"Best trial {best} vs the recipe's own values (trial 0), validation {settings.metric}: "
        f"{found['a']:.4f} vs {found['b']:.4f}, difference {found['difference']:+.4f} "
        f"[{low:+.4f}, {high:+.4f}]: {found['verdict']} (paired bootstrap). The search chose "
        "trial {best} on this split, so this is optimistic: train best.yaml and compare the two "
        "runs on test (hfft.comparisons.compare_runs) to confirm it."
    ).replace("{best}", str(best))
    log.info("tune: %s", line)
    with (tune_dir / TABLE_MD).open("a") as f:
        f.write(f"\n{line}\n")


def _describe(param: Param) -> str:
    if param.type == "categorical":
        return str(param.choices)
    return f"[{fmt(param.low)}, {fmt(param.high)}]{' log' if param.log else ''}"
