"""The Gradio app (space/app.py) and `hfft serve`: served on 127.0.0.1, called by gradio_client."""

from __future__ import annotations

import ast
import concurrent.futures
import json
import os
import re
import shutil
import socket
import sys
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from PIL import Image

from hfft.errors import HfftError
from tests import tiny
from tests.local_server import free_port, launch_local

ROOT = Path(__file__).resolve().parent.parent
IMAGE_LABELS = list(tiny.COLORS)  # red, green, blue
TEXT_LABELS = sorted(tiny.WORDS)  # negative, positive


# ---------------------------------------------------------------- run directories made by hand


def _name_labels(path: Path, names: list[str]) -> None:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    config.id2label = dict(enumerate(names))
    config.label2id = {n: i for i, n in enumerate(names)}
    config.save_pretrained(path)


def _write_extras(path: Path, task: str, examples: list[dict], checkpoint: str) -> None:
    (path / "examples").mkdir(exist_ok=True)
    (path / "examples" / "examples.json").write_text(json.dumps(examples))
    recipe = {"task": task, "model": {"checkpoint": checkpoint, "mode": "lora"}}
    (path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    per_class = {"red": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}}
    metrics = {"test": {"accuracy": 0.875, "f1": 0.8125, "per_class": per_class}}
    (path / "metrics.json").write_text(json.dumps(metrics))


def make_image_run(path: Path, extras: bool = True) -> Path:
    """A tiny ViT run directory with labels red/green/blue and two example images."""
    tiny.make_image_checkpoint(path, "vit")
    _name_labels(path, IMAGE_LABELS)
    if extras:
        examples = []
        for i, name in enumerate(["red", "blue"]):
            Image.new("RGB", (tiny.IMAGE_SIZE,) * 2, tiny.COLORS[name]).save(path / f"{i}.png")
            examples.append({"input": f"{i}.png", "label": name})
        _write_extras(path, "image-classification", examples, "google/vit-base-patch16-224-in21k")
        for i in range(2):
            (path / f"{i}.png").rename(path / "examples" / f"{i}.png")
    return path


def make_text_run(path: Path) -> Path:
    """A tiny BERT run directory with labels negative/positive and two example texts."""
    tiny.make_text_checkpoint(path, "bert")
    _name_labels(path, TEXT_LABELS)
    examples = [
        {"input": "the movie was great fun", "label": "positive"},
        {"input": "a boring film", "label": "negative"},
    ]
    _write_extras(path, "text-classification", examples, "/data/someone/bert-base")
    return path


def uploaded(path: Path, name: str | None = None) -> dict:
    """The payload the app gets for `path` once uploaded: a copy in Gradio's upload folder (the
    app reads no file from anywhere else)."""
    import tempfile

    from gradio.utils import get_upload_folder

    folder = Path(get_upload_folder())
    folder.mkdir(parents=True, exist_ok=True)
    copy = Path(tempfile.mkdtemp(dir=folder)) / Path(path).name
    shutil.copyfile(path, copy)
    return {"path": str(copy), "orig_name": name or Path(path).name}


@dataclass
class Served:
    demo: Any  # gr.Blocks
    url: str
    client: Any  # gradio_client.Client
    run: Path


@contextmanager
def served(app, run: Path):
    """Build the app for a run directory and serve it on 127.0.0.1 (a background thread)."""
    from gradio_client import Client

    demo = app.build_app(str(run))
    url = launch_local(app, demo)
    try:
        yield Served(demo, url, Client(url, verbose=False), run)
    finally:
        demo.close()


@pytest.fixture(scope="module")
def app():
    """space/app.py, imported by file path exactly as `hfft serve` does."""
    from hfft.serve import load_app_module

    return load_app_module()


@pytest.fixture(scope="module")
def interfaces(app):
    """space/interfaces.py, the table the app loaded."""
    return app.interfaces


@pytest.fixture
def inputs(app):
    """space/inputs.py, the input checks the table uses (its limits are patched there)."""
    return app.interfaces.inputs


