"""Tagging metrics as per-sentence counts, for `hfft.uncertainty`'s bootstrap intervals and
paired comparisons: the bootstrap resamples sentences (a sentence's words and entities are not
independent draws). Each sentence contributes its number of scored words and of words tagged
right (accuracy), and per entity type its true-positive, predicted and gold entity counts, the
entities read as seqeval's default mode reads them (`get_entities`: type and exact span), so
the sums give seqeval's micro/macro/weighted precision, recall and F1 (macro over the types
found in the gold or predicted tags)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hfft.uncertainty import Statistic, averaged_prf, safe_ratio


def _entities(tags: list[str]) -> set[tuple[str, int, int]]:
    from seqeval.metrics.sequence_labeling import get_entities

    return set(get_entities(tags))


def per_sentence_stats(
    true: Sequence[Sequence[int]], pred: Sequence[Sequence[int]], tag_names: Sequence[str]
) -> tuple[np.ndarray, list[str]]:
    """((sentences x (2 + 3 types)) counts, the entity types in column order), from tag ids per
    scored word of each non-empty sentence."""
    found = []
    for t, p in zip(true, pred, strict=True):
        if not t:
            continue
        gold = _entities([tag_names[i] for i in t])
        guessed = _entities([tag_names[i] for i in p])
        words = [len(t), int(np.sum(np.equal(t, p)))]
        found.append((words, gold, guessed))
    types = sorted({e[0] for _, gold, guessed in found for e in gold | guessed})
    column = {kind: i for i, kind in enumerate(types)}
    stats = np.zeros((len(found), 2 + 3 * len(types)))
    for row, (words, gold, guessed) in enumerate(found):
        stats[row, :2] = words
        for offset, entities in ((0, gold & guessed), (1, guessed), (2, gold)):
            for kind, _, _ in entities:
                stats[row, 2 + offset * len(types) + column[kind]] += 1
    return stats, types


def statistics(names: Sequence[str], num_types: int) -> dict[str, Statistic]:
    """{metric: statistic of the summed counts} for every tagging metric of `names`."""

    def block(i: int):
        return lambda totals: totals[:, 2 + i * num_types : 2 + (i + 1) * num_types]

    tp, pred, gold = block(0), block(1), block(2)
    out: dict[str, Statistic] = {}
    for name in names:
        if name == "accuracy":
            out[name] = lambda totals: safe_ratio(totals[:, 1], totals[:, 0])
            continue
        kind, _, average = name.partition("_")
        out[name] = lambda totals, kind=kind, average=average or "micro": averaged_prf(
            kind, average, tp(totals), gold(totals), pred(totals)
        )
    return out


def interval_stats(
    names: Sequence[str],
    tag_names: Sequence[str],
    true: Sequence[Sequence[int]],
    pred: Sequence[Sequence[int]],
) -> tuple[np.ndarray, dict[str, Statistic]]:
    """(per-sentence stats, {metric: statistic}) from tag ids per word of each sentence
    (`tag_names`: the tags as seqeval reads them)."""
    stats, types = per_sentence_stats(true, pred, tag_names)
    return stats, statistics(names, len(types))
