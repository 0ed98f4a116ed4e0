"""`hfft predict`'s file arguments for a modality read from files (images, audio): paths as
given, folders and glob patterns expanded to the files with the modality's extensions."""

from __future__ import annotations

import glob
from collections.abc import Iterable, Iterator
from pathlib import Path

from hfft.tasks.task import Item


def expand_files(inputs: Iterable[str], extensions: Iterable[str], kind: str) -> Iterator[Item]:
    """Paths as given; folders (recursively) and globs expanded to their files whose suffix is
    one of `extensions`, sorted. Missing paths and empty folders/patterns become error items that
    name the `kind` of file looked for ("image", "audio")."""
    suffixes = {e.lower() for e in extensions}

    def wanted(path: Path) -> bool:
        return path.is_file() and path.suffix.lower() in suffixes

    for text in inputs:
        path = Path(text).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if wanted(p))
            if not files:
                shown = ", ".join(sorted(suffixes))
                yield Item(text, error=f"folder holds no {kind} file ({shown})")
            yield from (Item(str(p)) for p in files)
        elif path.exists():
            # Any file given by name: whether it is usable is decided by reading it.
            yield Item(text)
        elif glob.has_magic(text):
            matches = sorted(glob.glob(str(path), recursive=True))
            files = [m for m in matches if wanted(Path(m))]
            if not files:
                yield Item(text, error=f"no {kind} file matches this pattern")
            yield from (Item(m) for m in files)
        else:
            yield Item(text, error="no such file or folder")