@pytest.fixture(scope="module")
def image_app(app, tmp_path_factory):
    with served(app, make_image_run(tmp_path_factory.mktemp("image") / "vit-colors")) as server:
        yield server


@pytest.fixture(scope="module")
def text_app(app, tmp_path_factory):
    with served(app, make_text_run(tmp_path_factory.mktemp("text") / "bert-reviews")) as server:
        yield server


def expected_top(model: Path, task: str, value) -> str:
    """The label transformers' own pipeline gives, to compare the app with."""
    from transformers import pipeline

    return pipeline(task, model=str(model))(value)[0]["label"]


# ---------------------------------------------------------------- model info, inputs


def test_info_reads_task_labels_examples_recipe_and_metrics(app, tmp_path):
    run = make_image_run(tmp_path / "run")
    info = app.load_info(str(run))
    assert info.task == "image-classification"
    assert info.labels == IMAGE_LABELS
    assert info.examples == [
        [str(run / "examples" / "0.png"), "red"],
        [str(run / "examples" / "1.png"), "blue"],
    ]
    summary = app.summary_markdown(info)
    assert "red, green, blue" in summary
    assert "google/vit-base-patch16-224-in21k" in summary and "lora" in summary
    assert "accuracy 0.875" in summary and "f1 0.812" in summary
    assert "per_class" not in summary

    text = app.load_info(str(make_text_run(tmp_path / "text")))
    assert text.task == "text-classification" and text.labels == TEXT_LABELS
    assert text.examples[0] == ["the movie was great fun", "positive"]
    # A local base-model path is reduced to its folder name: no home directory on a Space page.
    assert "/data/someone" not in app.summary_markdown(text)
    assert "`bert-base (local)`" in app.summary_markdown(text)


def test_info_works_without_extras_and_skips_unsafe_examples(app, tmp_path):
    bare = make_image_run(tmp_path / "bare", extras=False)
    info = app.load_info(str(bare))
    assert (info.examples, info.recipe, info.metrics) == ([], {}, {})
    assert app.summary_markdown(info).startswith("**Task:** image classification")

    run = make_image_run(tmp_path / "run")
    secret = tmp_path / "secret.png"
    Image.new("RGB", (4, 4)).save(secret)
    entries = [
        {"input": "../../secret.png", "label": "red"},  # outside examples/: never served
        {"input": "missing.png", "label": "red"},
        {"input": "1.png", "label": "blue"},
    ]
    (run / "examples" / "examples.json").write_text(json.dumps(entries))
    assert app.load_info(str(run)).examples == [[str(run / "examples" / "1.png"), "blue"]]


def test_unknown_architecture_is_refused_with_the_reason(app, tmp_path):
    from transformers import BertConfig

    BertConfig(architectures=["BertForMaskedLM"]).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"BertForMaskedLM.*ForImageClassification"):
        app.load_info(str(tmp_path))


def test_prepare_image_converts_downscales_and_refuses(app, inputs, tmp_path, monkeypatch):
    grey = tmp_path / "grey.png"
    Image.new("LA", (40, 30)).save(grey)
    prepared = inputs.prepare_image(uploaded(grey))
    assert prepared.value.mode == "RGB" and prepared.value.size == (40, 30)
    assert prepared.note is None

    big = tmp_path / "big.png"
    Image.new("RGB", (inputs.MAX_SIDE * 2, 400), "red").save(big)
    prepared = inputs.prepare_image(uploaded(big))
    assert prepared.value.size == (inputs.MAX_SIDE, 200)
    assert (
        prepared.note
        == f"Large image ({inputs.MAX_SIDE * 2}x400) downscaled to {inputs.MAX_SIDE}x200."
    )

    monkeypatch.setattr(inputs, "MAX_PIXELS", 1000)
    with pytest.raises(app.InputError, match=r"40x30 pixels \(0.0 MP\); the limit is 0.001 MP"):
        inputs.prepare_image(uploaded(grey))

    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    with pytest.raises(app.InputError, match=r"'notes.txt' is not an image"):
        inputs.prepare_image(uploaded(text))
    with pytest.raises(app.InputError, match="No image"):
        inputs.prepare_image(None)


