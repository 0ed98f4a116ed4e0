"""`hfft eval RUN_DIR`: rebuilds the run's splits and reproduces the metrics it trained with."""

from __future__ import annotations

import csv
import json

import pytest
from transformers import pipeline

from hfft.cli import main
from hfft.recipe import load_recipe
from hfft.run import train
from tests import tiny

pytestmark = pytest.mark.slow


@pytest.fixture
def text_run(bert_checkpoint, text_csv, tmp_path):
    recipe = load_recipe(
        {
            "task": "text-classification",
            "model": {"checkpoint": str(bert_checkpoint), "mode": "lora"},
            "data": {
                "path": "csv",
                "data_files": str(text_csv),
                "columns": {"text": "sentence", "label": "sentiment"},
                "test_fraction": 0.25,
            },
            "eval": {"metrics": ["accuracy", "f1_macro", "precision_weighted"]},
            "training": {
                "output_dir": str(tmp_path / "run"),
                "num_train_epochs": 2,
                "learning_rate": 0.01,
                "use_cpu": True,
            },
        }
    )
    return train(recipe)


def test_eval_reproduces_the_training_metrics(text_run, capsys):
    trained = json.loads((text_run.run_dir / "metrics.json").read_text())
    assert main(["eval", str(text_run.run_dir), "--split", "test"]) == 0
    printed = json.loads(capsys.readouterr().out)
    for name in ("accuracy", "f1_macro", "precision_weighted"):
        assert printed[name] == pytest.approx(trained["test"][name], abs=1e-6)
    after = json.loads((text_run.run_dir / "metrics.json").read_text())
    assert set(after) == {"test", "validation"}
    assert after["test"]["per_class"].keys() == {"negative", "positive"}


def test_eval_on_other_data_keeps_the_old_results(text_run, tmp_path, capsys):
    other = tiny.make_text_csv(tmp_path / "other", rows=10, seed=3, name="fresh.csv")
    assert main(["eval", str(text_run.run_dir), "--data", str(other)]) == 0
    printed = json.loads(capsys.readouterr().out)
    # The accuracy is the saved model's on that file: what pipeline() predicts for its rows.
    with other.open() as f:
        rows = list(csv.DictReader(f))
    classify = pipeline("text-classification", model=str(text_run.run_dir))
    predicted = [p["label"] for p in classify([r["sentence"] for r in rows])]
    right = sum(p == r["sentiment"] for p, r in zip(predicted, rows, strict=True))
    assert printed["accuracy"] == pytest.approx(right / len(rows))
    after = json.loads((text_run.run_dir / "metrics.json").read_text())
    assert after["fresh.csv:test"]["accuracy"] == pytest.approx(printed["accuracy"])
    for label, scores in after["fresh.csv:test"]["per_class"].items():  # labels not swapped
        truth = [p for p, r in zip(predicted, rows, strict=True) if r["sentiment"] == label]
        assert scores["recall"] == pytest.approx(truth.count(label) / len(truth)), label
    assert {"test", "validation", "fresh.csv:test"} <= set(after)
    assert after["fresh.csv:test"]["per_class"]["negative"]["support"] == 5
    assert "fresh.csv:test" in (text_run.run_dir / "README.md").read_text()


def test_eval_errors(text_run, tmp_path, capsys):
    assert main(["eval", str(text_run.run_dir), "--split", "dev"]) == 2
    assert (
        "split 'dev' not found; this run has ['test', 'train', 'validation']"
        in capsys.readouterr().err
    )
    assert main(["eval", str(tmp_path)]) == 2
    assert "is not an hfft run directory" in capsys.readouterr().err
