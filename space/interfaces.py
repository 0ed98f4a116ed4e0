"""The Space's interface table: for each task, what the page shows and how the pipeline is called.

space/app.py is the generic shell (model info, examples, page, batching, launch); everything that
depends on the task lives here, as data and plain functions, in the spirit of Gradio's own
pipeline-to-interface table (gradio/pipelines_utils.py) and transformers' task table. An entry is
an `Interface`: the transformers pipeline task, the `architectures` it serves, and two halves that
entries share:

- an `InputKind` (the modality): the Gradio input component, the check of one input (clear
  messages, size limits), how an examples.json "input" becomes a component value;
- an `OutputKind` (the label scheme): the Gradio output component, the pipeline call's kwargs,
  and how one pipeline output becomes the output component's value.

Adding a task is one `INTERFACES` entry, reusing or adding one half. Like app.py, this file imports
only the Space's requirements — never hfft.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import gradio as gr
from PIL import Image, ImageOps

TOP_K = 5
# Decoding a W*H image costs ~3*W*H bytes: refuse anything above 50 MP (~150 MB decoded) and
# downscale whatever is larger than MAX_SIDE, since the model resizes to ~224 px anyway.
MAX_PIXELS = 50_000_000
MAX_SIDE = 2048
MAX_TEXT_CHARS = 20_000  # longer texts are cut before tokenizing (the model truncates anyway)
# Audio: the crop length of a model without a recipe; the longest clip a model trained on whole
# clips (data.max_duration: null) is given; sample rates a real recording can have.
DEFAULT_CLIP_SECONDS = 30.0
MAX_WHOLE_CLIP_SECONDS = 60.0
MIN_RATE, MAX_RATE = 1_000, 384_000


class InputError(ValueError):
    """An input the model cannot handle; the message says what was wrong and what to do."""


@dataclass
class Prepared:
    """A decoded input ready for the pipeline, with an optional note for the user."""

    value: Any
    note: str | None = None


class Model(Protocol):
    """What an interface may read about the served model (the app's ModelInfo)."""

    labels: list[str]
    settings: dict[str, Any]  # what the entry's read_settings returned


# ---------------------------------------------------------------- inputs: files


def uploaded_file(payload: Any, kind: str) -> tuple[Any, str]:
    """(a path or byte stream to read, the name to show) from a Gradio file payload (FileData
    dict), refusing any path the server did not receive as an upload.

    With preprocess=False Gradio checks a payload's path only when it carries FileData's `meta`
    marker: a hand-made {"path": "/srv/secret.png"} would reach this function unchecked, so the
    path must lie in Gradio's upload folder (where uploads and the examples' copies live). A plain
    str or Path comes from Python code calling the app (Gradio's validation turns a string sent
    over HTTP for a file component away before it gets here), and is read as it is.
    """
    if isinstance(payload, (str, Path)):
        return str(payload), Path(payload).name
    if not isinstance(payload, dict):
        raise InputError(f"No {kind} received; upload a file.")
    path, url = payload.get("path"), payload.get("url") or ""
    name = str(payload.get("orig_name") or Path(str(path or "upload")).name)
    if path:
        upload_folder = Path(gr.utils.get_upload_folder()).resolve()
        if not Path(path).resolve().is_relative_to(upload_folder):
            raise InputError(
                f"'{name}' was not uploaded to this app: send the file itself "
                "(gradio_client: handle_file(path)), not a path on the server."
            )
        return path, name
    if url.startswith("data:"):  # webcam/clipboard images can arrive as a data URL
        try:
            return io.BytesIO(base64.b64decode(url.split(",", 1)[1], validate=True)), "pasted"
        except (IndexError, binascii.Error) as err:
            raise InputError(f"The {kind} data could not be read; upload it again.") from err
    # Anything else (an http:// or file:// URL) is not fetched: no requests on a visitor's behalf.
    raise InputError(f"No {kind} received; upload a file.")


def _head(source: Any, size: int = 512) -> bytes:
    """The first bytes of a path or an in-memory stream (its position left alone)."""
    if isinstance(source, io.BytesIO):
        return source.getvalue()[:size]
    try:
        with open(source, "rb") as f:
            return f.read(size)
    except OSError:
        return b""


# ---------------------------------------------------------------- inputs: images

# Decoders an upload may reach: the common photo formats. PIL knows ~40 more, some with a long
# record of decoder bugs, and EPS would run Ghostscript; none is worth that on a public page.
# (The JPEG decoder also reads the MPO files many phones save.)
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
SHOWN_FORMATS = "PNG, JPEG, WebP, GIF or BMP"
MAX_ASPECT = 20  # a 20000x10 strip is no picture a classifier can read after resizing to a square
# What a file that is no image often is, by its first bytes: said in the message.
KNOWN_CONTENT = {
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (or an Office document)",
    b"\x7fELF": "a program",
    b"MZ": "a Windows program",
    b"\x1f\x8b": "a gzip archive",
    b"RIFF": "a RIFF file (audio or video)",
    b"ID3": "an MP3 file",
}


def _not_an_image(name: str, head: bytes) -> InputError:
    """The message for a file PIL will not open, saying what it is when that is recognisable."""
    if not head:
        return InputError(f"'{name}' is empty (0 bytes): upload the image file again.")
    text = head.lstrip().lower()
    if b"<svg" in text or (text.startswith(b"<?xml") and name.lower().endswith(".svg")):
        return InputError(
            f"'{name}' is an SVG (vector) image; this app reads pixels: export it as PNG and "
            "upload that."
        )
    found = next((what for magic, what in KNOWN_CONTENT.items() if head.startswith(magic)), None)
    if found is None and text.startswith(b"<"):
        found = "an HTML or XML text"
    what = f"is {found}, not an image" if found else "is not an image this app can read"
    return InputError(
        f"'{name}' {what}: upload a {SHOWN_FORMATS} image (what counts is the file's content, "
        "not its name)."
    )


def _bomb(name: str, err: Exception) -> InputError:
    # PIL refuses before decoding, saying "Image size (N pixels) exceeds limit of M pixels".
    match = re.search(r"\((\d+) pixels\)", str(err))
    declared = f"{int(match.group(1)) / 1e6:,.0f} MP" if match else "an enormous number of pixels"
    return InputError(
        f"'{name}' declares {declared} in a small file (a decompression bomb?); the limit is "
        f"{MAX_PIXELS / 1e6:g} MP. Downscale the image and upload it again."
    )


def prepare_image(payload: Any) -> Prepared:
    """Decode one uploaded image into RGB, refusing non-images, decompression bombs, huge and
    absurdly shaped images and damaged files, each with its own message; big images shrink."""
    if payload is None:
        raise InputError("No image: upload one, take a webcam picture or paste one.")
    if isinstance(payload, Image.Image):
        image, name = payload, "image"
    else:
        source, name = uploaded_file(payload, "image")
        try:
            image = Image.open(source, formats=IMAGE_FORMATS)
        except Image.DecompressionBombError as err:
            raise _bomb(name, err) from None
        except Exception:  # UnidentifiedImageError, or a header that crashes a parser
            raise _not_an_image(name, _head(source)) from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise InputError(
            f"The image is {width}x{height} pixels ({width * height / 1e6:.1f} MP); the limit is "
            f"{MAX_PIXELS / 1e6:g} MP. Downscale it and upload it again."
        )
    if max(width, height) > MAX_ASPECT * max(min(width, height), 1):
        raise InputError(
            f"The image is {width}x{height} pixels: one side is over {MAX_ASPECT} times the "
            "other, which leaves nothing to see once the model squeezes it into a square. Crop "
            "it and upload it again."
        )
    try:
        # JPEG can decode at 1/2, 1/4, 1/8 scale directly: far less memory for camera photos.
        image.draft("RGB", (MAX_SIDE, MAX_SIDE))
        image = ImageOps.exif_transpose(image).convert("RGB")
    except Exception as err:  # truncated data, a corrupt chunk, broken EXIF: never a crash
        raise InputError(f"'{name}' is damaged or cut short ({err}); upload it again.") from None
    note = None
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE))
    if max(width, height) > MAX_SIDE:
        note = f"Large image ({width}x{height}) downscaled to {image.width}x{image.height}."
    return Prepared(image, note)


