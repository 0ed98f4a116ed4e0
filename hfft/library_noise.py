"""Library log lines that mislead an hfft user, kept off the console (hfft says what matters).

Only messages known to be noise in hfft's use are dropped, each by a fragment of its text on the
logger that emits it; everything else the libraries log still shows.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

# transformers sorts checkpoints by modification time, and when they were all saved within a
# second (any small run) warns about "this filesystem" and sorts them by step number, which is
# what hfft relies on anyway.
_MTIME = ("transformers.trainer_utils", "mtime may not be reliable")
# from_pretrained's table of weights it did not load as they were. For the task head hfft
# replaces on purpose it says "MISMATCH"; hfft.checkpoint reads the same facts from
# `output_loading_info` and says in one line what happened.
_LOAD_REPORT = ("transformers.modeling_utils", "LOAD REPORT")


class DropMessages(logging.Filter):
    """A logging filter that drops records whose message contains one of `fragments`."""

    def __init__(self, *fragments: str):
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(fragment in message for fragment in self.fragments)


def install() -> None:
    """Drop the known noise of training for good (idempotent)."""
    name, fragment = _MTIME
    logger = logging.getLogger(name)
    if not any(isinstance(f, DropMessages) and fragment in f.fragments for f in logger.filters):
        logger.addFilter(DropMessages(fragment))


@contextlib.contextmanager
def without_load_report() -> Iterator[None]:
    """Within the block, transformers' load report is not logged (the caller reports instead)."""
    name, fragment = _LOAD_REPORT
    logger = logging.getLogger(name)
    dropper = DropMessages(fragment)
    logger.addFilter(dropper)
    try:
        yield
    finally:
        logger.removeFilter(dropper)
