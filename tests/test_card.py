"""hfft.card: metadata that parses back, Hub ids only, no local path, no token."""

from __future__ import annotations

import pytest
import yaml
from huggingface_hub import ModelCard

from hfft.card import build_card_data, is_hub_id, sanitize_recipe, write_model_card
from hfft.errors import DataError

METRICS = {
    "validation": {
        "accuracy": 0.9,
        "f1_macro": 0.88,
        "per_class": {"red": {"precision": 1.0, "recall": 0.8, "f1": 0.889, "support": 5}},
    },
    "test": {
        "accuracy": 0.8333,
        "f1_macro": 0.8,
        "top2_accuracy": 1.0,
        "per_class": {
            "red": {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2},
            "green": {"precision": 0.6667, "recall": 1.0, "f1": 0.8, "support": 2},
            "blue|navy": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2},
        },
    },
}
FAKE_TOKEN = "hf_" + "A1b2C3d4" * 5


def _recipe(data_dir, checkpoint, output_dir, **over):
    recipe = {
        "task": "image-classification",
        "model": {
            "checkpoint": str(checkpoint),
            "mode": "lora",
            "freeze_layers": 0,
            "lora": {"r": 8, "alpha": 16, "dropout": 0.1, "target_modules": "auto"},
        },
        "data": {
            "path": "imagefolder",
            "data_dir": str(data_dir),
            "columns": {"image": "image", "label": "label"},
        },
        "training": {
            "output_dir": str(output_dir),
            "learning_rate": 5e-3,
            "num_train_epochs": 3,
            "hub_token": FAKE_TOKEN,
        },
        "eval": {"metrics": ["accuracy", "f1_macro", "top2_accuracy"]},
        "hub": {"repo_id": None, "private": False, "push": False, "token": FAKE_TOKEN},
    }
    recipe.update(over)
    return recipe


def test_local_paths_never_reach_the_card(tmp_path, image_folder, vit_checkpoint):
    run_dir = tmp_path / "runs" / "vit-colors-lora"
    run_dir.mkdir(parents=True)
    (run_dir / "confusion_matrix.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    recipe = _recipe(image_folder, vit_checkpoint, run_dir)
    recipe["hub"]["license"] = "apache-2.0"
    path = write_model_card(run_dir, recipe, METRICS)
    text = path.read_text()

    # neither local path, nor the tmp root, nor the token appears anywhere
    for secret in (str(image_folder), str(vit_checkpoint), str(tmp_path), FAKE_TOKEN):
        assert secret not in text
    assert "hub_token" not in text and "token:" not in text

    card = ModelCard.load(path)
    data = card.data
    assert data.library_name == "transformers"
    assert data.pipeline_tag == "image-classification"
    assert data.license == "apache-2.0"
    assert {"hfft", "lora", "image-classification"} <= set(data.tags)
    assert data.base_model is None  # a local checkpoint is not a Hub id
    assert data.datasets is None  # nor is a local imagefolder
    assert data.metrics == ["accuracy", "f1"]
    assert data.model_name == "vit-colors-lora"
    results = {(r.dataset_split, r.metric_name): r for r in data.eval_results}
    assert results[("test", "Accuracy (test)")].metric_value == 0.8333
    assert results[("test", "F1 (macro) (test)")].metric_args == {"average": "macro"}
    assert results[("test", "Top-2 accuracy (test)")].metric_type == "top2_accuracy"
    assert results[("validation", "Accuracy (validation)")].metric_value == 0.9
    assert all(r.dataset_type == "imagefolder" for r in data.eval_results)
    assert {r.dataset_name for r in data.eval_results} == {image_folder.name}

    body = card.text
    assert "| test | 0.8333 | 0.8000 | 1.0000 |" in body
    assert "| validation | 0.9000 | 0.8800 | – |" in body
    assert "### Per class (test split)" in body and "| blue\\|navy | 1.000 |" in body
    assert "![Confusion matrix](confusion_matrix.png)" in body
    assert "training_curves.png" not in body  # not drawn, so not embedded
    assert 'pipeline("image-classification", model="path/to/vit-colors-lora")' in body
    assert "- transformers " in body and "- peft " in body
    # the embedded recipe is valid YAML with paths reduced to base names
    embedded = yaml.safe_load(body.split("```yaml\n", 1)[1].split("```", 1)[0])
    assert embedded["data"]["data_dir"] == image_folder.name
    assert embedded["model"]["checkpoint"] == vit_checkpoint.name
    assert embedded["training"]["output_dir"] == "vit-colors-lora"
    assert "hub_token" not in embedded["training"] and "token" not in embedded["hub"]


def test_hub_ids_are_kept_in_metadata(tmp_path):
    recipe = _recipe(
        "unused",
        "google/vit-base-patch16-224-in21k",
        tmp_path / "run",
        task="image-classification",
        hub={"repo_id": "someone/vit-beans", "push": True},
    )
    recipe["data"] = {"path": "beans", "name": None, "columns": {"image": "image"}}
    recipe["model"]["mode"] = "full"
    path = write_model_card(tmp_path, recipe, {"test": {"accuracy": 0.97}})
    card = ModelCard.load(path)
    assert card.data.base_model == "google/vit-base-patch16-224-in21k"
    assert card.data.datasets == ["beans"]
    assert card.data.model_name == "vit-beans"
    assert card.data.eval_results[0].dataset_type == "beans"
    assert card.data.license is None
    assert 'pipeline("image-classification", model="someone/vit-beans")' in card.text
    assert "- peft " not in card.text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("google/vit-base-patch16-224-in21k", True),
        ("beans", True),
        ("imagefolder", False),
        ("csv", False),
        ("/abs/path/data", False),
        ("./data", False),
        ("~/data", False),
        ("a/b/c", False),
        (None, False),
    ],
)
def test_is_hub_id(value, expected):
    assert is_hub_id(value) is expected


