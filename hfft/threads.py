"""How many compute threads torch may start: `--threads N`, else $HFFT_THREADS, else
$OMP_NUM_THREADS, else the cores this process may use (CPU affinity, cgroup quota) that are idle
(the 1-minute load average), never more.

Why: torch starts one OpenMP thread per core it sees. On a shared or quota-limited machine those
threads spin-wait for cores that other processes hold; a 3-epoch demo run took 25-39 s with
torch's default and 1.0-1.9 s with one thread on a busy 2-core machine (measured, issue 20).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hfft.errors import HfftError

log = logging.getLogger("hfft")

ENV = "HFFT_THREADS"
# A process that is itself starting (imports) adds to the load it reads: this much of a core
# is not counted as busy, so an idle 2-core machine still gets 2 threads.
OWN_LOAD_SLACK = 0.3
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class ThreadChoice:
    """The number of torch compute threads and why, as the start line says it."""

    threads: int
    why: str

    def describe(self) -> str:
        return f"threads {self.threads} ({self.why})"


_applied: ThreadChoice | None = None


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, self_cgroup: Path | None = None) -> float | None:
    """The CPU quota (in cores) of this process's cgroup or any parent, the smallest; None when
    unlimited or unknown. cgroup v2 `cpu.max` ("150000 100000" = 1.5 cores, "max 100000" = no
    limit) and v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us` (-1 = no limit)."""
    try:
        lines = (self_cgroup or Path("/proc/self/cgroup")).read_text().splitlines()
    except OSError:
        lines = []
    folders: list[tuple[Path, Path]] = [(root, root)]  # (cgroup folder, its hierarchy's root)
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # v2: one hierarchy
            bases = [root]
        elif "cpu" in controllers.split(","):
            bases = [root / controllers, root / "cpu"]
        else:
            continue
        folders += [(base / path.lstrip("/"), base) for base in bases]
    limits = []
    for folder, base in folders:
        for candidate in (folder, *folder.parents):
            limits += [q for q in (_v2_quota(candidate), _v1_quota(candidate)) if q is not None]
            if candidate == base or base not in candidate.parents:
                break
    return min(limits) if limits else None


def _v2_quota(folder: Path) -> float | None:
    try:
        quota, period = (folder / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def _v1_quota(folder: Path) -> float | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period


def usable_cores() -> tuple[int, str]:
    """The cores this process may run on: its CPU affinity, capped by a cgroup quota."""
    try:
        cores, why = len(os.sched_getaffinity(0)), "affinity"
    except AttributeError:  # macOS, Windows: no affinity call
        cores, why = os.cpu_count() or 1, "cores"
    quota = cgroup_cpu_limit()
    if quota is not None and quota < cores:
        # A 1.5-core quota runs 2 threads at 75% each, which is still faster than 1.
        cores, why = max(1, math.ceil(quota - 0.01)), f"cgroup quota {quota:g} cores"
    return cores, why


def default_threads(load: float | None = None) -> ThreadChoice:
    """min(usable cores, idle cores): the cores left after the 1-minute load average."""
    cores, why = usable_cores()
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # no load average (Windows): the usable cores
            return ThreadChoice(cores, f"{cores} usable by {why}")
    idle = max(1, min(cores, math.floor(cores - load + OWN_LOAD_SLACK)))
    if idle < cores:
        return ThreadChoice(idle, f"{cores} usable by {why}, load {load:.1f}: {idle} idle")
    return ThreadChoice(cores, f"{cores} usable by {why}, idle")


def choose_threads(requested: int | None = None) -> ThreadChoice:
    """--threads, else $HFFT_THREADS, else $OMP_NUM_THREADS, else `default_threads()`.
    0 (either way) keeps torch's own default."""
    for value, source in (
        (requested, "--threads"),
        (os.environ.get(ENV), ENV),
        (os.environ.get("OMP_NUM_THREADS"), "OMP_NUM_THREADS"),
    ):
        if value is None or value == "":
            continue
        try:
            number = int(value)
        except ValueError:
            raise HfftError(f"{source}={value!r}: give a whole number of threads") from None
        if number < 0:
            raise HfftError(f"{source}={number}: give 0 (torch's default) or more threads")
        if number == 0:
            return ThreadChoice(0, f"{source}=0: torch's default")
        return ThreadChoice(number, source)
    return default_threads()


def apply_threads(requested: int | None = None) -> ThreadChoice:
    """Choose (see `choose_threads`) and set torch's intra-op threads; remembered for the start
    line (`describe`)."""
    import torch

    global _applied
    choice = choose_threads(requested)
    if choice.threads:
        torch.set_num_threads(choice.threads)
    choice = ThreadChoice(torch.get_num_threads(), choice.why)
    _applied = choice
    return choice


def describe() -> str:
    """What the start line says: the choice `apply_threads` made, or torch's own default."""
    import torch

    if _applied is not None and _applied.threads == torch.get_num_threads():
        return _applied.describe()
    return f"threads {torch.get_num_threads()} (torch's default)"


# At most this many loader workers per process: past it, decoding outpaces one GPU for the
# image/audio models hfft trains and each worker only adds memory (a copy of the dataset state).
MAX_LOADER_WORKERS = 8


def dataloader_defaults(
    training: dict[str, Any],
    on_cpu: bool,
    cores: int | None = None,
    local_processes: int | None = None,
) -> dict[str, Any]:
    """The Trainer's input pipeline, when the recipe does not choose it: with an accelerator,
    decoding images or audio in the training process starves it (the Trainer's default is 0
    workers), so this process's share of the usable cores, one kept for itself, up to
    MAX_LOADER_WORKERS, persistent (not restarted each epoch and evaluation), 2 batches ahead
    each. On a CPU-only run, nothing: workers would take cores from the compute threads."""
    if on_cpu or "dataloader_num_workers" in training:
        return {}
    cores = cores if cores is not None else usable_cores()[0]
    if local_processes is None:  # torchrun/accelerate: the processes on this node share them
        local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    workers = min(MAX_LOADER_WORKERS, cores // max(1, local_processes) - 1)
    if workers < 1:
        return {}
    out: dict[str, Any] = {"dataloader_num_workers": workers}
    if "dataloader_persistent_workers" not in training:
        out["dataloader_persistent_workers"] = True
    if "dataloader_prefetch_factor" not in training:
        out["dataloader_prefetch_factor"] = 2
    return out
