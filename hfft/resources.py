"""Where hfft's non-Python resources live: the bundled recipes and the Gradio Space app.

Neither is inside the package: recipes are meant to be read and copied by people, and the Space
app is uploaded as it is to a Hub Space, where hfft is not installed. In a source checkout (or an
editable install) they sit next to the package; a wheel installs them under `<prefix>/share/hfft`
(pyproject's data-files).
"""

from __future__ import annotations

import sys
from pathlib import Path


def _resource(name: str, marker: str) -> Path:
    checkout = Path(__file__).resolve().parent.parent / name
    if (checkout / marker).exists():
        return checkout
    return Path(sys.prefix) / "share" / "hfft" / name


def space_dir() -> Path:
    """The folder holding the Space's app.py, requirements.txt and README.md."""
    return _resource("space", "app.py")


def recipes_dir() -> Path:
    """The folder of bundled recipes (`<task>/`, `demo/`, `tune/`, `launch/`)."""
    return _resource("recipes", "demo")


def bundled_recipe(path: str | Path) -> Path | None:
    """The bundled recipe that a relative `path` names, as `hfft recipes` prints it
    (`recipes/<task>/<name>.yaml`) or without the `recipes/` prefix; None when there is none.
    This is what makes the printed commands work from any folder, and in an installed hfft."""
    parts = Path(path).parts
    if Path(path).is_absolute() or ".." in parts:
        return None
    if parts[:1] == ("recipes",):
        parts = parts[1:]
    if not parts:
        return None
    candidate = recipes_dir().joinpath(*parts)
    return candidate if candidate.is_file() else None
