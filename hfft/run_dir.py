"""The run directory's life cycle: new -> unfinished (training, or interrupted) -> finished.

A run directory only looks finished when it is. Before anything else, `train` writes the marker
`unfinished.json` into it (then `recipe.yaml`); `finish_run` deletes the marker as its very last
step, after the model, processor, metrics, card and examples are all written. A folder holding the
marker is an unfinished run: training was interrupted, crashed, or is still going. `eval`,
`predict`, `push` and `serve` refuse it; `train` continues it from its last complete checkpoint.
The check is one `exists()`, so space/app.py (which cannot import hfft) repeats it cheaply; and
a plain `save_pretrained` folder, which has no marker, is never mistaken for an unfinished run.

hfft deletes only what it wrote. It refuses to train into a folder of other files
(`refuse_foreign`: it would replace their README.md or config.json), and records each top-level
name it writes in the hidden manifest `.hfft-written.json` (by name, or by diffing the listing
around `save_pretrained` and co., which pick their own names). Starting over (`--overwrite`, or a
rerun after a run died before its first checkpoint) removes those names only; tune/ stays.

One writer at a time: `begin` takes the lock file `.hfft-lock` (hfft/run_lock.py: pid, host,
start time) before it writes anything, `mark_finished` releases it, and so does the process's exit;
`plan_start` already refuses a folder another live process is training into.

Each checkpoint gets its own marker of completion (`checkpoint-N/hfft_complete`, written by
`hfft.callbacks.NativeKeyCheckpoints` after everything else in it), so a process killed while
writing checkpoint-N resumes from checkpoint-(N-1) instead of reading half a file.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hfft import run_lock
from hfft.errors import HfftError
from hfft.run_files import (
    CHECKPOINT_MARKER,
    CHECKPOINTS,
    MANIFEST,
    MARKER,
    RECIPE_FILE,
    TUNE_DIR,
    is_finished,
    is_unfinished,
)
from hfft.run_manifest import atomic_write, record_written, write_manifest, written

log = logging.getLogger("hfft")

# Recipe sections whose change makes an interrupted run's checkpoints meaningless.
RESUME_MUST_MATCH = ("task", "model", "data")
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


def mark_unfinished(run_dir: Path) -> None:
    """Write the marker (first thing a run writes): the folder is a run in progress."""
    note = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "note": "hfft is training into this folder, or was interrupted: `hfft train "
        "RECIPE --resume` continues it. hfft deletes this file when the run is complete.",
    }
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    if not is_unfinished(run_dir):
        record_written(run_dir, [MARKER])  # recorded first: a crash leaves no unlisted marker
        atomic_write(Path(run_dir) / MARKER, json.dumps(note, indent=2) + "\n")


def mark_finished(run_dir: Path) -> None:
    """Delete the marker, the last step of a run after every result is on disk, and release the
    run directory's lock: another `hfft train` may now write into it."""
    (Path(run_dir) / MARKER).unlink(missing_ok=True)
    run_lock.release(run_dir)


# --------------------------------------------------------------------------------------------
# Whose folder it is: hfft's own run directory, or someone else's


def is_run_dir(run_dir: str | Path) -> bool:
    """True for a folder hfft trains into: unfinished, finished, or holding its manifest."""
    path = Path(run_dir)
    return is_unfinished(path) or is_finished(path) or (path / MANIFEST).is_file()


def refuse_foreign(run_dir: str | Path) -> None:
    """Refuse to train into a folder that holds files but is not an hfft run directory: hfft
    would replace a README.md or config.json there. Hidden entries (.git, .DS_Store) and an hfft
    tune study are no obstacle: hfft writes no such name."""
    path = Path(run_dir)
    if not path.is_dir() or is_run_dir(path):
        return
    found = sorted(_shown(e) for e in path.iterdir() if not _bookkeeping(e.name))
    if found:
        raise HfftError(
            f"training.output_dir {path} is not empty and is not an hfft run directory (it holds "
            f"{_names(found)}): hfft trains only into a new or empty folder or its own run "
            "directory, and never replaces or deletes files it did not write (--overwrite "
            "neither); set training.output_dir to a new folder"
        )


