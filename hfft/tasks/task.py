"""The `Task` value: everything task-specific the pipeline needs, as plain functions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the registry is imported to validate recipes; keep that light
    import datasets


@dataclass(frozen=True)
class Task:
    """A task is data, not a subclass: adding one is a new module and a dict line."""

    name: str
    # hfft's standard name of the input column ("image" or "text").
    input_column: str
    # transformers Auto class that builds the model, e.g. "AutoModelForImageClassification".
    model_class: str
    # (checkpoint dir or Hub id, load kwargs) -> image processor or tokenizer.
    load_processor: Callable[[str, dict[str, Any]], Any]
    # (standardised splits, processor, recipe) -> model-ready splits (train augmented).
    prepare: Callable[[datasets.DatasetDict, Any, Any], datasets.DatasetDict]
    # processor -> data collator for the Trainer (None: the Trainer's default).
    collator: Callable[[Any], Any]
    # (one raw example's input, examples dir, index) -> the "input" value of examples.json.
    save_example: Callable[[Any, Path, int], str]
    # TrainingArguments defaults for this task; the recipe's training: wins.
    training_defaults: Mapping[str, Any] = field(default_factory=dict)
