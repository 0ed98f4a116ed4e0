"""Where the Gradio Space app lives. It is not part of the hfft package: the same files are
uploaded to a Hub Space, where hfft is not installed."""

from __future__ import annotations

import sys
from pathlib import Path


def space_dir() -> Path:
    """`space/` next to the package in a source checkout or editable install, else the copy a
    wheel installs under `<prefix>/share/hfft/space` (pyproject's data-files)."""
    checkout = Path(__file__).resolve().parent.parent / "space"
    if (checkout / "app.py").is_file():
        return checkout
    return Path(sys.prefix) / "share" / "hfft" / "space"
