"""Frozen-backbone feature caching gives the same head as the uncached path."""

from __future__ import annotations

import logging

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


def _backbone_calls(monkeypatch):
    """Counts forward calls of the tiny ViT: the cache probe makes 2 (one-image dummies), each
    batch of features extracted one more."""
    from transformers import ViTForImageClassification

    calls = []
    forward = ViTForImageClassification.forward

    def counting(self, *args, **kwargs):
        calls.append(1)
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(ViTForImageClassification, "forward", counting)
    return calls


def test_features_are_cached_on_disk_across_runs_and_trials(
    vit_checkpoint, image_folder, tmp_path, monkeypatch, caplog
):
    import json

    from PIL import Image

    from hfft.feature_cache import cache_dir

    caplog.set_level(logging.INFO, logger="hfft")
    calls = _backbone_calls(monkeypatch)
    build_run(recipe(vit_checkpoint, image_folder, tmp_path / "a"))
    assert len(calls) > 2 and len(list(cache_dir().glob("*.arrow"))) >= 2
    first = list(calls)
    # a rerun, and a tune trial that changes the head's seed and the learning rate: read back,
    # the backbone runs only for the probe
    for i, extra in enumerate([(), ("training.seed=7", "training.learning_rate=0.3")]):
        calls.clear()
        caplog.clear()
        run = build_run(recipe(vit_checkpoint, image_folder, tmp_path / f"again{i}", *extra))
        assert len(calls) == 2, extra
        assert f"read back from {cache_dir()} (train, validation)" in caplog.text
        assert set(run.prepared["train"].column_names) == {"features", "labels"}
    # other preprocessing (the processor's normalisation): computed anew
    config_file = vit_checkpoint / "preprocessor_config.json"
    config = json.loads(config_file.read_text())
    config["image_mean"] = [0.1, 0.2, 0.3]
    config_file.write_text(json.dumps(config))
    calls.clear()
    build_run(recipe(vit_checkpoint, image_folder, tmp_path / "other-preprocessing"))
    assert len(calls) == len(first)
    # other data (one more image): computed anew
    Image.new("RGB", (8, 8), (250, 0, 0)).save(image_folder / "train" / "red" / "extra.png")
    calls.clear()
    build_run(recipe(vit_checkpoint, image_folder, tmp_path / "other-data"))
    assert len(calls) > 2


def test_features_are_extracted_in_the_precision_the_run_trains_in(
    vit_checkpoint, image_folder, tmp_path, monkeypatch
):
    """A bf16 run's backbone runs under the Trainer's bf16 autocast when it extracts, as it
    would in the uncached run; fp32 and bf16 features are kept apart on disk."""
    import datasets
    from transformers import default_data_collator

    from hfft.feature_cache import cache_dir

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    fp32 = build_run(recipe(vit_checkpoint, image_folder, tmp_path / "fp32"))
    bf16 = build_run(recipe(vit_checkpoint, image_folder, tmp_path / "bf16", "training.bf16=true"))
    assert len(list(cache_dir().glob("*.arrow"))) == 4  # train, validation x fp32, bf16

    # What the head sees in the uncached bf16 run: the backbone under bf16 autocast.
    plain = build_run(
        recipe(
            vit_checkpoint,
            image_folder,
            tmp_path / "plain",
            "training.bf16=true",
            "model.cache_features=false",
        )
    )
    model = plain.model.eval()
    seen = []
    model.classifier.register_forward_pre_hook(lambda _m, args: seen.append(args[0].float()))
    rows = [plain.prepared["train"][i] for i in range(4)]
    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16):
        model(pixel_values=default_data_collator(rows)["pixel_values"])
    expected = seen[0]

    def error(run):
        return (run.prepared["train"]["features"][:4] - expected).abs().max().item()

    assert error(bf16) < 1e-6 < 1e-3 < error(fp32)
