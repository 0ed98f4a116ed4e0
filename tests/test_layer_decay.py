"""`optim.layer_decay` and `optim.head_lr_scale`: explicit optimizer parameter groups, read back
from the Trainer's optimizer and scheduler at step 0 and mid-run; `layer_decay: 1.0` is the run
without it; the card and the run directory show the learning rate of every group."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from hfft.errors import RecipeError
from hfft.param_groups import GroupedTrainer, lr_multipliers
from hfft.recipe import load_recipe
from hfft.recipe_schema import OptimSpec
from hfft.run import build_run, train
from tests import tiny

LR = 1e-2


def recipe(tmp_path, vit_checkpoint, image_folder, optim=None, name="run", **training):
    raw = {
        "task": "image-classification",
        "model": {"checkpoint": str(vit_checkpoint)},
        "data": {"path": "imagefolder", "data_dir": str(image_folder)},
        "early_stopping": {"patience": None},
        "training": {
            "output_dir": str(tmp_path / name),
            "num_train_epochs": 2,
            "per_device_train_batch_size": 4,
            "learning_rate": LR,
            "weight_decay": 0.05,
            "use_cpu": True,
            "save_strategy": "no",
            "load_best_model_at_end": False,
            **training,
        },
    }
    if optim is not None:
        raw["optim"] = optim
    return load_recipe(raw)


def expected_multiplier(name: str, decay: float, head: float, blocks: int = 2) -> float:
    if name.startswith("classifier."):
        return head
    if ".layers." in name:
        index = int(name.split(".layers.")[1].split(".")[0])
        return decay ** (blocks - index)  # the top block (index 1) at decay^1
    if name.startswith("vit.embeddings."):
        return decay ** (blocks + 1)
    return 1.0  # vit.layernorm, after the blocks


def test_multipliers_follow_the_blocks_that_freeze_layers_counts():
    from transformers import AutoModelForImageClassification

    model = AutoModelForImageClassification.from_config(tiny.image_config("vit"))
    found = lr_multipliers(model, OptimSpec(layer_decay=0.5, head_lr_scale=10))
    for name, param in model.named_parameters():
        assert found[id(param)][1] == pytest.approx(expected_multiplier(name, 0.5, 10)), name
    groups = {found[id(p)][0] for _, p in model.named_parameters()}
    assert groups == {"embeddings", "block 0", "block 1", "after the blocks", "head"}


class RecordLearningRates(TrainerCallback):
    """Each optimizer group's lr (and the scheduler's) at every step."""

    def __init__(self) -> None:
        self.steps: list[tuple[list[float], list[float]]] = []

    def on_step_begin(self, args, state, control, optimizer=None, lr_scheduler=None, **kwargs):
        self.steps.append(
            ([g["lr"] for g in optimizer.param_groups], list(lr_scheduler.get_last_lr()))
        )


def test_optimizer_groups_carry_the_learning_rates_at_step_0_and_mid_run(
    tmp_path, vit_checkpoint, image_folder
):
    run = build_run(
        recipe(tmp_path, vit_checkpoint, image_folder, {"layer_decay": 0.5, "head_lr_scale": 10})
    )
    assert isinstance(run.trainer, GroupedTrainer)
    record = RecordLearningRates()
    run.trainer.add_callback(record)
    run.trainer.train()
    optimizer = run.trainer.optimizer
    names = {id(p): n for n, p in run.model.named_parameters()}
    multipliers = []
    for group in optimizer.param_groups:
        found = {expected_multiplier(names[id(p)], 0.5, 10) for p in group["params"]}
        assert len(found) == 1, group["hfft_group"]  # one multiplier per group
        multipliers.append(found.pop())
        # The Trainer's weight-decay exclusions hold: biases and LayerNorms decay nothing.
        excluded = {
            ("bias" in names[id(p)] or "layernorm" in names[id(p)] or "norm" in names[id(p)])
            for p in group["params"]
        }
        assert excluded == {group["weight_decay"] == 0.0}, group["hfft_group"]
    # 5 multipliers x (decayed, not decayed), but the final LayerNorm has nothing to decay.
    assert len(optimizer.param_groups) == 9
    # Step 0: every group at lr x its multiplier (the linear schedule starts at 1).
    lrs, scheduled = record.steps[0]
    assert lrs == pytest.approx([LR * m for m in multipliers]) == scheduled
    # Mid-run: the schedule scales every group alike, the ratios stay.
    middle = len(record.steps) // 2
    lrs, scheduled = record.steps[middle]
    factor = 1 - middle / run.trainer.state.max_steps
    assert lrs == pytest.approx([LR * m * factor for m in multipliers]) == scheduled
    assert [g["initial_lr"] for g in optimizer.param_groups] == pytest.approx(
        [LR * m for m in multipliers]
    )


def test_layer_decay_one_is_the_run_without_it(tmp_path, vit_checkpoint, image_folder):
    plain = train(recipe(tmp_path, vit_checkpoint, image_folder, name="plain"))
    same = train(recipe(tmp_path, vit_checkpoint, image_folder, {"layer_decay": 1.0}, "one"))
    a = load_file(str(plain.run_dir / "model.safetensors"))
    b = load_file(str(same.run_dir / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not (same.run_dir / "learning_rates.json").exists()


def test_the_card_and_run_directory_show_each_groups_learning_rate(
    tmp_path, vit_checkpoint, image_folder
):
    optim = {"layer_decay": 0.5, "head_lr_scale": 10}
    result = train(recipe(tmp_path, vit_checkpoint, image_folder, optim, weight_decay=0.0))
    rows = json.loads((result.run_dir / "learning_rates.json").read_text())
    assert [(r["group"], r["lr"]) for r in rows] == [
        ("embeddings", pytest.approx(LR / 8)),
        ("block 0", pytest.approx(LR / 4)),
        ("block 1", pytest.approx(LR / 2)),
        ("after the blocks", pytest.approx(LR)),
        ("head", pytest.approx(LR * 10)),
    ]
    card = (result.run_dir / "README.md").read_text()
    assert (
        "| `optim.layer_decay` | `0.5` |" in card and "| `optim.head_lr_scale` | `10.0` |" in card
    )
    assert "### Learning rate per parameter group" in card
    assert "| head | 0.1 | 0 | 99 |" in card and "| embeddings | 0.00125 | 0 |" in card


@pytest.mark.parametrize(
    ("optim", "message"),
    [
        ({"layer_decay": 0}, "optim.layer_decay must be in (0, 1], got 0"),
        ({"head_lr_scale": -1}, "optim.head_lr_scale must be > 0, got -1"),
        ({"layer_dekay": 0.5}, "unknown recipe key 'optim.layer_dekay' (did you mean "),
    ],
)
def test_bad_optim_settings_are_one_line(tmp_path, vit_checkpoint, image_folder, optim, message):
    with pytest.raises(RecipeError) as err:
        recipe(tmp_path, vit_checkpoint, image_folder, optim)
    assert str(err.value).startswith(message)