def example_file(value: str, folder: Path) -> str | None:
    """An examples.json file entry as a path inside `folder`; None when it is missing, names a
    place outside it (`..`, an absolute path) or is a link to a file outside it: the server hands
    example files to browsers, so only the model's own qualify.

    In a Hub snapshot every file is a link into the cache's blobs/ folder (huggingface_hub's own
    layout): those links qualify; a link in a local run directory must stay inside examples/.
    """
    if Path(value).is_absolute() or ".." in Path(value).parts:
        return None
    path = folder / value
    roots = [folder.resolve()]
    if folder.parent.parent.name == "snapshots":  # <cache>/models--o--n/snapshots/<rev>/examples
        roots.append((folder.parent.parent.parent / "blobs").resolve())
    target = path.resolve()
    inside = any(target.is_relative_to(root) for root in roots)
    return str(path) if inside and target.is_file() else None


# ---------------------------------------------------------------- inputs: texts


def prepare_text(text: Any) -> Prepared:
    """Check one text input: a non-empty string, cut to MAX_TEXT_CHARS characters, with any lone
    surrogate (which JSON can carry but the tokenizer cannot encode) replaced."""
    if text is not None and not isinstance(text, str):
        raise InputError(f"Expected a text, got {type(text).__name__}: send a string.")
    if not text or not "".join(c for c in text if c.isprintable()).strip():  # NULs, controls
        raise InputError("The text is empty: type or paste a sentence to classify.")
    text = text.strip()
    notes = []
    clean = text.encode("utf-8", errors="replace").decode("utf-8")
    if clean != text:
        text = clean
        notes.append("Characters that are not valid Unicode were replaced by '?'.")
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS]
        notes.append(f"Text cut to {MAX_TEXT_CHARS} characters.")
    return Prepared(text, " ".join(notes) or None)


