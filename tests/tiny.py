"""Tiny random models and tiny datasets, built on disk by the tests (no network, a few KB each)."""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tests import tiny_boxes, tiny_tokens

IMAGE_SIZE = 32
COLORS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
WORDS = {
    "negative": ["bad", "awful", "poor", "sad", "boring"],
    "positive": ["good", "great", "nice", "happy", "fun"],
}
FILLER = ["the", "movie", "was", "really", "very", "a", "film", "plot"]


def image_config(model_type: str = "vit", num_labels: int = 3):
    """A tiny random config of an image-classification architecture."""
    from transformers import ConvNextConfig, ResNetConfig, SwinConfig, ViTConfig

    labels = {"num_labels": num_labels}
    if model_type == "vit":
        return ViTConfig(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
            image_size=IMAGE_SIZE, patch_size=8, **labels,
        )  # fmt: skip
    if model_type == "convnext":
        return ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2, **labels)
    if model_type == "resnet":
        return ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], **labels)
    if model_type == "swin":
        return SwinConfig(
            image_size=IMAGE_SIZE, patch_size=4, embed_dim=8, depths=[1, 1], num_heads=[1, 2],
            window_size=4, **labels,
        )  # fmt: skip
    raise ValueError(f"no tiny image config for {model_type!r}")


def text_config(model_type: str = "bert", vocab_size: int = 64, num_labels: int = 2):
    """A tiny random config of a text-classification architecture."""
    from transformers import BertConfig, DistilBertConfig, RobertaConfig

    common = {"vocab_size": vocab_size, "num_labels": num_labels}
    if model_type == "bert":
        return BertConfig(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
            max_position_embeddings=64, **common,
        )  # fmt: skip
    if model_type == "distilbert":
        return DistilBertConfig(
            dim=32, n_layers=2, n_heads=2, hidden_dim=37, max_position_embeddings=64, **common
        )
    if model_type == "roberta":
        return RobertaConfig(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
            max_position_embeddings=70, pad_token_id=0, **common,
        )  # fmt: skip
    raise ValueError(f"no tiny text config for {model_type!r}")


def make_image_checkpoint(path: Path, model_type: str = "vit", num_labels: int = 3) -> Path:
    """Save a tiny random image classifier and its image processor as a checkpoint directory."""
    import torch
    from transformers import AutoModelForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    model = AutoModelForImageClassification.from_config(image_config(model_type, num_labels))
    model.save_pretrained(path)
    ViTImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}).save_pretrained(path)
    return Path(path)


def make_text_checkpoint(path: Path, model_type: str = "bert", num_labels: int = 2) -> Path:
    """Save a tiny random text classifier and a word-level WordPiece tokenizer for it."""
    import torch
    from transformers import AutoModelForSequenceClassification, BertTokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += sorted({w for ws in WORDS.values() for w in ws} | set(FILLER))
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    # transformers 5 ignores BertTokenizer(vocab_file=...); from_pretrained(dir) reads vocab.txt.
    tokenizer = BertTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    config = text_config(model_type, vocab_size=64, num_labels=num_labels)
    assert len(vocab) <= config.vocab_size
    AutoModelForSequenceClassification.from_config(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def make_image_folder(
    path: Path, per_class: int = 6, splits: tuple[str, ...] = ("train",), seed: int = 0
) -> Path:
    """An `imagefolder` dataset of noisy solid-colour squares: class = colour (easy to learn)."""
    rng = np.random.default_rng(seed)
    for split in splits:
        for name, rgb in COLORS.items():
            folder = Path(path) / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                noise = rng.integers(-25, 25, size=(IMAGE_SIZE, IMAGE_SIZE, 3))
                pixels = np.clip(np.array(rgb) + noise, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{name}_{i}.png")
    return Path(path)


def make_text_csv(path: Path, rows: int = 24, seed: int = 0, name: str = "train.csv") -> Path:
    """A CSV of short reviews with a string label column (`negative`/`positive`)."""
    rnd = random.Random(seed)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    out = path / name
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sentence", "sentiment"])
        for i in range(rows):
            label = sorted(WORDS)[i % 2]
            words = rnd.sample(FILLER, 3) + rnd.sample(WORDS[label], 2)
            rnd.shuffle(words)
            writer.writerow([" ".join(words), label])
    return out


AUDIO_RATE = 16000
TONES = {"low": 220.0, "mid": 660.0, "high": 1980.0}


def audio_config(model_type: str = "wav2vec2", num_labels: int = 3, **extra: Any):
    """A tiny random config of an audio-classification architecture (16 kHz input)."""
    from transformers import ASTConfig, HubertConfig, Wav2Vec2Config, WavLMConfig, WhisperConfig

    labels = {"num_labels": num_labels, **extra}
    encoder = dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 4), num_feat_extract_layers=2,
        num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, classifier_proj_size=16,
    )  # fmt: skip
    if model_type in ("wav2vec2", "hubert", "wavlm"):
        cls = {"wav2vec2": Wav2Vec2Config, "hubert": HubertConfig, "wavlm": WavLMConfig}
        return cls[model_type](**encoder, **labels)
    if model_type == "ast":
        return ASTConfig(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
            num_mel_bins=16, max_length=64, patch_size=8, frequency_stride=8, time_stride=8,
            **labels,
        )  # fmt: skip
    if model_type == "whisper":
        labels.setdefault("max_source_positions", 50)  # a 1 s window: 100 mel frames, stride 2
        return WhisperConfig(
            d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=37,
            decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=37, num_mel_bins=16,
            classifier_proj_size=16, **labels,
        )  # fmt: skip
    raise ValueError(f"no tiny audio config for {model_type!r}")