def test_sanitize_recipe_handles_data_files_and_existing_relative_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "me" / "mydata").mkdir(parents=True)
    clean = sanitize_recipe(
        {
            "data": {
                # looks like a Hub id, but exists relative to the working directory: local
                "path": "me/mydata",
                "data_files": {"train": "/srv/x/train.csv", "test": ["/srv/x/t1.csv"]},
            },
            "model": {"checkpoint": "bert-base-uncased"},
            "hub": {"HF_TOKEN": "x"},
            "note": f"token {FAKE_TOKEN}",
        }
    )
    assert clean["data"] == {
        "path": "mydata",
        "data_files": {"train": "train.csv", "test": ["t1.csv"]},
    }
    assert clean["model"]["checkpoint"] == "bert-base-uncased"
    assert clean["hub"] == {} and clean["note"] == "<redacted>"


def test_one_set_of_rules_for_secrets_and_paths(tmp_path, monkeypatch):
    """Issue 13: the card, the published recipe of `hfft push`, the data loader and the logs use
    hfft.redact's rules; the card's own copy knew no `api_key` and no Windows path."""
    from hfft import card, eval_run, redact, upload_files

    assert card.sanitize_recipe is upload_files.sanitize_recipe is redact.sanitize_recipe
    assert card.is_hub_id is redact.is_hub_id
    recipe = {
        "model": {"checkpoint": "C:\\Users\\me\\models\\vit"},
        "training": {"report_to": "wandb", "wandb_api_key": "k-0123456789", "hub_token": "t"},
    }
    clean = sanitize_recipe(recipe)
    assert clean == {"model": {"checkpoint": "vit"}, "training": {"report_to": "wandb"}}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    published = upload_files.PublishedRecipe.read(tmp_path / "recipe.yaml")
    assert yaml.safe_load(published.content) == clean
    assert "k-0123456789" in published.secrets  # hunted in the other files by the leak guard
    assert redact.redact_tree(recipe)["training"]["wandb_api_key"] == redact.MASK
    # The builders are datasets' own list (or, if that private name moves, its modules).
    assert {"text", "csv", "imagefolder"} <= redact.builder_names()
    assert not is_hub_id("text")
    from datasets import packaged_modules

    monkeypatch.delattr(packaged_modules, "_PACKAGED_DATASETS_MODULES")
    redact.builder_names.cache_clear()
    try:
        assert {"text", "csv", "imagefolder"} <= redact.builder_names()
    finally:
        monkeypatch.undo()
        redact.builder_names.cache_clear()
    # `hfft eval --data` tells a Hub id from a builder name by the same rules.
    assert eval_run.data_source("someone/reviews")["path"] == "someone/reviews"
    with pytest.raises(DataError, match="does not exist"):
        eval_run.data_source("text")


