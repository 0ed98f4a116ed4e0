"""The audio modality: the checkpoint's feature extractor, audio columns decoded by hfft itself
(`soundfile` + `soxr`, no FFmpeg), the one clip check training and `hfft predict` share, and its
recipe options (`data.max_duration`, evaluation windows, augmentation).

`datasets` 5 decodes `Audio` columns through torchcodec, which needs FFmpeg's shared libraries.
hfft never lets it decode: every audio column is cast to `Audio(decode=False)` (raw bytes or a
path) and read with soundfile (libsndfile: WAV 8/16/24/32-bit PCM and float, FLAC, OGG/Vorbis,
Opus, MP3, AIFF...), mixed down to mono and resampled with soxr to the feature extractor's rate.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hfft.errors import first_line
from hfft.tasks.audio_options import AudioOptions
from hfft.tasks.input_files import expand_files
from hfft.tasks.task import Item, Modality

if TYPE_CHECKING:
    import datasets
    import numpy as np

NAME = "audio"
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au", ".w64"}
)
# A clip whose loudest sample is at most one 16-bit step holds nothing audible.
SILENCE_PEAK = 1.0 / 32768
# Sample rates a real recording can have; a header outside them is damaged or forged.
MIN_RATE, MAX_RATE = 1_000, 384_000
# Examples saved for the demo app are cut to this many seconds (a demo, not a dataset copy).
EXAMPLE_SECONDS = 10.0
# `hfft predict` on a model without a recipe (a Hub model): its middle this many seconds.
DEFAULT_PREDICT_SECONDS = 30.0
# Clips are checked block by block, so a long file never sits in memory whole.
_BLOCK_FRAMES = 1 << 16


class UnusableAudio(ValueError):
    """A clip that cannot be used as it is; the message says why and what to do."""


def _open(source: Any) -> Any:
    """A path or a binary file object for soundfile, from a path, bytes or an undecoded
    `datasets.Audio` value ({"bytes", "path"})."""
    if isinstance(source, dict):
        data, path = source.get("bytes"), source.get("path")
        if data:
            return io.BytesIO(data)
        if data is not None and not path:
            raise UnusableAudio("empty file (0 bytes)")
        if not path:
            raise UnusableAudio("no audio")
        source = path
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise UnusableAudio("empty file (0 bytes)")
        return io.BytesIO(source)
    path = Path(source)
    if path.is_file() and path.stat().st_size == 0:
        raise UnusableAudio("empty file (0 bytes)")
    return str(source)


def _soundfile_error(err: Exception) -> UnusableAudio:
    # libsndfile names the file object ("Error opening <_io.BytesIO object at 0x...>: "); the
    # list of bad examples names the file already.
    reason = re.sub(r"^Error opening .*?: ", "", first_line(err))
    return UnusableAudio(
        f"not a readable audio file ({type(err).__name__}: {reason}); hfft reads WAV, "
        "FLAC, OGG/Opus, MP3 and AIFF with libsndfile: convert the file to one of them"
    )


def _check_rate(rate: int) -> None:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise UnusableAudio(
            f"its header claims a sample rate of {rate} Hz, which no recording has (damaged "
            "file?): export it again"
        )


def clip_info(source: Any) -> tuple[int, int, int]:
    """(frames, sample rate, channels) from the file's header, or `UnusableAudio`."""
    import soundfile

    try:
        info = soundfile.info(_open(source))
    except UnusableAudio:
        raise
    except Exception as err:  # soundfile raises LibsndfileError, RuntimeError, TypeError...
        raise _soundfile_error(err) from err
    _check_rate(int(info.samplerate))
    return int(info.frames), int(info.samplerate), int(info.channels)


def read_clip(
    source: Any, start: float = 0.0, duration: float | None = None
) -> tuple[np.ndarray, int]:
    """(mono float32 samples in [-1, 1], sample rate) of `duration` seconds from `start` (None:
    to the end); only those frames are decoded. Raises `UnusableAudio`."""
    (samples,), rate = read_windows(source, lambda length: [(start, duration)])
    return samples, rate


