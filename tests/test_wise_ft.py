"""`hfft wise-ft`: alpha 0 is the zero-shot start, alpha 1 the fine-tuned run, and the start
is never recovered wrongly."""

from __future__ import annotations

import json

import pytest
import torch

from hfft.errors import HfftError
from tests.test_zero_shot import TEMPLATES, _test_images, recipe_for
from tests.tiny_clip import hand_zero_shot, make_dual_encoder


def _train(tmp_path, checkpoint, *overrides):
    from hfft.run import train

    recipe = recipe_for(
        tmp_path, checkpoint, "model.head_init=zero-shot", "training.learning_rate=0.01",
        "training.num_train_epochs=2", *overrides,
    )  # fmt: skip
    return recipe, train(recipe).run_dir


def _logits(model_dir, images):
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from hfft.checkpoint import register_own_models

    register_own_models()
    model = AutoModelForImageClassification.from_pretrained(model_dir).eval()
    processor = AutoImageProcessor.from_pretrained(model_dir)
    pixels = processor([im.convert("RGB") for im in images], return_tensors="pt")
    with torch.no_grad():
        return model(**pixels).logits


@pytest.mark.parametrize(
    ("model_type", "mode"),
    [
        ("clip", "model.mode=full"),
        pytest.param("siglip", "model.mode=lora", marks=pytest.mark.slow),
    ],
)
def test_alpha_0_is_the_zero_shot_start_and_alpha_1_the_fine_tuned_run(tmp_path, model_type, mode):
    from hfft.wise_ft import wise_ft

    checkpoint = make_dual_encoder(tmp_path / model_type, model_type)
    recipe, run_dir = _train(
        tmp_path, checkpoint, mode, "model.lora.r=2" if "lora" in mode else "model.freeze_layers=0"
    )
    table = wise_ft(run_dir, [0.0, 0.5, 1.0], save="0", out=tmp_path / "alpha0")
    run_metrics = json.loads((run_dir / "metrics.json").read_text())
    last = table["rows"][-1]
    for split in ("validation", "test"):
        assert last[split]["accuracy"] == run_metrics[split]["accuracy"]
    images, _, names = _test_images(recipe)
    _, hand = hand_zero_shot(checkpoint, images, names, TEMPLATES)
    saved = tmp_path / "alpha0"
    assert torch.allclose(_logits(saved, images), hand, atol=1e-5)  # the zero-shot model
    assert not torch.allclose(_logits(run_dir, images), hand, atol=1e-3)  # training moved it
    first = table["rows"][0]
    zero_shot_row = run_metrics["test"]["baselines"]["zero_shot"]
    assert first["test"]["accuracy"] == zero_shot_row["accuracy"]
    assert (run_dir / "wise-ft" / "wise_ft.md").read_text().count("\n| ") == 4  # header + 3
    assert (run_dir / "wise-ft" / "wise_ft.png").is_file()
    assert not (saved / "unfinished.json").exists()
    assert "WiSE-FT weight-space ensemble (alpha 0)" in (saved / "README.md").read_text()
    # alpha 1 saved: the run's own weights, bit for bit
    wise_ft(run_dir, [1.0], save="1", out=tmp_path / "alpha1")
    assert torch.equal(_logits(tmp_path / "alpha1", images), _logits(run_dir, images))


def test_a_run_without_a_zero_shot_start_is_refused(tmp_path):
    from hfft.run import train
    from hfft.wise_ft import wise_ft

    checkpoint = make_dual_encoder(tmp_path / "clip", "clip")
    run_dir = train(recipe_for(tmp_path, checkpoint)).run_dir
    with pytest.raises(HfftError, match=r"it did not start from a zero-shot head"):
        wise_ft(run_dir, [0.5])
    assert not (run_dir / "wise-ft").exists()


def test_a_checkpoint_changed_since_training_is_refused(tmp_path):
    import shutil

    from hfft.wise_ft import wise_ft

    checkpoint = make_dual_encoder(tmp_path / "clip", "clip")
    _, run_dir = _train(tmp_path, checkpoint)
    shutil.rmtree(checkpoint)
    make_dual_encoder(checkpoint, "clip", seed=1)  # other weights at the same path
    with pytest.raises(HfftError, match=r"the checkpoint changed since training"):
        wise_ft(run_dir, [0.5])
