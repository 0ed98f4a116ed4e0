"""The bad-input corpus: recipes, datasets, images, checkpoints and command lines a user gets
wrong. Each one must end with exit code 2 and one `hfft: error: ...` message that says what was
found and what to do — never a traceback. Everything fails before the first training step."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import load_file

from hfft import run_dir as run_state
from hfft.cli import main
from tests import tiny

REPO_ROOT = Path(__file__).resolve().parent.parent


class World:
    """Tiny checkpoints and data shared by the corpus (built once), plus a scratch folder."""

    def __init__(self, root: Path):
        self.root = root
        self.vit = tiny.make_image_checkpoint(root / "vit", "vit")
        self.bert = tiny.make_text_checkpoint(root / "bert", "bert")
        self.colors = tiny.make_image_folder(root / "colors", per_class=4)
        self.reviews = tiny.make_text_csv(root / "reviews", rows=12)
        self.tmp = root  # replaced per case

    def image_recipe(self, **sections) -> dict:
        raw = {
            "task": "image-classification",
            "model": {"checkpoint": str(self.vit)},
            "data": {"path": "imagefolder", "data_dir": str(self.colors)},
            "training": {"output_dir": str(self.tmp / "run"), "use_cpu": True},
        }
        for key, value in sections.items():
            raw[key] = {**raw.get(key, {}), **value}
        return raw

    def text_recipe(self, **sections) -> dict:
        raw = {
            "task": "text-classification",
            "model": {"checkpoint": str(self.bert)},
            "data": {
                "path": "csv",
                "data_files": str(self.reviews),
                "columns": {"text": "sentence", "label": "sentiment"},
            },
            "training": {"output_dir": str(self.tmp / "run"), "use_cpu": True},
        }
        for key, value in sections.items():
            raw[key] = {**raw.get(key, {}), **value}
        return raw

    def write(self, raw: dict | str, name: str = "recipe.yaml") -> str:
        path = self.tmp / name
        path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw))
        return str(path)

    def bad_images(self, kind: str) -> Path:
        """A copy of the colour folder with one unusable file in train/red."""
        folder = shutil.copytree(self.colors, self.tmp / f"colors-{kind}")
        target = folder / "train" / "red" / f"bad-{kind}.png"
        if kind == "truncated":
            good = next((folder / "train" / "blue").glob("*.png")).read_bytes()
            target.write_bytes(good[: len(good) // 2])
        elif kind == "not-an-image":
            target.write_text("these are not pixels\n")
        elif kind == "16-bit":
            pixels = np.full((tiny.IMAGE_SIZE, tiny.IMAGE_SIZE), 40000, dtype=np.uint16)
            Image.fromarray(pixels, mode="I;16").save(target)
        return folder

    def csv(self, rows: list[tuple[str, str]], name: str) -> Path:
        path = self.tmp / name
        lines = ["sentence,sentiment"] + [f"{t},{label}" for t, label in rows]
        path.write_text("\n".join(lines) + "\n")
        return path


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> World:
    return World(tmp_path_factory.mktemp("corpus"))


@pytest.fixture
def world(shared, tmp_path) -> World:
    shared.tmp = tmp_path
    return shared


def _train(w: World, raw: dict, *extra: str) -> list[str]:
    return ["train", w.write(raw), *extra]


def _finished_run(w: World) -> Path:
    run = w.tmp / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "recipe.yaml").write_text(yaml.safe_dump(w.image_recipe()))
    return run


def _unfinished_run(w: World) -> Path:
    """Killed while writing its results: the model is there, the marker not yet deleted."""
    run = shutil.copytree(w.vit, w.tmp / "run")
    (run / "checkpoints" / "checkpoint-3").mkdir(parents=True)
    run_state.mark_unfinished(run)
    (run / "recipe.yaml").write_text(yaml.safe_dump(w.image_recipe()))
    return run


def _pickle_only(w: World) -> Path:
    folder = shutil.copytree(w.vit, w.tmp / "vit-bin")
    torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    return folder


def _custom_code(w: World) -> Path:
    folder = w.tmp / "custom"
    folder.mkdir()
    config = {"model_type": "fancy-net", "auto_map": {"AutoConfig": "configuration_fancy.Cfg"}}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "configuration_fancy.py").write_text("raise SystemExit('hfft ran remote code')\n")
    shutil.copy(w.vit / "model.safetensors", folder / "model.safetensors")
    return folder


def _no_tokenizer(w: World) -> Path:
    folder = w.tmp / "bert-no-tokenizer"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(w.bert / name, folder / name)
    return folder


# (id, argv builder, expected text in the message)
CORPUS: list[tuple[str, Callable[[World], list[str]], str]] = [
    # ---- recipes
    ("recipe-missing", lambda w: ["train", str(w.tmp / "nope.yaml")], "recipe file not found"),
    ("recipe-not-yaml", lambda w: ["train", w.write("task: [unclosed\n")], "is not valid YAML"),
    (
        "recipe-a-list",
        lambda w: ["train", w.write("- task\n- model\n")],
        "must hold a mapping of recipe keys, got list",
    ),
    (
        "recipe-unknown-key",
        lambda w: ["train", w.write({**w.image_recipe(), "modle": {}})],
        "unknown recipe key 'modle' (did you mean 'model'?)",
    ),
    (
        "recipe-unknown-task",
        lambda w: _train(w, {**w.image_recipe(), "task": "image-clasification"}),
        "unknown task 'image-clasification' (did you mean 'image-classification'?)",
    ),
    (
        "recipe-no-output-dir",
        lambda w: _train(w, {**w.image_recipe(), "training": {}}),
        "training.output_dir is required",
    ),
    (
        "recipe-bad-mode",
        lambda w: _train(w, w.image_recipe(model={"mode": "lroa"})),
        "model.mode: unknown value 'lroa' (did you mean 'lora'?)",
    ),
    (
        "recipe-lora-rank-0",
        lambda w: _train(w, w.image_recipe(model={"mode": "lora", "lora": {"r": 0}})),
        "model.lora.r must be >= 1, got 0",
    ),
    (
        "recipe-checkpoint-and-config",
        lambda w: _train(w, w.image_recipe(model={"config": {"model_type": "vit"}})),
        "set exactly one of model.checkpoint",
    ),
    (
        "recipe-push-without-repo",
        lambda w: _train(w, w.image_recipe(hub={"push": True})),
        "hub.push is true but hub.repo_id is not set",
    ),
    (
        "recipe-token-in-training",
        lambda w: _train(w, w.image_recipe(training={"hub_token": "hf_" + "a" * 30})),
        "training.hub_token: a recipe is saved in the run directory",
    ),
    (
        "recipe-unknown-training-key",
        lambda w: _train(w, w.image_recipe(training={"learning_rat": 0.1})),
        "unknown recipe key 'training.learning_rat' (did you mean 'training.learning_rate'?)",
    ),
    (
        "recipe-bad-example-policy",
        lambda w: _train(w, w.image_recipe(data={"on_bad_example": "ignore"})),
        "data.on_bad_example: unknown value 'ignore'",
    ),
    (
        "recipe-freeze-too-many",
        lambda w: _train(w, w.image_recipe(model={"freeze_layers": 9})),
        "model.freeze_layers=9 but ViTForImageClassification has 2 blocks",
    ),
    # ---- command line
    (
        "cli-override-without-equals",
        lambda w: _train(w, w.image_recipe(), "model.mode"),
        "override 'model.mode' must look like key.sub=value",
    ),
    (
        "cli-override-into-a-value",
        lambda w: _train(w, w.image_recipe(), "model.checkpoint.x=1"),
        "model.checkpoint is a value, not a section",
    ),
    (
        "cli-override-wrong-type",
        lambda w: _train(w, w.image_recipe(), "training.num_train_epochs=many"),
        "training.num_train_epochs: expected a number, got 'many'",
    ),
    (
        "cli-resume-nothing",
        lambda w: _train(w, w.image_recipe(), "--resume"),
        "--resume: no complete checkpoint in",
    ),
    (
        "cli-finished-run-again",
        lambda w: (_finished_run(w), _train(w, w.image_recipe()))[1],
        "already holds a finished run: add --overwrite",
    ),
    (
        "cli-output-dir-is-a-file",
        lambda w: ((w.tmp / "run").write_text("x"), _train(w, w.image_recipe()))[1],
        "is a file: point it at a new or existing folder",
    ),
    ("cli-eval-unfinished", lambda w: ["eval", str(_unfinished_run(w))], "cannot evaluate"),
    (
        "cli-predict-unfinished",
        lambda w: ["predict", str(_unfinished_run(w)), "x.png"],
        "cannot predict with",
    ),
    (
        "cli-push-unfinished",
        lambda w: ["push", str(_unfinished_run(w)), "--repo-id", "me/x"],
        "cannot push",
    ),
    (
        "cli-serve-unfinished",
        lambda w: ["serve", str(_unfinished_run(w))],
        "unfinished hfft run",
    ),
    # ---- datasets
    (
        "data-path-missing",
        lambda w: _train(w, w.image_recipe(data={"path": "./no/such/folder"})),
        "data.path './no/such/folder' does not exist",
    ),
    (
        "data-builder-without-files",
        lambda w: _train(w, w.image_recipe(data={"data_dir": None})),
        "data.path 'imagefolder' reads local files: set data.data_dir (a folder) or data.data_files",
    ),
    (
        "data-column-missing",
        lambda w: _train(
            w, w.text_recipe(data={"columns": {"text": "review", "label": "sentiment"}})
        ),
        "column 'review' (data.columns.text) not found in the train split; its columns are ['sentence', 'sentiment']",
    ),
    (
        "data-split-missing",
        lambda w: _train(w, w.image_recipe(data={"validation_split": "valid"})),
        "data.validation_split 'valid' not found",
    ),
    (
        "data-labels-differ-across-splits",
        lambda w: _train(
            w,
            w.text_recipe(
                data={
                    "data_files": {
                        "train": str(w.reviews),
                        "validation": str(
                            w.csv([("good fun", "positive"), ("so so", "neutral")], "val.csv")
                        ),
                    }
                }
            ),
        ),
        "label(s) ['neutral'] appear in the validation split but not in train",
    ),
    (
        "data-empty-text",
        lambda w: _train(
            w,
            w.text_recipe(
                data={
                    "data_files": str(
                        w.csv(
                            [("good", "positive"), ("   ", "negative"), ("bad", "negative")] * 2,
                            "t.csv",
                        )
                    )
                }
            ),
        ),
        "train row 1: empty text",
    ),
    (
        "data-missing-label",
        lambda w: _train(
            w,
            w.text_recipe(
                data={"data_files": str(w.csv([("good", "positive"), ("bad", "")] * 2, "l.csv"))}
            ),
        ),
        "train row 1: no label",
    ),
    # ---- images
    (
        "image-truncated",
        lambda w: _train(w, w.image_recipe(data={"data_dir": str(w.bad_images("truncated"))})),
        "bad-truncated.png): not a readable image (OSError",
    ),
    (
        "image-not-an-image",
        lambda w: _train(w, w.image_recipe(data={"data_dir": str(w.bad_images("not-an-image"))})),
        "bad-not-an-image.png): not a readable image (UnidentifiedImageError",
    ),
    (
        "image-16-bit-mode",
        lambda w: _train(w, w.image_recipe(data={"data_dir": str(w.bad_images("16-bit"))})),
        "bad-16-bit.png): image mode I;16 has more than 8 bits per channel",
    ),
    # ---- checkpoints
    (
        "checkpoint-missing",
        lambda w: _train(w, w.image_recipe(model={"checkpoint": "./no/such/model"})),
        "model.checkpoint './no/such/model' does not exist",
    ),
    (
        "checkpoint-without-config",
        lambda w: _train(w, w.image_recipe(model={"checkpoint": str(w.colors)})),
        "is a folder without config.json",
    ),
    (
        "checkpoint-pickle-only",
        lambda w: _train(w, w.image_recipe(model={"checkpoint": str(_pickle_only(w))})),
        "has only pickled weights (pytorch_model.bin), which can run arbitrary code when loaded; hfft loads safetensors only: convert them, or set model.allow_pickle=true",
    ),
    (
        "checkpoint-custom-code",
        lambda w: _train(w, w.image_recipe(model={"checkpoint": str(_custom_code(w))})),
        "needs its own Python code to load; hfft does not run a checkpoint's code unless you set model.trust_remote_code=true",
    ),
    (
        "checkpoint-without-tokenizer",
        lambda w: _train(w, w.text_recipe(model={"checkpoint": str(_no_tokenizer(w))})),
        "could not load the tokenizer of",
    ),
    # ---- Hub
    (
        "hub-push-without-token",
        lambda w: _train(w, w.image_recipe(hub={"push": True, "repo_id": "me/model"})),
        "hub.push is on but no Hugging Face token is set: set HF_TOKEN or run `hf auth login`",
    ),
    (
        "hub-push-bad-repo-id",
        lambda w: _train(w, w.image_recipe(hub={"push": True, "repo_id": "me/bad name!"})),
        "hub.repo_id 'me/bad name!' is not a valid repo id",
    ),
]


def test_the_corpus_is_large_and_its_ids_unique():
    ids = [case[0] for case in CORPUS]
    assert len(ids) >= 20 and len(set(ids)) == len(ids)


@pytest.mark.parametrize(("case", "argv", "expected"), CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_input_gets_one_clear_message(case, argv, expected, world, capsys, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.chdir(world.tmp)
    args = argv(world)
    try:
        code = main(args)
    except SystemExit as exit_:  # argparse
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, err
    errors = [line for line in err.splitlines() if line.startswith("hfft: error: ")]
    assert len(errors) == 1, err
    assert expected in err, err
    assert "Traceback" not in err
    assert not (world.tmp / "run" / "checkpoints").exists() or case.endswith("unfinished")


def test_all_problems_of_a_recipe_are_reported_together(world, capsys, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    raw = world.text_recipe(
        model={"checkpoint": str(_no_tokenizer(world))},
        data={"columns": {"text": "review", "label": "sentiment"}},
        hub={"push": True, "repo_id": "me/model"},
    )
    assert main(["train", world.write(raw)]) == 2
    err = capsys.readouterr().err
    assert (
        "hfft: error: 3 problems found before training:\n  1. could not load the tokenizer" in err
    )
    assert "\n  2. hub.push is on but no Hugging Face token is set" in err
    assert "\n  3. column 'review' (data.columns.text) not found in the train split" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("recipe", "expected"),
    [
        ("task: [unclosed\n", "is not valid YAML"),
        ("image", "unusable example(s): train row"),
    ],
    ids=["yaml", "image"],
)
def test_a_real_hfft_process_prints_no_traceback(world, recipe, expected):
    if recipe == "image":
        recipe = yaml.safe_dump(
            world.image_recipe(data={"data_dir": str(world.bad_images("truncated"))})
        )
    path = world.write(recipe)
    done = subprocess.run(
        [sys.executable, "-m", "hfft.cli", "train", path],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith("hfft: error: ")
    assert expected in done.stderr


def _label_only_in_test(w: World) -> Path:
    """A test split with a class folder that train does not have."""
    folder = shutil.copytree(w.colors, w.tmp / "colors-yellow")
    images = sorted((folder / "train" / "red").glob("*.png"))
    for colour, image in (("red", images[0]), ("yellow", images[1])):
        (folder / "test" / colour).mkdir(parents=True)
        shutil.copy(image, folder / "test" / colour / image.name)
    return folder


def _nested_folders(w: World) -> Path:
    folder = shutil.copytree(w.colors, w.tmp / "colors-nested")
    for class_dir in sorted((folder / "train").iterdir()):
        (class_dir / "batch1").mkdir()
        for image in class_dir.glob("*.png"):
            image.rename(class_dir / "batch1" / image.name)
    return folder


DATA_LABEL_CASES: list[tuple[str, Callable[[World], list[str]], str]] = [
    (
        "imagefolder-label-only-in-test",
        lambda w: _train(w, w.image_recipe(data={"data_dir": str(_label_only_in_test(w))})),
        "label(s) ['yellow'] appear in the test split but not in train",
    ),
    (
        "labels-are-row-ids",
        lambda w: _train(
            w,
            w.text_recipe(
                data={"data_files": str(w.csv([(f"t{i}", f"id{i}") for i in range(50)], "i.csv"))}
            ),
        ),
        "the label column has 50 classes on 50 rows, and 50 of them have fewer than 2 training "
        "rows",
    ),
    (
        "image-folders-nested",
        lambda w: _train(w, w.image_recipe(data={"data_dir": str(_nested_folders(w))})),
        "contain subfolders (e.g. train/blue/batch1/",
    ),
    (
        "data-path-is-a-file-of-unknown-type",
        lambda w: _train(
            w, w.text_recipe(data={"path": str(w.csv([], "x.xlsx")), "data_files": None})
        ),
        "is a file hfft cannot read by its extension",
    ),
]


@pytest.mark.parametrize(
    ("case", "argv", "expected"), DATA_LABEL_CASES, ids=[c[0] for c in DATA_LABEL_CASES]
)
def test_unlearnable_labels_and_data_layouts_get_one_clear_message(
    case, argv, expected, world, capsys, monkeypatch
):
    monkeypatch.chdir(world.tmp)
    code = main(argv(world))
    err = capsys.readouterr().err
    assert code == 2, err
    errors = [line for line in err.splitlines() if line.startswith("hfft: error: ")]
    assert len(errors) == 1, err
    assert expected in err, err
    assert "Traceback" not in err
    assert not (world.tmp / "run" / "checkpoints").exists()