def test_text_card_with_a_local_csv(tmp_path, text_csv):
    recipe = {
        "task": "text-classification",
        "model": {"checkpoint": "distilbert-base-uncased", "mode": "frozen"},
        "data": {"path": "csv", "data_files": str(text_csv)},
        "training": {"output_dir": str(tmp_path / "r")},
    }
    data = build_card_data(recipe, {"test": {"accuracy": 0.5}})
    assert data.datasets is None and data.base_model == "distilbert-base-uncased"
    assert data.eval_results[0].dataset_type == "csv"
    assert data.eval_results[0].dataset_name == "train.csv"
    assert "frozen" in data.tags
    text = write_model_card(tmp_path, recipe, {"test": {"accuracy": 0.5}}).read_text()
    assert str(text_csv) not in text and str(tmp_path) not in text
    assert "only the new classification head" in text


def test_results_on_other_data_are_not_attributed_to_the_training_dataset(tmp_path):
    # An older `hfft eval --data test.csv` merged "test.csv:test" into metrics.json; the card
    # attributed it to the training dataset (beans) with split "test.csv:test".
    recipe = _recipe("unused", "google/vit-base-patch16-224-in21k", tmp_path / "run")
    recipe["data"] = {"path": "beans"}
    metrics = {"test": {"accuracy": 0.9}, "test.csv:test": {"accuracy": 0.4}}
    data = build_card_data(recipe, metrics)
    assert [(r.dataset_name, r.dataset_split) for r in data.eval_results] == [("beans", "test")]


def test_a_taggers_card_shows_its_baselines_and_intervals_over_sentences(tmp_path):
    """The rows above the model name each baseline, the note says what each is and that the
    bootstrap resampled sentences (the tags scheme's unit)."""
    import json

    from hfft.card import build_card

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({
        "architectures": ["BertForTokenClassification"],
        "id2label": {"0": "O", "1": "B-PER", "2": "I-PER"},
    }))  # fmt: skip
    test = {"f1": 0.8123, "f1_ci": [0.71, 0.9], "accuracy": 0.95, "accuracy_ci": [0.93, 0.97]}
    test["baselines"] = {
        "majority_tag": {"f1": 0.0, "f1_ci": [0.0, 0.0], "accuracy": 0.6,
                         "accuracy_ci": [0.55, 0.66]},
        "linear_probe": {"f1": 0.5, "f1_ci": [0.4, 0.61], "accuracy": 0.8,
                         "accuracy_ci": [0.77, 0.83]},
    }  # fmt: skip
    recipe = {"task": "token-classification", "model": {"checkpoint": "bert-base-cased",
              "mode": "full"}, "data": {"path": "conll2003"}, "training": {}}  # fmt: skip
    card = build_card(run, recipe, {"test": test})
    rows = [line for line in card.splitlines() if line.startswith("| ")]
    assert rows[:4] == [
        "| model | split | F1 | Accuracy |",
        "| baseline: most frequent tag for every word | test | 0.000 [0.00, 0.00] | "
        "0.600 [0.55, 0.66] |",
        "| baseline: linear probe on the frozen checkpoint | test | 0.500 [0.40, 0.61] | "
        "0.800 [0.77, 0.83] |",
        "| this model | test | 0.812 [0.71, 0.90] | 0.950 [0.93, 0.97] |",
    ]
    assert "95% bootstrap interval over the split's sentences" in card
    assert "*most frequent tag for every word*: every word given the most frequent" in card


def test_coco_metric_names_read_as_map():
    from hfft.card import _metric_parts

    shown = {n: _metric_parts(n)[1] for n in ("map", "map_50", "map_75", "map_small", "map_large")}
    assert shown == {
        "map": "mAP",
        "map_50": "mAP@50",
        "map_75": "mAP@75",
        "map_small": "mAP (small)",
        "map_large": "mAP (large)",
    }
    # Other names keep their titles.
    assert _metric_parts("f1_macro")[1] == "F1 (macro)"
    assert _metric_parts("mean_average_precision")[1] == "Mean average precision"
