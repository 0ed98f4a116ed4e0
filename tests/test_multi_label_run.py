"""A multi-label run end to end (a tiny ViT on two-colour squares): BCE learns co-occurring labels
and empty sets, thresholds.json is saved and used by eval, predict, the card and the Space,
`pipeline()` gives sigmoid scores, push uploads it, --overwrite removes it, and frozen caching,
freeze_layers and tune work."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from hfft.cli import main
from hfft.recipe import load_recipe
from hfft.run import build_run, train
from tests import tiny
from tests.test_hub import hub  # noqa: F401  (the fake Hub fixture)

pytestmark = pytest.mark.slow
COLOURS = ["blue", "green", "red"]


def _recipe(root: Path, out: str, *overrides: str, mode: str = "full"):
    return load_recipe(
        {
            "task": "image-classification",
            "model": {"checkpoint": str(root / "ckpt"), "mode": mode},
            "data": {"path": str(root / "tags" / "labels.jsonl"), "columns": {"label": "colours"},
                     "test_fraction": 0.2, "validation_fraction": 0.2},
            "early_stopping": {"patience": None},
            "training": {"output_dir": str(root / out), "num_train_epochs": 8,
                         "learning_rate": 1e-2, "per_device_train_batch_size": 8,
                         "use_cpu": True, "save_strategy": "no",
                         "load_best_model_at_end": False},
        },
        list(overrides),
    )  # fmt: skip


class Logs(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The tiny checkpoint, the data, and one trained multi-label run (with its start line)."""
    root = tmp_path_factory.mktemp("multilabel")
    tiny.make_image_checkpoint(root / "ckpt")
    tiny.make_multilabel_images(root / "tags", rows=96)
    logs = Logs()
    logger = logging.getLogger("hfft")
    logger.addHandler(logs)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        result = train(_recipe(root, "run"))
    finally:
        logger.removeHandler(logs)
        logger.setLevel(old)
    return root, result, logs.lines