def read_windows(source: Any, windows: Any) -> tuple[list[np.ndarray], int]:
    """([mono float32 samples of each window], sample rate), the file opened once:
    `windows(length in seconds)` says which (start, duration or None) to decode. Raises
    `UnusableAudio`."""
    import soundfile

    out = []
    try:
        with soundfile.SoundFile(_open(source)) as clip:
            rate = clip.samplerate
            _check_rate(rate)
            for start, duration in windows(clip.frames / rate):
                clip.seek(min(round(start * rate), clip.frames))
                frames = -1 if duration is None else max(1, round(duration * rate))
                out.append(clip.read(frames, dtype="float32", always_2d=True))
    except UnusableAudio:
        raise
    except Exception as err:
        raise _soundfile_error(err) from err
    if any(samples.shape[0] == 0 for samples in out):
        raise UnusableAudio("empty: the file holds no audio samples")
    # Mono mixdown: the mean of the channels (what a stereo-trained listener hears centred).
    return [samples.mean(axis=1) for samples in out], rate


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """`samples` at `rate` Hz resampled to `target` Hz (soxr, high quality)."""
    import numpy as np
    import soxr

    if rate == target:
        return samples
    return np.asarray(soxr.resample(samples, rate, target, quality="HQ"), dtype=np.float32)


def audio_problem(value: Any) -> str | None:
    """Why an undecoded audio value ({"bytes", "path"}, a path) cannot be used, or None: it must
    decode to the end (a damaged file fails here, not mid-epoch), hold samples, and not be
    silent. Decoded block by block, so a long clip never sits in memory whole."""
    import numpy as np
    import soundfile

    if value is None:
        return "no audio"
    try:
        peak, frames = 0.0, 0
        with soundfile.SoundFile(_open(value)) as clip:
            _check_rate(clip.samplerate)
            for block in clip.blocks(_BLOCK_FRAMES, dtype="float32", always_2d=True):
                frames += block.shape[0]
                if block.size:
                    peak = max(peak, float(np.abs(block).max()))
    except UnusableAudio as err:
        return str(err)
    except Exception as err:
        return str(_soundfile_error(err))
    if frames == 0:
        return "empty: the file holds no audio samples"
    if not np.isfinite(peak):
        return "holds NaN or infinite samples: re-export the file"
    if peak <= SILENCE_PEAK:
        return "silent: every sample is (near) zero; remove the file or fix its export"
    return None


def center_window(length: float, limit: float | None) -> tuple[float, float | None]:
    """(start, duration) of the middle `limit` seconds of a `length`-second clip (the whole
    clip, duration None, when it is not longer)."""
    if limit is None or length <= limit:
        return 0.0, None
    return (length - limit) / 2, limit


def run_max_duration(model: str | None) -> float | None:
    """`data.max_duration` of the hfft run directory `model` (its recipe.yaml), the whole clip
    (None) where the recipe says null, DEFAULT_PREDICT_SECONDS without a recipe."""
    import yaml

    recipe = Path(model) / "recipe.yaml" if model else None
    if recipe is None or not recipe.is_file():
        return DEFAULT_PREDICT_SECONDS
    try:
        data = (yaml.safe_load(recipe.read_text()) or {}).get("data") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        return DEFAULT_PREDICT_SECONDS
    value = data.get("max_duration", DEFAULT_PREDICT_SECONDS)
    return float(value) if isinstance(value, (int, float)) else None


def _no_problem(value: Any) -> str | None:
    return None


def cast(ds: datasets.Dataset) -> datasets.Dataset:
    """A column of file paths, or a decoding `Audio` column, becomes `Audio(decode=False)`:
    hfft decodes clips itself (no torchcodec/FFmpeg)."""
    import datasets

    feature = ds.features[NAME]
    if isinstance(feature, datasets.Audio):
        return ds.cast_column(NAME, datasets.Audio(decode=False)) if feature.decode else ds
    dtype = getattr(feature, "dtype", None)
    if dtype == "large_string":  # pandas' CSV strings; Audio casts only from plain strings
        ds = ds.cast_column(NAME, datasets.Value("string"))
    if dtype in ("string", "large_string", "binary", "large_binary"):
        return ds.cast_column(NAME, datasets.Audio(decode=False))
    return ds


