"""Word tags -> token labels, through the fast tokenizer's `word_ids()`, in overlapping windows.

- The first sub-token of a word gets the word's tag; its other sub-tokens and the special tokens
  get -100 (ignored by the loss and the metrics). With `label_all_tokens` (train split only)
  every sub-token is trained, B-X turned into I-X after the first: copying B-X onto every piece
  would teach the model that an entity starts inside a word.
- A sentence longer than max_length is read in windows of max_length tokens that overlap by
  `stride` tokens (the tokenizer's own overflowing windows). In training every window is an
  example. In evaluation each word is scored in exactly one window, the one it is most central
  in (the overlap is cut at its middle), so the windows of a sentence stitch back to one
  prediction per word, in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hfft.errors import HfftError, RecipeError

IGNORE = -100


def content_length(tokenizer: Any, max_length: int, stride: int) -> int:
    """Tokens of words per window; RecipeError when the stride leaves no room to advance."""
    content = max_length - tokenizer.num_special_tokens_to_add()
    if content <= stride:
        raise RecipeError(
            f"data.max_length={max_length} leaves {content} tokens per window after the special "
            f"tokens, not more than data.stride={stride}: raise max_length or lower the stride"
        )
    return content


def label_windows(
    encoded: Any,
    tags: Sequence[Sequence[int]],
    *,
    content: int,
    stride: int,
    score_once: bool,
    inside: Sequence[int] | None = None,
) -> tuple[list[list[int]], list[bool], list[int]]:
    """(labels per window, whether each window continues the previous one's sentence, how many
    of the sentence's words get no token at all: on its first window) for a batch the tokenizer
    encoded with return_overflowing_tokens.

    `score_once`: score each word in one window only (evaluation); `inside`: the id a tag takes
    on later sub-tokens (label_all_tokens), None for first sub-tokens only."""
    sources = encoded["overflow_to_sample_mapping"]
    labels: list[list[int]] = []
    continues: list[bool] = []
    wordless: list[int] = []
    start = 0
    while start < len(sources):
        stop = start
        while stop < len(sources) and sources[stop] == sources[start]:
            stop += 1
        windows = [encoded.word_ids(i) for i in range(start, stop)]
        row_tags = tags[sources[start]]
        labels += _label_sentence(windows, row_tags, content, stride, score_once, inside)
        continues += [False] + [True] * (stop - start - 1)
        seen = {w for ids in windows for w in ids if w is not None}
        wordless += [len(row_tags) - len(seen)] + [0] * (stop - start - 1)
        start = stop
    return labels, continues, wordless


def _label_sentence(
    windows: list[list[int | None]],
    tags: Sequence[int],
    content: int,
    stride: int,
    score_once: bool,
    inside: Sequence[int] | None,
) -> list[list[int]]:
    """The labels of one sentence's windows (see `label_windows`)."""
    advance = content - stride
    words = [[w for w in ids if w is not None] for ids in windows]
    for k in range(1, len(words)):
        # The tokenizer's windows overlap by `stride` tokens; everything below relies on it.
        if words[k][:stride] != words[k - 1][advance : advance + stride]:
            raise HfftError(
                "the tokenizer's overflowing windows do not overlap by data.stride tokens; "
                "set data.max_length above the longest sentence to read every row whole"
            )
    out = []
    for k, ids in enumerate(windows):
        first_global = k * advance  # global index of the window's first word token
        # the window's share of the words, when each word is scored once: cut at mid-overlap
        low = (first_global + (first_global - advance + content)) / 2 if k else float("-inf")
        high = (first_global + advance + first_global + content) / 2
        high = high if k < len(windows) - 1 else float("inf")
        row: list[int] = []
        c = -1  # index among the window's word tokens
        for p, word in enumerate(ids):
            if word is None:
                row.append(IGNORE)
                continue
            c += 1
            t = first_global + c
            before = ids[p - 1] if c else (words[k - 1][advance - 1] if k else None)
            first = before != word
            if first and (not score_once or low <= t < high):
                row.append(tags[word])
            elif inside is not None and not score_once:
                row.append(inside[tags[word]])
            else:
                row.append(IGNORE)
        out.append(row)
    return out
