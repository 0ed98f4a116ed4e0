"""Gradio demo of one fine-tuned hfft classifier: a run directory or a Hugging Face Hub model id.

Runs as a Hub Space as it is (`python app.py`, model from the HFFT_MODEL Space variable) and behind
`hfft serve`. It imports only transformers, torch, gradio, huggingface_hub, PIL and yaml — never
hfft — so the Space needs nothing but space/requirements.txt.

    python app.py --model runs/vit-beans-lora          # or: HFFT_MODEL=user/vit-beans python app.py

Programmatic use (`gradio_client`): the endpoint "/predict" takes one image (`handle_file(path)`)
or one text and returns {"label": top label, "confidences": [{"label", "confidence"}, ...]}.
Concurrent calls are batched on the server (up to MAX_BATCH_SIZE inputs per forward pass).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Before gradio is imported: it reads this once to decide on sending usage statistics.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr
import torch
import yaml
from huggingface_hub import snapshot_download
from PIL import Image, ImageOps, UnidentifiedImageError
from transformers import AutoConfig, pipeline

# `architectures` suffix in config.json -> transformers pipeline task.
TASKS = {
    "ForImageClassification": "image-classification",
    "ForSequenceClassification": "text-classification",
}
TOP_K = 5
MAX_BATCH_SIZE = 8
MAX_FILE_SIZE = "20mb"  # upload cap, enforced by the Gradio server before any decoding
# Decoding a W*H image costs ~3*W*H bytes: refuse anything above 50 MP (~150 MB decoded) and
# downscale whatever is larger than MAX_SIDE, since the model resizes to ~224 px anyway.
MAX_PIXELS = 50_000_000
MAX_SIDE = 2048
MAX_TEXT_CHARS = 20_000  # longer texts are cut before tokenizing (the model truncates anyway)
# In a run directory while `hfft train` has not completed it (interrupted, or still training).
RUN_UNFINISHED_MARKER = "unfinished.json"
# Files fetched from a Hub model repo next to the weights (the run directory layout).
EXTRA_FILES = ["examples/*", "recipe.yaml", "metrics.json"]


class InputError(ValueError):
    """An input the model cannot classify; the message says what was wrong and what to do."""


@dataclass
class Prepared:
    """A decoded input ready for the pipeline, with an optional note for the user."""

    value: Any
    note: str | None = None


@dataclass
class ModelInfo:
    """What the app knows about the model besides its weights."""

    model: str
    task: str
    labels: list[str]
    extras_dir: Path | None = None  # where examples/, recipe.yaml, metrics.json live (if any)
    recipe: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    examples: list[list[str]] = field(default_factory=list)  # [[input, true label], ...]

    @property
    def name(self) -> str:
        """The run folder's name, or the full Hub id."""
        return Path(self.model).resolve().name if is_local(self.model) else self.model


# ---------------------------------------------------------------- model and its files


def task_of(config: Any) -> str:
    """The pipeline task for a model config, from its `architectures` class-name suffix."""
    for arch in getattr(config, "architectures", None) or []:
        for suffix, task in TASKS.items():
            if arch.endswith(suffix):
                return task
    raise ValueError(
        f"config.json has architectures={config.architectures!r}; this app serves models ending in "
        f"{' or '.join(TASKS)} (fine-tuned with hfft or transformers)"
    )


def is_local(model: str) -> bool:
    """True for a directory on disk; anything else is taken as a Hub model id."""
    return Path(model).expanduser().is_dir()


def extras_dir_of(model: str) -> Path | None:
    """The folder holding examples/, recipe.yaml and metrics.json, downloading them for a Hub id.

    Returns None when they cannot be fetched (offline, or a repo without them): the app works
    without them.
    """
    if is_local(model):
        return Path(model).expanduser().resolve()
    try:
        return Path(snapshot_download(repo_id=model, allow_patterns=EXTRA_FILES))
    except Exception as err:  # offline, gated, or not an hfft repo: serve the model alone
        print(f"[app] no examples/recipe/metrics for {model}: {type(err).__name__}: {err}")
        return None


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) if path.is_file() else None
    except (OSError, yaml.YAMLError) as err:
        print(f"[app] ignoring unreadable {path}: {err}")
        return {}
    return data if isinstance(data, dict) else {}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError) as err:
        print(f"[app] ignoring unreadable {path}: {err}")
        return None


