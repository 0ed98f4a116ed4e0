"""The kinds of classifier the coverage matrix (scripts/architectures.py) covers: for each, the
Auto mapping its model types come from, how a tiny checkpoint and dataset of a type are built,
the recipe's data: section, and how the reloaded `pipeline()` is compared with the trained model.

Everything else about a cell (the modes, the one training step, saving, the results) is the
same for every kind.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

tiny_models = importlib.import_module("tiny_models")
tiny_data = importlib.import_module("tiny_data")


@dataclass(frozen=True)
class Kind:
    """One kind of classifier in the matrix."""

    task: str  # hfft's task (the pipeline tag)
    auto: str  # the transformers Auto class its models load with
    classes: Callable[[], dict[str, Any]]  # model type -> class name(s), from transformers
    # (model type, work folder) -> (tiny checkpoint, dataset); raises when the tiny model does
    # not train a step in transformers alone (the type is then 'not built').
    build: Callable[[str, Path], tuple[Path, Path]]
    source: Callable[[Path], dict[str, Any]]  # dataset -> the recipe's data: keys
    examples: Callable[[], list[Any]]  # inputs the reloaded pipeline must agree on
    # (processor, example) -> model inputs, as the trained model gets them
    inputs: Callable[[Any, Any], Any]
    # (pipeline, example) -> model inputs, as the pipeline prepares them
    pipeline_inputs: Callable[[Any, Any], Any]
    # (pipeline, example, the trained model's logits) -> the first disagreement, or None
    disagreement: Callable[[Any, Any, Any], str | None]


def train_step(model: Any, inputs: Any, labels: Any) -> None:
    """One forward/backward pass in transformers alone; TypeError when there is no loss."""
    out = model(**inputs, labels=labels)
    if getattr(out, "loss", None) is None:
        raise TypeError(f"{type(model).__name__} returns no loss (outputs {type(out).__name__})")
    out.loss.backward()


def _top_label(pipe: Any, x: Any, logits: Any) -> str | None:
    top = pipe(x)[0]["label"]
    want = pipe.model.config.id2label[int(logits.argmax(-1))]
    return None if top == want else f"pipeline() says {top!r}, the trained model {want!r}"


# --- image -------------------------------------------------------------------------------


def _image() -> Any:
    from PIL import Image

    return Image.new("RGB", (40, 40), (200, 40, 40))


def _build_image(model_type: str, work: Path) -> tuple[Path, Path]:
    ckpt = work / "checkpoint"
    try:
        _image_checkpoint(ckpt, model_type, own=False)
    except Exception as err:
        # Models whose inputs are more than resized pixels (SigLIP 2's patches and masks) need
        # their own processor class.
        try:
            _image_checkpoint(ckpt, model_type, own=True)
        except Exception:
            raise err from None
    return ckpt, tiny_data.make_image_folder(work / "data")


def _image_checkpoint(ckpt: Path, model_type: str, own: bool) -> None:
    import torch
    import transformers

    num_labels = len(tiny_data.COLORS)
    tiny_models.save_image_checkpoint(model_type, ckpt, num_labels=num_labels, own_processor=own)
    processor = transformers.AutoImageProcessor.from_pretrained(ckpt)
    inputs = processor([_image()] * 2, return_tensors="pt")
    model = transformers.AutoModelForImageClassification.from_pretrained(ckpt)
    train_step(model, inputs, torch.tensor([0, 1]))


IMAGE = Kind(
    task="image-classification",
    auto="AutoModelForImageClassification",
    classes=tiny_models.IMAGE_CLASSES,
    build=_build_image,
    source=lambda data: {
        "path": "imagefolder",
        "data_dir": str(data),
        "augmentation": {"enabled": False},
    },
    examples=lambda: [_image(), _image().rotate(90)],
    inputs=lambda processor, x: processor([x], return_tensors="pt"),
    pipeline_inputs=lambda pipe, x: pipe.preprocess(x),
    disagreement=_top_label,
)

# --- text --------------------------------------------------------------------------------


def _build_text(model_type: str, work: Path) -> tuple[Path, Path]:
    import torch
    import transformers

    ckpt = work / "checkpoint"
    num_labels = len(tiny_data.WORDS)
    tiny_models.save_text_checkpoint(model_type, ckpt, num_labels, words=tiny_data.vocabulary())
    tokenizer = transformers.AutoTokenizer.from_pretrained(ckpt)
    inputs = tokenizer(["good movie", "the plot was bad"], padding=True, return_tensors="pt")
    model = transformers.AutoModelForSequenceClassification.from_pretrained(ckpt)
    train_step(model, inputs, torch.tensor([0, 1]))
    return ckpt, tiny_data.make_text_csv(work / "data")


TEXT = Kind(
    task="text-classification",
    auto="AutoModelForSequenceClassification",
    classes=tiny_models.TEXT_CLASSES,
    build=_build_text,
    source=lambda data: {
        "path": "csv",
        "data_files": str(data),
        "columns": {"text": "sentence", "label": "sentiment"},
    },
    # Five words: Funnel pools a short sequence down to nothing (transformers fails below 5).
    examples=lambda: ["the film was good fun", "a really bad boring plot"],
    inputs=lambda processor, x: processor([x], return_tensors="pt"),
    pipeline_inputs=lambda pipe, x: pipe.preprocess(x),
    disagreement=_top_label,
)

# --- audio -------------------------------------------------------------------------------

RATE = tiny_data.AUDIO_RATE


def _build_audio(model_type: str, work: Path) -> tuple[Path, Path]:
    import torch
    import transformers

    ckpt = work / "checkpoint"
    tiny_models.save_audio_checkpoint(model_type, ckpt, len(tiny_data.TONES), RATE)
    extractor = transformers.AutoFeatureExtractor.from_pretrained(ckpt)
    clips = [tiny_data.tone(220.0), tiny_data.tone(1980.0)]
    inputs = extractor(clips, sampling_rate=RATE, return_tensors="pt")
    model = transformers.AutoModelForAudioClassification.from_pretrained(ckpt)
    train_step(model, inputs, torch.tensor([0, 1]))
    return ckpt, tiny_data.make_audio_folder(work / "data")


AUDIO = Kind(
    task="audio-classification",
    auto="AutoModelForAudioClassification",
    classes=tiny_models.AUDIO_CLASSES,
    build=_build_audio,
    # Fixed inputs (no augmentation, centre crops), so the frozen-feature cache can apply; a
    # 1 s window (Whisper's 30 s one is cut to it by hfft).
    source=lambda data: {
        "path": "audiofolder",
        "data_dir": str(data),
        "max_duration": 1.0,
        "train_crop": "center",
        "augmentation": {"enabled": False},
    },
    examples=lambda: [tiny_data.tone(440.0, seed=7), tiny_data.tone(1500.0, 0.7, seed=8)],
    inputs=lambda processor, x: processor([x], sampling_rate=RATE, return_tensors="pt"),
    pipeline_inputs=lambda pipe, x: pipe.preprocess({"raw": x, "sampling_rate": RATE}),
    disagreement=_top_label,
)

# --- tokens ------------------------------------------------------------------------------


def _build_tokens(model_type: str, work: Path) -> tuple[Path, Path]:
    import torch
    import transformers

    ckpt = work / "checkpoint"
    tiny_models.save_text_checkpoint(
        model_type,
        ckpt,
        len(tiny_data.TAG_NAMES),
        words=tiny_data.token_vocabulary(),
        task_class="AutoModelForTokenClassification",
        classes=tiny_models.TOKEN_CLASSES,
    )
    tokenizer = transformers.AutoTokenizer.from_pretrained(ckpt)
    words = [w for w, _ in tiny_data.tagged_sentences(2)]
    inputs = tokenizer(words, is_split_into_words=True, padding=True, return_tensors="pt")
    model = transformers.AutoModelForTokenClassification.from_pretrained(ckpt)
    train_step(model, inputs, torch.zeros_like(inputs["input_ids"]))
    return ckpt, tiny_data.make_token_jsonl(work / "data")


def _token_inputs(pipe: Any, x: str) -> Any:
    """The first window the token-classification pipeline prepares, as the model takes it."""
    params = pipe._sanitize_parameters()[0]  # what a plain pipe(x) call preprocesses with
    window = next(iter(pipe.preprocess(x, **params)))
    return {k: v for k, v in window.items() if k in pipe.tokenizer.model_input_names}


def _token_disagreement(pipe: Any, x: str, logits: Any) -> str | None:
    """Every token's tag (none ignored, no aggregation) must be the trained model's argmax."""
    names = pipe.model.config.id2label
    tokens = pipe(x, ignore_labels=[])
    if not tokens:
        return "pipeline() tagged no token"
    for token in tokens:
        want = names[int(logits[0, token["index"]].argmax(-1))]
        if token["entity"] != want:
            return f"pipeline() tags {token['word']!r} {token['entity']!r}, the model {want!r}"
    return None


TOKENS = Kind(
    task="token-classification",
    auto="AutoModelForTokenClassification",
    classes=tiny_models.TOKEN_CLASSES,
    build=_build_tokens,
    source=lambda data: {"path": "json", "data_files": str(data)},
    examples=lambda: ["alice lives in new york .", "yesterday bob jones visited rome"],
    inputs=lambda processor, x: processor([x], return_tensors="pt"),
    pipeline_inputs=_token_inputs,
    disagreement=_token_disagreement,
)

KINDS: dict[str, Kind] = {"image": IMAGE, "text": TEXT, "audio": AUDIO, "tokens": TOKENS}
