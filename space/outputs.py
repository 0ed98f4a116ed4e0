"""The Space's outputs: how one pipeline output becomes the Gradio output component's value.

One section per label scheme (labels, sets of labels, entities). space/interfaces.py puts these
functions in its table; like app.py, this file imports only the Space's requirements.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

TOP_K = 5


class Model(Protocol):
    """What an interface may read about the served model (the app's ModelInfo)."""

    labels: list[str]
    settings: dict[str, Any]  # what the entry's read_settings returned


# ---------------------------------------------------------------- outputs: labels


def top_k(model: Model) -> int:
    """How many labels a single-label classifier shows: TOP_K, or all when there are fewer."""
    return min(TOP_K, len(model.labels))


def label_scores(output: list[dict], value: Any, model: Model) -> dict[str, float]:
    """{label: score} from one input's pipeline output (a list of {"label", "score"})."""
    return {o["label"]: float(o["score"]) for o in output}


# ---------------------------------------------------------------- outputs: sets of labels

# A multi-label run's per-label thresholds (hfft/run_files.py's THRESHOLDS_FILE, repeated here:
# this file cannot import hfft), and the cut for a label it lacks.
THRESHOLDS_FILE = "thresholds.json"
DEFAULT_THRESHOLD = 0.5
MARK = "✓ "  # before each label whose score reaches its threshold


def is_multi_label(config: Any) -> bool:
    """A model trained with one sigmoid per label (transformers' multi-label problem type)."""
    return getattr(config, "problem_type", None) == "multi_label_classification"


def read_thresholds(config: Any, extras_dir: Path | None) -> dict[str, Any]:
    """{"thresholds": {label: cut}} from the run's thresholds.json; 0.5 where it is missing,
    unreadable or lacks a label (a model trained outside hfft has none)."""
    path = extras_dir / THRESHOLDS_FILE if extras_dir else None
    try:
        saved = json.loads(path.read_text()) if path and path.is_file() else {}
    except (OSError, ValueError) as err:
        print(f"[app] ignoring unreadable {path}: {err}")
        saved = {}
    saved = saved if isinstance(saved, dict) else {}
    cuts = {}
    for label in (str(config.id2label[i]) for i in sorted(config.id2label, key=int)):
        value = saved.get(label)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        cuts[label] = float(value) if ok else DEFAULT_THRESHOLD
    return {"thresholds": cuts}


def marked_scores(output: list[dict], value: Any, model: Model) -> dict[str, float]:
    """{label: score} for every label, each label at or above its threshold marked with MARK."""
    cuts = model.settings.get("thresholds") or {}
    marked = [(o["score"] >= cuts.get(o["label"], DEFAULT_THRESHOLD), o) for o in output]
    return {(MARK if on else "") + o["label"]: float(o["score"]) for on, o in marked}


# ---------------------------------------------------------------- outputs: entities


def entity_spans(output: list[dict], text: str, model: Model) -> list[tuple[str, str | None]]:
    """gr.HighlightedText's [(piece of text, entity type or None), ...] from one text's grouped
    entities, whose offsets are into `text` (the input as it was predicted): the pieces put
    together are the text. A group of no characters (a lone BPE space-marker token) or one
    overlapping the previous is left out."""
    pieces: list[tuple[str, str | None]] = []
    at = 0
    for entity in sorted(output, key=lambda e: int(e["start"])):
        start, end = int(entity["start"]), int(entity["end"])
        if end <= start or start < at:
            continue
        pieces += [(text[at:start], None), (text[start:end], entity["entity_group"])]
        at = end
    pieces.append((text[at:], None))
    return [(piece, kind) for piece, kind in pieces if piece]