def test_prepare_text_refuses_empty_and_cuts_long(app, inputs):
    for empty in ("", "   \n", None):
        with pytest.raises(app.InputError, match="text is empty"):
            inputs.prepare_text(empty)
    long = inputs.prepare_text("good " * inputs.MAX_TEXT_CHARS)
    assert len(long.value) == inputs.MAX_TEXT_CHARS and "cut" in long.note
    assert inputs.prepare_text("  nice film ").value == "nice film"


# ---------------------------------------------------------------- served apps


def test_image_app_predicts_the_models_label_names(image_app):
    from gradio_client import handle_file

    api = image_app.client.view_api(return_format="dict", print_info=False)
    assert "/predict" in api["named_endpoints"]
    for name in ("0.png", "1.png"):
        path = image_app.run / "examples" / name
        result = image_app.client.predict(handle_file(str(path)), api_name="/predict")
        confidences = {c["label"]: c["confidence"] for c in result["confidences"]}
        assert set(confidences) == set(IMAGE_LABELS)  # top-3 of 3: every name, no LABEL_0
        assert sum(confidences.values()) == pytest.approx(1.0, abs=1e-4)
        assert result["label"] == max(confidences, key=confidences.get)
        expected = expected_top(
            image_app.run, "image-classification", Image.open(path).convert("RGB")
        )
        assert result["label"] == expected


def test_image_app_reports_bad_uploads_and_keeps_serving(inputs, image_app, tmp_path, monkeypatch):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    example = handle_file(str(image_app.run / "examples" / "0.png"))
    not_image = tmp_path / "report.pdf"
    not_image.write_bytes(b"%PDF-1.4 not really an image")
    with pytest.raises(
        AppError, match=r"'report.pdf' is a PDF document, not an image: upload a PNG"
    ):
        image_app.client.predict(handle_file(str(not_image)), api_name="/predict")

    monkeypatch.setattr(inputs, "MAX_PIXELS", 100)  # the example images (32x32) are now too large
    with pytest.raises(AppError, match=r"32x32 pixels .* Downscale it"):
        image_app.client.predict(example, api_name="/predict")
    monkeypatch.undo()

    assert image_app.client.predict(example, api_name="/predict")["label"] in IMAGE_LABELS


def test_upload_size_is_capped_and_no_files_are_served_from_disk(image_app, tmp_path):
    from gradio_client import handle_file

    assert image_app.demo.max_file_size == 20 * 1024**2
    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\0" * (21 * 1024**2))
    with pytest.raises(ValueError, match="exceeds the maximum file size"):  # the client checks
        image_app.client.predict(handle_file(str(huge)), api_name="/predict")
    # ... and so does the server, for clients that do not.
    upload = httpx.post(
        f"{image_app.url}gradio_api/upload", files={"files": ("huge.png", huge.read_bytes())}
    )
    assert upload.status_code == 413

    for path in (
        image_app.run / "config.json",
        image_app.run / "examples" / "0.png",
        Path("/etc/passwd"),
    ):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{image_app.url}gradio_api/file={path}")
        assert err.value.code == 403
    # The examples are shown from copies in Gradio's cache, which is served.
    config = urllib.request.urlopen(f"{image_app.url}config").read().decode()
    cached = re.findall(r'"path":\s*"([^"]+/0\.png)"', config)
    assert cached and str(image_app.run) not in cached[0]
    assert urllib.request.urlopen(f"{image_app.url}gradio_api/file={cached[0]}").status == 200


