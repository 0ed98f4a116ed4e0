"""audio-classification: AutoModelForAudioClassification (wav2vec2, HuBERT, WavLM, AST, Whisper
encoders...) + the checkpoint's feature extractor.

Clips are decoded lazily (`with_transform`) by the audio modality: mono, resampled to the
extractor's `sampling_rate`, cut to `data.max_duration` seconds (training: a random crop, then
augmentation; evaluation: the middle, or sliding windows whose class scores are averaged). The
collator runs the feature extractor on each batch, so sequence models get dynamic padding and
fixed-window ones (Whisper, AST) their own.

Whisper's feature extractor pads every clip to 30 s and its encoder only accepts that length, so
a 1 s keyword would cost as much as 30 s of speech. `adapt_model` cuts the window to
`data.max_duration` rounded up to whole seconds: the extractor pads to that, and the encoder
keeps the first rows of its (fixed, sinusoidal) position table. The saved config.json and
preprocessor_config.json say the new window, so `pipeline()` loads the run directory as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the registry is imported to validate recipes; keep that light
    import datasets

from hfft.tasks.audio import AUDIO, NAME, center_window, read_windows, resample
from hfft.tasks.lazy_splits import prepared, transformed
from hfft.tasks.single_label import SINGLE_LABEL
from hfft.tasks.task import Task

# Per-row keys of the transformed splits: one clip, or the windows of one clip.
CLIP, WINDOWS = "audio", "audio_windows"


def _windows(train: bool, data: Any) -> Any:
    """length in seconds -> (start, duration) of what the model sees of a clip (see the module
    docstring)."""
    from hfft.tasks.audio_clips import random_window, sliding_windows

    if train:
        crop = random_window if data.train_crop == "random" else center_window
        return lambda length: [crop(length, data.max_duration)]
    if data.eval_windows == "sliding":
        return lambda length: sliding_windows(length, data.max_duration, data.window_hop)
    return lambda length: [center_window(length, data.max_duration)]


def prepare(splits: datasets.DatasetDict, processor: Any, recipe: Any) -> datasets.DatasetDict:

    from hfft.tasks.audio_clips import augment, log_clip_summary

    data = recipe.data
    rate = processor.sampling_rate
    log_clip_summary(splits, processor, data.max_duration)
    sliding = data.eval_windows == "sliding"

    def make_transform(train: bool):
        choose = _windows(train, data)

        def transform(batch: dict[str, list]) -> dict[str, Any]:
            clips = []
            for value in batch[NAME]:
                windows, native = read_windows(value, choose)
                windows = [resample(samples, native, rate) for samples in windows]
                if train:
                    windows = [augment(samples, rate, data.augmentation) for samples in windows]
                clips.append(windows)
            if sliding and not train:
                return {WINDOWS: clips, "labels": batch["label"]}
            return {CLIP: [windows[0] for windows in clips], "labels": batch["label"]}

        return transform

    return prepared(splits, lambda name, ds: transformed(ds, make_transform(name == "train")))


class AudioCollator:
    """Rows of clips (or of sliding windows) -> the feature extractor's batch + labels; the
    windows of a batch go through the model together, `window_counts` saying whose they are."""

    def __init__(self, processor: Any) -> None:
        import inspect

        self.processor = processor
        call = inspect.signature(processor.__call__).parameters
        # Sequence models (wav2vec2...) pad to the batch's longest clip; fixed-window extractors
        # (Whisper, AST) pad or cut to their own window whatever they are told.
        fixed = getattr(processor, "n_samples", None)
        self.kwargs = {"padding": True} if "padding" in call and not fixed else {}

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        counts = None
        if WINDOWS in rows[0]:
            counts = [len(row[WINDOWS]) for row in rows]
            clips = [clip for row in rows for clip in row[WINDOWS]]
        else:
            clips = [row[CLIP] for row in rows]
        batch = dict(
            self.processor(
                clips,
                sampling_rate=self.processor.sampling_rate,
                return_tensors="pt",
                **self.kwargs,
            )
        )
        if counts is not None:
            batch["window_counts"] = torch.tensor(counts)
        if "labels" in rows[0]:
            batch["labels"] = torch.tensor([row["labels"] for row in rows])
        return batch


def collator(processor: Any) -> Any:
    return AudioCollator(processor)


def adapt_model(model: Any, processor: Any, recipe: Any) -> Any:
    """Whisper's window cut to data.max_duration (see the module docstring) and its fixed
    position table kept frozen, no backward pass through a frozen conv feature encoder, window
    averaging for data.eval_windows=sliding."""
    from hfft.tasks.audio_models import (
        average_windows,
        cut_window,
        keep_positions_fixed,
        skip_frozen_feature_encoder,
    )

    skip_frozen_feature_encoder(model)
    keep_positions_fixed(model)
    cut_window(model, processor, recipe.data.max_duration)
    if recipe.data.eval_windows == "sliding":
        average_windows(model, SINGLE_LABEL.head_loss)
    return model


def locate_backbone(model: Any) -> Any:
    from hfft.tasks.audio_models import name_encoder_backbone

    name_encoder_backbone(model)
    return model


def claims_config(config: Mapping[str, Any]) -> bool:
    """An audio classifier, whatever its class suffix: wav2vec2, HuBERT and WavLM heads are
    *ForSequenceClassification, like text ones; transformers' audio-classification table says
    which model types are audio."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES,
    )

    architectures = config.get("architectures") or []
    classifier = any(a.endswith(("Classification",)) for a in architectures)
    return classifier and config.get("model_type") in MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES


AUDIO_CLASSIFICATION = Task(
    name="audio-classification",
    modality=AUDIO,
    labels=SINGLE_LABEL,
    model_class="AutoModelForAudioClassification",
    architecture_suffix="ForAudioClassification",
    prepare=prepare,
    collator=collator,
    # set_transform datasets expose only the raw columns to the Trainer's column filter.
    training_defaults={"remove_unused_columns": False, "learning_rate": 3e-5},
    locate_backbone=locate_backbone,
    adapt_model=adapt_model,
    claims_config=claims_config,
)
