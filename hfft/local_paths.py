"""Telling a path on this machine from a Hub id (`owner/name`) without touching either."""

from __future__ import annotations

import re

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
