"""Launch settings checked without launching: DeepSpeed without its package fails at preflight
in one line, FSDP's auto-wrap gets the model's transformer block, the shipped configs parse."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest
import torch
import yaml
from transformers import TrainingArguments

from hfft import distributed
from hfft.cli import main
from hfft.errors import HfftError
from hfft.preflight import check_deepspeed
from tests import tiny
from tests.distributed_cases import LAUNCH

needs_no_deepspeed = pytest.mark.skipif(
    importlib.util.find_spec("deepspeed") is not None, reason="deepspeed is installed here"
)


@pytest.fixture
def recipe(tmp_path, vit_checkpoint, image_folder):
    path = tmp_path / "recipe.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "task": "image-classification",
                "model": {"checkpoint": str(vit_checkpoint)},
                "data": {"path": "imagefolder", "data_dir": str(image_folder)},
                "training": {"output_dir": str(tmp_path / "run"), "use_cpu": True},
            }
        )
    )
    return path


@needs_no_deepspeed
def test_deepspeed_without_its_package_fails_at_preflight(recipe, tmp_path, capsys):
    ds_config = LAUNCH / "deepspeed_zero2.json"
    assert main(["train", str(recipe), f"training.deepspeed={ds_config}"]) == 2
    assert capsys.readouterr().err == (
        "hfft: error: training.deepspeed is set but the deepspeed package is not installed: "
        "`pip install deepspeed` on the training machines, or train without it (DDP or FSDP, see "
        "recipes/launch/README.md)\n"
    )
    assert not (tmp_path / "run").exists()  # nothing written


@needs_no_deepspeed
def test_a_deepspeed_launch_without_the_package_fails_at_preflight(monkeypatch):
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    with pytest.raises(HfftError, match=r"^the launch asks for DeepSpeed \(ACCELERATE_USE_DEEPSP"):
        check_deepspeed({})
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "false")
    check_deepspeed({})  # not asked for: nothing to check


def _args(tmp_path, **kwargs):
    return TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none", **kwargs)


@pytest.mark.parametrize(
    ("model_type", "block"), [("vit", "ViTLayer"), ("bert", "BertLayer"), ("distilbert", None)]
)
def test_fsdp_auto_wrap_shards_the_transformer_blocks(model_type, block, tmp_path):
    """accelerate's default (the model's _no_split_modules) includes ViTEmbeddings/BertEmbeddings,
    and FSDP2 then fails on the input embeddings inside them; hfft names the block instead."""
    from transformers import AutoModelForImageClassification, AutoModelForSequenceClassification

    if model_type == "vit":
        model = AutoModelForImageClassification.from_config(tiny.image_config("vit"))
    else:
        model = AutoModelForSequenceClassification.from_config(tiny.text_config(model_type))
    expected = block or type(model.distilbert.transformer.layer[0]).__name__
    assert distributed.block_class_name(model) == expected
    args = _args(tmp_path, fsdp="full_shard", fsdp_config={"fsdp_version": 2})
    distributed.wrap_blocks(args, model)
    assert args.fsdp_plugin_args["transformer_cls_names_to_wrap"] == expected


def test_fsdp_auto_wrap_keeps_the_classes_a_recipe_names(tmp_path):
    from transformers import AutoModelForImageClassification

    model = AutoModelForImageClassification.from_config(tiny.image_config("vit"))
    args = _args(
        tmp_path,
        fsdp="full_shard",
        fsdp_config={"fsdp_version": 2, "transformer_layer_cls_to_wrap": ["ViTEmbeddings"]},
    )
    distributed.wrap_blocks(args, model)
    assert args.fsdp_plugin_args["transformer_cls_names_to_wrap"] == "ViTEmbeddings"


def test_fsdp_auto_wrap_from_an_accelerate_config(tmp_path, monkeypatch):
    """`accelerate launch --config_file fsdp.json` passes the policy on in the environment."""
    from transformers import AutoModelForImageClassification

    model = AutoModelForImageClassification.from_config(tiny.image_config("vit"))
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    monkeypatch.setenv("FSDP_AUTO_WRAP_POLICY", "TRANSFORMER_BASED_WRAP")
    monkeypatch.delenv("FSDP_TRANSFORMER_CLS_TO_WRAP", raising=False)
    distributed.wrap_blocks(_args(tmp_path), model)
    assert os.environ["FSDP_TRANSFORMER_CLS_TO_WRAP"] == "ViTLayer"


def test_without_fsdp_nothing_changes(tmp_path, monkeypatch):
    from transformers import AutoModelForImageClassification

    monkeypatch.delenv("ACCELERATE_USE_FSDP", raising=False)
    model = AutoModelForImageClassification.from_config(tiny.image_config("vit"))
    args = _args(tmp_path)
    distributed.wrap_blocks(args, model)
    assert args.fsdp_plugin_args is None

    class Trainer:  # what unsharded_model reads of a Trainer without FSDP
        is_fsdp_enabled = False

    assert distributed.unsharded_model(Trainer(), model, lambda: None) is model


def test_shipped_fsdp_config_saves_full_state_dicts():
    """With SHARDED_STATE_DICT the Trainer (transformers 5.24) decides per rank whether the best
    checkpoint exists before the shards are written; ranks disagree and the run hangs at the
    end (rank 0 in load_fsdp_model's barrier, rank 1 in the next collective). FULL_STATE_DICT
    writes the folder on rank 0 before that check."""
    config = json.loads((LAUNCH / "fsdp.json").read_text())
    assert config["fsdp_config"]["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    assert config["fsdp_config"]["fsdp_version"] == 2


class FakeFsdpTrainer:
    """What unsharded_model reads of an FSDP Trainer on rank 0: the gathered full state dict."""

    is_fsdp_enabled = True

    def __init__(self, model, full_state_dict):
        self.model = model
        self.accelerator = type(
            "Accelerator", (), {"get_state_dict": lambda _, m: full_state_dict}
        )()

    def is_world_process_zero(self):
        return True


def _vit():
    from transformers import AutoModelForImageClassification

    torch.manual_seed(0)
    return AutoModelForImageClassification.from_config(tiny.image_config("vit"))


def test_the_gathered_weights_land_in_a_fresh_model():
    trained, fresh = _vit(), _vit()
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(1.0)
    full = {k: v.clone() for k, v in trained.state_dict().items()}
    got = distributed.unsharded_model(FakeFsdpTrainer(trained, full), trained, lambda: fresh)
    assert got is fresh
    for name, tensor in got.state_dict().items():
        assert torch.equal(tensor, full[name]), name


def test_a_head_trained_on_cached_features_lands_in_the_fresh_model():
    from hfft.feature_cache import HeadOnly

    trained, fresh = _vit(), _vit()
    head = HeadOnly(trained.classifier, torch.nn.functional.cross_entropy)
    with torch.no_grad():
        trained.classifier.weight.add_(1.0)
    full = {k: v.clone() for k, v in head.state_dict().items()}  # head.weight, head.bias
    got = distributed.unsharded_model(FakeFsdpTrainer(head, full), trained, lambda: fresh)
    assert torch.equal(got.classifier.weight, trained.classifier.weight)
    assert torch.equal(got.vit.layernorm.weight, trained.vit.layernorm.weight)
