"""Spoken words made on this machine for the embedded audio demo: Debian's espeak-ng speaks each
word in many voices (7 English accents x 12 voice variants), at random speeds and pitches, and
the clips are written as two `audiofolder` datasets:

- source task: the digits "zero" to "nine", plenty of clips (what a base model is pretrained on);
- target task: ten command words ("yes", "no", "up", ...), a small labelled budget per word, a
  validation split, and a test split spoken only by voices that no train or validation clip
  uses (held-out voices).

espeak-ng writes 22.05 kHz mono WAV; the demo's 16 kHz model resamples them as any user's files.
The same seed always writes the same clips. Each folder is `<root>/<split>/<word>/<voice>_<n>.wav`,
which `datasets.load_dataset("audiofolder", data_dir=...)` reads with the folder names as labels.
"""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from hfft.errors import HfftError

ESPEAK = "espeak-ng"
SOURCE_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TARGET_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
ACCENTS = (
    "en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
    "en-029",
)  # fmt: skip
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
# Voices only the target test split hears: one accent and two variants nobody else uses.
HELD_OUT_ACCENTS = ("en-029",)
HELD_OUT_VARIANTS = ("m7", "f4")
SPEEDS = (120, 200)  # words per minute
PITCHES = (25, 75)  # espeak-ng's 0-99 pitch scale


@dataclass(frozen=True)
class SpokenWordsSplit:
    """How many clips per word go where."""

    source_train_per_word: int = 60
    source_validation_per_word: int = 10
    target_train_per_word: int = 8
    target_validation_per_word: int = 6
    target_test_per_word: int = 20
    seed: int = 0


def voices() -> tuple[list[str], list[str]]:
    """(voices of the train and validation splits, held-out voices of the target test split),
    as espeak-ng `-v` names ("en-gb-scotland+f2")."""
    seen, held_out = [], []
    for accent in ACCENTS:
        for variant in VARIANTS:
            voice = f"{accent}+{variant}"
            if accent in HELD_OUT_ACCENTS or variant in HELD_OUT_VARIANTS:
                held_out.append(voice)
            else:
                seen.append(voice)
    return seen, held_out


def espeak_available() -> str | None:
    """Why the demo cannot make its clips here (None: espeak-ng is installed)."""
    if shutil.which(ESPEAK) is None:
        return (
            "espeak-ng is not installed: the audio demo speaks its words with it. Install it "
            "with `apt-get install espeak-ng` (`make test` and `make demo-audio` do)"
        )
    return None


def _speak(job: tuple[str, str, int, int, Path]) -> None:
    word, voice, speed, pitch, path = job
    path.parent.mkdir(parents=True, exist_ok=True)
    command = [ESPEAK, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(path), word]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not path.is_file() or path.stat().st_size <= 44:
        raise HfftError(f"espeak-ng failed on {word!r} with voice {voice}: {done.stderr.strip()}")


def write_spoken_words(
    root: str | Path, split: SpokenWordsSplit = SpokenWordsSplit(), workers: int = 4
) -> dict[str, dict]:
    """Write `root/source` and `root/target` audiofolders; return {task: {split: {word: n}}}.

    `root` is replaced when it exists, so stale clips from a bigger split never linger."""
    import numpy as np

    reason = espeak_available()
    if reason:
        raise HfftError(reason)
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    rng = np.random.RandomState(split.seed)
    seen, held_out = voices()
    plan = {
        "source": (
            SOURCE_WORDS,
            [
                ("train", split.source_train_per_word, seen),
                ("validation", split.source_validation_per_word, seen),
            ],
        ),
        "target": (
            TARGET_WORDS,
            [
                ("train", split.target_train_per_word, seen),
                ("validation", split.target_validation_per_word, seen),
                ("test", split.target_test_per_word, held_out),
            ],
        ),
    }
    jobs = []
    counts: dict[str, dict] = {}
    for task, (words, parts) in plan.items():
        counts[task] = {name: {} for name, _, _ in parts}
        for word in words:
            for name, n, pool in parts:
                for i in range(n):
                    voice = pool[rng.randint(len(pool))]
                    speed, pitch = rng.randint(*SPEEDS), rng.randint(*PITCHES)
                    path = root / task / name / word / f"{voice.replace('+', '_')}_{i}.wav"
                    jobs.append((word, voice, int(speed), int(pitch), path))
                counts[task][name][word] = n
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_speak, jobs))  # espeak-ng runs as separate processes: threads suffice
    return counts
