"""Tiny token-classification fixtures: template sentences of people, places and companies
tagged in IOB2, as JSON lines or CoNLL files, a tiny BERT token classifier with a WordPiece
vocabulary (some words split into sub-tokens) and a tiny byte-level BPE tokenizer."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

PEOPLE = [["alice"], ["bob", "jones"], ["carol", "smith"], ["dave"], ["erin", "johnson"],
          ["frank", "brown"], ["grace"], ["heidi", "johnson"]]  # fmt: skip
PLACES = [["paris"], ["berlin"], ["new", "york"], ["rome"], ["madrid"], ["san", "francisco"]]
COMPANIES = [
    ["acme", "corp"],
    ["globex"],
    ["initech"],
    ["umbrella", "inc"],
    ["stark", "industries"],
]
# Names no training sentence holds, for a test split that needs more than memory.
UNSEEN = {
    "PER": [["ivan"], ["judy", "miller"], ["mallory", "davis"], ["oscar"], ["peggy", "wilson"]],
    "LOC": [["london"], ["tokyo"], ["los", "angeles"], ["vienna"], ["cairo"]],
    "ORG": [["hooli"], ["wayne", "enterprises"], ["cyberdyne"], ["soylent", "corp"]],
}
TEMPLATES = [
    "{PER} lives in {LOC} .",
    "{PER} works for {ORG} in {LOC} .",
    "yesterday {PER} visited {LOC} with {PER} .",
    "the {ORG} office is in {LOC} .",
    "{ORG} hired {PER} last week .",
]
TAG_NAMES = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
# "johnson" is no word of the vocabulary: WordPiece reads it as "john" + "##son".
TOKEN_VOCAB = sorted(
    {w for group in (PEOPLE, PLACES, COMPANIES) for name in group for w in name if w != "johnson"}
    | {w for t in TEMPLATES for w in t.split() if not w.startswith("{")}
    | {"john", "##son", "##s"}
)


def entity_sentences(
    rows: int, seed: int = 0, unseen: bool = False
) -> list[tuple[list[str], list[str]]]:
    """(words, IOB2 tags) of `rows` template sentences, the names drawn at random (from UNSEEN
    with `unseen`)."""
    rnd = random.Random(seed)
    pools = UNSEEN if unseen else {"PER": PEOPLE, "LOC": PLACES, "ORG": COMPANIES}
    out = []
    for i in range(rows):
        words: list[str] = []
        tags: list[str] = []
        for part in TEMPLATES[i % len(TEMPLATES)].split():
            if part.startswith("{"):
                kind = part.strip("{}")
                name = rnd.choice(pools[kind])
                words += name
                tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(name) - 1)
            else:
                words.append(part)
                tags.append("O")
        out.append((words, tags))
    return out


def make_entity_jsonl(
    path: Path, rows: int = 30, seed: int = 0, name: str = "ner.jsonl", unseen: bool = False
) -> Path:
    """A JSON-lines file of {"tokens": [...], "ner_tags": [...]} rows (tag names)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    out = path / name
    rows_ = entity_sentences(rows, seed, unseen)
    lines = [json.dumps({"tokens": w, "ner_tags": t}) for w, t in rows_]
    out.write_text("\n".join(lines) + "\n")
    return out


def make_entity_conll(path: Path, rows: int = 30, seed: int = 0, docstart: bool = True) -> Path:
    """The same sentences as a CoNLL file (word POS tag per line, -DOCSTART- first)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blocks = ["-DOCSTART- -X- O"] if docstart else []
    for words, tags in entity_sentences(rows, seed):
        blocks.append("\n".join(f"{w} X {t}" for w, t in zip(words, tags, strict=True)))
    path.write_text("\n\n".join(blocks) + "\n\n\n")  # trailing blank lines, as files often end
    return path


def make_token_checkpoint(path: Path, model_type: str = "bert") -> Path:
    """Save a tiny random token classifier with a tokenizer: a word-level WordPiece one for
    BERT, a byte-level BPE one for RoBERTa and DeBERTa (as their real checkpoints have)."""
    import torch
    from transformers import AutoConfig, AutoModelForTokenClassification, BertTokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if model_type == "bert":
        vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *TOKEN_VOCAB]
        (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
        tokenizer = BertTokenizer.from_pretrained(path)
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(make_bpe_tokenizer(path))
    sizes = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
             "intermediate_size": 37, "max_position_embeddings": 66}  # fmt: skip
    specials = (
        {"pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2} if model_type != "bert" else {}
    )
    config = AutoConfig.for_model(
        model_type, vocab_size=max(96, len(tokenizer)), num_labels=len(TAG_NAMES), **sizes,
        **specials,
    )  # fmt: skip
    torch.manual_seed(0)
    AutoModelForTokenClassification.from_config(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def make_bpe_tokenizer(path: Path) -> Path:
    """A tiny byte-level BPE (RoBERTa-style) tokenizer trained on the entity sentences."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    corpus = [" ".join(w) for w, _ in entity_sentences(200)]
    bpe = ByteLevelBPETokenizer()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe.train_from_iterator(corpus, vocab_size=300, min_frequency=2, special_tokens=specials)
    bpe.save_model(str(path))
    RobertaTokenizer.from_pretrained(path).save_pretrained(path)
    return path


def token_data(path: Path) -> dict:
    jsonl = make_entity_jsonl(path / "ner", rows=40)
    return {"path": "json", "data_files": str(jsonl), "test_fraction": 0.2,
            "validation_fraction": 0.2}  # fmt: skip


def entities_ok(line: dict, labels: Any, scheme: Any) -> None:
    """A tagger's `hfft predict` line: entities whose type is one of its tags' types."""
    kinds = {label.split("-", 1)[-1] for label in labels}
    for entity in line["predictions"]:
        assert entity["label"] in kinds and {"text", "start", "end", "score"} <= set(entity)
