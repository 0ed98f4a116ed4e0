"""The audio modality: decoding without FFmpeg (soundfile + soxr), every clip checked before
training (corrupt, empty, silent files listed by name), mono 16 kHz whatever the file holds,
crops and windows per data.max_duration, augmentation, the preflight summary."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile

from hfft.data import load_data
from hfft.errors import DataError, RecipeError
from hfft.recipe import load_recipe
from hfft.tasks import TASKS
from hfft.tasks.audio import AUDIO, audio_problem, read_clip, resample
from hfft.tasks.audio_clips import augment, describe_clips, sliding_windows
from hfft.tasks.audio_options import AudioAugmentationSpec
from tests import tiny

TASK = TASKS["audio-classification"]


def audio_recipe(data_dir: Path, tmp_path: Path, checkpoint: Path | None = None, **data) -> object:
    return load_recipe(
        {
            "task": "audio-classification",
            "model": {"checkpoint": str(checkpoint or tmp_path / "ckpt")},
            "data": {"path": "audiofolder", "data_dir": str(data_dir), **data},
            "training": {"output_dir": str(tmp_path / "run"), "use_cpu": True},
        }
    )


@pytest.mark.parametrize(
    ("suffix", "fmt", "subtype"),
    [
        (".wav", "WAV", "PCM_U8"),
        (".wav", "WAV", "PCM_16"),
        (".wav", "WAV", "PCM_24"),
        (".wav", "WAV", "FLOAT"),
        (".flac", "FLAC", "PCM_16"),
        (".ogg", "OGG", "VORBIS"),
        (".mp3", "MP3", "MPEG_LAYER_III"),
    ],
)
def test_formats_decode_to_mono_float_without_ffmpeg(tmp_path, suffix, fmt, subtype):
    path = tmp_path / f"clip{suffix}"
    soundfile.write(
        path, tiny.tone(440, 0.5, 22050, channels=2), 22050, format=fmt, subtype=subtype
    )
    assert audio_problem(str(path)) is None
    samples, rate = read_clip(str(path))
    assert rate == 22050 and samples.ndim == 1 and samples.dtype == np.float32
    # Lossy codecs add a little padding at the ends; PCM and FLAC keep every frame.
    assert abs(samples.size - 11025) <= (2500 if fmt in ("OGG", "MP3") else 0)
    assert 0.3 < np.abs(samples).max() <= 1.0


def test_stereo_44k_becomes_mono_16k(tmp_path):
    left = tiny.tone(440, 1.0, 44100, seed=1)
    right = tiny.tone(880, 1.0, 44100, seed=2)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), 44100, subtype="PCM_16")
    samples, rate = read_clip(str(path))
    np.testing.assert_allclose(samples, (left + right) / 2, atol=2e-4)  # 16-bit steps
    mono16 = resample(samples, rate, 16000)
    assert mono16.shape == (16000,) and mono16.dtype == np.float32
    # The 440 Hz and 880 Hz parts survive resampling (peaks of the spectrum).
    spectrum = np.abs(np.fft.rfft(mono16))
    assert set(np.argsort(spectrum)[-2:]) == {440, 880}


def _bad_folder(root: Path) -> Path:
    tiny.make_audio_folder(root, per_class=3)
    (root / "train" / "low" / "broken.wav").write_bytes(b"RIFF\x00\x00not audio at all")
    (root / "train" / "mid" / "empty.wav").write_bytes(b"")
    soundfile.write(root / "train" / "high" / "quiet.wav", np.zeros(8000, np.float32), 16000)
    return root


def test_corrupt_empty_and_silent_files_are_listed_by_name_before_training(tmp_path):
    folder = _bad_folder(tmp_path / "bad")
    with pytest.raises(DataError) as err:
        load_data(audio_recipe(folder, tmp_path).data, TASK)
    message = str(err.value)
    assert message.startswith("3 unusable example(s): ")
    assert (
        "broken.wav): not a readable audio file (LibsndfileError: Format not recognised" in message
    )
    assert "empty.wav): empty file (0 bytes)" in message
    assert "quiet.wav): silent: every sample is (near) zero" in message
    assert "data.on_bad_example=skip" in message


def test_skip_trains_without_the_bad_files(tmp_path):
    folder = _bad_folder(tmp_path / "bad")
    loaded = load_data(audio_recipe(folder, tmp_path, on_bad_example="skip").data, TASK)
    assert sum(loaded.sizes().values()) == 9


def test_a_header_without_samples_and_a_forged_rate_are_refused(tmp_path):
    path = tmp_path / "header-only.wav"
    soundfile.write(path, np.zeros(0, np.float32), 16000)
    assert audio_problem(str(path)) == "empty: the file holds no audio samples"
    soundfile.write(tmp_path / "ok.wav", tiny.tone(440), 16000, subtype="PCM_16")
    forged = bytearray((tmp_path / "ok.wav").read_bytes())
    for rate in (200, 500_000):
        forged[24:28] = rate.to_bytes(4, "little")  # the fmt chunk's sample rate
        assert audio_problem(bytes(forged)) == (
            f"its header claims a sample rate of {rate} Hz, which no recording has (damaged "
            "file?): export it again"
        )
    forged[24:28] = (3_000_000_000).to_bytes(4, "little")
    assert audio_problem(bytes(forged)) == (
        "not a readable audio file (LibsndfileError: Internal error : SF_INFO struct "
        "incomplete.); hfft reads WAV, FLAC, OGG/Opus, MP3 and AIFF with libsndfile: convert the "
        "file to one of them"
    )


def test_a_column_of_paths_in_a_csv_is_cast_and_read(tmp_path):
    folder = tiny.make_audio_folder(tmp_path / "tones", per_class=4)
    rows = ["file,word"] + [f"{p},{p.parent.name}" for p in sorted(folder.rglob("*.*"))]
    (tmp_path / "clips.csv").write_text("\n".join(rows) + "\n")
    recipe = load_recipe(
        {
            "task": "audio-classification",
            "model": {"checkpoint": str(tmp_path / "ckpt")},
            "data": {"path": str(tmp_path / "clips.csv"), "columns": {"label": "word"}},
            "training": {"output_dir": str(tmp_path / "run")},
        }
    )
    loaded = load_data(recipe.data, TASK)
    assert loaded.label_names == ["high", "low", "mid"]
    value = loaded.splits["train"][0]["audio"]
    assert set(value) == {"bytes", "path"} and Path(value["path"]).is_file()


def _prepared(tmp_path, seconds: float, **data):
    """A one-clip dataset of a `seconds`-long 44.1 kHz stereo clip, prepared for a 16 kHz model."""
    import datasets

    from hfft.tasks.audio_classification import collator, prepare

    path = tmp_path / "long.wav"
    ramp = np.linspace(-0.9, 0.9, int(seconds * 44100), dtype=np.float32)  # position = value
    soundfile.write(path, np.stack([ramp, ramp], axis=1), 44100, subtype="FLOAT")
    ds = datasets.Dataset.from_dict({"audio": [str(path)], "label": [0]})
    split = AUDIO.cast(ds).cast_column("label", datasets.ClassLabel(names=["a"]))
    recipe = audio_recipe(tmp_path, tmp_path, **data)
    processor = tiny.audio_feature_extractor("wav2vec2")
    splits = datasets.DatasetDict({"train": split, "test": split})
    return prepare(splits, processor, recipe), collator(processor), ramp


def test_a_clip_longer_than_max_duration_is_cropped_randomly_for_training_and_centred_for_eval(
    tmp_path,
):
    import torch

    off = {"enabled": False}
    prepared, collate, _ = _prepared(tmp_path, 5.0, max_duration=1.0, augmentation=off)
    torch.manual_seed(0)
    crops = [prepared["train"][0]["audio"] for _ in range(4)]
    assert all(c.shape == (16000,) for c in crops)  # 1 s at 16 kHz, from a 5 s 44.1 kHz clip
    assert len({round(float(c[8000]), 3) for c in crops}) == 4  # a new crop each time
    middle = prepared["test"][0]["audio"]
    assert middle.shape == (16000,) and abs(float(middle[8000])) < 0.01  # the ramp's centre
    batch = collate([prepared["test"][0]])
    assert batch["input_values"].shape == (1, 16000) and batch["labels"].tolist() == [0]


def test_sliding_windows_cover_the_clip_and_reach_the_collator(tmp_path):
    assert sliding_windows(0.5, 1.0) == [(0.0, None)]
    assert sliding_windows(3.0, 1.0) == [(0.0, 1.0), (0.5, 1.0), (1.0, 1.0), (1.5, 1.0), (2.0, 1.0)]
    assert len(sliding_windows(600.0, 1.0)) == 32  # a 10-minute clip: 32 windows, spread evenly
    assert sliding_windows(600.0, 1.0)[-1] == (599.0, 1.0)
    prepared, collate, _ = _prepared(tmp_path, 2.0, max_duration=1.0, eval_windows="sliding")
    rows = [prepared["test"][0]] * 2
    batch = collate(rows)
    assert batch["input_values"].shape == (6, 16000)  # 3 windows per clip, 2 clips
    assert batch["window_counts"].tolist() == [3, 3]


def test_whole_clips_without_max_duration(tmp_path):
    prepared, _, _ = _prepared(tmp_path, 2.0, max_duration=None)
    assert prepared["test"][0]["audio"].shape == (32000,)


def test_augmentation_changes_clips_and_switches_off():
    import torch

    clip = tiny.tone(440, 1.0)
    assert augment(clip, 16000, AudioAugmentationSpec(enabled=False)) is clip
    torch.manual_seed(0)
    out = augment(clip, 16000, AudioAugmentationSpec())
    assert 14000 < out.size < 18000 and not np.allclose(out[: min(out.size, clip.size)], clip[:1])
    gain_only = AudioAugmentationSpec(time_shift=0, noise_snr_db=[], speed=[1, 1], gain_db=[6, 6])
    np.testing.assert_allclose(augment(clip, 16000, gain_only), np.clip(clip * 10**0.3, -1, 1))
    noise_only = AudioAugmentationSpec(time_shift=0, speed=[1, 1], gain_db=[0, 0],
                                       noise_snr_db=[10, 10])  # fmt: skip
    noisy = augment(clip, 16000, noise_only)
    snr = 10 * math.log10(np.mean(clip**2) / np.mean((noisy - clip) ** 2))
    assert 9 < snr < 11


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"max_duration": 0}, "data.max_duration must be > 0, got 0 (or null)"),
        ({"augmentation": {"gain_db": [6, -6]}}, "data.augmentation.gain_db must be [low, high]"),
        ({"augmentation": {"speed": [0.1, 1]}}, "data.augmentation.speed must be [low, high]"),
        ({"eval_windows": "sliding", "max_duration": None}, "data.eval_windows=sliding needs"),
        ({"eval_windows": "windows"}, "data.eval_windows"),
    ],
)
def test_audio_options_are_validated(tmp_path, data, message):
    with pytest.raises(RecipeError, match=None) as err:
        audio_recipe(tmp_path, tmp_path, **data)
    assert message in str(err.value)


def test_audio_options_are_refused_in_an_image_recipe(tmp_path):
    with pytest.raises(RecipeError) as err:
        load_recipe(
            {
                "task": "image-classification",
                "model": {"checkpoint": "x"},
                "data": {"path": "beans", "max_duration": 5},
                "training": {"output_dir": str(tmp_path)},
            }
        )
    assert "data.max_duration=5.0 only applies to audio tasks" in str(err.value)


def test_the_preflight_summary_and_its_suggestions():
    stats = [(1.0, 16000, 1)] * 8 + [(300.0, 44100, 2)] * 2
    line, hint = describe_clips(stats, 16000, None, None)
    assert line == (
        "audio: 10 clips, 1 s to 300 s (median 1 s); 16,000 Hz x8, 44,100 Hz x2; mono x8, "
        "stereo x2 -> mono 16,000 Hz"
    )
    assert hint.startswith("clips run up to 300 s, beyond 30 s: set data.max_duration=30")
    line, hint = describe_clips(stats, 16000, 5.0, None)
    assert line.endswith("2 clips longer than data.max_duration=5 s are cropped") and hint is None
    short = [(1.0, 16000, 1)] * 3
    _, hint = describe_clips(short, 16000, 10.0, 30.0)  # Whisper: every clip padded to 10 s
    assert "data.max_duration=1 would compute less per clip" in hint
    _, hint = describe_clips(short, 16000, 20.0, 10.24)  # AST's 10.24 s window
    assert "longer than the model's 10.2 s window" in hint


def test_training_logs_the_summary(tmp_path, caplog):
    from hfft.tasks.audio_classification import prepare

    folder = tiny.make_audio_folder(tmp_path / "tones", per_class=3)
    recipe = audio_recipe(folder, tmp_path)
    loaded = load_data(recipe.data, TASK)
    with caplog.at_level(logging.INFO, logger="hfft"):
        prepare(loaded.splits, tiny.audio_feature_extractor("whisper"), recipe)
    assert "audio: 9 clips, 0.3 s to 0.4 s" in caplog.text
    assert "16,000 Hz x6, 22,050 Hz x3; mono x9 -> mono 16,000 Hz" in caplog.text


@pytest.mark.parametrize(
    ("augmentation", "kind"),
    [({"time_shift": 0.5}, "audio"), ({"rotation_degrees": 30}, "image")],
)
def test_a_shared_option_name_is_refused_for_the_modality_it_belongs_to(
    tmp_path, augmentation, kind
):
    # The audio and image modalities both have data.augmentation, of different shapes.
    with pytest.raises(RecipeError) as err:
        load_recipe(
            {
                "task": "text-classification",
                "model": {"checkpoint": "x"},
                "data": {"path": "csv", "data_files": "x.csv", "augmentation": augmentation},
                "training": {"output_dir": str(tmp_path)},
            }
        )
    key, value = next(iter(augmentation.items()))
    assert str(err.value) == (
        f"data.augmentation.{key}={float(value)} only applies to {kind} tasks "
        "(text-classification reads text): remove data.augmentation"
    )
