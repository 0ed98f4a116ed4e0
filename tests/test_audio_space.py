"""Audio in the Space and in `hfft predict`: uploads and recordings decoded without FFmpeg,
resampled to the model's rate, cut to its data.max_duration, and the hostile files (a WAV header
that lies about its length, a 10-minute clip, a forged sample rate, silence, not audio)."""

from __future__ import annotations

import base64
import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml

from hfft.predict import predict
from tests import tiny

LABELS = list(tiny.TONES)  # low, mid, high


def make_audio_run(path: Path, max_duration: object = 1.0, recipe: bool = True) -> Path:
    """A tiny wav2vec2 run directory with labels low/mid/high and one example clip."""
    from transformers import AutoConfig

    tiny.make_audio_checkpoint(path, "wav2vec2")
    config = AutoConfig.from_pretrained(path)
    config.id2label = dict(enumerate(LABELS))
    config.label2id = {n: i for i, n in enumerate(LABELS)}
    config.save_pretrained(path)
    if recipe:
        (path / "examples").mkdir()
        soundfile.write(path / "examples" / "0.wav", tiny.tone(220), 16000, subtype="PCM_16")
        (path / "examples" / "examples.json").write_text(
            json.dumps([{"input": "0.wav", "label": "low"}])
        )
        data = {"path": "audiofolder", "max_duration": max_duration}
        (path / "recipe.yaml").write_text(
            yaml.safe_dump({"task": "audio-classification", "data": data})
        )
    return path


def wav_bytes(samples: np.ndarray, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def upload(path: str, name: str | None = None) -> dict:
    """The Space's payload for a file once uploaded (a copy in Gradio's upload folder)."""
    payload = tiny.uploaded_image(Path(path))
    return {**payload, "orig_name": name} if name else {"path": payload["path"]}


@pytest.fixture(scope="module")
def app():
    from hfft.serve import load_app_module

    return load_app_module()


@pytest.fixture(scope="module")
def predictor(app, tmp_path_factory):
    run = make_audio_run(tmp_path_factory.mktemp("audio") / "w2v-tones")
    return app.Predictor(app.load_info(str(run)))


def test_the_space_serves_an_audio_model_with_an_audio_component(app, tmp_path):
    import gradio as gr

    run = make_audio_run(tmp_path / "run")
    info = app.load_info(str(run))
    assert info.task == "audio-classification"
    assert info.examples == [[str((run / "examples" / "0.wav").resolve()), "low"]]
    demo = app.build_app(str(run))
    (audio,) = [b for b in demo.blocks.values() if isinstance(b, gr.Audio)]
    assert audio.sources == ["upload", "microphone"]
    assert app.INTERFACES["audio-classification"].input.user_events == ("upload", "stop_recording")
    predict_fn = next(f for f in demo.fns.values() if f.api_name == "predict")
    stereo = np.stack([tiny.tone(660, 0.5, 44100)] * 2, axis=1)
    payload = upload(write(tmp_path / "up.wav", wav_bytes(stereo, 44100)), "up.wav")
    ((scores,),) = predict_fn.fn([payload])
    assert set(scores) == set(LABELS) and abs(sum(scores.values()) - 1) < 1e-4


def test_stereo_44k_uploads_become_mono_at_the_models_rate(predictor, tmp_path):
    stereo = np.stack([tiny.tone(440, 0.5, 44100), tiny.tone(880, 0.5, 44100)], axis=1)
    prepared = predictor.prepare(upload(write(tmp_path / "s.wav", wav_bytes(stereo, 44100))))
    assert prepared.value["sampling_rate"] == 16000 and prepared.value["raw"].shape == (8000,)
    assert prepared.note is None


def test_a_microphone_recording_as_a_data_url(predictor):
    url = "data:audio/wav;base64," + base64.b64encode(wav_bytes(tiny.tone(440))).decode()
    prepared = predictor.prepare({"url": url, "orig_name": "recording.wav"})
    assert prepared.value["raw"].shape == (6400,)


def test_a_wav_header_that_lies_about_its_length(predictor, tmp_path):
    good = wav_bytes(tiny.tone(440, 2.0))
    claimed = 16000 * 600 * 2  # ten minutes of 16-bit samples; the file holds two seconds
    longer = good[:4] + struct.pack("<I", 36 + claimed) + good[8:40] + struct.pack("<I", claimed)
    prepared = predictor.prepare(upload(write(tmp_path / "long.wav", longer + good[44:])))
    # libsndfile counts the frames really there: 2 s, so no crop note, and the middle 1 s.
    assert prepared.value["raw"].shape == (16000,)
    assert "2.0 s long: its middle 1.0 s" in prepared.note
    none = good[:40] + struct.pack("<I", 0) + good[44:]
    with pytest.raises(Exception, match=r"'zero.wav' holds no audio samples"):
        predictor.prepare(upload(write(tmp_path / "zero.wav", none), "zero.wav"))


def test_a_ten_minute_clip_is_cropped_per_max_duration_or_refused(app, predictor, tmp_path):
    ten = write(tmp_path / "ten.wav", wav_bytes(tiny.tone(440, 600.0, 8000), 8000))
    prepared = predictor.prepare(upload(ten, "ten.wav"))
    assert prepared.value["raw"].shape == (16000,)  # its middle 1 s, resampled from 8 kHz
    assert prepared.note == (
        "The clip is 10.0 minutes long: its middle 1.0 s was classified (the length the model "
        "was trained on)."
    )
    whole = app.Predictor(app.load_info(str(make_audio_run(tmp_path / "whole", None))))
    with pytest.raises(Exception) as err:
        whole.prepare(upload(ten, "ten.wav"))
    assert str(err.value) == (
        "'ten.wav' is 10.0 minutes long; this model reads whole clips, up to 60.0 s here. "
        "Trim it and upload it again."
    )
    bare = app.Predictor(app.load_info(str(make_audio_run(tmp_path / "bare", recipe=False))))
    assert bare.prepare(upload(ten)).value["raw"].shape == (30 * 16000,)  # the default crop


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: b"this is not audio", "'bad.wav' is not an audio file this app can read"),
        (lambda: b"", "'bad.wav' is not an audio file this app can read"),
        (lambda: wav_bytes(np.zeros(8000, np.float32)), "'bad.wav' is silent"),
        (
            lambda: (lambda b: b[:24] + struct.pack("<I", 200) + b[28:])(wav_bytes(tiny.tone(1))),
            "'bad.wav' claims a sample rate of 200 Hz",
        ),
    ],
)
def test_hostile_uploads_get_one_clear_message(predictor, tmp_path, make, message):
    payload = upload(write(tmp_path / "bad.wav", make()), "bad.wav")
    with pytest.raises(Exception) as err:
        predictor.prepare(payload)
    assert type(err.value).__name__ == "InputError" and str(err.value).startswith(message)