def test_predict_endpoint_batches_and_isolates_a_bad_input(app, image_app, tmp_path, monkeypatch):
    from gradio_client import handle_file

    sizes = []
    original = app.Predictor.predict

    def spy(self, values):
        sizes.append(len(values))
        return original(self, values)

    monkeypatch.setattr(app.Predictor, "predict", spy)
    images = [handle_file(str(image_app.run / "examples" / f"{i % 2}.png")) for i in range(12)]
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda f: image_app.client.predict(f, api_name="/predict"), images))
    assert all(r["label"] in IMAGE_LABELS for r in results)
    assert sum(sizes) == 12 and max(sizes) > 1, sizes  # concurrent calls shared forward passes
    assert max(sizes) <= app.serving_settings().max_batch_size

    # A bad input that lands in a batch with good ones only spoils its own result.
    predict = next(f for f in image_app.demo.fns.values() if f.api_name == "predict")
    assert predict.batch
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    good = uploaded(image_app.run / "examples" / "0.png")
    (results,) = predict.fn([good, uploaded(bad), good])
    assert set(results[0]) == set(IMAGE_LABELS) and results[2] == results[0]
    assert results[1].startswith("Error: 'bad.png' is not an image")


def test_text_app_predicts_and_reports_empty_text(text_app):
    from gradio_client.exceptions import AppError

    text = "the movie was great fun"
    result = text_app.client.predict(text, api_name="/predict")
    assert {c["label"] for c in result["confidences"]} == set(TEXT_LABELS)
    assert result["label"] == expected_top(text_app.run, "text-classification", text)

    with pytest.raises(AppError, match="The text is empty"):
        text_app.client.predict("   ", api_name="/predict")
    # Longer than the tiny model's 64 positions: truncated, not a crash.
    assert text_app.client.predict("good " * 500, api_name="/predict")["label"] in TEXT_LABELS


def _put_in_hub_cache(run: Path, repo_id: str) -> None:
    """Lay a run directory out as a cached Hub model repo, so offline mode resolves `repo_id`."""
    from huggingface_hub import constants

    repo = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"
    commit = "0" * 40
    shutil.copytree(run, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)


def test_hub_id_loads_model_examples_and_summary(app, tmp_path):
    repo_id = "hfft-tests/vit-colors"
    _put_in_hub_cache(make_image_run(tmp_path / "run"), repo_id)
    info = app.load_info(repo_id)
    assert info.task == "image-classification" and info.labels == IMAGE_LABELS
    assert [label for _, label in info.examples] == ["red", "blue"]
    assert Path(info.examples[0][0]).is_file()
    assert "accuracy 0.875" in app.summary_markdown(info) and info.name == repo_id
    scores = app.Predictor(info).predict([Image.open(info.examples[0][0]).convert("RGB")])
    assert set(scores[0]) == set(IMAGE_LABELS)


# ---------------------------------------------------------------- hfft serve, app main()


