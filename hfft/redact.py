"""Secrets and local paths out of everything hfft writes or publishes: logs, error messages,
recipe.yaml, the model card and what `hfft push` uploads. The one home of these rules.

Two kinds of secret are hidden: anything shaped like a Hugging Face token (`hf_` + 20 or more
letters and digits), and the token this machine actually uses (HF_TOKEN, or the one `hf auth
login` stored), whatever its shape; a key named like a secret (`hub_token`, `api_key`) is one
whatever it holds. What is published (`sanitize_recipe`) also names no local path: a path
becomes its base name, and only a value that can be a Hub id (`is_hub_id`) is left as it is.
The push-time scan that refuses a file still holding one is `hfft.leak_guard`.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import pkgutil
import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from hfft.local_paths import looks_like_local_path

MASK = "***"
# What a token becomes in published text (the card, the published recipe).
PUBLISHED_MASK = "<redacted>"
TOKEN_PATTERN = re.compile(r"\bhf_[A-Za-z0-9]{20,}\b")
# Recipe/config keys whose values are secrets whatever they hold.
SECRET_KEY = re.compile(r"(^|_)(token|auth_token|password|secret|api_key)$", re.IGNORECASE)
# Recipe keys whose values are always local paths, whatever they look like.
PATH_KEY = re.compile(r"(_dir|_path|_file|_files|_root)$|^(output_dir|data_files|data_dir)$")
_MIN_SECRET_LENGTH = 8  # shorter "tokens" would mask ordinary words


def known_secrets() -> list[str]:
    """The token values configured on this machine (environment, then the stored login)."""
    values = [os.environ.get(name) for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")]
    try:
        from huggingface_hub import get_token

        values.append(get_token())
    except Exception:  # no huggingface_hub, unreadable token file: nothing more to hide
        pass
    return sorted({v for v in values if v and len(v) >= _MIN_SECRET_LENGTH}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] | None = None, mask: str = MASK) -> str:
    """`text` with every token (the `secrets`, by default this machine's, and every token-shaped
    string) replaced by `mask`."""
    for secret in known_secrets() if secrets is None else secrets:
        text = text.replace(secret, mask)
    return TOKEN_PATTERN.sub(mask, text)


def redact_tree(value: Any, secrets: Iterable[str] | None = None, key: str = "") -> Any:
    """A copy of a YAML/JSON-like tree with token values and values of secret keys masked."""
    secrets = list(known_secrets() if secrets is None else secrets)
    if isinstance(value, dict):
        return {k: redact_tree(v, secrets, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_tree(v, secrets, key) for v in value]
    if SECRET_KEY.search(key) and value not in (None, ""):
        return MASK
    if isinstance(value, str):
        return redact(value, secrets)
    return value


# --------------------------------------------------------------------------------------------
# Local paths and Hub ids, for what is published


@functools.cache
def builder_names() -> frozenset[str]:
    """datasets' packaged builders (imagefolder, csv, json, parquet, ...): a name such as
    `load_dataset("csv", data_files=...)` takes reads local files and is no dataset."""
    from datasets import packaged_modules

    names = getattr(packaged_modules, "_PACKAGED_DATASETS_MODULES", None)
    if names is None:  # a private name: if it moves, the package's modules are the builders
        names = [module.name for module in pkgutil.iter_modules(packaged_modules.__path__)]
    return frozenset(names)


def is_local_path(value: Any) -> bool:
    """True for what can only be a path (see `looks_like_local_path`) or a path that exists."""
    if not isinstance(value, str) or not value or "://" in value:
        return False
    if looks_like_local_path(value):
        return True
    try:
        return Path(value).expanduser().exists()
    except OSError:
        return False


def is_hub_id(value: Any) -> bool:
    """True when `value` can only be a Hub repo id: not a local path, not a builder name."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not isinstance(value, str) or is_local_path(value) or value in builder_names():
        return False
    try:
        validate_repo_id(value)
    except HFValidationError:
        return False
    return True


def basename(value: str) -> str:
    """The last component of a POSIX or Windows path (`C:\\data\\cats` -> `cats`), or the value
    itself when it has none."""
    return PurePosixPath(value.replace("\\", "/").rstrip("/")).name or value


def sanitize_recipe(recipe: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the recipe fit to publish: local paths reduced to their base name, keys named
    like secrets dropped, token-shaped values replaced by PUBLISHED_MASK."""

    def clean(value: Any, key: str = "") -> Any:
        if isinstance(value, Mapping):
            return {k: clean(v, str(k)) for k, v in value.items() if not SECRET_KEY.search(str(k))}
        if isinstance(value, list | tuple):
            return [clean(v, key) for v in value]
        if isinstance(value, str):
            if TOKEN_PATTERN.search(value):
                return PUBLISHED_MASK
            if is_local_path(value) or (PATH_KEY.search(key) and "://" not in value):
                return basename(value)
        return value

    return clean(copy.deepcopy(dict(recipe)))


# --------------------------------------------------------------------------------------------
# Logs


class RedactingFilter(logging.Filter):
    """A logging filter that masks tokens in each record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


LOGGERS = ("hfft", "transformers", "datasets")


def install_log_redaction(logger_names: Iterable[str] = LOGGERS) -> None:
    """Mask tokens in what these loggers' handlers print (idempotent)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
