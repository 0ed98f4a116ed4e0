"""`hfft tune`'s baseline trial: the recipe's own values run first, and the best trial compared
with them by a paired bootstrap on the validation predictions."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from hfft.recipe import load_recipe
from hfft.search_space import Param
from hfft.tasks import TASKS
from hfft.tune import tune
from hfft.tune_baseline import baseline_values
from hfft.uncertainty import compare
from tests.test_tune import image_raw

SPACE = {
    "training.learning_rate": {"type": "float", "low": 1e-5, "high": 3e-1, "log": True},
    "training.per_device_train_batch_size": None,
    "training.num_train_epochs": None,
    "model.freeze_layers": None,
}


def test_the_baseline_is_the_recipes_values_only_inside_the_space(vit_checkpoint, image_folder, tmp_path, caplog):  # fmt: skip
    raw = image_raw(vit_checkpoint, image_folder, tmp_path / "run")
    raw["training"]["learning_rate"] = 2e-3
    recipe = load_recipe(raw)
    space = {"training.learning_rate": Param("training.learning_rate", "float", 1e-4, 1e-2, True)}
    assert baseline_values(recipe, space) == {"training.learning_rate": 2e-3}
    narrow = {"training.learning_rate": Param("training.learning_rate", "float", 1e-2, 1e-1, True)}
    with caplog.at_level(logging.INFO, logger="hfft"):
        assert baseline_values(recipe, narrow) is None
    assert "the recipe's training.learning_rate=0.002 is outside the space" in caplog.text
    lora_keys = {
        **space,
        "model.lora.r": Param("model.lora.r", "categorical", choices=[2, 4]),
    }
    # A LoRA key means nothing to a full-mode recipe: not part of its baseline.
    assert baseline_values(recipe, lora_keys) == {"training.learning_rate": 2e-3}


@pytest.mark.slow
def test_the_best_trial_is_compared_with_the_recipes_values(vit_checkpoint, tmp_path):
    from tests import tiny

    folder = tiny.make_image_folder(tmp_path / "colors", per_class=10)
    raw = image_raw(vit_checkpoint, folder, tmp_path / "run", {"trials": 3, "space": SPACE})
    raw["training"]["learning_rate"] = 1e-5  # the recipe's rate barely moves the model
    raw["training"]["num_train_epochs"] = 3
    result = tune(load_recipe(raw))
    tune_dir = tmp_path / "run" / "tune"
    trials = result.study.trials
    assert trials[0].params == {"training.learning_rate": 1e-5}
    best = result.best_trial
    assert best.number != 0
    # Only the baseline's and the best trial's predictions are kept.
    kept = sorted(p.name for p in (tune_dir / "predictions").iterdir())
    assert kept == sorted({"trial-000.json", f"trial-{best.number:03d}.json"})

    found = json.loads((tune_dir / "comparison.json").read_text())
    assert (found["best_trial"], found["baseline_trial"], found["split"]) == (
        best.number,
        0,
        "validation",
    )
    # Its two scores are the trials' own validation accuracies.
    assert found["a"] == pytest.approx(best.value, abs=1e-6)
    assert found["b"] == pytest.approx(trials[0].value, abs=1e-6)
    # ... and the paired bootstrap is the one computed by hand from the kept predictions.
    saved = [
        json.loads((tune_dir / "predictions" / f"trial-{n:03d}.json").read_text())
        for n in (best.number, 0)
    ]
    metrics = TASKS["image-classification"].labels.build_metrics(
        ["accuracy"], saved[0]["label_names"]
    )
    stats = [
        metrics.interval_stats(np.asarray(s["kept"]["predictions"]), np.asarray(s["kept"]["label_ids"]))
        for s in saved
    ]  # fmt: skip
    by_hand = compare(stats[0][0], stats[1][0], stats[0][1])["accuracy"]
    assert found["difference_ci"] == pytest.approx(list(by_hand.interval))
    assert found["p_value"] == pytest.approx(by_hand.p_value)
    note = (tune_dir / "trials.md").read_text()
    assert f"Best trial {best.number} vs the recipe's own values (trial 0)" in note
    assert found["verdict"] in note and "optimistic" in note
