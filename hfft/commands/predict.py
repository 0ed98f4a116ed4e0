"""`hfft predict RUN_DIR|HUB_ID INPUT... [--top-k K] [--batch-size N] [--all-scores]
[--threshold S]`: one JSON
line per input on stdout, a failed input's line on stderr (see hfft.predict)."""

from __future__ import annotations

import argparse
import json
import os
import sys

BROKEN_PIPE = 141  # the exit status of a process killed by SIGPIPE, as `yes | head` gives


def predict_command(args: argparse.Namespace) -> int:
    """`hfft predict`: JSON lines on stdout, failed inputs on stderr; 1 when any input failed,
    141 (128 + SIGPIPE, as a Unix filter) when the reader of stdout went away (`| head -3`)."""
    from transformers.utils import logging as transformers_logging

    from hfft.predict import predict
    from hfft.threads import apply_threads

    # Not logged: stderr carries only the failed inputs' JSON lines.
    apply_threads(getattr(args, "threads", None))

    # stderr carries only the failed inputs' JSON lines, so scripts can parse it too
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    failed = 0
    try:
        for result in predict(
            args.model,
            args.inputs,
            top_k=args.top_k,
            batch_size=args.batch_size,
            all_scores=getattr(args, "all_scores", False),
            threshold=getattr(args, "threshold", None),
        ):
            line = json.dumps(result, ensure_ascii=False)
            if "error" in result:
                failed += 1
                print(line, file=sys.stderr, flush=True)
            else:
                print(line, flush=True)
    except BrokenPipeError:
        _silence_stdout()
        return BROKEN_PIPE
    return 1 if failed else 0


def _silence_stdout() -> None:
    """The Python docs' recipe for a closed pipe: point stdout at devnull, so the flush at exit
    does not raise a second BrokenPipeError ("Exception ignored ...") on the way out."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # a stdout without a file descriptor (tests capture it)
        pass
