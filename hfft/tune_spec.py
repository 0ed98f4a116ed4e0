"""The recipe's `tune:` section (`hfft tune`'s settings), checked as it is read; the space's
keys and ranges are checked against the recipe and the model by `hfft.tune_config`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from hfft.errors import RecipeError, did_you_mean
from hfft.recipe_types import MAX_SEED, check_range

DIRECTIONS = ("maximize", "minimize")


@dataclass
class TuneSpec:
    """`hfft tune`'s settings: the search's budget, metric, seed and pruning, the trials to run
    first and the search space. The space's keys and ranges are checked by `hfft tune`, against
    the recipe and the model's size (`hfft.tune_config`)."""

    trials: int = 20  # --trials
    # Seconds for the whole search (--timeout); null: no limit.
    timeout: Union[float, None] = None  # noqa: UP007
    # An eval.metrics name or `loss`; null: the first of eval.metrics.
    metric: Union[str, None] = None  # noqa: UP007
    # maximize or minimize; null: minimize for loss, else maximize.
    direction: Union[str, None] = None  # noqa: UP007
    # The sampler's seed; null: training.seed, else 42.
    seed: Union[int, None] = None  # noqa: UP007
    # The median pruner on the validation metric.
    pruning: bool = True
    # Trials that finish before any is pruned.
    startup_trials: int = 2
    # Evaluations of a trial before it can be pruned.
    warmup_evaluations: int = 1
    # Run the recipe's own values first (trial 0) and compare the best trial with it on
    # validation (paired bootstrap); skipped when one of its values is outside the space.
    baseline: bool = True
    # Trials to run first, e.g. [{training.learning_rate: 1.0e-4}] (null: none).
    enqueue: Union[list[dict[str, Any]], None] = field(default_factory=list)  # noqa: UP007
    # Dotted recipe key -> range, merged over the default space of the modes searched; `key: null`
    # drops a key (null: the default space).
    space: Union[dict[str, Any], None] = field(default_factory=dict)  # noqa: UP007

    def __post_init__(self) -> None:
        check_range("tune.trials", self.trials, 1)
        check_range(
            "tune.timeout", self.timeout, 0, low_open=True, hint=" (seconds; or null: no limit)"
        )
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise RecipeError(
                f"tune.direction must be maximize or minimize, got {self.direction!r}"
                f"{did_you_mean(self.direction, DIRECTIONS)}"
            )
        check_range("tune.seed", self.seed, 0, MAX_SEED, hint=" (or null: training.seed)")
        check_range("tune.startup_trials", self.startup_trials, 0)
        check_range("tune.warmup_evaluations", self.warmup_evaluations, 0)
        # An empty `space:` or `enqueue:` line reads as null in YAML: nothing there.
        self.enqueue = [] if self.enqueue is None else self.enqueue
        self.space = {} if self.space is None else self.space
        for key in self.space:
            if not isinstance(key, str):
                raise RecipeError(f"tune.space: keys must be dotted recipe keys, got {key!r}")
