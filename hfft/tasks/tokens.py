"""The tokens modality: sentences already split into words (a `tokens` column holding a list of
words per row), read by the checkpoint's fast tokenizer with `is_split_into_words`; raw text for
`hfft predict` and the Space, as the token-classification pipeline takes it. Its recipe options
are the windows long sentences are read in and the tag options of a tagging task.

Byte-level BPE tokenizers (RoBERTa, DeBERTa, GPT-2) mark a word that follows a space with the
space itself ("Ġworld"); words given one by one lack it, and would be read as if glued to the
word before. Such a tokenizer is loaded with `add_prefix_space=True`, as transformers asks for
pre-split words, and saved so with the run (the pipeline then reads raw text the same way).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from hfft.errors import DataError, RecipeError
from hfft.tasks.conll import READERS
from hfft.tasks.task import Modality
from hfft.tasks.text import expand_inputs, read_input

if TYPE_CHECKING:
    import datasets

NAME = "tokens"
# A word pair whose tokens differ when read one by one instead of as text: a space marker.
_PROBE = ["x", "hello", "world"]


@dataclass
class TokenOptions:
    """The `data:` options of token tasks."""

    # Tokens per window (special tokens included; capped at the tokenizer's model_max_length).
    # A longer sentence is read in overlapping windows, each word scored once.
    max_length: int = 256
    # Tokens two consecutive windows share (null: a quarter of data.max_length).
    stride: Union[int, None] = None  # noqa: UP007  (runtime-inspected)
    # Train every sub-token of a word on its tag (B-X becomes I-X after the first), instead of
    # the first sub-token only; evaluation always scores the first sub-token of each word.
    label_all_tokens: bool = False
    # Rewrite tag sequences that break their scheme (an I-X after O or after B-Y becomes B-X)
    # before training and evaluation; without it they are listed and used as they are.
    repair_tags: bool = False

    def __post_init__(self) -> None:
        from hfft.recipe_schema import check_range

        check_range("data.max_length", self.max_length, 4)
        check_range("data.stride", self.stride, 0, hint=" (or null: a quarter of max_length)")
        if self.stride is not None and self.stride >= self.max_length // 2:
            raise RecipeError(
                f"data.stride={self.stride} must be below half of data.max_length="
                f"{self.max_length} (windows would overlap more than they advance): lower it"
            )

    def window_stride(self) -> int:
        """The stride windows use."""
        return self.max_length // 4 if self.stride is None else self.stride


def tokens_problem(value: Any) -> str | None:
    """Why a row's words cannot be used, or None."""
    if value is None:
        return "no words"
    if not isinstance(value, list | tuple):
        return f"the words are not a list: {value!r:.60} ({type(value).__name__})"
    if not value:
        return "empty sentence (no words)"
    for i, word in enumerate(value):
        if not isinstance(word, str):
            return f"word {i} is not a text: {word!r} ({type(word).__name__})"
        if not word:
            return f"word {i} is empty"
    return None


def cast(ds: datasets.Dataset) -> datasets.Dataset:
    """The tokens column must hold lists of words: a column of strings (running text) or
    numbers is refused in one line, before any row is checked."""
    import datasets

    feature = ds.features[NAME]
    inner = getattr(feature, "feature", None)
    if isinstance(feature, datasets.List | datasets.LargeList | datasets.Sequence):
        if getattr(inner, "dtype", None) in ("string", "large_string", "null"):
            return ds
        found = f"lists of {getattr(inner, 'dtype', type(inner).__name__)}"
    else:
        found = f"{getattr(feature, 'dtype', type(feature).__name__)} values"
    hint = " (running text? split it into words first)" if "string" in found else ""
    raise DataError(
        f"the tokens column holds {found}, not lists of words{hint}: token-classification reads "
        "one list of words per row, with a list of tags of the same length"
    )


def scan(ds: datasets.Dataset) -> tuple[datasets.Dataset, Any]:
    return ds, tokens_problem


def _reads_words_as_text(tokenizer: Any) -> bool:
    """True when words given one by one get the tokens they get in running text."""
    text = tokenizer(" ".join(_PROBE), add_special_tokens=False).tokens()
    split = tokenizer(_PROBE, is_split_into_words=True, add_special_tokens=False).tokens()
    first = len(tokenizer(_PROBE[0], add_special_tokens=False).tokens())
    return text[first:] == split[-(len(text) - first) :]


def load_processor(checkpoint: str, kwargs: dict[str, Any]) -> Any:
    """The checkpoint's fast tokenizer (word_ids() needs one), with add_prefix_space=True when
    its words read one by one would lose their space marker."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint, **kwargs)
    check_tokenizer(tokenizer, checkpoint)
    if not _reads_words_as_text(tokenizer) and "add_prefix_space" not in kwargs:
        tokenizer = AutoTokenizer.from_pretrained(checkpoint, add_prefix_space=True, **kwargs)
    return tokenizer


def check_tokenizer(tokenizer: Any, source: str = "the checkpoint") -> None:
    """RecipeError for a tokenizer that cannot map tokens back to words."""
    if not getattr(tokenizer, "is_fast", False):
        raise RecipeError(
            f"{source} has a slow tokenizer ({type(tokenizer).__name__}); token-classification "
            "needs a fast one (tokenizer.json) to map sub-tokens back to words: pick a "
            "checkpoint that ships tokenizer.json, or set model.processor to one"
        )


def save_example(tokens: list[str], folder: Any, index: int) -> str:
    """The sentence as text: the Space and the pipeline read raw text."""
    return " ".join(tokens)


def varying_inputs(recipe: Any) -> list[str]:
    """Frozen features are per token, of a length that varies by row: hfft's cache holds one
    vector per row, so the frozen backbone runs every step instead."""
    return ["token-level features (one per token, rows of varying length) are not cached"]


def pipeline_windows(pipe: Any) -> dict[str, Any]:
    """The token-classification pipeline's `stride` for long texts (it takes no `truncation`:
    it truncates at the tokenizer's model_max_length itself): a text longer than that is read in
    overlapping windows and its entities merged, not cut. A tokenizer saved without a limit
    gets the model's positions."""
    tokenizer = pipe.tokenizer
    positions = getattr(pipe.model.config, "max_position_embeddings", None)
    if tokenizer.model_max_length > 100_000 and positions:
        tokenizer.model_max_length = positions - 2  # RoBERTa-style models reserve 2 positions
    if not tokenizer.is_fast or tokenizer.model_max_length > 100_000:
        return {}
    return {"stride": max(1, tokenizer.model_max_length // 4)}


TOKENS = Modality(
    name=NAME,
    aliases=("tokens", "words", "token"),
    processor_kind="tokenizer",
    load_processor=load_processor,
    cast=cast,
    scan=scan,
    expand_inputs=expand_inputs,
    read_input=read_input,
    save_example=save_example,
    usage_example='"My name is Wolfgang and I live in Berlin."',
    options=TokenOptions,
    varying_inputs=varying_inputs,
    readers=READERS,
)
