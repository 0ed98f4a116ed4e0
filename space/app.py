"""Gradio demo of one model fine-tuned with hfft: a run directory or a Hugging Face Hub model id.

Runs as a Hub Space as it is (`python app.py`, model from the HFFT_MODEL Space variable) and behind
`hfft serve`. It imports only transformers, torch, gradio, huggingface_hub, PIL and yaml — never
hfft — so the Space needs nothing but space/requirements.txt.

    python app.py --model runs/vit-beans-lora          # or: HFFT_MODEL=user/vit-beans python app.py

This file is the generic shell: it reads the model's task from its config.json and takes
everything task-specific (components, input checks, pipeline call) from the interface table in
interfaces.py, next to it (which takes the input checks from inputs.py and the output
formatting from outputs.py).

Programmatic use (`gradio_client`): the endpoint "/predict" takes one input of the model's kind
(a file: `handle_file(path)`; a text: the string) and returns the output component's value; for a
classifier {"label": top label, "confidences": [{"label", "confidence"}, ...]}.
Concurrent calls are batched on the server (up to `max_batch_size` inputs per forward pass), and
the queue is bounded: past `max_queue` waiting requests a call is refused at once ("Queue is full,
please try again") instead of waiting without end. Both are chosen from the hardware
(`serving_settings`) and can be set with the HFFT_MAX_BATCH_SIZE, HFFT_MAX_QUEUE and
HFFT_CONCURRENCY environment variables (Space variables).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

# Before gradio is imported: it reads this once to decide on sending usage statistics.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr
import torch
from transformers import AutoConfig, pipeline


def _load_table() -> ModuleType:
    """interfaces.py from this file's folder, imported by path under a name of its own; its
    `load_sibling` then loads the app's other modules the same way.

    In a Space app.py runs as a script (its folder on sys.path), but `hfft serve` imports it by
    path from any working directory, where `import interfaces` would miss the file or find an
    unrelated module of that name.
    """
    path = Path(__file__).resolve().with_name("interfaces.py")
    if not path.is_file():
        raise ImportError(f"the app's {path} is missing; it ships next to app.py")
    spec = importlib.util.spec_from_file_location("hfft_space_interfaces", path)
    table = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = table  # before running it: dataclasses look their module up there
    spec.loader.exec_module(table)
    return table


interfaces = _load_table()
serving = interfaces.load_sibling("serving.py")
model_files = interfaces.load_sibling("model_files.py")
INTERFACES = interfaces.INTERFACES
Interface = interfaces.Interface
InputError = interfaces.InputError
Prepared = interfaces.Prepared
ServingSettings = serving.ServingSettings
serving_settings = serving.serving_settings
launch_app = serving.launch_app
RUN_UNFINISHED_MARKER, MODEL_FILE = model_files.RUN_UNFINISHED_MARKER, model_files.MODEL_FILE
EXTRA_FILES, is_local = model_files.EXTRA_FILES, model_files.is_local
check_finished, extras_dir_of = model_files.check_finished, model_files.extras_dir_of
own_code = model_files.own_code


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
    settings: dict[str, Any] = field(default_factory=dict)  # from the interface's read_settings

    @property
    def name(self) -> str:
        """The run folder's name, or the full Hub id."""
        return Path(self.model).resolve().name if is_local(self.model) else self.model

    @property
    def interface(self) -> Interface:
        """The interface-table entry of the model's task."""
        return INTERFACES[self.task]


# ---------------------------------------------------------------- model and its files


def task_of(config: Any) -> str:
    """The interface-table task serving a model config: the first entry whose `architectures`
    suffix matches a class in config.json's `architectures` and whose `matches` accepts it."""
    for arch in getattr(config, "architectures", None) or []:
        for task, interface in INTERFACES.items():
            if arch.endswith(interface.architectures) and interface.matches(config):
                return task
    served = dict.fromkeys(suffix for i in INTERFACES.values() for suffix in i.architectures)
    raise ValueError(
        f"config.json has architectures={config.architectures!r}; this app serves models ending in "
        f"{' or '.join(served)} (fine-tuned with hfft or transformers)"
    )


