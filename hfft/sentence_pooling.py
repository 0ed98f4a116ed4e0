"""The pooling a sentence-transformers checkpoint declares, read from its own files.

A sentence-transformers model directory (all-MiniLM-L6-v2, mpnet, e5, ...) is an ordinary
transformers checkpoint plus `modules.json`, which lists a `Pooling` module whose folder
(`1_Pooling/`) holds `config.json` with `pooling_mode_mean_tokens: true` (or cls/max/...). The
sentence embedding it was trained to produce is that pooling of the last hidden states; the
backbone's own `pooler` (BERT's `pooler.dense` + tanh on the first token), which transformers'
sequence classifiers put under their head, was never trained by that objective. The frozen mode
(hfft.modes.frozen) and the linear-probe baseline (hfft.baselines) read this.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

log = logging.getLogger("hfft")

POOLING_MODULE = "sentence_transformers.models.Pooling"
DEFAULT_POOLING_DIR = "1_Pooling"
# config key -> hfft's name for the pooling, in sentence-transformers' order of precedence
MODES = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
}


def _file(checkpoint: str, name: str, kwargs: dict[str, Any]) -> Path | None:
    """A checkpoint's file (local folder or Hub cache), None when it has none or it cannot be
    had: a checkpoint without sentence-transformers files is the ordinary case."""
    from transformers.utils import cached_file

    try:
        path = cached_file(checkpoint, name, _raise_exceptions_for_missing_entries=False, **kwargs)
    except (OSError, ValueError):
        return None
    return Path(path) if path else None


def declared_pooling(checkpoint: str | None, **kwargs: Any) -> str | None:
    """'mean', 'cls', 'max' or 'mean_sqrt_len' for a sentence-transformers checkpoint (its
    `modules.json` names a Pooling module whose config says so); None for any other."""
    if not checkpoint:
        return None
    folder = DEFAULT_POOLING_DIR
    modules = _file(checkpoint, "modules.json", kwargs)
    if modules is None:
        return None
    try:
        entries = json.loads(modules.read_text())
        folder = next(
            (e.get("path") or folder for e in entries if e.get("type") == POOLING_MODULE), None
        )
    except (json.JSONDecodeError, AttributeError, TypeError):
        return None
    if folder is None:
        return None
    config = _file(checkpoint, f"{folder}/config.json", kwargs)
    if config is None:
        return None
    try:
        settings = json.loads(config.read_text())
    except json.JSONDecodeError:
        return None
    return next((mode for key, mode in MODES.items() if settings.get(key)), None)


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None, mode: str) -> torch.Tensor:
    """(batch, tokens, width) last hidden states -> (batch, width) as sentence-transformers
    pools them (padding excluded)."""
    import torch

    if mode == "cls":
        return hidden[:, 0]
    mask = (
        torch.ones(hidden.shape[:2], device=hidden.device)
        if attention_mask is None
        else attention_mask.to(hidden.dtype)
    ).unsqueeze(-1)
    if mode == "max":
        return hidden.masked_fill(mask == 0, torch.finfo(hidden.dtype).min).max(dim=1).values
    summed = (hidden * mask).sum(dim=1)
    count = mask.sum(dim=1).clamp(min=1e-9)
    return summed / (count.sqrt() if mode == "mean_sqrt_len" else count)


def objective_untrained_pooler(model: Any, checkpoint: str | None) -> list[str]:
    """[the backbone's pooler module name] when `checkpoint` is a sentence-transformers model
    whose task model feeds its head through a pooler that objective never trained (BERT's
    `pooler`); [] otherwise."""
    prefix = getattr(model, "base_model_prefix", "")
    backbone = getattr(model, prefix, None) if prefix else None
    pooler = getattr(backbone, "pooler", None)
    if pooler is None or not any(True for _ in pooler.parameters()):
        return []
    if declared_pooling(checkpoint) is None:
        return []
    return [f"{prefix}.pooler"]
