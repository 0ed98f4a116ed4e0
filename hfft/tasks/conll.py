"""CoNLL-style text files: a word and its tag per line, a blank line between sentences.

    EU      B-ORG        (more columns are allowed: CoNLL-2003's "EU NNP B-NP B-ORG";
    rejects O             the first is the word, the last its tag)
    German  B-MISC
                         <- blank line: the sentence ends
    -DOCSTART- -X- -X- O <- document markers are skipped

A line holding a tab is split on tabs (a word may then contain spaces), any other on whitespace.
Read into a `datasets.Dataset` with a `tokens` and a `tags` column (lists of strings), one row
per sentence; a recipe names the format `data.path: conll` with data.data_files (a file, a glob
or {train: ..., validation: ..., test: ...}) or data.data_dir (files named by split, as
`datasets` finds them), or gives a `.conll` / `.txt` file as data.path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hfft.errors import DataError

if TYPE_CHECKING:
    import datasets

NAME = "conll"
EXTENSIONS = (".conll", ".txt")
DOCSTART = "-DOCSTART-"
TOKENS, TAGS = "tokens", "tags"


def parse_conll(
    lines: Sequence[str], source: str = "file"
) -> Iterator[tuple[list[str], list[str]]]:
    """(words, tags) per sentence of CoNLL lines; DataError for a line without a tag."""
    words: list[str] = []
    tags: list[str] = []
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            if words:
                yield words, tags
                words, tags = [], []
            continue
        columns = line.split("\t") if "\t" in line else line.split()
        columns = [c.strip() for c in columns if c.strip()]
        if columns[0] == DOCSTART:
            continue
        if len(columns) < 2:
            raise DataError(
                f"{source} line {number}: {line.strip()[:40]!r} has no tag; a CoNLL line holds "
                "a word and its tag separated by a space or a tab (a blank line ends a sentence)"
            )
        words.append(columns[0])
        tags.append(columns[-1])
    if words:  # the last sentence, when the file does not end with a blank line
        yield words, tags


def read_file(path: str | Path) -> tuple[list[list[str]], list[list[str]]]:
    """(sentences, their tags) of one CoNLL file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read the CoNLL file {path}: {err}") from None
    sentences: list[list[str]] = []
    tags: list[list[str]] = []
    for words, labels in parse_conll(text.splitlines(), source=str(path)):
        sentences.append(words)
        tags.append(labels)
    return sentences, tags


def read_conll(files: Mapping[str, Sequence[str]]) -> dict[str, datasets.Dataset]:
    """{split: Dataset(tokens, tags)} from {split: [CoNLL file paths]}, files concatenated in
    order."""
    import datasets

    features = datasets.Features(
        {
            TOKENS: datasets.List(datasets.Value("string")),
            TAGS: datasets.List(datasets.Value("string")),
        }
    )
    out = {}
    for split, paths in files.items():
        rows: dict[str, list[list[str]]] = {TOKENS: [], TAGS: []}
        for path in paths:
            sentences, tags = read_file(path)
            rows[TOKENS] += sentences
            rows[TAGS] += tags
        out[split] = datasets.Dataset.from_dict(rows, features=features)
    return out


READERS = {NAME: read_conll, **dict.fromkeys(EXTENSIONS, read_conll)}
