"""Tagging schemes: which one a tag set uses, the tag sequences that break it, and their repair.

    IOB2 (BIO)  B-X starts an entity of type X, I-X continues it, O is outside any entity
    IOBES       also E-X (ends an entity) and S-X (a one-word entity)
    BILOU       IOBES spelled L-X (last) and U-X (unit)
    plain       no prefixes (part-of-speech tags...): every word is its own unit

A sequence "breaks" its scheme where a tag cannot follow the one before it: an I-X after O or
after B-Y, an entity left unfinished in IOBES. Repairing decodes the entities leniently, as
conlleval and seqeval's default mode read them (an I-X after O starts an entity), and writes
them back in the scheme: an I-X after O becomes B-X.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

IOB2, IOBES, BILOU, PLAIN = "IOB2", "IOBES", "BILOU", "plain"
OUTSIDE = "O"
_PREFIXED = re.compile(r"^([BIESLU])[-_](.+)$")
_ORDER = {letter: i for i, letter in enumerate("BIELSU")}


def split_tag(tag: str) -> tuple[str, str] | None:
    """(prefix letter, entity type) of a prefixed tag ("B-PER" -> ("B", "PER")), else None."""
    match = _PREFIXED.match(tag)
    return (match.group(1), match.group(2)) if match else None


def detect_scheme(tags: Iterable[str]) -> str:
    """The scheme a tag set uses: IOB2 (only B-/I-), IOBES (E-/S- too), BILOU (L-/U-), or plain
    (some tag other than O has no prefix)."""
    letters = set()
    for tag in set(tags):
        if tag == OUTSIDE:
            continue
        parts = split_tag(tag)
        if parts is None:
            return PLAIN
        letters.add(parts[0])
    if letters & set("ES"):
        return IOBES
    if letters & set("LU"):
        return BILOU
    return IOB2


def entity_types(tags: Iterable[str]) -> list[str]:
    """The entity types of a prefixed tag set, sorted."""
    return sorted({parts[1] for tag in tags if (parts := split_tag(tag))})


def order_tags(tags: Iterable[str]) -> list[str]:
    """Tag names in the order models list them: O first, then by entity type, B before I."""

    def key(tag: str) -> tuple[int, str, int]:
        if tag == OUTSIDE:
            return (0, "", 0)
        parts = split_tag(tag)
        return (1, parts[1], _ORDER[parts[0]]) if parts else (1, tag, 0)

    return sorted(set(tags), key=key)


def entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, first, last + 1) of each entity, read leniently (conlleval's rules): an entity
    starts at B-/S-, at an I-/E- of another type than the open one, or after O; it ends at E-/S-,
    before O, B-, S- or a change of type."""
    found: list[tuple[str, int, int]] = []
    open_type, start = None, 0
    for i, tag in enumerate(tags):
        parts = split_tag(tag)
        letter, kind = parts if parts else ("O", None)
        letter = {"L": "E", "U": "S"}.get(letter, letter)
        starts = letter in "BS" or (letter in "IE" and kind != open_type)
        if open_type is not None and (letter == "O" or starts):
            found.append((open_type, start, i))
            open_type = None
        if letter == "O":
            continue
        if starts:
            open_type, start = kind, i
        if letter in "ES":
            found.append((open_type, start, i + 1))
            open_type = None
    if open_type is not None:
        found.append((open_type, start, len(tags)))
    return found


def write_entities(spans: Sequence[tuple[str, int, int]], length: int, scheme: str) -> list[str]:
    """The tag sequence of `length` words holding these entities, in `scheme`."""
    # IOB2 ends an entity with I- and writes a one-word entity as B-
    begin, inside, end, single = {IOB2: "BIIB", IOBES: "BIES", BILOU: "BILU"}[scheme]
    tags = [OUTSIDE] * length
    for kind, first, stop in spans:
        if stop - first == 1:
            tags[first] = f"{single}-{kind}"
            continue
        tags[first] = f"{begin}-{kind}"
        for i in range(first + 1, stop - 1):
            tags[i] = f"{inside}-{kind}"
        tags[stop - 1] = f"{end}-{kind}"
    return tags


def repair(tags: Sequence[str], scheme: str) -> list[str]:
    """The sequence with every entity written as the scheme wants (unchanged when it already
    is, and for plain tags)."""
    if scheme == PLAIN:
        return list(tags)
    repaired = write_entities(entities(tags), len(tags), scheme)
    # Keep the original prefix separator ("B_PER"): only the letters may change.
    return [
        old if split_tag(old) and split_tag(old) == split_tag(new) else _like(new, old)
        for old, new in zip(tags, repaired, strict=True)
    ]


def _like(new: str, old: str) -> str:
    """`new` spelled with `old`'s separator between prefix and type."""
    if new == OUTSIDE or len(old) < 2 or old[1] not in "-_":
        return new
    return new[0] + old[1] + new[2:]


def breaks(tags: Sequence[str], scheme: str) -> list[tuple[int, str, str]]:
    """(word index, its tag, the tag before it or "start") wherever `tags` breaks the scheme."""
    fixed = repair(tags, scheme)
    return [
        (i, tag, tags[i - 1] if i else "start")
        for i, (tag, new) in enumerate(zip(tags, fixed, strict=True))
        if tag != new
    ]


def inside_of(names: Sequence[str]) -> list[int]:
    """For `label_all_tokens`: the id each tag id takes on a word's later sub-tokens: B-X -> I-X
    (when the tag set has it), any other tag itself (transformers' run_ner does the same)."""
    index = {name: i for i, name in enumerate(names)}
    out = []
    for i, name in enumerate(names):
        parts = split_tag(name)
        inside = f"I{name[1]}{parts[1]}" if parts and parts[0] == "B" else None
        out.append(index.get(inside, i) if inside else i)
    return out


def for_seqeval(names: Sequence[str], scheme: str) -> list[str]:
    """The tag names as seqeval's default (conlleval) mode reads them: "B-X" spelled with a
    hyphen, BILOU's L-/U- as E-/S-, and a plain tag X as the one-word entity S-X."""
    out = []
    for name in names:
        parts = split_tag(name)
        if name == OUTSIDE:
            out.append(name)
        elif scheme == PLAIN or parts is None:
            out.append(f"S-{name}")
        else:
            letter, kind = parts
            out.append(f"{ {'L': 'E', 'U': 'S'}.get(letter, letter) }-{kind}")
    return out