def _bookkeeping(name: str) -> bool:
    return name.startswith(".") or name == TUNE_DIR


def _shown(entry: Path) -> str:
    return entry.name + ("/" if entry.is_dir() else "")


def _names(names: list[str], limit: int = 5) -> str:
    more = f", ... ({len(names)} in all)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def owned_entries(run_dir: str | Path) -> list[Path]:
    """What starting this run over removes: what hfft wrote (`written`) but the marker and the
    lock this process holds (both belong to the run that is starting)."""
    run_dir = Path(run_dir)
    names = written(run_dir) - {MARKER}
    if run_lock.held_here(run_dir):
        names.discard(run_lock.LOCK_FILE)
    return sorted(run_dir / n for n in names if os.path.lexists(run_dir / n))


# --------------------------------------------------------------------------------------------
# Checkpoints


def checkpoint_step(path: Path) -> int:
    """N for a `checkpoint-N` folder, -1 for any other name."""
    match = _CHECKPOINT_RE.match(Path(path).name)
    return int(match.group(1)) if match else -1


def complete_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoints that were written to the end, oldest first."""
    folder = Path(run_dir) / CHECKPOINTS
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and _complete(p)]
    return sorted(found, key=checkpoint_step)


def _complete(folder: Path) -> bool:
    # The marker names its own step: an empty or half-written one vouches for nothing.
    try:
        marked = (folder / CHECKPOINT_MARKER).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return False
    step = checkpoint_step(folder)
    return step >= 0 and marked == str(step) and (folder / "trainer_state.json").is_file()


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint, or None."""
    found = complete_checkpoints(run_dir)
    return found[-1] if found else None


# --------------------------------------------------------------------------------------------
# Before training: what to do with what is already in the output directory


@dataclass
class Start:
    """How a training run starts: from scratch or from a checkpoint, wiping the folder or not
    (`why`: what the log says when it does)."""

    resume_from: Path | None = None
    wipe: bool = False
    why: str = "starting over"


def plan_start(recipe: Any, resume: bool | str | None, overwrite: bool) -> Start:
    """Decide, from the output directory's state, whether training starts over or resumes.

    resume=None (the default) continues an interrupted run automatically, like the transformers
    examples do; resume=True demands a checkpoint; resume="path" names one. A finished run is
    only trained again with `overwrite`, which starts from scratch.
    """
    run_dir = Path(recipe.output_dir)
    if resume and overwrite:
        raise HfftError("--resume continues a run and --overwrite starts it over: choose one")
    if run_dir.exists() and not run_dir.is_dir():
        raise HfftError(
            f"training.output_dir {run_dir} is a file: point it at a new or existing folder"
        )
    refuse_foreign(run_dir)
    run_lock.refuse_second_writer(run_dir)
    started = run_dir.is_dir() and is_run_dir(run_dir)
    if overwrite:
        return Start(wipe=started, why="--overwrite")
    if is_finished(run_dir):
        raise HfftError(
            f"{run_dir} already holds a finished run: add --overwrite to train it again from "
            "scratch, or set another training.output_dir"
        )
    if isinstance(resume, str):
        return Start(resume_from=_named_checkpoint(run_dir, resume, recipe))
    checkpoint = last_checkpoint(run_dir) if started else None
    if checkpoint is None:
        if resume:
            raise HfftError(
                f"--resume: no complete checkpoint in {run_dir / CHECKPOINTS} to continue from "
                f"(checkpoints are saved as training.save_strategy says); train without --resume"
            )
        # An interruption before the first checkpoint: start over.
        return Start(wipe=started, why="no complete checkpoint to continue from, starting over")
    _check_same_recipe(run_dir, recipe)
    log.info(
        "%s %s: continuing from %s (step %d); --overwrite starts over",
        "resuming" if resume else "found an interrupted run in",
        run_dir,
        checkpoint.name,
        checkpoint_step(checkpoint),
    )
    return Start(resume_from=checkpoint)


