"""Frozen-backbone feature caching gives the same head as the uncached path."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForImageClassification

from hfft.errors import RecipeError
from hfft.feature_cache import HeadOnly
from hfft.recipe import load_recipe
from hfft.run import build_run, train

pytestmark = pytest.mark.slow


def recipe(ckpt, folder, out, *overrides):
    raw = {
        "task": "image-classification",
        "model": {"checkpoint": str(ckpt), "mode": "frozen"},
        "data": {
            "path": "imagefolder",
            "data_dir": str(folder),
            "augmentation": {"enabled": False},
        },
        "training": {
            "output_dir": str(out),
            "num_train_epochs": 3,
            "per_device_train_batch_size": 4,
            "learning_rate": 0.05,
            "use_cpu": True,
        },
    }
    return load_recipe(raw, overrides)


def test_cached_and_uncached_frozen_runs_train_the_same_head(
    vit_checkpoint, image_folder, tmp_path
):
    cached = train(recipe(vit_checkpoint, image_folder, tmp_path / "cached"))
    plain = train(
        recipe(vit_checkpoint, image_folder, tmp_path / "plain", "model.cache_features=false")
    )
    a = AutoModelForImageClassification.from_pretrained(cached.run_dir)
    b = AutoModelForImageClassification.from_pretrained(plain.run_dir)
    base = AutoModelForImageClassification.from_pretrained(vit_checkpoint)
    # Same seed, same data order: the heads agree to float tolerance ...
    torch.testing.assert_close(a.classifier.weight, b.classifier.weight, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(a.classifier.bias, b.classifier.bias, atol=1e-5, rtol=1e-4)
    assert not torch.equal(a.classifier.weight, base.classifier.weight)
    # ... and the backbone saved with the cached head is the untouched checkpoint backbone.
    for (name, p), q in zip(a.vit.named_parameters(), base.vit.parameters(), strict=True):
        assert torch.equal(p, q), name
    # The colour folder has no test split: both runs report the carved validation split.
    for name in ("accuracy", "f1_macro"):
        assert cached.metrics["validation"][name] == pytest.approx(
            plain.metrics["validation"][name], rel=1e-4
        ), name


def test_cache_is_used_only_when_it_applies(vit_checkpoint, image_folder, tmp_path):
    run = build_run(recipe(vit_checkpoint, image_folder, tmp_path / "a"))
    assert isinstance(run.trainer.model, HeadOnly)
    assert run.trainer.model.head is run.model.classifier  # trains the real head module
    assert set(run.prepared["train"].column_names) == {"features", "labels"}
    augmented = build_run(
        recipe(vit_checkpoint, image_folder, tmp_path / "b", "data.augmentation.enabled=true")
    )
    assert augmented.trainer.model is augmented.model
    with pytest.raises(RecipeError, match="cache_features is true but cannot apply: mode is full"):
        build_run(
            recipe(
                vit_checkpoint,
                image_folder,
                tmp_path / "c",
                "model.mode=full",
                "model.cache_features=true",
            )
        )
