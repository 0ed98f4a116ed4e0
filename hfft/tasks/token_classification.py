"""token-classification: AutoModelForTokenClassification + a fast tokenizer, on pre-split words
with one tag per word (named entities, part-of-speech...). Words are aligned to sub-tokens and
long sentences read in overlapping windows by hfft.tasks.token_windows; padding is dynamic
(labels padded with -100)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the registry is imported to validate recipes; keep that light
    import datasets

from hfft.tasks.lazy_splits import is_stream, mapped
from hfft.tasks.tags import TAGS
from hfft.tasks.task import Task
from hfft.tasks.tokens import TOKENS, check_tokenizer

log = logging.getLogger("hfft")
# Columns the map adds for the bookkeeping below, dropped before the Trainer sees the splits.
_CONTINUES, _WORDLESS, _REPAIRED = "hfft_continues", "hfft_wordless", "hfft_repaired"


def prepare(splits: datasets.DatasetDict, tokenizer: Any, recipe: Any) -> datasets.DatasetDict:
    """Tokenize the words of every split and align their tags (see hfft.tasks.token_windows).

    The tokenizer's model_max_length becomes the window length, and the run saves it so:
    `pipeline("token-classification", model=RUN_DIR)` then reads texts as training did."""
    import datasets

    from hfft.tasks.tag_schemes import detect_scheme, inside_of
    from hfft.tasks.tags_metrics import register_layout
    from hfft.tasks.token_windows import content_length, label_windows

    check_tokenizer(tokenizer, "the tokenizer")
    options = recipe.data
    max_length = min(options.max_length, tokenizer.model_max_length)
    stride = options.window_stride()
    content = content_length(tokenizer, max_length, stride)
    tokenizer.model_max_length = max_length
    names = list(next(iter(splits.values())).features["label"].feature.names)
    scheme = detect_scheme(names)
    index = {name: i for i, name in enumerate(names)}
    inside = inside_of(names) if options.label_all_tokens else None
    repair_tags = options.repair_tags

    def tokenize(batch: dict[str, list], train: bool) -> dict[str, Any]:
        tags = batch["label"]
        fixed = [_repaired(row, names, index, scheme) for row in tags] if repair_tags else tags
        repaired = [
            sum(a != b for a, b in zip(*pair, strict=True))
            for pair in zip(tags, fixed, strict=True)
        ]
        tags = fixed
        encoded = tokenizer(
            batch[TOKENS.name],
            is_split_into_words=True,
            truncation=True,
            max_length=max_length,
            stride=stride,
            return_overflowing_tokens=True,
        )
        labels, continues, wordless = label_windows(
            encoded,
            tags,
            content=content,
            stride=stride,
            score_once=not train,  # evaluation scores each word once
            inside=inside if train else None,
        )
        sources = encoded.pop("overflow_to_sample_mapping")
        first = [not c for c in continues]
        return {
            **encoded,
            "labels": labels,
            _CONTINUES: continues,
            _WORDLESS: wordless,
            _REPAIRED: [repaired[s] if f else 0 for s, f in zip(sources, first, strict=True)],
        }

    out = datasets.DatasetDict()
    notes = []
    for name, ds in splits.items():
        train = name == "train"
        tokenized = mapped(
            ds,
            tokenize,
            fn_kwargs={"train": train},
            remove_columns=list(ds.column_names),
            desc=f"Tokenizing and aligning tags ({name})",
        )
        if is_stream(tokenized):  # tokenized as it streams: nothing to count ahead
            out[name] = tokenized.remove_columns([_CONTINUES, _WORDLESS, _REPAIRED])
            notes.append(f"{name} streamed")
            continue
        continues = tokenized[_CONTINUES]
        windowed = sum(1 for i, c in enumerate(continues) if c and not continues[i - 1])
        notes.append(f"{name} {windowed} of {len(ds)} rows")
        if any(continues) and not train:
            register_layout(tokenized["labels"], continues)
        _report(name, sum(tokenized[_WORDLESS]), sum(tokenized[_REPAIRED]))
        out[name] = tokenized.remove_columns([_CONTINUES, _WORDLESS, _REPAIRED])
    log.info(
        "windows of %d tokens overlapping by %d: %s needed more than one (each word is scored "
        "once, in the window it is most central in)",
        max_length,
        stride,
        ", ".join(notes),
    )
    return out


def _repaired(row: list[int], names: list[str], index: dict[str, int], scheme: str) -> list[int]:
    """A row's tag ids with its sequence repaired to the scheme (hfft.tasks.tag_schemes)."""
    from hfft.tasks.tag_schemes import repair

    fixed = repair([names[i] for i in row], scheme)
    return [index.get(tag, old) for tag, old in zip(fixed, row, strict=True)]


def _report(split: str, wordless: int, repaired: int) -> None:
    if wordless:
        log.warning(
            "%s split: %d word(s) give no token with this tokenizer (e.g. zero-width or control "
            "characters): they are neither trained nor scored",
            split,
            wordless,
        )
    if repaired:
        log.info("%s split: %d tag(s) repaired (data.repair_tags)", split, repaired)


def collator(tokenizer: Any) -> Any:
    from transformers import DataCollatorForTokenClassification

    return DataCollatorForTokenClassification(tokenizer)


TOKEN_CLASSIFICATION = Task(
    name="token-classification",
    modality=TOKENS,
    labels=TAGS,
    model_class="AutoModelForTokenClassification",
    architecture_suffix="ForTokenClassification",
    prepare=prepare,
    collator=collator,
    training_defaults={"learning_rate": 5e-5},
    head_name="token-classification head",
)
