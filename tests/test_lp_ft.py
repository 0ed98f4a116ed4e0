"""`model.mode: lp-ft`: the head after the probe equals a frozen run's head trained for the same
epochs; the fine-tuning phase then trains from it, in full or with LoRA; one run directory and
one card."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

import hfft.probe
from hfft.errors import RecipeError
from hfft.recipe import LoraSpec, ModelSpec, load_recipe
from hfft.recipe_schema import LpFtSpec
from hfft.run import train


def recipe(tmp_path, checkpoint, folder, name, epochs=2, augment=False, **model):
    return load_recipe(
        {
            "task": "image-classification",
            "model": {"checkpoint": str(checkpoint), **model},
            "data": {
                "path": "imagefolder",
                "data_dir": str(folder),
                "augmentation": {"enabled": augment},
            },
            "early_stopping": {"patience": None},
            "training": {
                "output_dir": str(tmp_path / name),
                "num_train_epochs": epochs,
                "per_device_train_batch_size": 4,
                "learning_rate": 5e-2,
                "use_cpu": True,
                "save_strategy": "no",
                "load_best_model_at_end": False,
            },
        }
    )


@pytest.fixture
def probed_heads(monkeypatch):
    """The head's weights right after each probe (before the fine-tuning phase)."""
    from hfft import modes

    heads: list[dict[str, torch.Tensor]] = []

    def record(run, _probe=hfft.probe.train_head_first):
        out = _probe(run)
        if out is None:  # no probe in this mode
            return out
        head = modes.unwrapped(run.model).get_submodule("classifier")
        if hasattr(head, "modules_to_save"):  # PEFT trains a copy of the head
            head = head.modules_to_save["default"]
        heads.append({k: v.detach().clone() for k, v in head.state_dict().items()})
        return out

    monkeypatch.setattr(hfft.probe, "train_head_first", record)
    return heads


@pytest.mark.parametrize("then", ["full", "lora"])
@pytest.mark.parametrize("augment", [False, True], ids=["cached", "uncached"])
def test_probe_head_equals_a_frozen_runs_head(
    then, augment, tmp_path, vit_checkpoint, image_folder, probed_heads
):
    frozen = train(
        recipe(tmp_path, vit_checkpoint, image_folder, "frozen", augment=augment, mode="frozen")
    )
    frozen_head = load_file(str(frozen.run_dir / "model.safetensors"))
    lp_ft = train(
        recipe(
            tmp_path, vit_checkpoint, image_folder, "lp-ft", epochs=1, augment=augment,
            mode="lp-ft", lp_ft={"probe_epochs": 2, "then": then},
        )
    )  # fmt: skip
    (probed,) = probed_heads
    for key in ("weight", "bias"):
        assert torch.equal(probed[key], frozen_head[f"classifier.{key}"]), key
    # Then the fine-tuning phase trained the backbone (or its adapters) and the head onward.
    final = load_file(str(lp_ft.run_dir / "model.safetensors"))
    assert not torch.equal(final["classifier.weight"], frozen_head["classifier.weight"])
    card = (lp_ft.run_dir / "README.md").read_text()
    assert "**lp-ft** mode: LP-FT: the new head was first trained alone on the frozen backbone "
    assert f"for 2.0 epochs (a linear probe), then, from that head, in {then} mode" in card
    assert "| `lp_ft.probe_epochs` | `2.0` |" in card
    assert (lp_ft.run_dir / "adapter").is_dir() == (then == "lora")


def test_lp_ft_keys_are_checked():
    with pytest.raises(RecipeError, match=r"model.lp_ft.probe_epochs must be > 0, got 0"):
        LpFtSpec(probe_epochs=0)
    # The fine-tuning mode's own keys apply; another mode's do not.
    then_peft = LpFtSpec(then="peft")
    spec = ModelSpec(checkpoint="x", mode="lp-ft", lp_ft=then_peft, peft={"method": "ia3"})
    assert spec.peft == {"method": "ia3", "target_modules": "auto"}
    assert ModelSpec(checkpoint="x", mode="lp-ft", freeze_layers=1).freeze_layers == 1
    with pytest.raises(RecipeError, match="model.lora.r=4 only applies to mode 'lora'"):
        ModelSpec(checkpoint="x", mode="lp-ft", lora=LoraSpec(r=4))
    with pytest.raises(RecipeError, match="model.freeze_layers=1 only applies to mode 'full'"):
        ModelSpec(checkpoint="x", mode="lp-ft", lp_ft=LpFtSpec(then="lora"), freeze_layers=1)