def load_info(model: str) -> ModelInfo:
    """Read the task and labels from the config, and the recipe/metrics/examples when present."""
    check_finished(model)
    config = AutoConfig.from_pretrained(model, trust_remote_code=own_code(model))
    task = task_of(config)
    interface = INTERFACES[task]
    # A model that takes its labels from the visitor (zero-shot) has none of its own.
    labels = (
        []
        if interface.options
        else [str(config.id2label[i]) for i in sorted(config.id2label, key=int)]
    )
    extras = extras_dir_of(model, [*EXTRA_FILES, *interface.extra_files])
    return ModelInfo(
        model=model,
        task=task,
        labels=labels,
        extras_dir=extras,
        recipe=model_files.read_yaml(extras / "recipe.yaml") if extras else {},
        metrics=(model_files.read_json(extras / "metrics.json") or {}) if extras else {},
        examples=model_files.load_examples(extras, interface),
        settings=interface.read_settings(config, extras),
    )


# ---------------------------------------------------------------- the pipeline


class Predictor:
    """One transformers pipeline, called the way the model's interface says."""

    def __init__(self, info: ModelInfo, settings: ServingSettings | None = None):
        self.info = info
        self.interface = info.interface
        self.settings = settings or serving_settings()
        if self.settings.device < 0 and torch.get_num_threads() > self.settings.threads:
            # In a container torch may count the host's cores, not the ones this process has.
            torch.set_num_threads(self.settings.threads)
        self.pipe = pipeline(
            self.interface.pipeline_task,
            model=info.model,
            device=self.settings.device,
            trust_remote_code=own_code(info.model),  # hfft's own model class only
        )
        bind = self.interface.input.prepare_for
        self._prepare = bind(self.pipe, info) if bind else self.interface.input.prepare
        # Computed once: they depend on the model only (top_k, the tokenizer's length...).
        self.call_kwargs = {
            **self.interface.input.call_kwargs(self.pipe),
            **self.interface.output.call_kwargs(self.pipe, info),
        }

    def prepare(self, value: Any) -> Prepared:
        """Decode/check one input; raises InputError with a message for the user."""
        return self._prepare(value)

    def predict(self, values: Sequence[Any], options: Any = None) -> list[Any]:
        """The output component's value for each prepared input, one forward pass per batch
        (`options`: the value of the interface's second input, for every one of them)."""
        extra = self.interface.options.to_kwargs(options) if self.interface.options else {}
        with torch.inference_mode():
            outputs = self.pipe(list(values), batch_size=len(values), **self.call_kwargs, **extra)
        # A list input gives a list of per-input results.
        postprocess = self.interface.output.postprocess
        return [postprocess(out, v, self.info) for out, v in zip(outputs, values, strict=True)]


# ---------------------------------------------------------------- the page


def summary_markdown(info: ModelInfo) -> str:
    """A short model summary: task, labels, base model, mode, test metrics (what is known)."""
    shown = ", ".join(info.labels[:20]) + (" ..." if len(info.labels) > 20 else "")
    labels = f"**{len(info.labels)} labels:** {shown}" if info.labels else "**Labels:** yours"
    lines = [f"**Task:** {info.task.replace('-', ' ')} · {labels}"]
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