def test_no_audio_is_refused(predictor):
    with pytest.raises(Exception, match="No audio: upload a file or record"):
        predictor.prepare(None)


def test_predict_reads_files_folders_and_globs_and_lists_what_it_cannot(tmp_path):
    run = make_audio_run(tmp_path / "run")
    folder = tiny.make_audio_folder(tmp_path / "tones", per_class=3)
    (folder / "train" / "low" / "broken.wav").write_bytes(b"RIFFjunk")
    stereo = tmp_path / "stereo44k.wav"
    soundfile.write(stereo, np.stack([tiny.tone(440, 3.0, 44100)] * 2, axis=1), 44100)
    inputs = [str(folder / "train" / "low"), str(folder / "train" / "high" / "*.flac"),
              str(stereo), str(tmp_path / "nothing.wav"), str(tmp_path / "*.ogg")]  # fmt: skip
    out = list(predict(str(run), inputs, top_k=2))
    by_input = {Path(o["input"]).name: o for o in out}
    assert list(by_input) == [
        "broken.wav", "low_0.wav", "low_1.wav", "low_2.flac", "high_2.flac", "stereo44k.wav",
        "nothing.wav", "*.ogg",
    ]  # fmt: skip
    assert by_input["broken.wav"]["error"].startswith("not a readable audio file")
    assert by_input["nothing.wav"]["error"] == "no such file or folder"
    assert by_input["*.ogg"]["error"] == "no audio file matches this pattern"
    assert [p["label"] in LABELS for p in by_input["stereo44k.wav"]["predictions"]] == [True] * 2


def test_predict_feeds_the_pipeline_the_models_rate_and_crop(tmp_path, monkeypatch):
    from hfft.tasks.audio import Item, pipeline_reader

    run = make_audio_run(tmp_path / "run", max_duration=0.5)

    class Pipe:
        feature_extractor = tiny.audio_feature_extractor("wav2vec2")
        model = type("M", (), {"name_or_path": str(run)})()

    path = tmp_path / "long.wav"
    soundfile.write(path, np.stack([tiny.tone(440, 4.0, 44100)] * 2, axis=1), 44100)
    item = pipeline_reader(Pipe())(Item(str(path)))
    assert item.error is None and item.payload["sampling_rate"] == 16000
    assert item.payload["raw"].shape == (8000,)  # the run's 0.5 s, at 16 kHz, mono


@pytest.mark.slow
def test_a_trained_audio_run_pushes_its_clips_and_a_space_that_decodes_them(tmp_path, capsys):
    from hfft.cli import main
    from hfft.recipe import load_recipe
    from hfft.run import train

    checkpoint = tiny.make_audio_checkpoint(tmp_path / "ckpt", "wav2vec2")
    data = tiny.make_audio_folder(tmp_path / "tones", per_class=4)
    recipe = load_recipe(
        {
            "task": "audio-classification",
            "model": {"checkpoint": str(checkpoint), "mode": "lora"},
            "data": {"path": "audiofolder", "data_dir": str(data), "test_fraction": 0.25},
            "training": {"output_dir": str(tmp_path / "run"), "num_train_epochs": 1,
                         "use_cpu": True, "save_strategy": "no", "load_best_model_at_end": False},
        }
    )  # fmt: skip
    run = train(recipe).run_dir
    card = (run / "README.md").read_text()
    assert "pipeline_tag: audio-classification" in card
    assert 'classifier = pipeline("audio-classification", model=' in card
    assert 'print(classifier("path/to/clip.wav", top_k=5))' in card
    assert main(["push", str(run), "--repo-id", "user/tones", "--dry-run", "--space"]) == 0
    out = capsys.readouterr().out
    pushed = out.split("left out:")[0]
    assert "  examples/0.wav" in pushed and "  examples/examples.json" in pushed
    assert "would push Gradio Space user/tones" in out and "  requirements.txt" in out
    requirements = (Path(__file__).parent.parent / "space" / "requirements.txt").read_text()
    assert "soundfile==" in requirements and "soxr==" in requirements


def test_a_path_on_the_server_is_not_an_upload(predictor, tmp_path):
    secret = write(tmp_path / "secret.wav", wav_bytes(tiny.tone(440)))
    with pytest.raises(Exception, match="'secret.wav' was not uploaded to this app"):
        predictor.prepare({"path": secret, "orig_name": "secret.wav"})
    assert predictor.prepare(secret).value["sampling_rate"] == 16000  # Python callers' paths
