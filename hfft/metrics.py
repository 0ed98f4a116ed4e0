"""hfft's bundled `evaluate` metric modules, loaded offline.

Loading a metric by its Hub name fetches the module from the Hub (and fails without a network),
so hfft ships the modules it uses under hfft/metrics/<module>/<module>.py and loads them by
absolute path. Which metrics a task computes is its label scheme's business (hfft/tasks/).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MODULES_DIR = Path(__file__).resolve().parent / "metrics"


def module_path(module: str) -> str:
    """Absolute path of one of hfft's bundled `evaluate` metric scripts."""
    return str(MODULES_DIR / module / f"{module}.py")


def load_module(module: str, config: str | None = None) -> Any:
    """One bundled metric module (no network); keep_in_memory: no arrow cache files per
    evaluation under HF_HOME."""
    import evaluate

    return evaluate.load(module_path(module), config_name=config, keep_in_memory=True)