def build_app(model: str, settings: ServingSettings | None = None) -> gr.Blocks:
    """The demo for one model (run directory or Hub id): input, prediction, examples, summary;
    served with `settings` (default: `serving_settings()` for this machine)."""
    settings = settings or serving_settings()
    info = load_info(model)
    predictor = Predictor(info, settings)
    interface = info.interface
    batched = interface.batches

    options = interface.options

    def check(value: Any, option: Any = None) -> None:
        # Runs before the batched prediction, once per UI request: a bad input never joins a
        # batch, and gr.Warning reaches the page (it cannot from a batched function).
        try:
            prepared = predictor.prepare(value)
            if options is not None:
                options.to_kwargs(option)
        except InputError as err:
            raise gr.Error(str(err), title="Invalid input", print_exception=False) from None
        if prepared.note:
            gr.Warning(prepared.note)

    def predict(values: list[Any], option: Any = None) -> tuple[list[Any]]:
        """The prediction for each input (batched: lists in, a tuple of one list out)."""
        prepared: list[Prepared | InputError] = []
        for value in values:
            try:
                prepared.append(predictor.prepare(value))
            except InputError as err:
                prepared.append(err)
        good = [p.value for p in prepared if isinstance(p, Prepared)]
        if not good:  # a lone bad request (the usual case): a clear error for that caller
            raise gr.Error(str(prepared[0]), title="Invalid input", print_exception=False)
        try:
            outputs = iter(predictor.predict(good, option) if options else predictor.predict(good))
        except InputError as err:  # the typed labels (checked before, for UI requests)
            raise gr.Error(str(err), title="Invalid input", print_exception=False) from None
        # A bad input batched with other callers' good ones must not fail theirs: it gets its
        # message as its output instead.
        error_value = interface.output.error_value
        results = [
            next(outputs) if isinstance(p, Prepared) else error_value(str(p)) for p in prepared
        ]
        return (results,)

    def predict_one(value: Any, option: Any = None) -> Any:
        """The prediction for one input (an interface whose pipeline does not batch)."""
        return predict([value], option)[0][0]

    def predict_example(value: Any, truth: str) -> Any:
        """One example, clicked in the Examples table (its true label is already on the page)."""
        return predict_one(value)

    with gr.Blocks(title=f"{info.name} · hfft", analytics_enabled=False) as demo:
        gr.Markdown(f"# {info.name}\n\n" + summary_markdown(info))
        with gr.Row():
            with gr.Column():
                inp = interface.input.component()
                opt = options.component() if options else None
                truth = gr.Textbox(label="True label", interactive=False, max_lines=1)
                with gr.Row():
                    clear = gr.ClearButton([inp, truth], value="Clear")
                    submit = gr.Button(interface.action, variant="primary")
            with gr.Column():
                out = interface.output.component(info)
        clear.add(out)
        if info.examples:
            gr.Examples(
                examples=info.examples,
                inputs=[inp, truth],
                outputs=out,
                # Predict on click: the prediction then shows next to the true label. (It also
                # avoids a race: the example's value reaches the server a moment after the click.)
                fn=predict_example,
                run_on_click=True,
                cache_examples=False,
                label="Examples from the test split (with their true labels)",
            )
        # A true label belongs to an example only: forget it once the user brings their own input.
        for event in interface.input.user_events:
            getattr(inp, event)(lambda: "", outputs=truth, queue=False, api_visibility="private")

        triggers = [submit.click] + [getattr(inp, e) for e in interface.input.submit_events]
        given = [inp, opt] if opt is not None else inp
        gr.on(
            triggers,
            check,
            inputs=given,
            outputs=None,
            preprocess=False,
            api_visibility="private",
            concurrency_limit=settings.threads,  # decoding one input: as many as there are cores
            concurrency_id="check",
        ).success(
            predict if batched else predict_one,
            inputs=given,
            outputs=out,
            api_name="predict",
            batch=batched,
            max_batch_size=settings.max_batch_size,
            concurrency_limit=settings.concurrency,
            concurrency_id="predict",
            preprocess=False,  # decoded by the interface's prepare, which gives clear errors
        )
    demo.queue(max_size=settings.max_queue, default_concurrency_limit=settings.concurrency)
    return demo


def default_model() -> str | None:
    """$HFFT_MODEL, else the id in MODEL_FILE next to this file (a Space without its variable)."""
    if os.environ.get("HFFT_MODEL"):
        return os.environ["HFFT_MODEL"]
    path = Path(__file__).resolve().with_name(MODEL_FILE)
    try:
        model = path.read_text().strip() if path.is_file() else ""
    except (OSError, UnicodeDecodeError) as err:
        print(f"[app] ignoring unreadable {path}: {err}")
        model = ""
    return model or None


def main(argv: Sequence[str] | None = None) -> None:
    """`python app.py [--model RUN_DIR|HUB_ID] [--host H] [--port N]`; model: `default_model()`."""
    parser = argparse.ArgumentParser(description="Gradio demo of a model fine-tuned with hfft.")
    parser.add_argument("--model", default=default_model(), help="run dir or Hub id")
    parser.add_argument("--host", default=None, help="default: $GRADIO_SERVER_NAME or 127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default: 7860 or the next free")
    args = parser.parse_args(argv)
    if not args.model:
        parser.error("no model: pass --model RUN_DIR|HUB_ID or set the HFFT_MODEL variable")
    print(f"[app] {serving_settings().describe()}")  # in the Space's log: what this hardware got
    launch_app(build_app(args.model), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
