"""Telling a path on this machine from a Hub id (`owner/name`) without touching either."""

from __future__ import annotations

import re
from pathlib import Path

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def looks_like_local_path(value: str) -> bool:
    """True for what can only be a path here, never a Hub id: absolute, explicitly relative
    (`./`, `../`, `~`), a Windows drive, or more than one `/` (Hub ids are `owner/name`).
    URLs are not local paths."""
    if "://" in value:
        return False
    return (
        value.startswith((".", "~", "/", "\\"))
        or bool(_WINDOWS_DRIVE.match(value))
        or value.count("/") > 1
    )


def absent_path(value: str) -> Path | None:
    """The absolute path `value` names when nothing is there, None when something is.

    For messages about an `owner/name`-shaped value that failed to load from the Hub: it may just
    as well have been meant as a relative path (`runs/base`), and then that is what to say."""
    path = Path(value).expanduser()
    return None if path.exists() else path.absolute()
