"""What hfft wrote into a run directory: the hidden manifest `.hfft-written.json`.

hfft deletes only what it wrote. Each top-level name it writes into a run directory is recorded
here, by name (`record_written`) or by diffing the listing around a step whose file names hfft
does not choose (`recording`: save_pretrained, a processor's files, the plots, the card). Starting
the run over removes those names and nothing else (hfft.run_dir.wipe). A run directory written
before hfft kept a manifest is read as its own subfolders and the names hfft writes
(LEGACY_FILES).
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from hfft.run_files import (
    ADAPTER_DIR,
    CARD_FILE,
    CHECKPOINTS,
    CONFIG_FILE,
    CONFUSION_MATRIX_FILE,
    EXAMPLES_DIR,
    LABEL_CONFUSION_FILE,
    MANIFEST,
    METRICS_FILE,
    PER_LABEL_F1_FILE,
    RECIPE_FILE,
    THRESHOLDS_FILE,
    TRAINING_CURVES_FILE,
    TUNE_DIR,
    is_finished,
    is_unfinished,
)

# MANIFEST is hidden: `hfft push` skips dot files, and no model, processor or user wants the
# name. TUNE_DIR is hfft tune's study: `hfft train RUN_DIR/tune/best.yaml` trains beside it; no
# wipe touches it. Subfolders a run writes:
RUN_SUBDIRS = (CHECKPOINTS, ADAPTER_DIR, EXAMPLES_DIR)
# A run directory hfft wrote before it kept a manifest: what starting over may remove there, the
# names hfft and save_pretrained write. Anything else in it is kept.
LEGACY_FILES = (
    RECIPE_FILE, CARD_FILE, METRICS_FILE, CONFUSION_MATRIX_FILE, TRAINING_CURVES_FILE,
    THRESHOLDS_FILE, PER_LABEL_F1_FILE, LABEL_CONFUSION_FILE,
    CONFIG_FILE, "generation_config.json", "*.safetensors", "*.safetensors.index.json",
    "preprocessor_config.json", "processor_config.json", "tokenizer*", "special_tokens_map.json",
    "added_tokens.json", "vocab.txt", "vocab.json", "merges.txt", "*.model", "chat_template.*",
)  # fmt: skip


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, flush it to disk, then rename it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def written(run_dir: str | Path) -> set[str]:
    """The top-level names hfft wrote into `run_dir`, as its manifest lists them. A run directory
    from before hfft kept one is read as its own subfolders and the names hfft writes."""
    run_dir = Path(run_dir)
    try:
        data = json.loads((run_dir / MANIFEST).read_text())
    except FileNotFoundError:
        return _legacy_names(run_dir) if is_unfinished(run_dir) or is_finished(run_dir) else set()
    except (OSError, ValueError):
        return set()
    names = data.get("written") if isinstance(data, dict) else None
    return {n for n in names if _plain(n)} if isinstance(names, list) else set()


def _plain(name: object) -> bool:
    # An entry of the run directory itself: never a path that could point a wipe elsewhere.
    bad = ("", ".", "..", MANIFEST, TUNE_DIR)
    return isinstance(name, str) and name not in bad and "/" not in name and "\0" not in name


def _legacy_names(run_dir: Path) -> set[str]:
    return {
        e.name
        for e in run_dir.iterdir()
        if (e.name in RUN_SUBDIRS and e.is_dir() and not e.is_symlink())
        or (not e.is_dir() and any(fnmatch.fnmatchcase(e.name, p) for p in LEGACY_FILES))
    }


def record_written(run_dir: str | Path, names: Iterable[str]) -> None:
    """Add top-level `names` to the manifest of what hfft wrote into `run_dir`."""
    run_dir = Path(run_dir)
    have = written(run_dir)
    new = {n for n in names if _plain(n)} - have
    if new or not (run_dir / MANIFEST).is_file():
        write_manifest(run_dir, have | new)


def write_manifest(run_dir: Path, names: set[str]) -> None:
    """Replace the manifest of `run_dir` by `names`, atomically."""
    note = "What hfft wrote here: starting the run over removes these and nothing else."
    run_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"note": note, "written": sorted(names)}, indent=2)
    atomic_write(run_dir / MANIFEST, text + "\n")


def _listing(run_dir: Path) -> dict[str, tuple[int, int, int]]:
    listing = {}
    for entry in os.scandir(run_dir):
        with contextlib.suppress(FileNotFoundError):  # gone since scandir saw it
            st = entry.stat(follow_symlinks=False)
            listing[entry.name] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return listing


@contextlib.contextmanager
def recording(run_dir: str | Path, enabled: bool = True) -> Iterator[None]:
    """Record in the manifest every top-level entry created or changed inside the block, even
    when it fails half-way (so a rerun can remove what it left). For steps whose file names hfft
    does not choose: save_pretrained, a processor's files, the plots, the card."""
    run_dir = Path(run_dir)
    if not enabled:
        yield
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    before = _listing(run_dir)
    try:
        yield
    finally:
        after = _listing(run_dir)
        record_written(run_dir, [name for name, sig in after.items() if before.get(name) != sig])