def _copy(world, tmp_path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(world[1].run_dir, run, ignore=shutil.ignore_patterns("checkpoints"))
    return run


def _image(rows_colours: list[str], path: Path) -> str:
    from PIL import Image

    pixels = np.full((tiny.IMAGE_SIZE, tiny.IMAGE_SIZE, 3), 128, dtype=np.uint8)
    halves = (rows_colours * 2)[:2] if rows_colours else []
    for half, name in enumerate(halves):
        pixels[:, half * tiny.IMAGE_SIZE // 2 : (half + 1) * tiny.IMAGE_SIZE // 2] = tiny.COLORS[
            name
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return str(path)


def test_the_start_line_says_which_scheme_and_why(world):
    _, _, lines = world
    start = next(line for line in lines if line.startswith("task image-classification"))
    assert "| multi-label labels (the label column holds lists of labels) |" in start
    assert "3 labels [blue, green, red]" in start


def test_bce_learns_co_occurring_labels_and_empty_sets(world, tmp_path):
    from hfft.predict import predict

    _, result, _ = world
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert list(config["id2label"].values()) == COLOURS
    test = result.metrics["test"]
    assert test["exact_match"] == 1.0 and test["f1_micro"] == 1.0  # pairs and empty rows right
    images = {
        ("blue", "red"): _image(["red", "blue"], tmp_path / "rb.png"),
        ("green", "red"): _image(["red", "green"], tmp_path / "rg.png"),
        ("blue",): _image(["blue"], tmp_path / "b.png"),
        (): _image([], tmp_path / "grey.png"),
    }
    out = list(predict(str(result.run_dir), list(images.values())))
    for expected, line in zip(images, out, strict=True):
        assert tuple(sorted(p["label"] for p in line["predictions"])) == expected, line


def test_the_loss_is_bce_with_logits_on_float_targets(world):
    from transformers import AutoModelForImageClassification

    root, result, _ = world
    run = build_run(_recipe(root, "loss"))
    batch = run.trainer.data_collator([run.prepared["train"][i] for i in range(4)])
    assert batch["labels"].dtype == torch.float32 and batch["labels"].shape == (4, 3)
    model = AutoModelForImageClassification.from_pretrained(result.run_dir).eval()
    with torch.no_grad():
        output = model(**batch)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(output.logits, batch["labels"])
    assert output.loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_thresholds_json_is_saved_and_pipeline_gives_sigmoid_scores(world):
    from transformers import pipeline

    _, result, _ = world
    thresholds = json.loads((result.run_dir / "thresholds.json").read_text())
    assert list(thresholds) == COLOURS and all(0 < t < 1 for t in thresholds.values())
    per_label = result.metrics["test"]["per_label"]
    assert {k: v["threshold"] for k, v in per_label.items()} == thresholds
    assert result.metrics["test"]["threshold_rule"].startswith("max F1 per label on validation")
    written = json.loads((result.run_dir / ".hfft-written.json").read_text())["written"]
    assert {"thresholds.json", "per_label_f1.png", "label_confusion.png"} <= set(written)
    classifier = pipeline("image-classification", model=str(result.run_dir), device="cpu")
    scores = classifier(_image(["red", "blue"], result.run_dir.parent / "x.png"), top_k=3)
    assert {s["label"] for s in scores} == set(COLOURS)
    assert sum(s["score"] for s in scores) > 1.5  # independent sigmoids, not a softmax


def test_predict_applies_the_saved_thresholds_and_all_scores(world, tmp_path, capsys):
    run = _copy(world, tmp_path)
    image = _image(["red", "blue"], tmp_path / "rb.png")
    (run / "thresholds.json").write_text(json.dumps({"blue": 0.999999, "green": 0.0, "red": 0.5}))
    assert main(["predict", str(run), image, "--all-scores"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert [p["label"] for p in line["predictions"]] == ["red", "green"]  # blue's cut: too high
    assert line["scores"][0]["label"] == "red"  # best first
    assert {s["label"]: s["threshold"] for s in line["scores"]} == {
        "blue": 0.999999, "green": 0.0, "red": 0.5}  # fmt: skip
    (run / "thresholds.json").unlink()  # none saved: 0.5 for every label
    assert main(["predict", str(run), image]) == 0
    line = json.loads(capsys.readouterr().out)
    assert sorted(p["label"] for p in line["predictions"]) == ["blue", "red"]
    assert "scores" not in line


def test_eval_uses_the_thresholds_chosen_in_training(world, tmp_path):
    from hfft.eval_run import evaluate_run

    run = _copy(world, tmp_path)
    saved = json.loads((run / "metrics.json").read_text())["test"]
    again = evaluate_run(run, split="test")
    for name in ("f1_micro", "exact_match", "hamming_loss", "mean_average_precision"):
        assert again[name] == pytest.approx(saved[name], abs=1e-6), name
    assert again["threshold_rule"] == "saved"
    (run / "thresholds.json").write_text(json.dumps(dict.fromkeys(COLOURS, 0.0)))
    every = evaluate_run(run, split="test")
    assert every["recall_micro"] == 1.0 and every["exact_match"] < saved["exact_match"]
    assert (run / "eval" / "test" / "per_label_f1.png").is_file()
    root = world[0]
    other = evaluate_run(run, split="train", data=str(root / "tags" / "labels.jsonl"))
    assert other["recall_micro"] == 1.0 and set(other["per_label"]) == set(COLOURS)


def test_the_card_shows_thresholds_per_label_and_how_to_use_them(world):
    _, result, _ = world
    card = (result.run_dir / "README.md").read_text()
    assert "### Per label (test split)" in card
    assert "| label | support | threshold | precision | recall | F1 | AP |" in card
    assert "| F1 (micro) |" in card and "| Exact match |" in card and "| Hamming loss |" in card
    assert "![Per-label F1](per_label_f1.png)" in card
    assert "![Per-label confusion](label_confusion.png)" in card
    assert 'print(classifier("path/to/image.jpg", top_k=3))' in card
    assert "its threshold in `thresholds.json`, chosen on the validation split" in card


def test_the_space_shows_every_score_and_marks_those_above_threshold(world, tmp_path):
    from hfft.serve import load_app_module

    app = load_app_module()
    run = _copy(world, tmp_path)
    (run / "thresholds.json").write_text(json.dumps({"blue": 0.999999, "green": 0.0, "red": 0.5}))
    info = app.load_info(str(run))
    assert info.task == "multi-label-image-classification"
    assert info.examples and all(len(e) == 2 for e in info.examples)
    predictor = app.Predictor(info)
    image = _image(["red", "blue"], tmp_path / "rb.png")
    (shown,) = predictor.predict([predictor.prepare(tiny.uploaded_image(Path(image))).value])
    assert set(shown) == {"✓ red", "✓ green", "blue"}
    assert all(0 < s < 1 for s in shown.values())


def test_push_uploads_the_thresholds_and_predict_reads_them_from_the_hub(world, hub, capsys):  # noqa: F811
    from hfft.predict import predict

    _, result, _ = world
    assert main(["push", str(result.run_dir), "--repo-id", "tester/tags"]) == 0
    files = hub.repo("tester/tags").files("main")
    assert {"thresholds.json", "per_label_f1.png", "label_confusion.png"} <= set(files)
    assert json.loads(files["thresholds.json"]) == json.loads(
        (result.run_dir / "thresholds.json").read_text()
    )
    image = _image(["red", "blue"], result.run_dir.parent / "hub.png")
    (line,) = predict("tester/tags", [image], all_scores=True)
    saved = json.loads(files["thresholds.json"])
    assert {s["label"]: s["threshold"] for s in line["scores"]} == saved


def test_overwrite_removes_the_thresholds_of_the_run_it_replaces(world, tmp_path):
    root, _, _ = world
    run = _copy(world, tmp_path)
    single = tiny.make_image_folder(tmp_path / "colors", per_class=4)
    recipe = load_recipe(
        {"task": "image-classification", "model": {"checkpoint": str(root / "ckpt")},
         "data": {"path": "imagefolder", "data_dir": str(single)},
         "early_stopping": {"patience": None},
         "training": {"output_dir": str(run), "num_train_epochs": 1, "use_cpu": True,
                      "save_strategy": "no", "load_best_model_at_end": False}}
    )  # fmt: skip
    train(recipe, overwrite=True)
    names = {p.name for p in run.iterdir()}
    assert "thresholds.json" not in names and "per_label_f1.png" not in names
    assert "confusion_matrix.png" in names


def test_frozen_cached_and_uncached_train_the_same_multi_label_head(world):
    from transformers import AutoModelForImageClassification

    root, _, _ = world
    # No augmentation: fixed inputs, so the frozen backbone's features can be cached.
    common = ("training.num_train_epochs=3", "training.learning_rate=0.05",
              "data.augmentation.enabled=false")  # fmt: skip
    cached_run = build_run(_recipe(root, "cached-check", *common, mode="frozen"))
    assert type(cached_run.trainer.model).__name__ == "HeadOnly"
    cached = train(_recipe(root, "cached", *common, mode="frozen"))
    plain = train(_recipe(root, "plain", *common, "model.cache_features=false", mode="frozen"))
    a = AutoModelForImageClassification.from_pretrained(cached.run_dir).classifier
    b = AutoModelForImageClassification.from_pretrained(plain.run_dir).classifier
    torch.testing.assert_close(a.weight, b.weight, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(a.bias, b.bias, atol=1e-5, rtol=1e-4)
    for name in ("f1_micro", "mean_average_precision", "hamming_loss"):
        assert cached.metrics["test"][name] == pytest.approx(plain.metrics["test"][name], rel=1e-4)
    assert json.loads((cached.run_dir / "thresholds.json").read_text()) == pytest.approx(
        json.loads((plain.run_dir / "thresholds.json").read_text()), abs=1e-4
    )


def test_lora_and_freeze_layers_train_multi_label(world):
    root, _, _ = world
    lora = train(_recipe(root, "lora", "training.num_train_epochs=2", mode="lora"))
    assert (lora.run_dir / "adapter").is_dir() and (lora.run_dir / "thresholds.json").is_file()
    frozen = train(_recipe(root, "freeze", "training.num_train_epochs=2", "model.freeze_layers=1"))
    assert 0 < frozen.trainable_parameters < frozen.total_parameters
    assert "f1_micro" in frozen.metrics["test"]


def test_tune_searches_on_f1_micro(world, tmp_path):
    pytest.importorskip("optuna")
    from hfft.tune import tune

    root, _, _ = world
    space = ("tune.space={training.learning_rate: {type: float, low: 0.001, high: 0.01, "
             "log: true}, training.per_device_train_batch_size: null, "
             "training.num_train_epochs: null}")  # fmt: skip
    recipe = _recipe(
        root, "tuned", "training.num_train_epochs=1", "eval.metrics=[f1_micro, f1_macro]",
        "tune.metric=f1_micro", "tune.trials=2", space,
    )  # fmt: skip
    result = tune(recipe)
    assert result.settings.metric == "f1_micro" and result.settings.direction == "maximize"
    assert 0 <= result.best_value <= 1
    assert result.best_recipe.eval.metrics[0] == "f1_micro"
