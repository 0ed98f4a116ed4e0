"""`hfft eval RUN_DIR`: rebuilds the run's splits, reproduces the metrics it trained with, writes
its own report under RUN_DIR/eval/ and leaves the training run's report as it was."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from transformers import pipeline

from hfft import run_dir as run_state
from hfft.cli import main
from hfft.recipe import load_recipe
from hfft.run import train
from tests import tiny

pytestmark = pytest.mark.slow

# what the training run wrote and `hfft eval` must never change
RUN_REPORT = ("metrics.json", "confusion_matrix.png", "README.md")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A project folder with its data, trained in as a user does: relative data and run paths."""
    root = tmp_path_factory.mktemp("project")
    checkpoint = tiny.make_text_checkpoint(root / "bert-ckpt", "bert")
    tiny.make_text_csv(root / "data", rows=24, name="reviews.csv")
    recipe = load_recipe(
        {
            "task": "text-classification",
            "model": {"checkpoint": str(checkpoint), "mode": "lora"},
            "data": {
                "path": "csv",
                "data_files": "data/reviews.csv",
                "columns": {"text": "sentence", "label": "sentiment"},
                "test_fraction": 0.25,
            },
            "eval": {"metrics": ["accuracy", "f1_macro", "precision_weighted"]},
            "training": {
                "output_dir": "runs/text",
                "num_train_epochs": 2,
                "learning_rate": 0.01,
                "use_cpu": True,
            },
        }
    )
    here = Path.cwd()
    os.chdir(root)
    try:
        train(recipe)
    finally:
        os.chdir(here)
    return root


def _report(run: Path) -> dict[str, bytes]:
    return {name: (run / name).read_bytes() for name in RUN_REPORT}


def test_eval_reproduces_the_training_metrics(project, capsys, monkeypatch):
    monkeypatch.chdir(project)
    run = project / "runs" / "text"
    trained = json.loads((run / "metrics.json").read_text())
    before = _report(run)
    assert main(["eval", "runs/text", "--split", "test"]) == 0
    printed = json.loads(capsys.readouterr().out)
    for name in ("accuracy", "f1_macro", "precision_weighted"):
        assert printed[name] == pytest.approx(trained["test"][name], abs=1e-6)
    report = json.loads((run / "eval" / "test" / "metrics.json").read_text())
    assert report["test"]["per_class"].keys() == {"negative", "positive"}
    assert report["test"]["accuracy"] == printed["accuracy"]
    assert (run / "eval" / "test" / "confusion_matrix.png").is_file()
    assert _report(run) == before  # the training run's report is left as it was


