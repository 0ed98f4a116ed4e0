"""hfft.evaluation: a real Trainer over a tiny ViT and an in-memory Dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Dataset
from sklearn import metrics as skm
from transformers import AutoModelForImageClassification, Trainer, TrainingArguments

from hfft.errors import DataError, HfftError, RecipeError
from hfft.evaluation import evaluate_and_report, primary_split
from hfft.tasks import TASKS
from hfft.tasks.single_label_metrics import build_metrics
from tests import tiny

LABELS = ["red", "green", "blue"]

IMAGE_TASK = TASKS["image-classification"]


def _split(n, seed):
    """n tiny 'images' as model inputs: class = which colour channel is bright."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    # a weak signal, so the tiny model makes some mistakes and the metrics are not all 1.0
    pixels = rng.normal(0, 1.0, size=(n, 3, tiny.IMAGE_SIZE, tiny.IMAGE_SIZE))
    pixels[np.arange(n), labels] += 0.05
    return Dataset.from_dict(
        {"pixel_values": pixels.astype(np.float32), "labels": labels.tolist()}
    ).with_format("torch")


@pytest.fixture
def trainer(tmp_path, vit_checkpoint):
    model = AutoModelForImageClassification.from_pretrained(vit_checkpoint)
    metrics = build_metrics(["accuracy", "f1_macro"], num_labels=3)
    args = TrainingArguments(
        output_dir=str(tmp_path / "run" / "checkpoints"),
        per_device_train_batch_size=6,
        per_device_eval_batch_size=4,  # several eval batches: exercises batch concatenation
        num_train_epochs=2,
        learning_rate=1e-3,
        eval_strategy="epoch",
        save_strategy="no",
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        seed=0,
    )
    return Trainer(
        model=model,
        args=args,
        train_dataset=_split(12, 0),
        eval_dataset=_split(9, 1),
        compute_metrics=metrics.compute_metrics,
        preprocess_logits_for_metrics=metrics.preprocess_logits_for_metrics,
    )


def _logits(model, dataset):
    with torch.no_grad():
        return model(pixel_values=dataset[:]["pixel_values"]).logits.numpy()


