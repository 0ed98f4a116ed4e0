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

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import gradio as gr


def load_sibling(filename: str) -> ModuleType:
    """A module from this file's folder, imported by path under a name of its own (once).

    In a Space app.py runs as a script (its folder on sys.path), but `hfft serve` imports it by
    path from any working directory, where `import inputs` would miss the file or find an
    unrelated module of that name. app.py loads the table (this file) the same way, then the
    rest of the app's modules with this function.
    """
    path = Path(__file__).resolve().with_name(filename)
    name = f"hfft_space_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None or not path.is_file():
        raise ImportError(f"the app's {path} is missing; it ships next to app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # before running it: dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


inputs = load_sibling("inputs.py")
outputs = load_sibling("outputs.py")
# What app.py and the table's users read from here.
InputError, Prepared, Model = inputs.InputError, inputs.Prepared, outputs.Model


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
class OptionsKind:
    """A second input the visitor fills in for each request, passed to the pipeline call
    (the labels of a zero-shot classifier)."""

    # () -> the Gradio component (placed under the input).
    component: Callable[[], gr.components.Component]
    # (its raw value) -> kwargs of this request's pipeline call; raises InputError.
    to_kwargs: Callable[[Any], dict[str, Any]]


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
    # A second input per request (None: the input alone); such an interface does not batch.
    options: OptionsKind | None = None


# ---------------------------------------------------------------- the table

IMAGE_INPUT = InputKind(
    component=lambda: gr.Image(
        label="Image", sources=["upload", "webcam", "clipboard"], type="filepath", height=320
    ),
    prepare=inputs.prepare_image,
    read_example=inputs.example_file,
    user_events=("upload",),
)

TEXT_INPUT = InputKind(
    component=lambda: gr.Textbox(label="Text", lines=4, placeholder="Type a sentence..."),
    prepare=inputs.prepare_text,
    read_example=inputs.example_text,
    user_events=("input",),
    submit_events=("submit",),
    call_kwargs=inputs.text_truncation,
)

AUDIO_INPUT = InputKind(
    component=lambda: gr.Audio(
        label="Audio", sources=["upload", "microphone"], type="filepath", format="wav"
    ),
    prepare=inputs.needs_the_model,
    read_example=inputs.example_file,
    user_events=("upload", "stop_recording"),
    prepare_for=inputs.audio_for,
)

# The top labels with their scores: gr.Label's {label: score}, which the API returns as
# {"label": top label, "confidences": [{"label", "confidence"}, ...]}.
SINGLE_LABEL_OUTPUT = OutputKind(
    component=lambda model: gr.Label(label="Prediction", num_top_classes=outputs.top_k(model)),
    postprocess=outputs.label_scores,
    call_kwargs=lambda pipe, model: {"top_k": outputs.top_k(model)},
)

# Pre-split words in training, raw text here: TEXT_INPUT without text_truncation, which the
# token-classification pipeline refuses.
TOKEN_TEXT_INPUT = InputKind(
    component=lambda: gr.Textbox(label="Text", lines=4, placeholder="Type a sentence..."),
    prepare=inputs.prepare_text,
    read_example=inputs.example_text,
    user_events=("input",),
    submit_events=("submit",),
    call_kwargs=inputs.token_windows,
)

# The text with its entities highlighted, one colour per entity type; the API returns
# [{"token": piece of text, "class_or_confidence": its entity type or null}, ...].
ENTITY_OUTPUT = OutputKind(
    component=lambda model: gr.HighlightedText(
        label="Entities", combine_adjacent=False, show_legend=True
    ),
    postprocess=outputs.entity_spans,
    call_kwargs=lambda pipe, model: {"aggregation_strategy": "simple"},
    error_value=lambda message: [(f"Error: {message}", None)],
)

# Every label's own sigmoid score, those at or above their threshold marked.
MULTI_LABEL_OUTPUT = OutputKind(
    component=lambda model: gr.Label(
        label=f"Labels ({outputs.MARK.strip()} = predicted: score at or above its threshold)",
        num_top_classes=len(model.labels),
    ),
    postprocess=outputs.marked_scores,
    call_kwargs=lambda pipe, model: {"top_k": len(model.labels)},  # image pipelines default to 5
)


# Labels the visitor types, for a plain image-text checkpoint (CLIP, SigLIP) classifying
# zero-shot: each label goes into "a photo of a {}." and the pipeline ranks them.
LABELS_OPTION = OptionsKind(
    component=lambda: gr.Textbox(
        label="Labels (comma-separated)", placeholder="cat, dog, bird", max_lines=2
    ),
    to_kwargs=inputs.candidate_labels,
)
# The zero-shot pipeline's scores of the typed labels (it takes no top_k).
ZERO_SHOT_OUTPUT = OutputKind(
    component=lambda model: gr.Label(label="Prediction", num_top_classes=outputs.TOP_K),
    postprocess=outputs.label_scores,
)


def _multi_label(task: str, architecture: str, input_kind: InputKind) -> Interface:
    return Interface(
        task, (architecture,), input_kind, MULTI_LABEL_OUTPUT, action="Tag",
        matches=outputs.is_multi_label, extra_files=(outputs.THRESHOLDS_FILE,),
        read_settings=outputs.read_thresholds,
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
        matches=inputs.is_audio_model,
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
    # A plain CLIP/SigLIP checkpoint (its text tower included): labels typed by the visitor. A
    # run fine-tuned from one is an image classifier, served by the entry above.
    "zero-shot-image-classification": Interface(
        "zero-shot-image-classification",
        ("CLIPModel", "SiglipModel"),
        IMAGE_INPUT,
        ZERO_SHOT_OUTPUT,
        batches=False,
        options=LABELS_OPTION,
    ),
}