def test_eval_on_another_split_writes_its_own_report(project, tmp_path, capsys, monkeypatch):
    # issue 12, item 12: --split validation replaced the run's confusion matrix (of the test
    # split, as its card says)
    monkeypatch.chdir(project)
    run = project / "runs" / "text"
    before = _report(run)
    assert main(["eval", "runs/text", "--split", "validation"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert _report(run) == before
    folder = run / "eval" / "validation"
    assert (
        json.loads((folder / "metrics.json").read_text())["validation"]["accuracy"]
        == (printed["accuracy"])
    )
    assert (folder / "confusion_matrix.png").is_file()
    # eval/ is hfft's: starting the run over (--overwrite) removes it with the old model
    again = Path(shutil.copytree(run, tmp_path / "again"))
    run_state.wipe(again, "--overwrite")
    assert not (again / "eval").exists()


def test_eval_on_other_data_writes_its_own_report(project, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(project)
    run = project / "runs" / "text"
    before = _report(run)
    other = tiny.make_text_csv(tmp_path / "other", rows=10, seed=3, name="fresh.csv")
    assert main(["eval", str(run), "--data", str(other)]) == 0
    printed = json.loads(capsys.readouterr().out)
    # The accuracy is the saved model's on that file: what pipeline() predicts for its rows.
    with other.open() as f:
        rows = list(csv.DictReader(f))
    classify = pipeline("text-classification", model=str(run))
    predicted = [p["label"] for p in classify([r["sentence"] for r in rows])]
    right = sum(p == r["sentiment"] for p, r in zip(predicted, rows, strict=True))
    assert printed["accuracy"] == pytest.approx(right / len(rows))
    report = json.loads((run / "eval" / "fresh.csv-test" / "metrics.json").read_text())
    assert report["fresh.csv:test"]["accuracy"] == pytest.approx(printed["accuracy"])
    for label, scores in report["fresh.csv:test"]["per_class"].items():  # labels not swapped
        truth = [p for p, r in zip(predicted, rows, strict=True) if r["sentiment"] == label]
        assert scores["recall"] == pytest.approx(truth.count(label) / len(truth)), label
    assert report["fresh.csv:test"]["per_class"]["negative"]["support"] == 5
    # the run's metrics and card are untouched: no model-index entry for fresh.csv
    assert _report(run) == before
    assert set(json.loads((run / "metrics.json").read_text())) == {"test", "validation"}
    assert "fresh.csv" not in (run / "README.md").read_text()


def test_eval_from_another_folder_finds_the_data_where_the_run_was_trained(
    project, tmp_path, capsys, monkeypatch
):
    # issue 12, item 14: the recipe's data_files 'data/reviews.csv' is relative to the project
    monkeypatch.chdir(tmp_path)
    run = project / "runs" / "text"
    trained = json.loads((run / "metrics.json").read_text())
    assert main(["eval", str(run)]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["accuracy"] == pytest.approx(trained["test"]["accuracy"], abs=1e-6)
    assert f"the recipe's data paths resolved against {project}" in out.err
    assert list(tmp_path.iterdir()) == []  # nothing written here (the Trainer's output_dir)

    # moved away from the folder it was trained in: say which path, relative to where, and what
    # to do; --data then works
    moved = Path(shutil.copytree(run, tmp_path / "moved"))
    assert main(["eval", str(moved)]) == 2
    assert capsys.readouterr().err == (
        "hfft: error: the run's recipe reads data.data_files 'data/reviews.csv', which does not "
        f"exist relative to {tmp_path}: run `hfft eval` from the folder you trained in, or pass "
        "--data PATH\n"
    )
    assert main(["eval", str(moved), "--data", str(project / "data" / "reviews.csv")]) == 0


def test_eval_of_a_bf16_run_on_a_machine_without_bf16(project, capsys, monkeypatch):
    # issue 12, item 6: a run trained with bf16 on a GPU (every bundled Hub recipe sets it)
    # evaluates here, where no GPU is: in fp32, as `hfft predict` predicts.
    monkeypatch.chdir(project)
    run = Path(shutil.copytree(project / "runs" / "text", project / "runs" / "bf16"))
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    recipe["training"]["bf16"] = True
    del recipe["training"]["use_cpu"]
    recipe["training"]["output_dir"] = "runs/bf16"
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["eval", "runs/bf16"]) == 0
    out = capsys.readouterr()
    trained = json.loads((run / "metrics.json").read_text())
    assert json.loads(out.out)["accuracy"] == pytest.approx(trained["test"]["accuracy"], abs=1e-6)
    assert "evaluating in fp32: the run trained with bf16=true" in out.err


def test_eval_errors(project, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(project)
    for split, expected in (
        ("dev", "hfft eval: error: argument --split: 'dev': choose test or validation\n"),
        ("train", "argument --split: 'train' is the data the model learnt from, so its metrics"),
    ):
        with pytest.raises(SystemExit) as exit_:
            main(["eval", "runs/text", "--split", split])
        assert exit_.value.code == 2
        assert expected in capsys.readouterr().err
    assert main(["eval", str(tmp_path)]) == 2
    assert "is not an hfft run directory" in capsys.readouterr().err
    # issue 12, item 14: a data file that does not exist is not a Hub id to look up
    assert main(["eval", "runs/text", "--data", "missing.csv"]) == 2
    assert capsys.readouterr().err == (
        f"hfft: error: --data missing.csv: {project / 'missing.csv'} does not exist (give a "
        "folder, a csv/json/jsonl/parquet file or a Hub dataset id)\n"
    )
