"""Clip-level audio work for the audio tasks: crops and sliding windows (in seconds), train-time
augmentation, and the preflight summary of a dataset's clips (durations, sample rates,
channels, a suggested `data.max_duration`).

Random choices use torch's generator, which the Trainer seeds, restores on resume and reseeds in
each DataLoader worker (numpy's global one would repeat itself in every worker).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hfft.tasks.audio import NAME, UnusableAudio, clip_info, resample

if TYPE_CHECKING:
    import datasets
    import numpy as np

log = logging.getLogger("hfft")

# A clip is evaluated on at most this many sliding windows (spread evenly over it): a 10-minute
# recording must not become a thousand-window batch.
MAX_WINDOWS = 32
# The preflight suggests a max_duration when the longest clips exceed this (without a model
# window of its own), or the model's window.
LONG_CLIP_SECONDS = 30.0


def _uniform(low: float, high: float) -> float:
    import torch

    return low + (high - low) * float(torch.rand(()))


def random_window(length: float, limit: float | None) -> tuple[float, float | None]:
    """(start, duration) of a random `limit`-second crop (the whole clip when not longer)."""
    if limit is None or length <= limit:
        return 0.0, None
    return _uniform(0.0, length - limit), limit


def sliding_windows(
    length: float, limit: float, hop: float | None = None, most: int = MAX_WINDOWS
) -> list[tuple[float, float | None]]:
    """(start, duration) of `limit`-second windows every `hop` seconds (default limit / 2)
    covering the clip, the last one ending at its end; at most `most`, spread evenly."""
    if length <= limit:
        return [(0.0, None)]
    import numpy as np

    hop = hop or limit / 2
    last = length - limit
    count = min(most, math.ceil(last / hop - 1e-9) + 1)
    return [(float(s), limit) for s in np.linspace(0.0, last, count)]


def augment(samples: np.ndarray, rate: int, spec: Any) -> np.ndarray:
    """One random draw of the recipe's `data.augmentation` applied to a mono clip: speed
    (resampling, so the pitch moves with it), time shift, gain, white noise at an SNR."""
    import numpy as np
    import torch

    if not spec.enabled or samples.size == 0:
        return samples
    low, high = spec.speed
    if high > low or low != 1.0:
        factor = _uniform(low, high)
        # Read at rate*factor and written at rate: factor > 1 plays faster (and higher).
        samples = resample(samples, round(rate * factor), rate)
    if spec.time_shift:
        shift = round(_uniform(-spec.time_shift, spec.time_shift) * rate)
        shift = max(-samples.size, min(samples.size, shift))
        shifted = np.zeros_like(samples)
        if shift >= 0:
            shifted[shift:] = samples[: samples.size - shift]
        else:
            shifted[:shift] = samples[-shift:]
        samples = shifted
    low, high = spec.gain_db
    if high > low or low != 0.0:
        samples = samples * np.float32(10 ** (_uniform(low, high) / 20))
    if spec.noise_snr_db:
        power = float(np.mean(samples.astype(np.float64) ** 2))
        if power > 0:
            snr = _uniform(*spec.noise_snr_db)
            noise = torch.randn(samples.size).numpy() * math.sqrt(power / 10 ** (snr / 10))
            samples = samples + noise.astype(np.float32)
    return np.clip(samples, -1.0, 1.0).astype(np.float32)


def fixed_window(processor: Any) -> float | None:
    """Seconds of audio the feature extractor always pads or cuts to (Whisper's `n_samples`,
    AST's `max_length` frames of 10 ms), or None for one that takes any length."""
    rate = getattr(processor, "sampling_rate", None)
    if getattr(processor, "n_samples", None) and rate:
        return processor.n_samples / rate
    frames = getattr(processor, "max_length", None)
    if isinstance(frames, int) and getattr(processor, "num_mel_bins", None):
        return frames * 0.01  # Kaldi filterbanks: one frame every 10 ms
    return None


def _seconds(value: float) -> str:
    return f"{value:.3g} s" if value < 100 else f"{value:,.0f} s"


def clip_stats(splits: Mapping[str, datasets.Dataset]) -> list[tuple[float, int, int]]:
    """(duration s, sample rate, channels) of every clip, read from the file headers."""
    import datasets

    stats = []
    for ds in splits.values():
        # A stream (data.streaming) is not read ahead: the held-out splits stand for it.
        if isinstance(ds, datasets.IterableDataset):
            continue
        if not isinstance(ds.features.get(NAME), datasets.Audio):
            continue
        for batch in ds.select_columns([NAME]).iter(batch_size=256):
            for value in batch[NAME]:
                try:
                    frames, rate, channels = clip_info(value)
                except UnusableAudio:
                    continue  # listed (or skipped) by the scan already
                stats.append((frames / rate if rate else 0.0, rate, channels))
    return stats


def describe_clips(
    stats: list[tuple[float, int, int]],
    target_rate: int,
    max_duration: float | None,
    window: float | None,
) -> tuple[str, str | None]:
    """(the summary line, a suggestion or None) for clips of `stats`, a model reading
    `target_rate` Hz with a fixed `window` of seconds (or None) and the recipe's max_duration."""
    import numpy as np

    if not stats:
        return "audio: no clip headers to summarise", None
    durations = np.array([d for d, _, _ in stats])
    rates = Counter(r for _, r, _ in stats)
    channels = Counter(c for _, _, c in stats)
    names = {1: "mono", 2: "stereo"}
    line = (
        f"audio: {len(stats):,} clips, {_seconds(durations.min())} to "
        f"{_seconds(durations.max())} (median {_seconds(float(np.median(durations)))}); "
        + ", ".join(f"{rate:,} Hz x{n:,}" for rate, n in rates.most_common(4))
        + "; "
        + ", ".join(f"{names.get(c, f'{c} channels')} x{n:,}" for c, n in channels.most_common(3))
        + f" -> mono {target_rate:,} Hz"
    )
    longer = int((durations > max_duration).sum()) if max_duration else 0
    if longer:
        line += f"; {longer:,} clips longer than data.max_duration={max_duration:g} s are cropped"
    longest = float(durations.max())
    typical = float(np.percentile(durations, 90))
    suggestion = None
    limit = window or LONG_CLIP_SECONDS
    if max_duration is None and longest > limit:
        suggested = math.ceil(min(typical, limit))
        suggestion = (
            f"clips run up to {_seconds(longest)}, beyond {_seconds(limit)}"
            + (" (the model's window)" if window else "")
            + f": set data.max_duration={suggested} (90% of clips are at most "
            f"{_seconds(typical)}) to crop them"
        )
    elif window and max_duration and max_duration > window:
        suggestion = (
            f"data.max_duration={max_duration:g} s is longer than the model's {_seconds(window)} "
            f"window, which cuts every clip there: set data.max_duration={window:g}"
        )
    elif window and max_duration and longest < max_duration / 2:
        suggestion = (
            f"every clip is at most {_seconds(longest)} but data.max_duration={max_duration:g} s "
            f"pads each to {_seconds(min(max_duration, window))}: "
            f"data.max_duration={math.ceil(longest)} would compute less per clip"
        )
    return line, suggestion


def log_clip_summary(
    splits: Mapping[str, datasets.Dataset], processor: Any, max_duration: float | None
) -> None:
    """Log the preflight summary of the clips and a suggested max_duration, if any."""
    stats = clip_stats(splits)
    line, suggestion = describe_clips(
        stats, processor.sampling_rate, max_duration, fixed_window(processor)
    )
    log.info("%s", line)
    if suggestion:
        log.warning("%s", suggestion)
