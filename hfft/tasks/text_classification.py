"""text-classification: AutoModelForSequenceClassification + tokenizer, truncation and dynamic
padding (each batch is padded to its longest row, not to max_length)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the registry is imported to validate recipes; keep that light
    import datasets

from hfft.tasks.task import Task


def load_processor(checkpoint: str, kwargs: dict[str, Any]) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(checkpoint, **kwargs)


def prepare(splits: datasets.DatasetDict, tokenizer: Any, recipe: Any) -> datasets.DatasetDict:
    max_length = min(recipe.data.max_length, tokenizer.model_max_length)

    def tokenize(batch: dict[str, list]) -> dict[str, Any]:
        encoded = tokenizer(batch["text"], truncation=True, max_length=max_length)
        encoded["labels"] = batch["label"]
        return encoded

    return splits.map(tokenize, batched=True, remove_columns=["text", "label"], desc="Tokenizing")


def collator(tokenizer: Any) -> Any:
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer)


def save_example(text: str, folder: Path, index: int) -> str:
    return text


TEXT_CLASSIFICATION = Task(
    name="text-classification",
    input_column="text",
    model_class="AutoModelForSequenceClassification",
    load_processor=load_processor,
    prepare=prepare,
    collator=collator,
    save_example=save_example,
    training_defaults={"learning_rate": 2e-5},
)
