"""Model-side adjustments of the audio task (`adapt_model`): Whisper's encoder named as the
backbone, its 30 s window cut to `data.max_duration`, and sliding-window score averaging."""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

import torch
from torch import nn

from hfft.errors import RecipeError

log = logging.getLogger("hfft")


def name_encoder_backbone(model: nn.Module) -> None:
    """WhisperForAudioClassification inherits `base_model_prefix = "model"` (right for loading
    a seq2seq checkpoint's `model.encoder.*` weights) but keeps its backbone in `encoder`: name
    that on the instance, so the modes find the encoder, and the projector + classifier as the
    new head."""
    prefix = getattr(model, "base_model_prefix", "")
    if isinstance(getattr(model, prefix, None), nn.Module) if prefix else False:
        return
    if isinstance(getattr(model, "encoder", None), nn.Module):
        model.base_model_prefix = "encoder"


def skip_frozen_feature_encoder(model: nn.Module) -> None:
    """wav2vec2/HuBERT/WavLM feature encoders make their input require grad while their
    `_requires_grad` flag is set (`freeze_feature_encoder` clears it), so that gradient
    checkpointing works; once a mode has frozen the encoder's weights that only buys a backward
    pass through the convolutions over the raw waveform. Keep the flag in step with the weights
    (checked at each forward: the mode freezes after this runs)."""
    for module in model.modules():
        if hasattr(module, "_requires_grad") and hasattr(module, "conv_layers"):
            module.register_forward_pre_hook(_sync_requires_grad)


def _sync_requires_grad(module: nn.Module, args: Any) -> None:
    module._requires_grad = any(p.requires_grad for p in module.parameters())


def keep_positions_fixed(model: nn.Module) -> None:
    """Whisper's encoder position table is fixed sinusoids (WhisperEncoder freezes it when it
    builds it), but transformers 5.24's from_pretrained hands it back trainable: freeze it again,
    or full fine-tuning (and its weight decay) moves what was never meant to be learned."""
    table = getattr(getattr(model, "encoder", None), "embed_positions", None)
    if isinstance(table, nn.Embedding) and hasattr(model.config, "max_source_positions"):
        table.requires_grad_(False)


def window_seconds(max_duration: float | None, full: int) -> int:
    """Whole seconds of a fixed window cut to max_duration (at least 1, at most `full`)."""
    if max_duration is None:
        return full
    return max(1, min(full, math.ceil(max_duration)))


def cut_window(model: nn.Module, processor: Any, max_duration: float | None) -> None:
    """For a Whisper-style pair (an extractor padding to `n_samples`, an encoder that only takes
    `max_source_positions` positions): cut both to `window_seconds(max_duration)`. The position
    table is fixed (sinusoidal, not trained), so its first rows are exactly what a shorter
    window's table holds."""
    encoder = getattr(model, "encoder", None)
    table = getattr(encoder, "embed_positions", None)
    chunk = getattr(processor, "chunk_length", None)
    if not isinstance(table, nn.Embedding) or not getattr(processor, "n_samples", None):
        return
    if not hasattr(model.config, "max_source_positions") or not isinstance(chunk, int):
        return
    seconds = window_seconds(max_duration, chunk)
    if seconds != chunk:
        processor.chunk_length = seconds
        processor.n_samples = seconds * processor.sampling_rate
        processor.nb_max_frames = processor.n_samples // processor.hop_length
    stride = encoder.conv1.stride[0] * encoder.conv2.stride[0]
    positions = processor.nb_max_frames // stride
    if positions == table.num_embeddings:
        return
    if positions > table.num_embeddings:
        raise RecipeError(
            f"the feature extractor pads clips to {processor.chunk_length} s ({positions} "
            f"positions) but the encoder takes {table.num_embeddings}: set the extractor's "
            "chunk_length to match the model"
        )
    shorter = nn.Embedding(positions, table.embedding_dim, dtype=table.weight.dtype)
    shorter.weight.data.copy_(table.weight.data[:positions])
    shorter.requires_grad_(False)
    encoder.embed_positions = shorter.to(table.weight.device)
    encoder.max_source_positions = positions
    model.config.max_source_positions = positions
    log.info(
        "Whisper window cut from %d s to %d s (data.max_duration=%s): each clip costs %d "
        "encoder positions instead of %d",
        chunk,
        processor.chunk_length,
        max_duration,
        positions,
        table.num_embeddings,
    )


def average_windows(model: nn.Module, loss: Any) -> None:
    """Make the model average its class scores over the windows of each clip when a batch says
    how many windows each clip has (`window_counts`, the collator's): the logits it returns are
    the log of the averaged probabilities, so softmax/argmax give the averaged scores and the
    loss is the cross-entropy on them. Batches without `window_counts` (training) pass through.

    The wrapper is an attribute of this model object (like accelerate's autocast wrapper): the
    saved weights and the class are untouched."""
    from transformers.modeling_outputs import SequenceClassifierOutput

    forward = model.forward
    if getattr(forward, "averages_windows", False):
        return

    @functools.wraps(forward)
    def windowed(*args: Any, window_counts: Any = None, labels: Any = None, **kwargs: Any) -> Any:
        if window_counts is None:
            return forward(*args, labels=labels, **kwargs)
        logits = forward(*args, **kwargs).logits
        counts = window_counts.to(logits.device)
        clip = torch.repeat_interleave(torch.arange(counts.numel(), device=logits.device), counts)
        scores = torch.zeros(counts.numel(), logits.shape[-1], device=logits.device)
        scores.index_add_(0, clip, logits.float().softmax(-1))
        averaged = (scores / counts[:, None]).clamp_min(1e-12).log()
        return SequenceClassifierOutput(
            loss=None if labels is None else loss(averaged, labels.to(logits.device)),
            logits=averaged,
        )

    windowed.averages_windows = True  # type: ignore[attr-defined]
    model.forward = windowed
