"""training.torch_compile works in every mode, LoRA and the cached frozen head included. The
tests compile with dynamo's `eager` backend: the graph capture that a mode could break (PEFT's
wrappers, frozen parameters, the cache's head-only model) runs in full, without minutes of C++
code generation on a CPU (bench/defaults.py measures inductor's speed)."""

from __future__ import annotations

import json

import pytest

from hfft.recipe import load_recipe
from hfft.run import train
from tests import tiny

pytestmark = pytest.mark.slow

MODES = {
    "full": [],
    "freeze_layers": ["model.freeze_layers=1"],
    "frozen_cached": ["model.mode=frozen", "model.cache_features=true"],
    "frozen": ["model.mode=frozen", "model.cache_features=false"],
    "lora": ["model.mode=lora", "model.lora.r=4", "model.lora.alpha=8"],
}


@pytest.mark.parametrize("mode", list(MODES))
def test_torch_compile_trains_in_every_mode(mode, vit_checkpoint, tmp_path):
    folder = tiny.make_image_folder(tmp_path / "colors", per_class=6)
    raw = {
        "task": "image-classification",
        "model": {"checkpoint": str(vit_checkpoint)},
        "data": {
            "path": "imagefolder",
            "data_dir": str(folder),
            "augmentation": {"enabled": False},
        },
        "training": {
            "output_dir": str(tmp_path / "run"),
            "num_train_epochs": 2,
            "per_device_train_batch_size": 4,
            "learning_rate": 1e-2,
            "use_cpu": True,
            "torch_compile": True,
            "torch_compile_backend": "eager",
        },
        "early_stopping": {"patience": None},
    }
    result = train(load_recipe(raw, MODES[mode]))
    assert result.metrics["validation"]["accuracy"] >= 0
    # the run directory holds a plain (uncompiled, LoRA-merged) model that loads as usual
    state = json.loads((result.run_dir / "config.json").read_text())
    assert state["architectures"] == ["ViTForImageClassification"]
    from transformers import AutoModelForImageClassification

    model = AutoModelForImageClassification.from_pretrained(result.run_dir)
    assert not any("_orig_mod" in name or "lora_" in name for name, _ in model.named_parameters())
