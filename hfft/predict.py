"""Batch prediction with `transformers.pipeline`: `hfft predict RUN_DIR|HUB_ID INPUT...`.

One JSON line per input on stdout: {"input": ..., "predictions": [{"label", "score"}, ...]} (a
tagger's predictions are entities: {"label", "text", "start", "end", "score"}).
An input that cannot be used (a missing file, a file that is not an image, an image that training
would refuse, such as a 16-bit one) gives one JSON line on stderr, {"input": ..., "error": ...};
the other inputs are still predicted and the exit code is 1. When the reader of stdout stops
(`| head -3`), hfft stops quietly with exit code 141, as other Unix filters do.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from hfft.errors import HfftError, first_line
from hfft.run_files import open_finished
from hfft.tasks import Item, task_of_config

# How many inputs are read (images decoded) ahead of the model: bounds memory on huge folders.
_CHUNK_BATCHES = 4


def resolve_model(model: str) -> tuple[str, dict[str, Any]]:
    """(what `pipeline(model=...)` takes, the model's config as a dict) for a run directory or
    a Hub id."""
    path = Path(model).expanduser()
    if path.is_dir():
        config = open_finished(path, "predict with", or_hub_id=True).config
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
    return task_of_config(config).name


def _chunks(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def read_decision(model: str, name: str | None) -> Any:
    """The model's saved decision rule (a multi-label run's thresholds.json) from its run
    directory or Hub repo; None when it has none (the label scheme's defaults apply)."""
    if name is None:
        return None
    path = Path(model).expanduser()
    if not path.is_dir():
        from huggingface_hub import hf_hub_download

        try:
            path = Path(hf_hub_download(model, name)).parent
        except Exception:  # a repo without it, offline: the defaults apply
            return None
    file = path / name
    if not file.is_file():
        return None
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise HfftError(f"{file} is not valid JSON ({err})") from err


def predict(
    model: str,
    inputs: Iterable[str],
    top_k: int = 5,
    batch_size: int = 8,
    all_scores: bool = False,
) -> Iterator[dict[str, Any]]:
    """Predict each input, in input order: {"input", "predictions"} per input (the top_k
    labels; for a multi-label model, those above their thresholds; for a tagger, the entities),
    plus "scores" (every label's) with `all_scores`; or {"input", "error"} for one that could
    not be read."""
    if top_k < 1 or batch_size < 1:
        raise HfftError(f"--top-k and --batch-size must be >= 1, got {top_k} and {batch_size}")
    ref, config = resolve_model(model)
    task = task_of_config(config)
    modality = task.modality

    from transformers import pipeline

    from hfft.checkpoint import register_own_models

    register_own_models()  # a run that started from a zero-shot head has hfft's model class
    try:
        classifier = pipeline(task.name, model=ref)
    except (OSError, ValueError) as err:
        raise HfftError(f"cannot load {model} as a {task.name} pipeline: {err}") from err
    decision = read_decision(ref, task.labels.decision_file)
    items = modality.expand_inputs(inputs)
    call_kwargs: dict[str, Any] = {
        "batch_size": batch_size,
        **modality.pipeline_kwargs,
        # every label's score (the scheme picks), or a tagger's entity grouping
        **task.labels.predict_kwargs(classifier),
    }

    reader = modality.pipeline_reader
    read = reader(classifier) if reader else modality.read_input
    for chunk in _chunks(items, batch_size * _CHUNK_BATCHES):
        chunk = [read(item) if item.error is None else item for item in chunk]
        good = [item for item in chunk if item.error is None]
        payloads = [item.payload for item in good]
        outputs = iter(classifier(payloads, **call_kwargs) if payloads else [])
        for item in chunk:
            if item.error is not None:
                yield {"input": item.input, "error": item.error}
                continue
            scores = task.labels.read_output(next(outputs), item.payload)
            yield {
                "input": item.input,
                **task.labels.predict_fields(scores, decision, top_k, all_scores),
            }
            item.payload = None  # release the decoded image
