"""Baselines in every card (hfft.baselines): the majority class and a linear probe on the frozen
checkpoint's features, equal to a hand-written scikit-learn fit; and frozen mode on a
sentence-transformers checkpoint (hfft.sentence_pooling), whose untrained pooler trains too."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from hfft import checkpoint
from hfft.baselines import compute_baselines
from hfft.data import load_data
from hfft.recipe import load_recipe
from hfft.sentence_pooling import declared_pooling
from hfft.tasks import TASKS
from tests import tiny

TEXT = TASKS["text-classification"]


def split_csvs(folder: Path) -> dict[str, str]:
    """train / validation / test CSVs of the tiny reviews, so a test knows every split's rows."""
    files = {}
    for split, (rows, seed) in {"train": (40, 0), "validation": (10, 1), "test": (30, 2)}.items():
        files[split] = str(tiny.make_text_csv(folder, rows=rows, seed=seed, name=f"{split}.csv"))
    return files


def rows_of(path: str) -> tuple[list[str], np.ndarray]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    names = sorted({r["sentiment"] for r in rows})
    return [r["sentence"] for r in rows], np.array([names.index(r["sentiment"]) for r in rows])


def make_sentence_transformer(path: Path, pooling: str = "mean") -> Path:
    """A tiny BERT checkpoint with the files sentence-transformers writes beside it."""
    tiny.make_text_checkpoint(path, "bert")
    (path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]))  # fmt: skip
    (path / "1_Pooling").mkdir()
    modes = ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens")
    wanted = {"cls": "cls_token", "mean": "mean_tokens"}[pooling]
    config = {f"pooling_mode_{m}": m == wanted for m in modes}
    (path / "1_Pooling" / "config.json").write_text(json.dumps(config))
    return path


def recipe_for(ckpt: Path, files: dict[str, str], out: Path, **extra):
    return load_recipe(
        {
            "task": "text-classification",
            "model": {"checkpoint": str(ckpt), "mode": "frozen"},
            "data": {"path": "csv", "data_files": files,
                     "columns": {"text": "sentence", "label": "sentiment"}},
            "training": {"output_dir": str(out), "num_train_epochs": 2, "learning_rate": 0.05,
                         "use_cpu": True},
            "early_stopping": {"patience": None},
            **extra,
        }
    )  # fmt: skip


def handwritten_probe(train_x, train_y, test_x):
    """The probe as a user would write it with scikit-learn."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    fitted = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    fitted.fit(train_x, train_y)
    return fitted.predict(test_x), fitted.predict_proba(test_x)


def baselines_of(recipe):
    data = load_data(recipe.data, TEXT)
    processor = checkpoint.load_processor(TEXT, recipe.model)
    held_out = {"test": data.splits["test"]}
    return compute_baselines(TEXT, recipe, data.splits, data.label_names, processor, held_out)


@pytest.mark.parametrize("kind", ["plain", "sentence-transformers"])
def test_linear_probe_equals_a_handwritten_scikit_learn_fit(tmp_path, kind):
    """Plain checkpoint: the features are the head's input (BERT's pooler output); a
    sentence-transformers one: the mean of the token states its 1_Pooling declares."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    ckpt = tmp_path / "ckpt"
    if kind == "plain":
        tiny.make_text_checkpoint(ckpt, "bert")
    else:
        make_sentence_transformer(ckpt)
    files = split_csvs(tmp_path / "data")
    found = baselines_of(recipe_for(ckpt, files, tmp_path / "run"))["test"]

    tokenizer = AutoTokenizer.from_pretrained(ckpt)
    model = AutoModelForSequenceClassification.from_pretrained(ckpt, num_labels=2).eval()

    def features(texts):
        batch = tokenizer(texts, padding=True, return_tensors="pt")
        with torch.no_grad():
            out = model.bert(**batch)
        if kind == "plain":
            return out.pooler_output.numpy()
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return ((out.last_hidden_state * mask).sum(1) / mask.sum(1)).numpy()

    train_texts, train_y = rows_of(files["train"])
    test_texts, test_y = rows_of(files["test"])
    predicted, _ = handwritten_probe(features(train_texts), train_y, features(test_texts))
    probe = found["linear_probe"]
    assert probe["accuracy"] == pytest.approx(float(np.mean(predicted == test_y)), abs=1e-12)
    low, high = probe["accuracy_ci"]
    assert low <= probe["accuracy"] <= high
    majority = np.bincount(train_y).argmax()
    assert found["majority_class"]["accuracy"] == pytest.approx(np.mean(test_y == majority))