def _named_checkpoint(run_dir: Path, name: str, recipe: Any) -> Path:
    path = Path(name).expanduser()
    candidates = [path, run_dir / CHECKPOINTS / name]
    found = next((p for p in candidates if p.is_dir()), None)
    # One of this run's own checkpoints must carry its marker; another run's (a plain Trainer
    # checkpoint) has none to carry.
    own = found is not None and found.resolve().parent == (run_dir / CHECKPOINTS).resolve()
    if (
        found is None
        or not (found / "trainer_state.json").is_file()
        or (own and not _complete(found))
    ):
        have = [p.name for p in complete_checkpoints(run_dir)]
        raise HfftError(
            f"--resume {name}: not a complete checkpoint folder; {run_dir / CHECKPOINTS} has "
            f"{have or 'none'}"
        )
    _check_same_recipe(run_dir, recipe)
    return found


def _check_same_recipe(run_dir: Path, recipe: Any) -> None:
    """An interrupted run continues only with the task, model and data it started with."""
    saved_path = run_dir / RECIPE_FILE
    if not saved_path.is_file():
        return
    try:
        saved = yaml.safe_load(saved_path.read_text()) or {}
    except yaml.YAMLError:
        return
    current = yaml.safe_load(recipe.to_yaml())  # as saved: tokens redacted the same way
    changed = [
        key
        for section in RESUME_MUST_MATCH
        for key in _diff(saved.get(section), current.get(section), section)
    ]
    if changed:
        raise HfftError(
            f"{run_dir} holds an interrupted run of a different recipe ({', '.join(changed[:5])} "
            "changed): --overwrite starts over with this one, or set another training.output_dir"
        )


def _diff(old: Any, new: Any, prefix: str) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = list(dict.fromkeys([*old, *new]))
        return [d for k in keys for d in _diff(old.get(k), new.get(k), f"{prefix}.{k}")]
    return [] if old == new else [prefix]


def begin(run_dir: Path, recipe: Any, start: Start) -> None:
    """Prepare the folder for training (main process only): take its lock (refused while another
    live process holds it), mark it unfinished, wipe what a previous run left if asked, and save
    the recipe (which a later resume compares with)."""
    run_dir = Path(run_dir)
    run_lock.acquire(run_dir)  # first: a refused run writes nothing
    # After the lock: the manifest is not written while another process may be writing it.
    record_written(run_dir, [run_lock.LOCK_FILE])
    mark_unfinished(run_dir)
    if start.wipe:
        wipe(run_dir, start.why)
    # Recorded before they exist: the Trainer creates checkpoints/ at its first save.
    record_written(run_dir, [RECIPE_FILE, CHECKPOINTS])
    recipe.save(run_dir / RECIPE_FILE)


def wipe(run_dir: Path, why: str = "starting over") -> list[str]:
    """Remove what hfft wrote for a previous run (`owned_entries`), keeping the marker so the
    folder never looks finished half-deleted, and every file hfft did not write. Logs one line
    saying what goes and what stays; returns the names removed."""
    run_dir = Path(run_dir)
    doomed = owned_entries(run_dir)
    gone = {p.name for p in doomed}
    kept = sorted(
        _shown(e)
        for e in run_dir.iterdir()
        if e.name not in gone and e.name != MARKER and not _bookkeeping(e.name)
    )
    if doomed:
        log.info(
            "%s: removing %s from %s%s",
            why,
            ", ".join(_shown(p) for p in doomed),  # all of them: only hfft's own names
            run_dir,
            f"; keeping {_names(kept, limit=10)} (not written by hfft)" if kept else "",
        )
    for entry in doomed:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)
    if gone and (run_dir / MANIFEST).is_file():
        write_manifest(run_dir, written(run_dir) - gone)
    return sorted(gone)


def resume_command(recipe_path: str, overrides: list[str]) -> str:
    """The command line that continues this run (for the message shown on Ctrl-C)."""
    import shlex

    from hfft.redact import redact

    return redact(shlex.join(["hfft", "train", recipe_path, *overrides, "--resume"]))
