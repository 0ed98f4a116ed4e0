"""hfft.evaluation: a real Trainer over a tiny ViT and an in-memory Dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from datasets import Dataset
from sklearn import metrics as skm
from transformers import AutoModelForImageClassification, Trainer, TrainingArguments

from hfft.errors import HfftError, RecipeError
from hfft.evaluation import evaluate_and_report, primary_split
from hfft.tasks.single_label_metrics import build_metrics
from tests import tiny

LABELS = ["red", "green", "blue"]


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
    merged = evaluate_and_report(trainer, {"validation": validation}, run_dir, LABELS, None)
    assert set(merged) == {"test", "validation"}
    assert merged["test"] == got
    assert set(merged["validation"]) == {"accuracy", "f1_macro", "per_class"}
    assert json.loads((run_dir / "metrics.json").read_text()) == merged
    assert (run_dir / "confusion_matrix.png").is_file()


def test_unlabelled_split_and_bad_metric_are_user_errors(tmp_path, trainer):
    no_labels = _split(4, 3).remove_columns("labels")
    with pytest.raises(HfftError, match="no labels"):
        evaluate_and_report(trainer, {"test": no_labels}, tmp_path / "r", LABELS, ["accuracy"])
    with pytest.raises(RecipeError, match="did you mean 'accuracy'"):
        evaluate_and_report(trainer, {"test": _split(4, 3)}, tmp_path / "r", LABELS, ["acuracy"])
    assert not (tmp_path / "r" / "metrics.json").exists()


def test_primary_split():
    assert primary_split(["validation", "test"]) == "test"
    assert primary_split(["validation"]) == "validation"
    assert primary_split(["holdout"]) == "holdout"
    assert primary_split([]) is None