def example_text(value: str, folder: Path) -> str:
    """An examples.json text entry, as it is."""
    return value


def text_truncation(pipe: Any) -> dict[str, Any]:
    """truncation/max_length kwargs: texts longer than the model's positions would crash it."""
    max_length = pipe.tokenizer.model_max_length
    positions = getattr(pipe.model.config, "max_position_embeddings", None)
    # A tokenizer saved without a limit reports ~1e30, and then `truncation=True` does not cut;
    # RoBERTa-style models also reserve 2 positions, so stay 2 below the table size.
    if max_length > 100_000 and positions:
        max_length = positions - 2
    return {"truncation": True, "max_length": max_length} if max_length else {}


def token_windows(pipe: Any) -> dict[str, Any]:
    """The token-classification pipeline's `stride`: it takes no `truncation` (it truncates at
    the tokenizer's model_max_length itself), so a long text is read in overlapping windows and
    its entities merged instead of cut. A tokenizer saved without a limit gets the model's."""
    tokenizer = pipe.tokenizer
    positions = getattr(pipe.model.config, "max_position_embeddings", None)
    if tokenizer.model_max_length > 100_000 and positions:
        tokenizer.model_max_length = positions - 2  # as text_truncation
    if not tokenizer.is_fast or tokenizer.model_max_length > 100_000:
        return {}
    return {"stride": max(1, tokenizer.model_max_length // 4)}


# ---------------------------------------------------------------- inputs: audio


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} minutes"


def decode_audio(payload: Any, rate: int, limit: float | None) -> Prepared:
    """Decode one clip (soundfile: WAV, FLAC, OGG, MP3; no FFmpeg) to mono float32 at `rate` Hz,
    only its middle `limit` seconds (the crop the model was trained on) read when it is longer.
    With no limit (a model trained on whole clips) a clip over MAX_WHOLE_CLIP_SECONDS is refused.
    The frame count comes from libsndfile, which checks a WAV header's length against the data
    actually there, so a header that lies about its length decodes what the file holds."""
    import soundfile
    import soxr

    if payload is None:
        raise InputError("No audio: upload a file or record with the microphone.")
    source, name = uploaded_file(payload, "audio")
    name = "the recording" if name == "pasted" else name
    try:
        with soundfile.SoundFile(source) as clip:
            native, frames = clip.samplerate, clip.frames
            if not MIN_RATE <= native <= MAX_RATE:
                raise InputError(
                    f"'{name}' claims a sample rate of {native} Hz, which no recording has; "
                    "export it again as WAV or FLAC."
                )
            length = frames / native
            if limit is None and length > MAX_WHOLE_CLIP_SECONDS:
                raise InputError(
                    f"'{name}' is {_duration(length)} long; this model reads whole clips, up to "
                    f"{_duration(MAX_WHOLE_CLIP_SECONDS)} here. Trim it and upload it again."
                )
            note = None
            if limit is not None and length > limit:
                clip.seek(int((length - limit) / 2 * native))
                frames = int(limit * native)
                note = (
                    f"The clip is {_duration(length)} long: its middle {_duration(limit)} was "
                    "classified (the length the model was trained on)."
                )
            samples = clip.read(frames, dtype="float32", always_2d=True)
    except InputError:
        raise
    except Exception as err:  # soundfile's LibsndfileError, RuntimeError, TypeError...
        raise InputError(
            f"'{name}' is not an audio file this app can read ({type(err).__name__}). "
            "Upload a WAV, FLAC, OGG or MP3 file."
        ) from err
    if samples.shape[0] == 0:
        raise InputError(f"'{name}' holds no audio samples; record or upload it again.")
    mono = samples.mean(axis=1)
    if float(abs(mono).max()) <= 1 / 32768:
        raise InputError(f"'{name}' is silent; record or upload a clip with sound in it.")
    if native != rate:
        mono = soxr.resample(mono, native, rate, quality="HQ").astype("float32")
    return Prepared({"raw": mono, "sampling_rate": rate}, note)


def audio_for(pipe: Any, model: Model) -> Callable[[Any], Prepared]:
    """The audio `prepare` for this model: its feature extractor's rate, and the crop length of
    its recipe (`data.max_duration`; DEFAULT_CLIP_SECONDS without a recipe)."""
    rate = pipe.feature_extractor.sampling_rate
    data = model.recipe.get("data") if isinstance(model.recipe.get("data"), dict) else {}
    limit = data.get("max_duration", DEFAULT_CLIP_SECONDS)
    limit = float(limit) if isinstance(limit, (int, float)) and limit > 0 else None
    return lambda payload: decode_audio(payload, rate, limit)


def _no_audio_model(payload: Any) -> Prepared:
    raise InputError("This input needs the model's feature extractor: it is read per model.")


def is_audio_model(config: Any) -> bool:
    """An audio classifier: an *ForAudioClassification class, or a model type transformers lists
    for audio classification (wav2vec2, HuBERT and WavLM heads are *ForSequenceClassification,
    like text ones)."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES,
    )

    architectures = getattr(config, "architectures", None) or []
    if any(a.endswith("ForAudioClassification") for a in architectures):
        return True
    return getattr(config, "model_type", None) in MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES


# ---------------------------------------------------------------- outputs: labels


def top_k(model: Model) -> int:
    """How many labels a single-label classifier shows: TOP_K, or all when there are fewer."""
    return min(TOP_K, len(model.labels))


def label_scores(output: list[dict], value: Any, model: Model) -> dict[str, float]:
    """{label: score} from one input's pipeline output (a list of {"label", "score"})."""
    return {o["label"]: float(o["score"]) for o in output}


# ---------------------------------------------------------------- outputs: sets of labels

# A multi-label run's per-label thresholds (hfft/run_files.py's THRESHOLDS_FILE, repeated here:
# this file cannot import hfft), and the cut for a label it lacks.
THRESHOLDS_FILE = "thresholds.json"
DEFAULT_THRESHOLD = 0.5
MARK = "✓ "  # before each label whose score reaches its threshold


def is_multi_label(config: Any) -> bool:
    """A model trained with one sigmoid per label (transformers' multi-label problem type)."""
    return getattr(config, "problem_type", None) == "multi_label_classification"


def read_thresholds(config: Any, extras_dir: Path | None) -> dict[str, Any]:
    """{"thresholds": {label: cut}} from the run's thresholds.json; 0.5 where it is missing,
    unreadable or lacks a label (a model trained outside hfft has none)."""
    path = extras_dir / THRESHOLDS_FILE if extras_dir else None
    try:
        saved = json.loads(path.read_text()) if path and path.is_file() else {}
    except (OSError, ValueError) as err:
        print(f"[app] ignoring unreadable {path}: {err}")
        saved = {}
    saved = saved if isinstance(saved, dict) else {}
    cuts = {}
    for label in (str(config.id2label[i]) for i in sorted(config.id2label, key=int)):
        value = saved.get(label)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        cuts[label] = float(value) if ok else DEFAULT_THRESHOLD
    return {"thresholds": cuts}


def marked_scores(output: list[dict], value: Any, model: Model) -> dict[str, float]:
    """{label: score} for every label, each label at or above its threshold marked with MARK."""
    cuts = model.settings.get("thresholds") or {}
    marked = [(o["score"] >= cuts.get(o["label"], DEFAULT_THRESHOLD), o) for o in output]
    return {(MARK if on else "") + o["label"]: float(o["score"]) for on, o in marked}


# ---------------------------------------------------------------- outputs: entities


def entity_spans(output: list[dict], text: str, model: Model) -> list[tuple[str, str | None]]:
    """gr.HighlightedText's [(piece of text, entity type or None), ...] from one text's grouped
    entities, whose offsets are into `text` (the input as it was predicted): the pieces put
    together are the text. A group of no characters (a lone BPE space-marker token) or one
    overlapping the previous is left out."""
    pieces: list[tuple[str, str | None]] = []
    at = 0
    for entity in sorted(output, key=lambda e: int(e["start"])):
        start, end = int(entity["start"]), int(entity["end"])
        if end <= start or start < at:
            continue
        pieces += [(text[at:start], None), (text[start:end], entity["entity_group"])]
        at = end
    pieces.append((text[at:], None))
    return [(piece, kind) for piece, kind in pieces if piece]


def _no_kwargs(*_: Any) -> dict[str, Any]:
    return {}


def _no_settings(config: Any, extras_dir: Path | None) -> dict[str, Any]:
    return {}


def _always(config: Any) -> bool:
    return True


# ---------------------------------------------------------------- the table's types


@dataclass(frozen=True)
class InputKind:
    """One modality's input side."""

    # () -> the Gradio input component (created inside the page's layout).
    component: Callable[[], gr.components.Component]
    # (raw component/API value, before Gradio's preprocessing) -> Prepared; raises InputError.
    prepare: Callable[[Any], Prepared]
    # (examples.json "input", the examples folder) -> the component's value; None skips it.
    read_example: Callable[[str, Path], str | None]
    # Events of the component meaning "the user brought their own input" (clears the true label).
    user_events: tuple[str, ...]
    # Events of the component that run the prediction besides the button (Enter in a textbox).
    submit_events: tuple[str, ...] = ()
    # (pipeline) -> kwargs every pipeline call needs for this modality, computed once.
    call_kwargs: Callable[[Any], dict[str, Any]] = _no_kwargs
    # (pipeline, model) -> the `prepare` to use for this model, when decoding depends on it
    # (audio resampled to the feature extractor's rate); None: `prepare` as it is.
    prepare_for: Callable[[Any, Model], Callable[[Any], Prepared]] | None = None


@dataclass(frozen=True)
class OutputKind:
    """One label scheme's output side."""

    # (model) -> the Gradio output component.
    component: Callable[[Model], gr.components.Component]
    # (one input's pipeline output, its prepared input, model) -> the output component's value.
    postprocess: Callable[[Any, Any, Model], Any]
    # (pipeline, model) -> kwargs every pipeline call needs for this scheme, computed once.
    call_kwargs: Callable[[Any, Model], dict[str, Any]] = _no_kwargs
    # (message) -> the value shown for a bad input batched with other callers' good ones.
    error_value: Callable[[str], Any] = lambda message: f"Error: {message}"


@dataclass(frozen=True)
class Interface:
    """One task's page and pipeline call."""

    pipeline_task: str  # the transformers pipeline task (`pipeline(pipeline_task, model=...)`)
    # config.json `architectures` class-name suffixes it serves ("ForImageClassification").
    architectures: tuple[str, ...]
    input: InputKind
    output: OutputKind
    action: str = "Classify"  # the submit button's text
    # (config) -> whether this entry serves a model whose architecture matched; entries are tried
    # in table order, so a narrower one (e.g. problem_type multi-label) goes before a broader one.
    matches: Callable[[Any], bool] = _always
    # Files besides the weights to fetch from a Hub model repo (a thresholds file...).
    extra_files: tuple[str, ...] = ()
    # (config, folder of the run's extra files or None) -> Model.settings, read once at load.
    read_settings: Callable[[Any, Path | None], dict[str, Any]] = _no_settings
    # Whether concurrent requests share one pipeline call (the pipeline pads a list of inputs
    # into batches); False for a pipeline that gains nothing from it or cannot mix inputs.
    batches: bool = True


# ---------------------------------------------------------------- the table

IMAGE_INPUT = InputKind(
    component=lambda: gr.Image(
        label="Image", sources=["upload", "webcam", "clipboard"], type="filepath", height=320
    ),
    prepare=prepare_image,
    read_example=example_file,
    user_events=("upload",),
)

TEXT_INPUT = InputKind(
    component=lambda: gr.Textbox(label="Text", lines=4, placeholder="Type a sentence..."),
    prepare=prepare_text,
    read_example=example_text,
    user_events=("input",),
    submit_events=("submit",),
    call_kwargs=text_truncation,
)

AUDIO_INPUT = InputKind(
    component=lambda: gr.Audio(
        label="Audio", sources=["upload", "microphone"], type="filepath", format="wav"
    ),
    prepare=_no_audio_model,
    read_example=example_file,
    user_events=("upload", "stop_recording"),
    prepare_for=audio_for,
)

# The top labels with their scores: gr.Label's {label: score}, which the API returns as
# {"label": top label, "confidences": [{"label", "confidence"}, ...]}.
SINGLE_LABEL_OUTPUT = OutputKind(
    component=lambda model: gr.Label(label="Prediction", num_top_classes=top_k(model)),
    postprocess=label_scores,
    call_kwargs=lambda pipe, model: {"top_k": top_k(model)},
)

# Pre-split words in training, raw text here: TEXT_INPUT without text_truncation, which the
# token-classification pipeline refuses.
TOKEN_TEXT_INPUT = InputKind(
    component=lambda: gr.Textbox(label="Text", lines=4, placeholder="Type a sentence..."),
    prepare=prepare_text,
    read_example=example_text,
    user_events=("input",),
    submit_events=("submit",),
    call_kwargs=token_windows,
)

# The text with its entities highlighted, one colour per entity type; the API returns
# [{"token": piece of text, "class_or_confidence": its entity type or null}, ...].
ENTITY_OUTPUT = OutputKind(
    component=lambda model: gr.HighlightedText(
        label="Entities", combine_adjacent=False, show_legend=True
    ),
    postprocess=entity_spans,
    call_kwargs=lambda pipe, model: {"aggregation_strategy": "simple"},
    error_value=lambda message: [(f"Error: {message}", None)],
)

# Every label's own sigmoid score, those at or above their threshold marked.
MULTI_LABEL_OUTPUT = OutputKind(
    component=lambda model: gr.Label(
        label=f"Labels ({MARK.strip()} = predicted: score at or above its threshold)",
        num_top_classes=len(model.labels),
    ),
    postprocess=marked_scores,
    call_kwargs=lambda pipe, model: {"top_k": len(model.labels)},  # image pipelines default to 5
)


def _multi_label(task: str, architecture: str, input_kind: InputKind) -> Interface:
    return Interface(
        task, (architecture,), input_kind, MULTI_LABEL_OUTPUT, action="Tag",
        matches=is_multi_label, extra_files=(THRESHOLDS_FILE,), read_settings=read_thresholds,
    )  # fmt: skip


# Task name (the recipe's `task:`, here equal to the pipeline tag; "multi-label ..." for the
# multi-label scheme of one) -> its interface, in the order models are matched against them:
# the multi-label entries (narrower: problem_type) before the single-label ones.
INTERFACES: dict[str, Interface] = {
    # First: wav2vec2-style audio heads share the *ForSequenceClassification suffix of text ones.
    "audio-classification": Interface(
        "audio-classification",
        ("ForAudioClassification", "ForSequenceClassification"),
        AUDIO_INPUT,
        SINGLE_LABEL_OUTPUT,
        matches=is_audio_model,
    ),
    "multi-label-image-classification": _multi_label(
        "image-classification", "ForImageClassification", IMAGE_INPUT
    ),
    "multi-label-text-classification": _multi_label(
        "text-classification", "ForSequenceClassification", TEXT_INPUT
    ),
    "image-classification": Interface(
        "image-classification", ("ForImageClassification",), IMAGE_INPUT, SINGLE_LABEL_OUTPUT
    ),
    "text-classification": Interface(
        "text-classification", ("ForSequenceClassification",), TEXT_INPUT, SINGLE_LABEL_OUTPUT
    ),
    "token-classification": Interface(
        "token-classification",
        ("ForTokenClassification",),
        TOKEN_TEXT_INPUT,
        ENTITY_OUTPUT,
        action="Find entities",
    ),
}
