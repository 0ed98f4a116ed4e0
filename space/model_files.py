"""The served model's files: the run directory or Hub repo's examples, recipe and metrics.

Everything here works without those files (a model trained outside hfft has none): an unreadable
file is logged and ignored. Like app.py, this file imports only the Space's requirements.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import snapshot_download

# In a run directory while `hfft train` has not completed it (interrupted, or still training).
RUN_UNFINISHED_MARKER = "unfinished.json"
# `hfft push --space` writes the model id here too, for a Space that lost its HFFT_MODEL variable
# (hfft/hub.py's SPACE_MODEL_FILE, repeated here: this app cannot import hfft).
MODEL_FILE = "hfft_model.txt"
# Files fetched from a Hub model repo next to the weights (the run directory layout); an
# interface may add its own (Interface.extra_files).
EXTRA_FILES = ["examples/*", "recipe.yaml", "metrics.json"]


# The model class hfft writes beside a run's weights when training started from a zero-shot head
# (hfft/modeling_zero_shot.py; config.json's auto_map names it), by its sha256: the app runs that
# code only when it is byte for byte hfft's own (tests/test_zero_shot_space.py checks the hash).
OWN_CODE = {
    "modeling_zero_shot.py": "4d41592f9a99a99fcd5e7cc702468e5e9b872f070d311d04f91d368bb86cfdf6",
}


def own_code(model: str) -> bool:
    """Whether the model's own code (if it has any) is hfft's, and so may be run."""
    import hashlib

    for name, digest in OWN_CODE.items():
        if is_local(model):
            path = Path(model).expanduser() / name
        else:
            try:
                from huggingface_hub import hf_hub_download

                path = Path(hf_hub_download(model, name))
            except Exception:  # no such file in the repo (or offline): nothing to trust
                continue
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest:
            return True
    return False


def is_local(model: str) -> bool:
    """True for a directory on disk; anything else is taken as a Hub model id."""
    return Path(model).expanduser().is_dir()


def extras_dir_of(model: str, patterns: Sequence[str] = EXTRA_FILES) -> Path | None:
    """The folder holding examples/, recipe.yaml, metrics.json (and any other of `patterns`),
    downloading them for a Hub id.

    Returns None when they cannot be fetched (offline, or a repo without them): the app works
    without them.
    """
    if is_local(model):
        return Path(model).expanduser().resolve()
    try:
        return Path(snapshot_download(repo_id=model, allow_patterns=list(patterns)))
    except Exception as err:  # offline, gated, or not an hfft repo: serve the model alone
        print(f"[app] no examples/recipe/metrics for {model}: {type(err).__name__}: {err}")
        return None


def read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) if path.is_file() else None
    except (OSError, yaml.YAMLError) as err:
        print(f"[app] ignoring unreadable {path}: {err}")
        return {}
    return data if isinstance(data, dict) else {}


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError) as err:
        print(f"[app] ignoring unreadable {path}: {err}")
        return None


def load_examples(extras_dir: Path | None, interface: Any) -> list[list[str]]:
    """[[input, true label], ...] from examples/examples.json, each input read by the interface
    (files become absolute paths inside examples/; entries it cannot use are skipped)."""
    if extras_dir is None:
        return []
    folder = extras_dir / "examples"
    if not folder.resolve().is_relative_to(extras_dir.resolve()):
        return []  # examples/ is a link to a folder elsewhere: nothing in it is the model's
    entries = read_json(folder / "examples.json")
    if not isinstance(entries, list):
        return []
    examples = []
    for entry in entries:
        if not isinstance(entry, dict) or "input" not in entry:
            continue
        value = interface.input.read_example(str(entry["input"]), folder)
        if value is not None:
            examples.append([value, str(entry.get("label", ""))])
    return examples


def check_finished(model: str) -> None:
    """Refuse an unfinished hfft run directory: hfft writes RUN_UNFINISHED_MARKER before training
    and deletes it last (hfft/run_dir.py's rule, repeated here: this app cannot import hfft)."""
    path = Path(model).expanduser()
    if path.is_dir() and (path / RUN_UNFINISHED_MARKER).is_file():
        raise ValueError(
            f"{model} is an unfinished hfft run ({RUN_UNFINISHED_MARKER} is there: training was "
            "interrupted or is still running); finish it with `hfft train RECIPE --resume` first"
        )