def test_declared_pooling_is_read_from_the_checkpoint_files(tmp_path):
    assert declared_pooling(str(tiny.make_text_checkpoint(tmp_path / "plain", "bert"))) is None
    assert declared_pooling(str(make_sentence_transformer(tmp_path / "st"))) == "mean"
    assert declared_pooling(str(make_sentence_transformer(tmp_path / "cls", "cls"))) == "cls"
    assert declared_pooling(None) is None
    broken = make_sentence_transformer(tmp_path / "broken")
    (broken / "modules.json").write_text("{not json")
    assert declared_pooling(str(broken)) is None


@pytest.fixture(scope="module")
def st_run(tmp_path_factory) -> Path:
    """A frozen run on a sentence-transformers checkpoint, with baselines."""
    from hfft.run import train

    root = tmp_path_factory.mktemp("st")
    ckpt = make_sentence_transformer(root / "st-ckpt")
    files = split_csvs(root / "data")
    recipe = recipe_for(ckpt, files, root / "run", eval={"baselines": True})
    train(recipe)
    return root


@pytest.mark.slow
def test_frozen_mode_trains_the_untrained_pooler_with_the_head(st_run, caplog):
    """Only the new head and BERT's pooler (never trained by the sentence-transformers
    objective) changed; the run directory loads with transformers alone."""
    from safetensors.torch import load_file
    from transformers import pipeline

    base = load_file(st_run / "st-ckpt" / "model.safetensors")
    trained = load_file(st_run / "run" / "model.safetensors")
    changed = sorted(k for k in base if k in trained and not torch.equal(base[k], trained[k]))
    assert changed == [
        "bert.pooler.dense.bias", "bert.pooler.dense.weight", "classifier.bias", "classifier.weight"
    ]  # fmt: skip
    classifier = pipeline("text-classification", model=str(st_run / "run"))
    assert classifier("the movie was great fun")[0]["label"] in {"negative", "positive"}
    card = (st_run / "run" / "README.md").read_text()
    assert "together with the backbone's pooler (BERT's `pooler.dense`)" in card


@pytest.mark.slow
def test_card_shows_baselines_above_the_model_with_intervals(st_run):
    metrics = json.loads((st_run / "run" / "metrics.json").read_text())
    baselines = metrics["test"]["baselines"]
    assert list(baselines) == ["majority_class", "linear_probe"]
    assert "baselines" not in metrics["validation"] or metrics["validation"]["baselines"]
    rows = [line for line in (st_run / "run" / "README.md").read_text().splitlines()
            if line.startswith("| ")]  # fmt: skip
    assert rows[0] == "| model | split | Accuracy | F1 (macro) |"
    titles = [row.split(" | ")[0].lstrip("| ") for row in rows[1:5]]
    assert titles == ["baseline: majority class", "baseline: linear probe on the frozen "
                      "checkpoint", "this model", "this model"]  # fmt: skip
    probe = baselines["linear_probe"]
    low, high = probe["accuracy_ci"]
    assert f"{probe['accuracy']:.3f} [{low:.2f}, {high:.2f}]" in rows[2]
    test = metrics["test"]
    assert f"| this model | test | {test['accuracy']:.3f} [" in "\n".join(rows)


@pytest.mark.slow
def test_eval_baselines_reproduces_the_training_baselines(st_run, capsys, tmp_path):
    from hfft.cli import main

    run = tmp_path / "run"
    shutil.copytree(st_run / "run", run)
    assert main(["eval", str(run), "--baselines"]) == 0
    printed = json.loads(capsys.readouterr().out)
    trained = json.loads((run / "metrics.json").read_text())["test"]
    assert printed["baselines"] == trained["baselines"]
    assert printed["accuracy_ci"] == trained["accuracy_ci"]
    assert json.loads((run / "eval" / "test" / "metrics.json").read_text())["test"]["baselines"]


def test_a_trained_pooler_rules_out_the_feature_cache(tmp_path):
    """Cached features would hold the pooler still: the run trains uncached and says why; a plain
    checkpoint's frozen run still caches."""
    from hfft import feature_cache, modes

    files = split_csvs(tmp_path / "data")
    for ckpt, cached in ((make_sentence_transformer(tmp_path / "st"), False),
                         (tiny.make_text_checkpoint(tmp_path / "plain", "bert"), True)):  # fmt: skip
        recipe = recipe_for(ckpt, files, tmp_path / "run")
        model = modes.apply_mode(
            checkpoint.load_model(TEXT, recipe.model, ["a", "b"]), recipe.model
        )
        decision, why = feature_cache.cache_decision(recipe, model)
        assert decision is cached
        if not cached:
            assert why == "the mode also trains bert.pooler.dense outside the head"
