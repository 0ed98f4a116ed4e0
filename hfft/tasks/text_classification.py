"""text-classification: AutoModelForSequenceClassification + tokenizer, truncation and dynamic
padding (each batch is padded to its longest row, not to max_length)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the registry is imported to validate recipes; keep that light
    import datasets

from hfft.tasks.lazy_splits import mapped, prepared
from hfft.tasks.multi_label import MULTI_LABEL
from hfft.tasks.single_label import SINGLE_LABEL
from hfft.tasks.task import Task
from hfft.tasks.text import TEXT


def prepare(splits: datasets.DatasetDict, tokenizer: Any, recipe: Any) -> datasets.DatasetDict:
    max_length = min(recipe.data.max_length, tokenizer.model_max_length)

    def tokenize(batch: dict[str, list]) -> dict[str, Any]:
        encoded = tokenizer(batch[TEXT.name], truncation=True, max_length=max_length)
        encoded["labels"] = batch["label"]
        return encoded

    return prepared(
        splits,
        lambda name, ds: mapped(
            ds, tokenize, remove_columns=[TEXT.name, "label"], desc=f"Tokenizing ({name})"
        ),
    )


def collator(tokenizer: Any) -> Any:
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer)


TEXT_CLASSIFICATION = Task(
    name="text-classification",
    modality=TEXT,
    labels=SINGLE_LABEL,
    # Lists of labels (or data.multi_label: true) make a run multi-label.
    label_schemes=(MULTI_LABEL, SINGLE_LABEL),
    model_class="AutoModelForSequenceClassification",
    architecture_suffix="ForSequenceClassification",
    prepare=prepare,
    collator=collator,
    training_defaults={"learning_rate": 2e-5},
)