def load_examples(extras_dir: Path | None, task: str) -> list[list[str]]:
    """[[input, true label], ...] from examples/examples.json; image inputs become absolute paths.

    Entries whose image is missing or points outside examples/ are skipped: the server hands
    these files to browsers, so only files inside the examples folder qualify.
    """
    if extras_dir is None:
        return []
    folder = (extras_dir / "examples").resolve()
    entries = _read_json(folder / "examples.json")
    if not isinstance(entries, list):
        return []
    examples = []
    for entry in entries:
        if not isinstance(entry, dict) or "input" not in entry:
            continue
        value, label = str(entry["input"]), str(entry.get("label", ""))
        if task == "image-classification":
            path = (folder / value).resolve()
            if not path.is_file() or not path.is_relative_to(folder):
                continue
            value = str(path)
        examples.append([value, label])
    return examples


def check_finished(model: str) -> None:
    """Refuse an unfinished hfft run directory: hfft writes RUN_UNFINISHED_MARKER before training
    and deletes it last (hfft/run_dir.py's rule, repeated here: this app cannot import hfft)."""
    path = Path(model).expanduser()
    if path.is_dir() and (path / RUN_UNFINISHED_MARKER).is_file():
        raise ValueError(
            f"{model} is an unfinished hfft run ({RUN_UNFINISHED_MARKER} is there: training was "
            "interrupted or is still running); finish it with `hfft train RECIPE --resume` first"
        )


def load_info(model: str) -> ModelInfo:
    """Read the task and labels from the config, and the recipe/metrics/examples when present."""
    check_finished(model)
    config = AutoConfig.from_pretrained(model)
    task = task_of(config)
    labels = [str(config.id2label[i]) for i in sorted(config.id2label, key=int)]
    extras = extras_dir_of(model)
    return ModelInfo(
        model=model,
        task=task,
        labels=labels,
        extras_dir=extras,
        recipe=_read_yaml(extras / "recipe.yaml") if extras else {},
        metrics=(_read_json(extras / "metrics.json") or {}) if extras else {},
        examples=load_examples(extras, task),
    )


# ---------------------------------------------------------------- inputs


def _image_source(payload: Any) -> Any:
    """A path or byte stream from a Gradio image payload (FileData dict), a path or a PIL image."""
    if isinstance(payload, dict):
        path, url = payload.get("path"), payload.get("url") or ""
        if path:
            return path
        if url.startswith("data:"):  # webcam/clipboard images can arrive as a data URL
            try:
                return io.BytesIO(base64.b64decode(url.split(",", 1)[1], validate=True))
            except (IndexError, binascii.Error) as err:
                raise InputError("The image data could not be read; upload it again.") from err
        raise InputError("No image received; upload an image (PNG, JPEG, WebP...).")
    return payload


def prepare_image(payload: Any) -> Prepared:
    """Decode one uploaded image into RGB, refusing non-images and huge ones, shrinking big ones."""
    if payload is None:
        raise InputError("No image: upload one, take a webcam picture or paste one.")
    if isinstance(payload, Image.Image):
        image = payload
    else:
        try:
            image = Image.open(_image_source(payload))
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as err:
            name = payload.get("orig_name") if isinstance(payload, dict) else None
            what = f"'{name}'" if name else "The uploaded file"
            raise InputError(
                f"{what} is not an image this app can read ({type(err).__name__}). "
                "Upload a PNG, JPEG, WebP, GIF or BMP image."
            ) from err
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise InputError(
            f"The image is {width}x{height} pixels ({width * height / 1e6:.1f} MP); the limit is "
            f"{MAX_PIXELS / 1e6:g} MP. Downscale it and upload it again."
        )
    note = None
    try:
        # JPEG can decode at 1/2, 1/4, 1/8 scale directly: far less memory for camera photos.
        image.draft("RGB", (MAX_SIDE, MAX_SIDE))
        image = ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, ValueError, SyntaxError) as err:
        raise InputError(f"The image file is damaged ({err}); upload it again.") from err
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE))
    if max(width, height) > MAX_SIDE:
        note = f"Large image ({width}x{height}) downscaled to {image.width}x{image.height}."
    return Prepared(image, note)