def test_evaluate_and_report_writes_metrics_plots_and_merges(tmp_path, trainer):
    trainer.train()
    hooks = trainer.compute_metrics, trainer.preprocess_logits_for_metrics
    run_dir = tmp_path / "run"
    test, validation = _split(10, 2), _split(9, 1)
    report = evaluate_and_report(
        trainer,
        {"test": test},
        run_dir,
        IMAGE_TASK,
        LABELS,
        ["accuracy", "f1_macro", "top2_accuracy"],
        log_history=trainer.state.log_history,
    )
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved == report
    # the numbers are those of the model's own logits, scored by scikit-learn
    trainer.model.eval()
    logits = _logits(trainer.model, test)
    y_true, y_pred = np.asarray(test["labels"]), logits.argmax(-1)
    got = saved["test"]
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert got["f1_macro"] == pytest.approx(skm.f1_score(y_true, y_pred, average="macro"))
    expected_top2 = skm.top_k_accuracy_score(y_true, logits, k=2, labels=range(3))
    assert got["top2_accuracy"] == pytest.approx(expected_top2)
    assert list(got["per_class"]) == LABELS
    assert sum(c["support"] for c in got["per_class"].values()) == 10
    assert got["per_class"]["red"]["recall"] == pytest.approx(
        skm.recall_score(y_true, y_pred, labels=[0], average="macro")
    )
    # the trainer's own hooks are back in place afterwards
    assert (trainer.compute_metrics, trainer.preprocess_logits_for_metrics) == hooks
    for name in ("confusion_matrix.png", "training_curves.png"):
        assert (run_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # evaluating validation later keeps test; evaluating test again replaces it
    (run_dir / "confusion_matrix.png").unlink()
    merged = evaluate_and_report(
        trainer, {"validation": validation}, run_dir, IMAGE_TASK, LABELS, None
    )
    assert set(merged) == {"test", "validation"}
    assert merged["test"] == got
    assert set(merged["validation"]) == {
        "accuracy", "accuracy_ci", "f1_macro", "f1_macro_ci", "per_class"
    }  # fmt: skip
    assert json.loads((run_dir / "metrics.json").read_text()) == merged
    # predictions.json keeps what each example was predicted, for paired comparisons
    kept = json.loads((run_dir / "predictions.json").read_text())
    assert set(kept) == {"test", "validation"}
    assert len(kept["validation"]["predictions"]) == len(kept["validation"]["label_ids"])
    assert (run_dir / "confusion_matrix.png").is_file()


def test_unlabelled_split_and_bad_metric_are_user_errors(tmp_path, trainer):
    no_labels = _split(4, 3).remove_columns("labels")
    with pytest.raises(HfftError, match="no labels"):
        evaluate_and_report(
            trainer, {"test": no_labels}, tmp_path / "r", IMAGE_TASK, LABELS, ["accuracy"]
        )
    with pytest.raises(RecipeError, match="did you mean 'accuracy'"):
        evaluate_and_report(
            trainer, {"test": _split(4, 3)}, tmp_path / "r", IMAGE_TASK, LABELS, ["acuracy"]
        )
    assert not (tmp_path / "r" / "metrics.json").exists()


def test_primary_split():
    assert primary_split(["validation", "test"]) == "test"
    assert primary_split(["validation"]) == "validation"
    assert primary_split(["holdout"]) == "holdout"
    assert primary_split([]) is None


# ---- `hfft eval` helpers: where the data is, what --data names, what precision runs here


def test_data_source_says_a_missing_file_does_not_exist(tmp_path, monkeypatch):
    from hfft.eval_run import data_source

    monkeypatch.chdir(tmp_path)
    for missing in ("missing.csv", "./folder", "some/deep/folder"):
        with pytest.raises(DataError) as err:
            data_source(missing)
        assert str(err.value).startswith(f"--data {missing}: {tmp_path / missing} does not exist")
    assert data_source("someone/a-dataset")["path"] == "someone/a-dataset"  # a Hub id
    (tmp_path / "t.csv").write_text("text,label\n")
    assert data_source("t.csv")["data_files"] == "t.csv"


def test_training_origin_is_found_from_the_run_directory_and_its_output_dir(tmp_path):
    from hfft.eval_run import training_origin

    run = tmp_path / "proj" / "runs" / "x"
    assert training_origin(run, Path("runs/x")) == tmp_path / "proj"
    assert training_origin(tmp_path / "moved", Path("runs/x")) is None
    assert training_origin(run, run) is None  # an absolute output_dir records no origin
    assert training_origin(run, Path("../x")) is None


def test_data_here_resolves_relative_paths_against_the_training_folder(tmp_path, monkeypatch):
    from hfft.eval_run import data_here
    from hfft.recipe import DataSpec

    proj = tmp_path / "proj"
    (proj / "images").mkdir(parents=True)
    (proj / "csvs").mkdir()
    (proj / "csvs" / "a.csv").write_text("x\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run, out = proj / "runs" / "x", Path("runs/x")
    spec = data_here(DataSpec(path="imagefolder", data_dir="images"), run, out)
    assert spec.data_dir == str(proj / "images")
    spec = data_here(DataSpec(path="csv", data_files={"train": "csvs/*.csv"}), run, out)
    assert spec.data_files == {"train": str(proj / "csvs" / "*.csv")}
    spec = data_here(DataSpec(path="beans"), run, out)  # a Hub id is left alone
    assert spec.path == "beans"
    (elsewhere / "images").mkdir()  # found here: the current folder wins, as for `hfft train`
    assert data_here(DataSpec(path="imagefolder", data_dir="images"), run, out).data_dir == "images"
    with pytest.raises(DataError) as err:
        data_here(DataSpec(path="imagefolder", data_dir="gone"), run, out)
    assert str(err.value) == (
        f"the run's recipe reads data.data_dir 'gone', which does not exist relative to "
        f"{elsewhere} nor to {proj}, where the run was trained: run `hfft eval` from the folder "
        "you trained in, or pass --data PATH"
    )


def test_evaluation_arguments_leave_out_the_precision_this_machine_lacks(tmp_path):
    from hfft.eval_run import evaluation_arguments
    from hfft.recipe import load_recipe
    from hfft.tasks import TASKS

    raw = {
        "task": "image-classification",
        "model": {"checkpoint": "./m"},
        "data": {"path": "imagefolder", "data_dir": "./d"},
        "training": {"output_dir": str(tmp_path / "run"), "bf16": True},
    }
    task = TASKS["image-classification"]
    # conftest hides every GPU: no bf16 here, so fp32 (training_arguments would refuse it)
    args = evaluation_arguments(load_recipe(raw), task)
    assert (args.bf16, args.fp16, args.report_to) == (False, False, [])
    # with use_cpu the CPU's autocast does bf16: kept, as the run trained
    args = evaluation_arguments(load_recipe(raw, ["training.use_cpu=true"]), task)
    assert args.bf16 is True
    args = evaluation_arguments(
        load_recipe(raw, ["training.bf16=false", "training.fp16=true"]), task
    )
    assert args.fp16 is False