def audio_feature_extractor(model_type: str = "wav2vec2", window_seconds: int = 1):
    """The feature extractor of a tiny audio model of `model_type`."""
    from transformers import ASTFeatureExtractor, Wav2Vec2FeatureExtractor, WhisperFeatureExtractor

    if model_type == "ast":
        return ASTFeatureExtractor(num_mel_bins=16, max_length=64, sampling_rate=AUDIO_RATE)
    if model_type == "whisper":
        return WhisperFeatureExtractor(
            feature_size=16, sampling_rate=AUDIO_RATE, chunk_length=window_seconds
        )
    return Wav2Vec2FeatureExtractor(
        sampling_rate=AUDIO_RATE, do_normalize=True, return_attention_mask=True
    )


def make_audio_checkpoint(
    path: Path, model_type: str = "wav2vec2", num_labels: int = 3, window_seconds: int = 1
) -> Path:
    """Save a tiny random audio classifier and its feature extractor as a checkpoint directory
    (a Whisper one with a `window_seconds` window: 50 encoder positions per second)."""
    import torch
    from transformers import AutoModelForAudioClassification

    extra = {"max_source_positions": 50 * window_seconds} if model_type == "whisper" else {}
    torch.manual_seed(0)
    config = audio_config(model_type, num_labels, **extra)
    AutoModelForAudioClassification.from_config(config).save_pretrained(path)
    audio_feature_extractor(model_type, window_seconds).save_pretrained(path)
    return Path(path)