def prepare_text(text: Any) -> Prepared:
    """Check one text input: non-empty, and cut to MAX_TEXT_CHARS characters."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("The text is empty: type or paste a sentence to classify.")
    text = text.strip()
    if len(text) > MAX_TEXT_CHARS:
        return Prepared(text[:MAX_TEXT_CHARS], f"Text cut to {MAX_TEXT_CHARS} characters.")
    return Prepared(text)


# ---------------------------------------------------------------- the classifier


class Classifier:
    """One transformers pipeline plus the input checks of its task."""

    def __init__(self, info: ModelInfo):
        self.info = info
        device = 0 if torch.cuda.is_available() else -1
        self.pipe = pipeline(info.task, model=info.model, device=device)
        self.top_k = min(TOP_K, len(info.labels))
        self.max_length = None
        if info.task == "text-classification":
            self.max_length = self.pipe.tokenizer.model_max_length
            positions = getattr(self.pipe.model.config, "max_position_embeddings", None)
            # A tokenizer saved without a limit reports ~1e30, and then `truncation=True` does not
            # cut; RoBERTa-style models also reserve 2 positions, so stay 2 below the table size.
            if self.max_length > 100_000 and positions:
                self.max_length = positions - 2

    def prepare(self, value: Any) -> Prepared:
        """Decode/check one input; raises InputError with a message for the user."""
        if self.info.task == "image-classification":
            return prepare_image(value)
        return prepare_text(value)

    def predict(self, values: Sequence[Any]) -> list[dict[str, float]]:
        """{label: score} (top-k) for each prepared input, in one forward pass per batch."""
        kwargs: dict[str, Any] = {"top_k": self.top_k, "batch_size": len(values)}
        if self.max_length:  # texts longer than the model's positions would crash it
            kwargs.update(truncation=True, max_length=self.max_length)
        with torch.inference_mode():
            outputs = self.pipe(list(values), **kwargs)
        # A list input gives a list of per-input results; top_k makes each a list of dicts.
        return [{o["label"]: float(o["score"]) for o in out} for out in outputs]


# ---------------------------------------------------------------- the page


def summary_markdown(info: ModelInfo) -> str:
    """A short model summary: task, labels, base model, mode, test metrics (what is known)."""
    lines = [
        f"**Task:** {info.task.replace('-', ' ')} · **{len(info.labels)} labels:** "
        + ", ".join(info.labels[:20])
        + (" ..." if len(info.labels) > 20 else "")
    ]
    model = info.recipe.get("model") if isinstance(info.recipe.get("model"), dict) else {}
    base, mode = model.get("checkpoint"), model.get("mode")
    parts = []
    if base:
        # A local base checkpoint path says nothing to a Space visitor and leaks a home folder.
        shown = Path(str(base)).name + " (local)" if Path(str(base)).is_absolute() else base
        parts.append(f"**Base model:** `{shown}`")
    if mode:
        parts.append(f"**Mode:** {mode}")
    if parts:
        lines.append(" · ".join(parts))
    for split in ("test", "validation"):
        scores = info.metrics.get(split) if isinstance(info.metrics, dict) else None
        if isinstance(scores, dict):
            numbers = [
                f"{k} {v:.3f}"
                for k, v in scores.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)
            ]
            if numbers:
                lines.append(f"**{split.capitalize()} metrics:** " + " · ".join(numbers))
                break  # the test split when there is one, else validation
    return "\n\n".join(lines)


def build_app(model: str) -> gr.Blocks:
    """The demo for one model (run directory or Hub id): input, top-k labels, examples, summary."""
    info = load_info(model)
    clf = Classifier(info)
    is_image = info.task == "image-classification"

    def check(value: Any) -> None:
        # Runs before the batched prediction, once per UI request: a bad input never joins a
        # batch, and gr.Warning reaches the page (it cannot from a batched function).
        try:
            prepared = clf.prepare(value)
        except InputError as err:
            raise gr.Error(str(err), title="Invalid input", print_exception=False) from None
        if prepared.note:
            gr.Warning(prepared.note)

    def predict(values: list[Any]) -> tuple[list[Any]]:
        """Top-k labels with scores for each input (batched: lists in, a tuple of one list out)."""
        prepared: list[Prepared | InputError] = []
        for value in values:
            try:
                prepared.append(clf.prepare(value))
            except InputError as err:
                prepared.append(err)
        good = [p.value for p in prepared if isinstance(p, Prepared)]
        if not good:  # a lone bad request (the usual case): a clear error for that caller
            raise gr.Error(str(prepared[0]), title="Invalid input", print_exception=False)
        scores = iter(clf.predict(good))
        # A bad input batched with other callers' good ones must not fail theirs: it gets its
        # message as the label instead.
        results = [next(scores) if isinstance(p, Prepared) else f"Error: {p}" for p in prepared]
        return (results,)

    def classify_example(value: Any, truth: str) -> dict[str, float]:
        """One example, clicked in the Examples table (its true label is already on the page)."""
        return predict([value])[0][0]

    with gr.Blocks(title=f"{info.name} · hfft", analytics_enabled=False) as demo:
        gr.Markdown(f"# {info.name}\n\n" + summary_markdown(info))
        with gr.Row():
            with gr.Column():
                if is_image:
                    inp = gr.Image(
                        label="Image",
                        sources=["upload", "webcam", "clipboard"],
                        type="filepath",
                        height=320,
                    )
                else:
                    inp = gr.Textbox(label="Text", lines=4, placeholder="Type a sentence...")
                truth = gr.Textbox(label="True label", interactive=False, max_lines=1)
                with gr.Row():
                    clear = gr.ClearButton([inp, truth], value="Clear")
                    submit = gr.Button("Classify", variant="primary")
            with gr.Column():
                out = gr.Label(label="Prediction", num_top_classes=clf.top_k)
        clear.add(out)
        if info.examples:
            gr.Examples(
                examples=info.examples,
                inputs=[inp, truth],
                outputs=out,
                # Classify on click: the prediction then shows next to the true label. (It also
                # avoids a race: the example's value reaches the server a moment after the click.)
                fn=classify_example,
                run_on_click=True,
                cache_examples=False,
                label="Examples from the test split (with their true labels)",
            )
        # A true label belongs to an example only: forget it once the user brings their own input.
        user_input = inp.upload if is_image else inp.input
        user_input(lambda: "", outputs=truth, queue=False, api_visibility="private")

        triggers = [submit.click] if is_image else [submit.click, inp.submit]
        gr.on(
            triggers, check, inputs=inp, outputs=None, preprocess=False, api_visibility="private"
        ).success(
            predict,
            inputs=inp,
            outputs=out,
            api_name="predict",
            batch=True,
            max_batch_size=MAX_BATCH_SIZE,
            preprocess=False,  # decoded by Classifier.prepare, which gives clear errors
        )
    demo.queue(max_size=64)
    return demo


def launch_app(demo: gr.Blocks, host: str | None = None, port: int | None = None, **kwargs: Any):
    """Launch with the app's safety settings: no share link, capped uploads, no file served from
    disk. Extra kwargs go to `Blocks.launch`."""
    return demo.launch(
        server_name=host,  # None: GRADIO_SERVER_NAME (a Space sets 0.0.0.0), else 127.0.0.1
        server_port=port,
        share=False,
        max_file_size=MAX_FILE_SIZE,
        run_history=False,  # a demo keeps no record of what visitors classified
        # gr.Examples copies the example images into Gradio's cache when the app is built, so
        # not even the examples folder has to be served from disk.
        allowed_paths=None,
        **kwargs,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """`python app.py [--model RUN_DIR|HUB_ID] [--host H] [--port N]`; model default $HFFT_MODEL."""
    parser = argparse.ArgumentParser(description="Gradio demo of a fine-tuned classifier.")
    parser.add_argument("--model", default=os.environ.get("HFFT_MODEL"), help="run dir or Hub id")
    parser.add_argument("--host", default=None, help="default: $GRADIO_SERVER_NAME or 127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default: 7860 or the next free")
    args = parser.parse_args(argv)
    if not args.model:
        parser.error("no model: pass --model RUN_DIR|HUB_ID or set the HFFT_MODEL variable")
    launch_app(build_app(args.model), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
