"""The Space's inputs: how one upload, recording or text becomes what the pipeline is fed.

Each `prepare_*` checks one raw component value before any model sees it (size limits, formats,
a path the server did not receive) and raises InputError with a message that says what was wrong
and what to do. space/interfaces.py puts these functions in its table; like app.py, this file
imports only the Space's requirements — never hfft.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image, ImageOps

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


def audio_for(pipe: Any, model: Any) -> Callable[[Any], Prepared]:
    """The audio `prepare` for this model: its feature extractor's rate, and the crop length of
    its recipe (`data.max_duration`; DEFAULT_CLIP_SECONDS without a recipe)."""
    rate = pipe.feature_extractor.sampling_rate
    data = model.recipe.get("data") if isinstance(model.recipe.get("data"), dict) else {}
    limit = data.get("max_duration", DEFAULT_CLIP_SECONDS)
    limit = float(limit) if isinstance(limit, (int, float)) and limit > 0 else None
    return lambda payload: decode_audio(payload, rate, limit)


def needs_the_model(payload: Any) -> Prepared:
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


# ---------------------------------------------------------------- inputs: labels a visitor types

MAX_LABELS = 50
MAX_LABEL_CHARS = 100
# The prompt each typed label goes into (CLIP's own "a photo of a {}.").
HYPOTHESIS_TEMPLATE = "a photo of a {}."


def candidate_labels(text: Any) -> dict[str, Any]:
    """The zero-shot pipeline's kwargs for the labels a visitor typed (comma- or line-
    separated): at least two distinct ones, each of a sensible length."""
    parts = re.split(r"[,\n]", text) if isinstance(text, str) else []
    labels = list(dict.fromkeys(p.strip() for p in parts if p.strip()))
    if len(labels) < 2:
        raise InputError("type at least two labels to choose from, separated by commas")
    if len(labels) > MAX_LABELS:
        raise InputError(f"{len(labels)} labels: type at most {MAX_LABELS}")
    long = next((label for label in labels if len(label) > MAX_LABEL_CHARS), None)
    if long is not None:
        raise InputError(f"the label {long[:20]!r}... is too long: at most {MAX_LABEL_CHARS} chars")
    return {"candidate_labels": labels, "hypothesis_template": HYPOTHESIS_TEMPLATE}
