"""Batch prediction with `transformers.pipeline`: `hfft predict RUN_DIR|HUB_ID INPUT...`.

One JSON line per input on stdout: {"input": ..., "predictions": [{"label", "score"}, ...]}.
An input that cannot be used (a missing file, a file that is not an image, an image that training
would refuse, such as a 16-bit one) gives one JSON line on stderr, {"input": ..., "error": ...};
the other inputs are still predicted and the exit code is 1. When the reader of stdout stops
(`| head -3`), hfft stops quietly with exit code 141, as other Unix filters do.
"""

from __future__ import annotations

import glob
import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hfft.errors import HfftError, first_line

# config.json `architectures` suffix -> pipeline task
TASK_BY_ARCHITECTURE = {
    "ForImageClassification": "image-classification",
    "ForSequenceClassification": "text-classification",
}
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)
# How many inputs are read (images decoded) ahead of the model: bounds memory on huge folders.
_CHUNK_BATCHES = 4
BROKEN_PIPE = 141  # the exit status of a process killed by SIGPIPE, as `yes | head` gives


@dataclass
class Item:
    """One input as the user will see it in the output, and what to feed the pipeline."""

    input: str
    payload: Any = None
    error: str | None = None


def resolve_model(model: str) -> tuple[str, dict[str, Any]]:
    """(what `pipeline(model=...)` takes, the model's config as a dict) for a run directory or
    a Hub id."""
    path = Path(model).expanduser()
    if path.is_dir():
        from hfft.run_dir import require_finished

        require_finished(path, "predict with")
        config = path / "config.json"
        if not config.is_file():
            raise HfftError(
                f"{model} has no config.json, so it is not a trained model directory; pass the "
                "training.output_dir of a finished `hfft train` run, or a Hub model id"
            )
        try:
            return str(path), json.loads(config.read_text())
        except json.JSONDecodeError as err:
            raise HfftError(f"{config} is not valid JSON ({err})") from err
    if path.exists():
        raise HfftError(f"{model} is a file; pass a run directory or a Hub model id")

    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(model)
    except HFValidationError as err:
        raise HfftError(
            f"{model!r} is neither a directory nor a Hub model id; pass a run directory"
        ) from err
    from transformers import AutoConfig

    try:
        return model, AutoConfig.from_pretrained(model).to_dict()
    except (OSError, ValueError) as err:
        raise HfftError(
            f"no directory {model!r} here, and its config could not be loaded from the Hub "
            f"({first_line(err)}); check the path, or the Hub id and your network"
        ) from err


def task_for(config: Mapping[str, Any]) -> str:
    """The pipeline task of a model, from the `architectures` named in its config."""
    architectures = config.get("architectures") or []
    for architecture in architectures:
        for suffix, task in TASK_BY_ARCHITECTURE.items():
            if architecture.endswith(suffix):
                return task
    handled = ", ".join(f"*{suffix}" for suffix in TASK_BY_ARCHITECTURE)
    raise HfftError(
        f"the model's config.json names architectures {architectures}; hfft predict handles "
        f"{handled} models"
    )


def _is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def expand_image_inputs(inputs: Iterable[str]) -> Iterator[Item]:
    """Image paths as given; folders (recursively) and globs expanded to their image files,
    sorted. Missing paths and empty folders/patterns become error items."""
    for text in inputs:
        path = Path(text).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if _is_image_file(p))
            if not files:
                extensions = ", ".join(sorted(IMAGE_EXTENSIONS))
                yield Item(text, error=f"folder holds no image file ({extensions})")
            yield from (Item(str(p)) for p in files)
        elif path.exists():
            yield Item(text)  # any file: whether it is an image is decided by opening it
        elif glob.has_magic(text):
            matches = sorted(glob.glob(str(path), recursive=True))
            files = [m for m in matches if _is_image_file(Path(m))]
            if not files:
                yield Item(text, error="no image file matches this pattern")
            yield from (Item(m) for m in files)
        else:
            yield Item(text, error="no such file or folder")


def expand_text_inputs(inputs: Iterable[str]) -> Iterator[Item]:
    """Each input is a text, except a path to a .txt file: one text per non-empty line."""
    for text in inputs:
        if text.lower().endswith(".txt") and not any(c.isspace() for c in text):
            path = Path(text).expanduser()
            if not path.is_file():
                yield Item(text, error="no such text file")
                continue
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            yield from (Item(line) for line in lines if line.strip())
        else:
            yield Item(text)


def _load_image(item: Item) -> Item:
    # The check training's scan makes, so a file training refuses (say a 16-bit image, which
    # RGB conversion would clip) is refused here too rather than predicted confidently.
    from hfft.bad_examples import UnusableImage, open_rgb_image

    try:
        item.payload = open_rgb_image(item.input)
    except UnusableImage as err:
        item.error = str(err)
    return item


def _chunks(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def predict(
    model: str, inputs: Iterable[str], top_k: int = 5, batch_size: int = 8
) -> Iterator[dict[str, Any]]:
    """Predict the top_k labels of each input, in input order: {"input", "predictions"} per
    input, or {"input", "error"} for one that could not be read."""
    if top_k < 1 or batch_size < 1:
        raise HfftError(f"--top-k and --batch-size must be >= 1, got {top_k} and {batch_size}")
    ref, config = resolve_model(model)
    task = task_for(config)

    from transformers import pipeline

    try:
        classifier = pipeline(task, model=ref)
    except (OSError, ValueError) as err:
        raise HfftError(f"cannot load {model} as a {task} pipeline: {err}") from err
    top_k = min(top_k, classifier.model.config.num_labels)
    image = task == "image-classification"
    items = expand_image_inputs(inputs) if image else expand_text_inputs(inputs)
    call_kwargs: dict[str, Any] = {"top_k": top_k, "batch_size": batch_size}
    if not image:
        call_kwargs["truncation"] = True  # a long line must not exceed the model's positions

    for chunk in _chunks(items, batch_size * _CHUNK_BATCHES):
        if image:
            chunk = [_load_image(item) if item.error is None else item for item in chunk]
        good = [item for item in chunk if item.error is None]
        payloads = [item.payload if image else item.input for item in good]
        outputs = iter(classifier(payloads, **call_kwargs) if payloads else [])
        for item in chunk:
            if item.error is not None:
                yield {"input": item.input, "error": item.error}
                continue
            scores = next(outputs)
            yield {
                "input": item.input,
                "predictions": [{"label": s["label"], "score": float(s["score"])} for s in scores],
            }
            item.payload = None  # release the decoded image


def predict_command(args: Any) -> int:
    """`hfft predict`: JSON lines on stdout, failed inputs on stderr; 1 when any input failed,
    141 (128 + SIGPIPE, as a Unix filter) when the reader of stdout went away (`| head -3`)."""
    from transformers.utils import logging as transformers_logging

    # stderr carries only the failed inputs' JSON lines, so scripts can parse it too
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    failed = 0
    try:
        for result in predict(
            args.model, args.inputs, top_k=args.top_k, batch_size=args.batch_size
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