def test_serve_refuses_a_folder_that_is_not_a_run_directory(tmp_path, capsys):
    from hfft.cli import main
    from hfft.serve import check_model

    assert main(["serve", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hfft: error: ") and "has no config.json" in err
    with pytest.raises(HfftError, match=r"no run directory at \./runs/missing"):
        check_model("./runs/missing")
    (tmp_path / "model.bin").write_bytes(b"")
    with pytest.raises(HfftError, match="is a file"):
        check_model(str(tmp_path / "model.bin"))
    check_model("user/some-model")  # left to the Hub


def test_serve_says_an_interrupted_run_is_unfinished(tmp_path, capsys):
    from hfft.cli import main

    run = tmp_path / "run"  # what an interrupted `hfft train` leaves: marker, recipe, checkpoints
    (run / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    (run / "unfinished.json").write_text("{}")
    (run / "recipe.yaml").write_text("task: image-classification\n")
    assert main(["serve", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"hfft: error: cannot serve {run}: it is an unfinished hfft run (unfinished.json is there: "
        "training was interrupted or is still running). Continue it with `hfft train "
        f"{run / 'recipe.yaml'} --resume`, or point at a finished run directory"
    ]


def test_serve_of_a_missing_relative_folder_is_one_line(app, tmp_path, monkeypatch, capsys):
    """`runs/nope` is a valid Hub id too: hfft tried the Hub, and says the folder is not there."""
    import hfft.serve
    from hfft.cli import main

    monkeypatch.setattr(hfft.serve, "load_app_module", lambda: app)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    assert main(["serve", "runs/nope"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        f"hfft: error: cannot serve runs/nope: there is no run directory {tmp_path / 'runs' / 'nope'}, "
        "and as a Hub model id it could not be loaded either ("
    )


def test_serve_command_builds_and_launches_on_the_given_host_and_port(app, tmp_path, monkeypatch):
    import hfft.serve
    from hfft.cli import main

    calls = []
    monkeypatch.setattr(app, "launch_app", lambda demo, **kw: calls.append((demo, kw)))
    monkeypatch.setattr(hfft.serve, "load_app_module", lambda: app)
    run = make_image_run(tmp_path / "run", extras=False)
    assert main(["serve", str(run), "--port", "7999"]) == 0
    ((demo, kwargs),) = calls
    assert kwargs == {"host": "127.0.0.1", "port": 7999, "prevent_thread_lock": True, "quiet": True}
    assert demo.title == "run · hfft"


def test_serve_speaks_once_listening_and_without_gradios_share_hint(app, tmp_path, monkeypatch, capsys):  # fmt: skip
    import gradio as gr

    import hfft.serve
    from hfft.cli import main

    monkeypatch.setattr(hfft.serve, "load_app_module", lambda: app)
    port = free_port()
    seen = {}

    def block_thread(demo):  # instead of waiting for Ctrl+C: check the server is up, and stop
        seen["out"] = capsys.readouterr().out
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:
            seen["status"] = response.status
        demo.close()

    monkeypatch.setattr(gr.Blocks, "block_thread", block_thread)
    run = make_image_run(tmp_path / "run", extras=False)
    assert main(["serve", str(run), "--port", str(port)]) == 0
    assert seen["status"] == 200
    assert seen["out"] == f"hfft: serving {run} on http://127.0.0.1:{port}/ (Ctrl+C to stop)\n"
    assert "share" not in seen["out"] + capsys.readouterr().out


def test_serve_reports_a_port_in_use(app, tmp_path, monkeypatch, capsys):
    import hfft.serve
    from hfft.cli import main

    monkeypatch.setattr(hfft.serve, "load_app_module", lambda: app)
    run = make_image_run(tmp_path / "run", extras=False)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", str(run), "--port", str(port)]) == 2
    captured = capsys.readouterr()
    assert "serving" not in captured.out  # nothing was served, so nothing says it is
    assert captured.err.splitlines()[-1] == (
        f"hfft: error: cannot listen on 127.0.0.1:{port}: the port is in use; pass a free --port"
    )


def test_app_main_takes_the_model_from_hfft_model(app, tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(app, "launch_app", lambda demo, **kw: calls.append(kw))
    monkeypatch.delenv("HFFT_MODEL", raising=False)
    with pytest.raises(SystemExit):
        app.main([])
    assert "set the HFFT_MODEL variable" in capsys.readouterr().err

    monkeypatch.setenv("HFFT_MODEL", str(make_image_run(tmp_path / "run", extras=False)))
    app.main([])
    assert calls == [{"host": None, "port": None}]


def test_a_space_without_its_variable_serves_the_model_named_in_its_model_file(
    tmp_path, monkeypatch
):
    from hfft.serve import load_app_module
    from hfft.space_files import SPACE_MODEL_FILE, collect_space_files

    space = tmp_path / "space"  # as `hfft push --space` uploads it
    space.mkdir()
    for f in collect_space_files("user/vit-colors"):
        (space / f.path_in_repo).write_bytes(f.content)
    assert (space / SPACE_MODEL_FILE).read_text() == "user/vit-colors\n"
    pushed = load_app_module(space / "app.py")
    built = []
    monkeypatch.setattr(pushed, "build_app", built.append)
    monkeypatch.setattr(pushed, "launch_app", lambda demo, **kw: None)

    monkeypatch.delenv("HFFT_MODEL", raising=False)
    pushed.main([])
    monkeypatch.setenv("HFFT_MODEL", "user/other")  # the variable, when set, wins
    pushed.main([])
    assert built == ["user/vit-colors", "user/other"]


# ---------------------------------------------------------------- the Space files


SPACE_REQUIREMENTS = {
    "transformers", "torch", "gradio", "huggingface_hub", "PIL", "yaml", "soundfile", "soxr"
}  # fmt: skip
# What only the interface table may name: the modalities, the task names, and the components that
# belong to one modality (PIL, too: see the import test).
TASK_LITERALS = ("audio-classification", "image-classification", "text-classification")
MODALITY_LITERALS = ("audio", "image", "text")
MODALITY_CODE = re.compile(r"\bgr\.(?:Image|Label|Audio|HighlightedText|AnnotatedImage)\b")


def _top_level_imports(source: str) -> set[str]:
    top = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            top |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            top.add(node.module.split(".")[0])
    return top - set(sys.stdlib_module_names)


def test_space_files_import_nothing_but_their_requirements():
    sources = {p.name: p.read_text() for p in sorted((ROOT / "space").glob("*.py"))}
    assert set(sources) == {
        *("app.py", "interfaces.py", "inputs.py", "model_files.py", "outputs.py", "serving.py")
    }
    imports = {name: _top_level_imports(source) for name, source in sources.items()}
    assert all("hfft" not in found for found in imports.values()), imports
    assert set().union(*imports.values()) == SPACE_REQUIREMENTS
    decoding = {"inputs.py"}  # decoding uploads is the inputs' job
    assert all(
        "PIL" not in found for name, found in imports.items() if name not in decoding
    )  # decoding is the table's job


def test_generic_shell_has_no_task_literals():
    source = (ROOT / "space" / "app.py").read_text()
    strings = [
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    assert [s for s in strings if s in MODALITY_LITERALS] == []
    assert [t for t in TASK_LITERALS if t in source] == []  # not even in comments or docstrings
    assert MODALITY_CODE.findall(source) == []
    # ... while the table does name them (the test would pass vacuously otherwise).
    table = (ROOT / "space" / "interfaces.py").read_text()
    assert all(t in table for t in TASK_LITERALS) and MODALITY_CODE.search(table)


def test_interface_table_has_an_entry_for_every_task_hfft_trains_and_the_space_claims(app):
    import transformers
    from transformers.pipelines import SUPPORTED_TASKS

    from hfft.tasks import TASKS

    for name, task in TASKS.items():
        tag = getattr(task, "pipeline_tag", name)
        assert tag in app.INTERFACES, f"hfft task {name}: no Space interface for {tag}"
        # A model built with the task's Auto class is served by that entry.
        model_class = getattr(transformers, task.model_class)
        architecture = "Tiny" + model_class.__name__.removeprefix("AutoModel")
        config = transformers.PretrainedConfig(architectures=[architecture])
        assert app.task_of(config) == tag, (name, architecture)
    for name, interface in app.INTERFACES.items():
        assert interface.pipeline_task in SUPPORTED_TASKS, name
    # The Space card claims exactly the tasks it has an interface for.
    readme = (ROOT / "space" / "README.md").read_text()
    tags = set(yaml.safe_load(readme.split("---")[1])["tags"]) - {"hfft"}
    assert tags == {i.pipeline_task for i in app.INTERFACES.values()}


def test_one_new_table_entry_serves_a_new_kind_of_model(app, interfaces, tmp_path, monkeypatch):
    """The shell takes everything task-specific from the table: an entry for multi-label text
    (all scores, those over a threshold from the run's thresholds.json marked) is all it needs."""
    import gradio as gr
    from transformers import AutoConfig

    run = make_text_run(tmp_path / "tags")
    config = AutoConfig.from_pretrained(run)
    config.problem_type = "multi_label_classification"
    config.save_pretrained(run)
    (run / "thresholds.json").write_text(json.dumps({"negative": 0.0, "positive": 1.1}))

    def marked(output, value, model):
        cut = model.settings["thresholds"]
        return {
            ("✓ " if o["score"] > cut[o["label"]] else "") + o["label"]: o["score"] for o in output
        }

    multi_label = interfaces.Interface(
        "text-classification",
        ("ForSequenceClassification",),
        interfaces.TEXT_INPUT,
        interfaces.OutputKind(
            component=lambda model: gr.Label(num_top_classes=len(model.labels)),
            postprocess=marked,
            call_kwargs=lambda pipe, model: {"top_k": None},
        ),
        action="Tag",
        matches=lambda config: config.problem_type == "multi_label_classification",
        extra_files=("thresholds.json",),
        read_settings=lambda config, folder: {
            "thresholds": json.loads((folder / "thresholds.json").read_text())
        },
    )
    monkeypatch.setattr(app, "INTERFACES", {"multi-label": multi_label, **app.INTERFACES})
    assert app.task_of(AutoConfig.from_pretrained(make_text_run(tmp_path / "single"))) == (
        "text-classification"
    )

    demo = app.build_app(str(run))
    predict = next(f for f in demo.fns.values() if f.api_name == "predict")
    ((scores,),) = predict.fn(["the movie was great fun"])
    assert set(scores) == {"✓ negative", "positive"}  # every label; only negative over its cut
    assert all(0 < s < 1 for s in scores.values())  # sigmoid scores, each on its own
    buttons = [b for b in demo.blocks.values() if isinstance(b, gr.Button)]
    assert "Tag" in {b.value for b in buttons}


def test_app_finds_its_table_by_path_as_a_space_and_from_hfft_serve(tmp_path):
    """As a Space app.py runs as a script from its folder; `hfft serve` imports it by path from any
    folder. Both must load the interfaces.py beside it (not a same-named module elsewhere), and
    neither may import hfft."""
    import subprocess

    from hfft.hub import collect_space_files

    space = tmp_path / "space"  # exactly the files `hfft push --space` uploads
    for f in collect_space_files("user/model"):
        (space / f.path_in_repo).parent.mkdir(parents=True, exist_ok=True)
        (space / f.path_in_repo).write_bytes(f.content)
    assert (space / "interfaces.py").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "interfaces.py").write_text("raise RuntimeError('the wrong interfaces.py')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # hfft not importable

    as_space = subprocess.run(
        [sys.executable, "app.py", "--help"], cwd=space, env=env, capture_output=True, text=True
    )
    assert as_space.returncode == 0, as_space.stderr
    assert "--model" in as_space.stdout

    load = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('hfft_space_app', {str(space / 'app.py')!r})\n"
        "app = importlib.util.module_from_spec(spec)\n"
        "sys.modules[spec.name] = app\n"
        "spec.loader.exec_module(app)\n"
        "print(app.interfaces.__file__)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'hfft'))\n"
    )
    by_path = subprocess.run(
        [sys.executable, "-c", load], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert by_path.returncode == 0, by_path.stderr
    assert by_path.stdout.splitlines() == [str(space / "interfaces.py"), "[]"]


def test_a_wheel_ships_every_space_file():
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["data-files"]["share/hfft/space"]
    shipped = {p for pattern in patterns for p in ROOT.glob(pattern)}
    space = {p for p in (ROOT / "space").iterdir() if p.is_file() and not p.name.startswith(".")}
    assert space == shipped and {p.name for p in space} >= {"app.py", "interfaces.py"}


def test_space_requirements_and_front_matter_match_the_pinned_versions():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    reqs = {}
    for line in (ROOT / "space" / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            reqs[name.strip().lower().replace("_", "-")] = version.strip()
    assert set(reqs) == {
        "transformers", "torch", "gradio", "huggingface-hub", "pillow", "pyyaml", "soundfile",
        "soxr", "sentencepiece",  # SigLIP's tokenizer (zero-shot)
    }  # fmt: skip
    assert all(reqs[name] == pins[name] for name in reqs), (reqs, pins)

    readme = (ROOT / "space" / "README.md").read_text()
    front = yaml.safe_load(readme.split("---")[1])
    assert front["sdk"] == "gradio" and front["app_file"] == "app.py"
    assert front["sdk_version"] == reqs["gradio"]
    assert front["title"] and front["emoji"]
