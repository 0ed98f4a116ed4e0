"""Section `audio`, the audio pipeline's overhead: `hfft` training an audio classifier against a
hand-written transformers Trainer script on the same checkpoint, clips and TrainingArguments —
steady-state training samples/s.

Both decode the same way (soundfile + soxr: `datasets`' own Audio decoding needs FFmpeg, which a
fresh machine lacks), mix down to mono, resample 22.05 kHz -> 16 kHz, take a random 1 s crop, and
run the feature extractor on each batch with padding; hfft adds its checks and recipe on top.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench import workloads
from bench.context import Context
from bench.measure import interleave, quiet, steady_rate, step_timer
from bench.overhead import HFFT_DEFAULT_KEYS
from bench.report import Figure, Section

NAME = "audio"
RATE = 22050  # what the clips are written at (espeak-ng's rate), resampled to the model's 16 kHz
MAX_DURATION = 1.0
# A wav2vec2-shaped model small enough that per-step data work is visible next to compute.
WAV2VEC2 = {
    "hidden_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4,
    "intermediate_size": 512, "num_feat_extract_layers": 5, "conv_dim": (64,) * 5,
    "conv_kernel": (10, 8, 8, 4, 4), "conv_stride": (5, 4, 4, 2, 2),
    "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4, "mask_time_prob": 0.0,
    "layerdrop": 0.0,
}  # fmt: skip


def write_clips(root: Path, classes: int = 5, per_class: int = 24) -> Path:
    """An audiofolder of noisy chirps, 0.8-1.4 s at 22.05 kHz (class = pitch), seeded."""
    import numpy as np
    import soundfile

    rng = np.random.default_rng(0)
    for c in range(classes):
        folder = root / "train" / f"class{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            seconds = rng.uniform(0.8, 1.4)
            t = np.arange(int(seconds * RATE)) / RATE
            freq = 200 * (c + 1) * (1 + 0.3 * t)
            wave = 0.4 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(t.size)
            soundfile.write(folder / f"{i}.wav", wave.astype(np.float32), RATE, subtype="PCM_16")
    return root


def wav2vec2_checkpoint(path: Path, num_labels: int = 5) -> Path:
    """A randomly initialised wav2vec2 classifier and its feature extractor (seeded)."""
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForSequenceClassification,
    )

    torch.manual_seed(0)
    config = Wav2Vec2Config(**WAV2VEC2, num_labels=num_labels)
    Wav2Vec2ForSequenceClassification(config).save_pretrained(path)
    Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(path)
    return path


def build_baseline(
    checkpoint: Path, data_dir: Path, args: dict[str, Any], callbacks: list[Any]
) -> Any:
    """What a user writes without hfft, after the transformers audio-classification example
    (random crop of max_duration seconds, the feature extractor per batch), decoding with
    soundfile + soxr because datasets' Audio decoding needs FFmpeg."""
    import io
    import random

    import soundfile
    import soxr
    import torch
    from datasets import Audio, load_dataset
    from transformers import (
        AutoFeatureExtractor,
        AutoModelForAudioClassification,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    training_args = TrainingArguments(**args)
    set_seed(training_args.seed)
    extractor = AutoFeatureExtractor.from_pretrained(checkpoint)
    rate = extractor.sampling_rate
    dataset = load_dataset("audiofolder", data_dir=str(data_dir))
    train = dataset["train"].cast_column("audio", Audio(decode=False))
    labels = train.features["label"].names

    def transform(batch: dict[str, list]) -> dict[str, Any]:
        clips = []
        for value in batch["audio"]:
            source = io.BytesIO(value["bytes"]) if value["bytes"] else value["path"]
            samples, native = soundfile.read(source, dtype="float32", always_2d=True)
            samples = soxr.resample(samples.mean(axis=1), native, rate)
            keep = int(MAX_DURATION * rate)
            if len(samples) > keep:
                start = random.randint(0, len(samples) - keep)
                samples = samples[start : start + keep]
            clips.append(samples)
        return {"audio": clips, "labels": batch["label"]}

    def collate(rows: list[dict[str, Any]]) -> dict[str, Any]:
        batch = extractor(
            [r["audio"] for r in rows], sampling_rate=rate, padding=True, return_tensors="pt"
        )
        return {**batch, "labels": torch.tensor([r["labels"] for r in rows])}

    model = AutoModelForAudioClassification.from_pretrained(
        checkpoint,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
        ignore_mismatched_sizes=True,
    )
    return Trainer(
        model=model,
        args=training_args,
        train_dataset=train.with_transform(transform),
        data_collator=collate,
        callbacks=callbacks,
    )


def run(ctx: Context) -> Section:
    """Interleave hfft and baseline runs; report hfft samples/s ÷ baseline samples/s."""
    from hfft.recipe import load_recipe
    from hfft.run import build_run

    scale = ctx.scale
    checkpoint = wav2vec2_checkpoint(ctx.work / "wav2vec2-audio")
    data_dir = write_clips(ctx.work / "clips", per_class=max(8, scale.batch_size))
    batch = scale.batch_size
    training = {
        **workloads.STEPS_ONLY,
        **HFFT_DEFAULT_KEYS,
        "max_steps": scale.overhead_steps + scale.warmup_steps + 1,
        "per_device_train_batch_size": batch,
        "learning_rate": 1e-4,
        "seed": 0,
        "dataloader_pin_memory": False,
    }
    warmup = scale.warmup_steps
    setup: dict[str, list[float]] = {"hfft": [], "trainer": []}
    arg_dicts: dict[str, dict[str, Any]] = {}

    def hfft_run() -> float:
        out = ctx.fresh_dir("audio-hfft")
        recipe = {
            "task": "audio-classification",
            "model": {"checkpoint": str(checkpoint)},
            "data": {
                "path": "audiofolder",
                "data_dir": str(data_dir),
                "max_duration": MAX_DURATION,
                "augmentation": {"enabled": False},
            },
            "training": {"output_dir": str(out), **training},
            "early_stopping": {"patience": None},
        }
        start = time.perf_counter()
        built = build_run(load_recipe(recipe))
        setup["hfft"].append(time.perf_counter() - start)
        arg_dicts["hfft"] = built.trainer.args.to_dict()
        stamps: list[float] = []
        quiet(built.trainer).add_callback(step_timer(stamps))
        built.trainer.train()
        return steady_rate(stamps, warmup, per_step=batch)

    def trainer_run() -> float:
        out = ctx.fresh_dir("audio-trainer")
        stamps: list[float] = []
        start = time.perf_counter()
        trainer = build_baseline(
            checkpoint, data_dir, {**training, "output_dir": str(out)}, [step_timer(stamps)]
        )
        setup["trainer"].append(time.perf_counter() - start)
        arg_dicts["trainer"] = trainer.args.to_dict()
        quiet(trainer).train()
        return steady_rate(stamps, warmup, per_step=batch)

    rounds = interleave({"hfft": hfft_run, "trainer": trainer_run}, scale.rounds)
    differing = sorted(
        key
        for key in arg_dicts["hfft"]
        if key not in ("output_dir", "logging_dir")
        and arg_dicts["hfft"][key] != arg_dicts["trainer"].get(key)
    )
    return Section(
        NAME,
        "hfft audio pipeline against a hand-written Trainer script (training samples/s)",
        figures=[
            Figure(
                "hfft_vs_trainer_audio_samples_per_s",
                "hfft ÷ plain Trainer, audio training samples/s",
                rounds.ratio("hfft", "trainer"),
                target=">= 0.98",
                context=f"{rounds.median('hfft'):.1f} vs {rounds.median('trainer'):.1f} samples/s",
            )
        ],
        context={
            "model": "wav2vec2 hidden 128, 4 blocks, 5 conv layers of 64 (stride 320), random init",
            "data": "chirps 0.8-1.4 s at 22.05 kHz -> mono 16 kHz, random 1 s crop",
            "batch_size": batch,
            "timed_steps": scale.overhead_steps,
            "rounds": scale.rounds,
            "hfft_samples_per_s": rounds.values["hfft"],
            "trainer_samples_per_s": rounds.values["trainer"],
            "hfft_setup_s": [round(s, 2) for s in setup["hfft"]],
            "trainer_setup_s": [round(s, 2) for s in setup["trainer"]],
        },
        notes=[
            f"Steady-state samples/s: batch / median step time after step {warmup}, measured "
            "by a Trainer callback in both scripts.",
            "TrainingArguments fields that differ between the two runs (output dirs aside): "
            + (", ".join(differing) if differing else "none"),
            "Setup time is context only: hfft also decodes every clip once to check it and "
            "summarises durations, rates and channels before training.",
        ],
    )
