"""Modes on tiny random models of every supported architecture: which parameters train."""

from __future__ import annotations

import re

import pytest
import torch
from transformers import AutoModelForImageClassification, AutoModelForSequenceClassification

from hfft import modes
from hfft.errors import RecipeError
from hfft.recipe import LoraSpec, ModelSpec
from tests import tiny

IMAGE = ["vit", "convnext", "resnet", "swin"]
TEXT = ["bert", "distilbert", "roberta"]
# What `anatomy` must find: (head modules, number of blocks).
EXPECTED = {
    "vit": (["classifier"], 2),
    "convnext": (["classifier"], 2),
    "resnet": (["classifier"], 2),
    "swin": (["classifier"], 2),
    "bert": (["classifier"], 2),
    "distilbert": (["pre_classifier", "classifier"], 2),
    "roberta": (["classifier"], 2),
}
# The leaf names LoRA `auto` must target.
LORA_TARGETS = {
    "vit": {"q_proj", "v_proj"},
    "swin": {"q_proj", "v_proj"},
    "bert": {"query", "value"},
    "roberta": {"query", "value"},
    "distilbert": {"q_lin", "v_lin"},
    "convnext": {"pwconv1", "pwconv2"},  # no attention: every linear layer in the blocks
    "resnet": {"convolution"},  # no linear layers: the convolutions
}


def build(model_type: str):
    torch.manual_seed(0)
    if model_type in IMAGE:
        return AutoModelForImageClassification.from_config(tiny.image_config(model_type))
    return AutoModelForSequenceClassification.from_config(tiny.text_config(model_type))


def spec(mode: str, **kwargs) -> ModelSpec:
    return ModelSpec(checkpoint="x", mode=mode, **kwargs)


@pytest.mark.parametrize("model_type", IMAGE + TEXT)
def test_anatomy_finds_head_and_blocks(model_type):
    parts = modes.anatomy(build(model_type))
    head, blocks = EXPECTED[model_type]
    assert parts.head == head
    assert parts.num_blocks == blocks


@pytest.mark.parametrize("model_type", IMAGE + TEXT)
def test_frozen_mode_trains_only_the_head(model_type):
    model = modes.apply_mode(build(model_type), spec("frozen"))
    head = EXPECTED[model_type][0]
    for name, param in model.named_parameters():
        assert param.requires_grad == any(name.startswith(h + ".") for h in head), name


@pytest.mark.parametrize("model_type", IMAGE + TEXT)
def test_lora_auto_targets_the_right_modules(model_type):
    model = modes.apply_mode(build(model_type), spec("lora", lora=LoraSpec(r=2, alpha=4)))
    wrapped = {
        name.rsplit(".", 1)[-1]
        for name, m in model.named_modules()
        if hasattr(m, "lora_A") and m.lora_A
    }
    assert wrapped == LORA_TARGETS[model_type]
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    head = EXPECTED[model_type][0]
    # Only LoRA matrices and the new head (a modules_to_save copy) train.
    assert trainable and all("lora_" in n or any(f".{h}." in n for h in head) for n in trainable)
    assert any("modules_to_save" in n for n in trainable)


def test_lora_explicit_targets_and_a_bad_one():
    model = modes.apply_mode(build("bert"), spec("lora", lora=LoraSpec(target_modules=["query"])))
    assert any(n.endswith("query.lora_A.default.weight") for n, _ in model.named_parameters())
    with pytest.raises(RecipeError, match="model.lora.target_modules"):
        modes.apply_mode(build("bert"), spec("lora", lora=LoraSpec(target_modules=["nope"])))


def test_lora_auto_regex_stays_inside_the_blocks():
    # RoBERTa's head has a `dense` layer too; the auto regex must not reach the head.
    pattern = modes.lora_target_modules(build("roberta"))
    assert re.fullmatch(pattern, "roberta.encoder.layer.0.attention.self.query")
    assert not re.fullmatch(pattern, "classifier.dense")


@pytest.mark.parametrize(
    ("model_type", "n"), [("vit", 1), ("bert", 2), ("resnet", 1), ("distilbert", 1)]
)
def test_freeze_layers_freezes_embeddings_and_lowest_blocks(model_type, n):
    model = build(model_type)
    parts = modes.anatomy(model)
    modes.apply_mode(model, spec("full", freeze_layers=n))
    blocks = parts.blocks_prefix
    for name, param in model.named_parameters():
        match = re.match(re.escape(blocks) + r"\.(\d+)\.", name)
        if match:
            assert param.requires_grad == (int(match.group(1)) >= n), name
        elif "embed" in name:
            assert not param.requires_grad, name
        else:  # the head, and what follows the blocks (final norm, pooler) still train
            assert param.requires_grad, name


def test_freeze_layers_beyond_the_model_is_an_error():
    with pytest.raises(
        RecipeError, match="model.freeze_layers=5 but ViTForImageClassification has 2 blocks"
    ):
        modes.apply_mode(build("vit"), spec("full", freeze_layers=5))


def test_frozen_cnn_keeps_batchnorm_statistics():
    model = modes.apply_mode(build("resnet"), spec("frozen"))
    model.train()  # what the Trainer does every step
    before = {n: b.clone() for n, b in model.named_buffers() if "running" in n}
    model(pixel_values=torch.randn(4, 3, 32, 32) * 3 + 1)
    after = dict(model.named_buffers())
    assert before and all(torch.equal(before[n], after[n]) for n in before)


def test_full_mode_cnn_updates_batchnorm_statistics():
    model = modes.apply_mode(build("resnet"), spec("full"))
    model.train()
    before = {n: b.clone() for n, b in model.named_buffers() if "running_mean" in n}
    model(pixel_values=torch.randn(4, 3, 32, 32) * 3 + 1)
    assert any(not torch.equal(before[n], b) for n, b in model.named_buffers() if n in before)


def test_trainable_summary_counts():
    model = modes.apply_mode(build("vit"), spec("frozen"))
    trainable, total = modes.count_parameters(model)
    assert trainable == 32 * 3 + 3  # classifier weight + bias
    assert modes.trainable_summary(model).startswith(f"{trainable:,} of {total:,} (")
