"""Tiny datasets on disk for the coverage matrix (scripts/architectures.py), one per kind of
classifier, each learnable from its input: colour squares, short reviews, pitched tones and
tagged sentences of names and places."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

IMAGE_SIZE = 64
COLORS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
WORDS = {
    "negative": ["bad", "awful", "poor", "sad", "boring"],
    "positive": ["good", "great", "nice", "happy", "fun"],
}
FILLER = ["the", "movie", "was", "really", "very", "a", "film", "plot"]


def vocabulary() -> list[str]:
    """Every word `make_text_csv` writes (the tiny tokenizers know them all)."""
    return sorted({w for ws in WORDS.values() for w in ws} | set(FILLER))


def make_image_folder(path: Path, per_class: int = 4, seed: int = 0) -> Path:
    """An `imagefolder` dataset of noisy solid-colour squares: class = colour."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, rgb in COLORS.items():
        folder = Path(path) / "train" / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            noise = rng.integers(-25, 25, size=(IMAGE_SIZE, IMAGE_SIZE, 3))
            pixels = np.clip(np.array(rgb) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{name}_{i}.png")
    return Path(path)


def make_text_csv(path: Path, rows: int = 16, seed: int = 0) -> Path:
    """A CSV of short reviews (`sentence`) with a string label (`sentiment`)."""
    import csv
    import random

    rnd = random.Random(seed)
    Path(path).mkdir(parents=True, exist_ok=True)
    out = Path(path) / "train.csv"
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sentence", "sentiment"])
        for i in range(rows):
            label = sorted(WORDS)[i % 2]
            words = rnd.sample(FILLER, rnd.randint(1, 4)) + rnd.sample(WORDS[label], 2)
            rnd.shuffle(words)
            writer.writerow([" ".join(words), label])
    return out


AUDIO_RATE = 16000
TONES = {"low": 220.0, "mid": 660.0, "high": 1980.0}


def tone(freq: float, seconds: float = 0.4, rate: int = AUDIO_RATE, seed: int = 0) -> Any:
    """A noisy sine tone: (frames,) float32 samples in [-1, 1]."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.5 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(t.size)
    return wave.astype(np.float32)


def make_audio_folder(path: Path, per_class: int = 4, seed: int = 0) -> Path:
    """An `audiofolder` dataset of 16 kHz WAV tones: class = pitch."""
    import soundfile

    for name, freq in TONES.items():
        folder = Path(path) / "train" / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            wave = tone(freq * (1 + 0.02 * i), 0.3 + 0.05 * (i % 3), seed=seed + i)
            soundfile.write(folder / f"{name}_{i}.wav", wave, AUDIO_RATE, subtype="PCM_16")
    return Path(path)


# Tagged sentences: names and places in IOB2.
NAMES = {"PER": [["alice"], ["bob", "jones"], ["carol", "smith"], ["dave"]],
         "LOC": [["paris"], ["berlin"], ["new", "york"], ["rome"]]}  # fmt: skip
TEMPLATES = ["{PER} lives in {LOC} .", "yesterday {PER} visited {LOC} with {PER} .",
             "the office of {PER} is in {LOC} ."]  # fmt: skip
TAG_NAMES = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def token_vocabulary() -> list[str]:
    """Every word `make_token_jsonl` writes (the tiny tokenizers know them all)."""
    words = {w for names in NAMES.values() for name in names for w in name}
    return sorted(words | {w for t in TEMPLATES for w in t.split() if not w.startswith("{")})


def tagged_sentences(rows: int, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """(words, IOB2 tags) of `rows` template sentences, the names drawn at random."""
    rnd = random.Random(seed)
    out = []
    for i in range(rows):
        words: list[str] = []
        tags: list[str] = []
        for part in TEMPLATES[i % len(TEMPLATES)].split():
            kind = part.strip("{}")
            name = rnd.choice(NAMES[kind]) if part.startswith("{") else [part]
            words += name
            tags += ["O"] if kind == part else [f"B-{kind}"] + [f"I-{kind}"] * (len(name) - 1)
        out.append((words, tags))
    return out


def make_token_jsonl(path: Path, rows: int = 16, seed: int = 0) -> Path:
    """A JSON-lines file of {"tokens": [...], "ner_tags": [...]} rows (tag names)."""
    Path(path).mkdir(parents=True, exist_ok=True)
    out = Path(path) / "train.jsonl"
    lines = [json.dumps({"tokens": w, "ner_tags": t}) for w, t in tagged_sentences(rows, seed)]
    out.write_text("\n".join(lines) + "\n")
    return out
