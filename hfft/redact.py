"""Keep Hugging Face tokens out of everything hfft writes: logs, error messages, recipe.yaml.

Two kinds of secret are hidden: anything shaped like a Hugging Face token (`hf_` + 20 or more
letters and digits), and the token this machine actually uses (HF_TOKEN, or the one `hf auth
login` stored), whatever its shape.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from typing import Any

MASK = "***"
TOKEN_PATTERN = re.compile(r"\bhf_[A-Za-z0-9]{20,}\b")
# Recipe/config keys whose values are secrets whatever they hold.
SECRET_KEY = re.compile(r"(^|_)(token|auth_token|password|secret|api_key)$", re.IGNORECASE)
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


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with every token replaced by ***."""
    for secret in known_secrets() if secrets is None else secrets:
        text = text.replace(secret, MASK)
    return TOKEN_PATTERN.sub(MASK, text)


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
