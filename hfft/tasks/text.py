"""The text modality: the checkpoint's tokenizer, string columns, `.txt` files for `hfft
predict`, and its recipe option (`data.max_length`, the truncation length)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hfft.tasks.task import Item, Modality

if TYPE_CHECKING:
    import datasets

NAME = "text"


@dataclass
class TextOptions:
    """The `data:` options of text tasks."""

    # Tokenizer truncation length (capped at the tokenizer's model_max_length).
    max_length: int = 256

    def __post_init__(self) -> None:
        from hfft.recipe_schema import check_range

        check_range("data.max_length", self.max_length, 1)


def text_problem(value: Any) -> str | None:
    """Why a text value cannot be used, or None."""
    if value is None:
        return "no text"
    if not isinstance(value, str):
        return f"not a text: {value!r} ({type(value).__name__})"
    if not value.strip():
        return "empty text"
    return None


def cast(ds: datasets.Dataset) -> datasets.Dataset:
    return ds


def scan(ds: datasets.Dataset) -> tuple[datasets.Dataset, Any]:
    return ds, text_problem


def load_processor(checkpoint: str, kwargs: dict[str, Any]) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(checkpoint, **kwargs)


def expand_inputs(inputs: Iterable[str]) -> Iterator[Item]:
    """Each input is a text, except a path to a .txt file: one text per non-empty line."""
    for text in inputs:
        if text.lower().endswith(".txt") and not any(c.isspace() for c in text):
            path = Path(text).expanduser()
            if not path.is_file():
                yield Item(text, error="no such text file")
                continue
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            yield from (Item(line, payload=line) for line in lines if line.strip())
        else:
            yield Item(text, payload=text)


def read_input(item: Item) -> Item:
    return item  # the text is its own payload


def save_example(text: str, folder: Path, index: int) -> str:
    return text


TEXT = Modality(
    name=NAME,
    aliases=("text", "sentence", "content", "review", "document", "sms"),
    processor_kind="tokenizer",
    load_processor=load_processor,
    cast=cast,
    scan=scan,
    expand_inputs=expand_inputs,
    read_input=read_input,
    save_example=save_example,
    usage_example='"I really enjoyed it."',
    # A long line must not exceed the model's positions.
    pipeline_kwargs={"truncation": True},
    options=TextOptions,
)
