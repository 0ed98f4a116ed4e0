"""What every section gets: the scale, a scratch folder, shared data, the job pool, a logger."""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from bench import workloads
from bench.workloads import Scale


@dataclass
class Context:
    scale: Scale
    work: Path  # scratch folder, deleted after the run
    quiet: bool = False
    _counter: Any = field(default_factory=itertools.count)

    @cached_property
    def digits(self) -> Path:
        """The digits imagefolders, written once per bench run."""
        return workloads.digits(self.work / "digits", self.scale)

    @cached_property
    def pool(self) -> Any:
        """Fresh-process executor for jobs whose peak memory is measured (bench.worker)."""
        from bench.worker import pool

        return pool()

    def fresh_dir(self, prefix: str) -> Path:
        path = self.work / f"{prefix}-{next(self._counter)}"
        path.mkdir(parents=True)
        return path

    def log(self, message: str) -> None:
        if not self.quiet:
            print(f"[bench] {message}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if "pool" in self.__dict__:
            self.pool.shutdown()