def tone(
    freq: float, seconds: float = 0.4, rate: int = AUDIO_RATE, seed: int = 0, channels: int = 1
) -> np.ndarray:
    """A noisy sine tone, (frames,) or (frames, channels) float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.5 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(t.size)
    wave = wave.astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def make_audio_folder(
    path: Path, per_class: int = 6, splits: tuple[str, ...] = ("train",), seed: int = 0
) -> Path:
    """An `audiofolder` dataset of noisy tones: class = pitch; sample rates and formats vary
    (16 and 22.05 kHz, 16-bit PCM and float WAV, FLAC) so every clip is resampled or not."""
    import soundfile

    formats = [
        (AUDIO_RATE, ".wav", "PCM_16"),
        (22050, ".wav", "FLOAT"),
        (AUDIO_RATE, ".flac", "PCM_24"),
    ]
    for split in splits:
        for name, freq in TONES.items():
            folder = Path(path) / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                rate, ext, subtype = formats[i % len(formats)]
                wave = tone(freq * (1 + 0.02 * i), 0.3 + 0.05 * (i % 3), rate, seed + i)
                soundfile.write(folder / f"{name}_{i}{ext}", wave, rate, subtype=subtype)
    return Path(path)


# Multi-label fixtures: a set of labels per example, learnable from the input.
TAGS = {"good": WORDS["positive"], "bad": WORDS["negative"], "film": ["film", "movie"]}


def multilabel_tags(rows: int) -> list[list[str]]:
    """Tag sets in a fixed cycle: single tags, pairs, all three and none (sorted lists)."""
    cycle = [["good"], ["bad"], ["film"], ["bad", "film"], ["film", "good"], ["bad", "good"],
             ["bad", "film", "good"], []]  # fmt: skip
    return [cycle[i % len(cycle)] for i in range(rows)]


def make_multilabel_text(
    path: Path, rows: int = 40, seed: int = 0, name: str = "train.jsonl"
) -> Path:
    """JSON lines of short texts with a list of tags: `good`/`bad` when a positive/negative word
    is in the text, `film` when "film" or "movie" is (the tiny text checkpoint's vocabulary)."""
    rnd = random.Random(seed)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    filler = [w for w in FILLER if w not in TAGS["film"]]
    lines = []
    for tags in multilabel_tags(rows):
        words = rnd.sample(filler, 3) + [rnd.choice(TAGS[t]) for t in tags]
        rnd.shuffle(words)
        lines.append(json.dumps({"sentence": " ".join(words), "tags": tags}))
    out = path / name
    out.write_text("\n".join(lines) + "\n")
    return out


def make_multilabel_images(path: Path, rows: int = 40, seed: int = 0) -> Path:
    """Noisy squares whose halves are coloured (left, right) by the row's colours (one colour
    fills both halves; none: grey), with a JSON lines file of {image path, colour list}."""
    rng = np.random.default_rng(seed)
    cycle = [["red"], ["green"], ["blue"], ["blue", "red"], ["green", "red"], ["blue", "green"]]
    folder = Path(path) / "images"
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(rows):
        colours = cycle[i % len(cycle)] if i % 8 != 7 else []
        halves = (colours * 2)[:2] if colours else []
        pixels = np.full((IMAGE_SIZE, IMAGE_SIZE, 3), 128, dtype=np.int64)
        for half, name in enumerate(halves):
            pixels[:, half * IMAGE_SIZE // 2 : (half + 1) * IMAGE_SIZE // 2] = COLORS[name]
        noisy = np.clip(pixels + rng.integers(-25, 25, size=pixels.shape), 0, 255)
        file = folder / f"{i}.png"
        Image.fromarray(noisy.astype(np.uint8)).save(file)
        lines.append(json.dumps({"image": str(file), "colours": colours}))
    out = Path(path) / "labels.jsonl"
    out.write_text("\n".join(lines) + "\n")
    return out


# ------------------------------------------------------------------------------------------
# One tiny fixture per task, for the task contract test (tests/test_task_contract.py). A new
# task adds its entry here: a checkpoint maker, a data maker returning the recipe's data:
# section, and an input for `hfft predict` and one for the Space.


def ranked_labels(line: dict, labels: Any, scheme: Any) -> None:
    """A classifier's `hfft predict` line (top_k=1, all_scores): labels it has, one unless its
    scheme decides by thresholds, and every label's score."""
    assert all(p["label"] in labels for p in line["predictions"]), line
    assert len(line["predictions"]) <= 1 or scheme.decision_file, line
    assert sorted(s["label"] for s in line["scores"]) == sorted(labels), line


@dataclass(frozen=True)
class TaskFixture:
    make_checkpoint: Callable[[Path], Path]
    # folder -> the recipe's data: section for a dataset written there
    make_data: Callable[[Path], dict]
    # folder the data was written to -> command-line inputs for `hfft predict`
    predict_inputs: Callable[[Path], list[str]]
    # run directory -> one raw value for the Space's input component
    space_input: Callable[[Path], Any]
    # (one `hfft predict` line, the model's labels, its label scheme) -> None, or AssertionError
    check_predictions: Callable[[dict, Any, Any], None] = ranked_labels


def uploaded_image(path: Path) -> dict:
    """The Space's payload for an image file once uploaded: a copy in Gradio's upload folder (the
    app reads no file from anywhere else)."""
    import shutil
    import tempfile

    from gradio.utils import get_upload_folder

    folder = Path(get_upload_folder())
    folder.mkdir(parents=True, exist_ok=True)
    copy = Path(tempfile.mkdtemp(dir=folder)) / Path(path).name
    shutil.copyfile(path, copy)
    return {"path": str(copy), "orig_name": Path(path).name}


def _image_data(path: Path) -> dict:
    folder = make_image_folder(path / "colors", per_class=6)
    return {"path": "imagefolder", "data_dir": str(folder), "test_fraction": 0.2,
            "validation_fraction": 0.2}  # fmt: skip


def _text_data(path: Path) -> dict:
    csv_file = make_text_csv(path / "reviews", rows=30)
    return {"path": "csv", "data_files": str(csv_file), "test_fraction": 0.2,
            "validation_fraction": 0.2,
            "columns": {"text": "sentence", "label": "sentiment"}}  # fmt: skip


def _audio_data(path: Path) -> dict:
    folder = make_audio_folder(path / "tones", per_class=6)
    return {"path": "audiofolder", "data_dir": str(folder), "test_fraction": 0.2,
            "validation_fraction": 0.2}  # fmt: skip


TASK_FIXTURES: dict[str, TaskFixture] = {
    "audio-classification": TaskFixture(
        make_checkpoint=make_audio_checkpoint,
        make_data=_audio_data,
        predict_inputs=lambda data: [str(data / "tones" / "train" / "low")],
        space_input=lambda run: uploaded_image(run / "examples" / "0.wav"),  # any file
    ),
    "image-classification": TaskFixture(
        make_checkpoint=make_image_checkpoint,
        make_data=_image_data,
        predict_inputs=lambda data: [str(data / "colors" / "train" / "red")],
        space_input=lambda run: uploaded_image(run / "examples" / "0.png"),
    ),
    "object-detection": TaskFixture(
        make_checkpoint=tiny_boxes.make_detector_checkpoint,
        make_data=tiny_boxes.box_data,
        predict_inputs=lambda data: [str(data / "shapes" / "train")],
        space_input=lambda run: uploaded_image(run / "examples" / "0.png"),
        check_predictions=tiny_boxes.boxes_ok,
    ),
    "text-classification": TaskFixture(
        make_checkpoint=make_text_checkpoint,
        make_data=_text_data,
        predict_inputs=lambda data: ["the movie was great fun", "an awful boring film"],
        space_input=lambda run: "the movie was really good",
    ),
    "token-classification": TaskFixture(
        make_checkpoint=tiny_tokens.make_token_checkpoint,
        make_data=tiny_tokens.token_data,
        predict_inputs=lambda data: ["alice smith lives in paris .", "globex hired dave"],
        space_input=lambda run: "bob jones works for acme corp in berlin .",
        check_predictions=tiny_tokens.entities_ok,
    ),
}


def _multilabel_image_data(path: Path) -> dict:
    jsonl = make_multilabel_images(path / "tags", rows=48)
    return {"path": str(jsonl), "test_fraction": 0.2, "validation_fraction": 0.2,
            "columns": {"label": "colours"}}  # fmt: skip


def _multilabel_text_data(path: Path) -> dict:
    jsonl = make_multilabel_text(path / "tags", rows=48)
    return {"path": str(jsonl), "test_fraction": 0.2, "validation_fraction": 0.2,
            "columns": {"text": "sentence", "label": "tags"}}  # fmt: skip


# The other label schemes a task can take, keyed by (task, label scheme name): the contract test
# runs these through every piece too.
SCHEME_FIXTURES: dict[tuple[str, str], TaskFixture] = {
    ("image-classification", "multi-label"): TaskFixture(
        make_checkpoint=make_image_checkpoint,
        make_data=_multilabel_image_data,
        predict_inputs=lambda data: [str(data / "tags" / "images")],
        space_input=lambda run: uploaded_image(run / "examples" / "0.png"),
    ),
    ("text-classification", "multi-label"): TaskFixture(
        make_checkpoint=make_text_checkpoint,
        make_data=_multilabel_text_data,
        predict_inputs=lambda data: ["the movie was great fun", "an awful boring film"],
        space_input=lambda run: "the film was really good",
    ),
}
