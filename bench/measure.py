"""Measuring side by side: interleaved rounds, medians, step timing, peak memory, machine facts.

Every figure the bench reports is a ratio of two (or more) variants measured in the same run. The
variants are run in alternating order round after round (A B, B A, A B, ...), so a slow drift in
machine load hits both alike; a ratio is the median of the per-round ratios, which also drops an
outlier round where another process stole the cores.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Rounds:
    """Values measured per variant, one per round, in round order."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def median(self, name: str) -> float:
        return statistics.median(self.values[name])

    def ratio(self, numerator: str, denominator: str) -> float:
        """Median over rounds of numerator/denominator measured in the same round."""
        pairs = zip(self.values[numerator], self.values[denominator], strict=True)
        return statistics.median(a / b for a, b in pairs)

    def spread(self, name: str) -> float:
        """(max - min) / median over rounds: how noisy this variant was."""
        vals = self.values[name]
        mid = statistics.median(vals)
        return (max(vals) - min(vals)) / mid if mid else 0.0


def interleave(
    variants: dict[str, Callable[[], float]], rounds: int, on_round: Callable | None = None
) -> Rounds:
    """Run each variant once per round, alternating the order every round; each call returns
    the value it measured (seconds, steps/s, ...)."""
    out = Rounds({name: [] for name in variants})
    names = list(variants)
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            out.values[name].append(float(variants[name]()))
        if on_round is not None:
            on_round(r, out)
    return out


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def steady_rate(stamps: Sequence[float], warmup: int, per_step: float = 1.0) -> float:
    """Items per second from step end times: `per_step` over the median step duration after
    the first `warmup` steps (which pay for lazy initialisation and data-loader start-up). The
    median, not the mean, because on a shared machine a few steps stall while another process
    holds the cores; the undisturbed steps are the cost of the step itself."""
    durations = [b - a for a, b in zip(stamps[warmup:-1], stamps[warmup + 1 :], strict=True)]
    if not durations:
        raise ValueError(f"need at least {warmup + 2} step times, got {len(stamps)}")
    return per_step / statistics.median(durations)


def step_timer(stamps: list[float]) -> Any:
    """A Trainer callback that appends `time.perf_counter()` at the end of every step."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            stamps.append(time.perf_counter())

    return StepTimer()


def quiet(trainer: Any) -> Any:
    """Drop the Trainer's progress bar and log printing (the same for every variant)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded (what else ran on the machine)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import torch
    import transformers

    cpu = platform.processor()
    try:
        for line in open("/proc/cpuinfo"):  # noqa: SIM115 (read a few lines, then stop)
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info