def scan(ds: datasets.Dataset) -> tuple[datasets.Dataset, Any]:
    """Clips are checked from their raw bytes/paths; a column of another kind (arrays) has
    nothing to decode."""
    import datasets

    if not isinstance(ds.features.get(NAME), datasets.Audio):
        return ds, _no_problem
    return ds, audio_problem


def load_processor(checkpoint: str, kwargs: dict[str, Any]) -> Any:
    from transformers import AutoFeatureExtractor

    return AutoFeatureExtractor.from_pretrained(checkpoint, **kwargs)


def expand_inputs(inputs: Iterable[str]) -> Iterator[Item]:
    """Audio paths as given; folders and globs expanded to their audio files."""
    return expand_files(inputs, AUDIO_EXTENSIONS, "audio")


def read_input(item: Item) -> Item:
    """Check one file as training's scan does (a file training refuses is refused here too) and
    keep its path; `pipeline_reader` decodes it for a given model."""
    problem = audio_problem(item.input)
    if problem:
        item.error = problem
    else:
        item.payload = item.input
    return item


def pipeline_reader(pipe: Any) -> Any:
    """`hfft predict`'s reader for an audio-classification pipeline: each clip checked, its
    middle `data.max_duration` seconds (the run's recipe; the whole clip without one) decoded,
    mixed down to mono and resampled to the feature extractor's rate, since the pipeline itself
    would need FFmpeg to read a file and torchaudio to resample."""
    target = pipe.feature_extractor.sampling_rate
    limit = run_max_duration(getattr(pipe.model, "name_or_path", None))

    def middle(length: float) -> list[tuple[float, float | None]]:
        return [center_window(length, limit)]

    def read(item: Item) -> Item:
        item = read_input(item)
        if item.error is None:
            try:
                (samples,), rate = read_windows(item.input, middle)
            except UnusableAudio as err:
                item.error, item.payload = str(err), None
                return item
            item.payload = {"raw": resample(samples, rate, target), "sampling_rate": target}
        return item

    return read


def save_example(value: Any, folder: Path, index: int) -> str:
    """The middle (at most EXAMPLE_SECONDS) of a clip as a 16-bit mono WAV."""
    import soundfile

    (samples,), rate = read_windows(value, lambda length: [center_window(length, EXAMPLE_SECONDS)])
    name = f"{index}.wav"
    soundfile.write(folder / name, samples, rate, subtype="PCM_16")
    return name


def varying_inputs(recipe: Any) -> list[str]:
    """What changes the model's inputs from epoch to epoch (or feeds it several windows per
    clip), ruling out cached frozen-backbone features."""
    data = recipe.data
    reasons = []
    if data.augmentation.enabled:
        reasons.append("augmentation changes the inputs every epoch (data.augmentation.enabled)")
    if data.max_duration is not None and data.train_crop == "random":
        reasons.append(
            "clips longer than data.max_duration get a new random crop every epoch "
            "(data.train_crop=random)"
        )
    if data.eval_windows == "sliding":
        reasons.append("sliding-window evaluation feeds several windows per clip")
    return reasons


AUDIO = Modality(
    name=NAME,
    aliases=("audio", "file", "path", "audio_path", "filename", "speech", "sound", "wav"),
    processor_kind="feature extractor",
    load_processor=load_processor,
    cast=cast,
    scan=scan,
    expand_inputs=expand_inputs,
    read_input=read_input,
    save_example=save_example,
    usage_example='"path/to/clip.wav"',
    options=AudioOptions,
    varying_inputs=varying_inputs,
    folder_builder="audiofolder",
    pipeline_reader=pipeline_reader,
)
