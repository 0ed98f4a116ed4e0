"""Architectures beyond the first seven: the anatomy, LoRA targets and feature cache on tiny
models of every layout the coverage matrix (scripts/architectures.py, docs/architectures.md)
found, and a slice of the matrix itself run through the real pipeline."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
import torch
import transformers
from torch import nn
from transformers import (
    AutoModelForImageClassification,
    AutoModelForSequenceClassification,
    PretrainedConfig,
)

from hfft import feature_cache, modes
from hfft.errors import RecipeError
from hfft.modes.lora import lora_kind
from hfft.recipe import LoraSpec, ModelSpec
from scripts import architectures as arch

tiny_models = arch.tiny_models
tiny_data = importlib.import_module("tiny_data")  # scripts/, on the path once arch is imported

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architectures.md"


def build(kind: str, model_type: str):
    torch.manual_seed(0)
    if kind == "image":
        config = tiny_models.tiny_config(model_type, 3, vision=True)
        return AutoModelForImageClassification.from_config(config)
    if kind in ("audio", "tokens"):
        spec = arch.KINDS[kind]
        config = tiny_models.tiny_config(model_type, 3, vision=False, classes=spec.classes)
        return getattr(transformers, spec.auto).from_config(config)
    config = tiny_models.tiny_config(model_type, 2, vision=False)
    return AutoModelForSequenceClassification.from_config(config)


def spec(mode: str, **kwargs) -> ModelSpec:
    return ModelSpec(checkpoint="x", mode=mode, **kwargs)


# --- CLIP and SigLIP: base_model_prefix names no module ------------------------------------


@pytest.mark.parametrize("model_type", ["clip", "siglip"])
def test_clip_and_siglip_backbone_is_the_vision_tower(model_type):
    model = build("image", model_type)
    assert not hasattr(model, model.base_model_prefix)  # the cause: "clip"/"siglip" is no module
    parts = modes.anatomy(model)
    assert parts.backbone == ["vision_model"]
    assert parts.head == ["classifier"]
    assert parts.blocks_prefix == "vision_model.encoder.layers"
    assert parts.num_blocks == 2


@pytest.mark.parametrize("model_type", ["clip", "siglip"])
def test_clip_and_siglip_train_in_every_mode_with_lora_on_the_vision_tower(model_type):
    for mode, kwargs in [("full", {}), ("full", {"freeze_layers": 1}), ("frozen", {})]:
        modes.apply_mode(build("image", model_type), spec(mode, **kwargs))
    model = modes.apply_mode(build("image", model_type), spec("lora", lora=LoraSpec(r=2)))
    wrapped = {n for n, m in model.named_modules() if hasattr(m, "lora_A") and m.lora_A}
    assert wrapped and all(".vision_model.encoder.layers." in n for n in wrapped)
    assert {n.rsplit(".", 1)[-1] for n in wrapped} == {"q_proj", "v_proj"}


# --- A backbone hfft cannot find: one line naming model.backbone ----------------------------


class Opaque(nn.Module):
    """A classifier whose prefix names nothing and whose last layer is not num_labels wide."""

    base_model_prefix = "nothing"
    main_input_name = "pixel_values"

    def __init__(self) -> None:
        super().__init__()
        self.config = PretrainedConfig(num_labels=3)
        self.tower = nn.Sequential(nn.Linear(4, 4), nn.ModuleList([nn.Sequential(nn.Linear(4, 4))]))
        self.top = nn.Linear(4, 5)


def test_a_backbone_that_cannot_be_found_says_to_set_model_backbone():
    with pytest.raises(RecipeError) as err:
        modes.apply_mode(Opaque(), spec("frozen"))
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("cannot tell the backbone of Opaque from its new head")
    assert message.endswith("set model.backbone to the name of its backbone module")
    # ... and the key it names works:
    parts = modes.anatomy(Opaque(), "tower")
    assert (parts.backbone, parts.head) == (["tower"], ["top"])
    model = modes.apply_mode(Opaque(), spec("frozen", backbone="tower"))
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["top.weight", "top.bias"]
    with pytest.raises(RecipeError, match=r"model.backbone 'towr' names no module of Opaque"):
        modes.anatomy(Opaque(), "towr")


def test_full_mode_never_needs_the_anatomy(tmp_path):
    from hfft.recipe import load_recipe

    raw = {
        "task": "image-classification",
        "model": {"checkpoint": str(tmp_path)},
        "data": {"path": "imagefolder", "data_dir": str(tmp_path)},
        "training": {"output_dir": str(tmp_path / "run")},
    }
    assert modes.apply_mode(Opaque(), spec("full")) is not None
    cache, why = feature_cache.cache_decision(load_recipe(raw), Opaque())
    assert (cache, why) == (
        False,
        "mode is full, which trains the backbone; augmentation changes the inputs every epoch "
        "(data.augmentation.enabled)",
    )
    cache, why = feature_cache.cache_decision(
        load_recipe(raw, ["data.augmentation.enabled=false"]), Opaque()
    )
    assert (cache, why) == (False, "mode is full, which trains the backbone")


# --- LoRA auto: only layers PEFT adapts and merges ------------------------------------------


def test_mobilenet_v2_lora_skips_depthwise_convolutions():
    model = build("image", "mobilenet_v2")
    pattern = modes.lora_target_modules(model)
    targets = {n: m for n, m in model.named_modules() if re.fullmatch(pattern, n)}
    depthwise = [n for n, m in model.named_modules() if getattr(m, "groups", 1) > 1]
    assert targets and depthwise
    assert all(m.groups == 1 for m in targets.values())
    assert not set(depthwise) & set(targets)
    # r=4 is not divisible by the depthwise groups: PEFT refused this before.
    peft_model = modes.apply_mode(model, spec("lora", lora=LoraSpec(r=4, alpha=8)))
    x = torch.randn(2, 3, 64, 64)
    for module in peft_model.modules():  # non-zero adapters, so merging has something to do
        if hasattr(module, "lora_B") and module.lora_B:
            nn.init.normal_(module.lora_B["default"].weight, std=0.02)
    peft_model.eval()
    before = peft_model(pixel_values=x).logits
    merged = peft_model.merge_and_unload()
    torch.testing.assert_close(merged(pixel_values=x).logits, before, atol=1e-5, rtol=1e-4)


def test_weight_standardised_convolutions_are_not_lora_targets():
    # BiT's convolution standardises its weight in forward: a merged LoRA delta would be
    # standardised too, so the merged model would not compute what the adapter did.
    model = build("image", "bit")
    standardised = [m for m in model.modules() if type(m).__name__ == "WeightStandardizedConv2d"]
    assert standardised and all(lora_kind(m) is None for m in standardised)
    assert lora_kind(nn.Conv2d(4, 4, 3)) == "conv"
    assert lora_kind(nn.Conv2d(4, 4, 3, groups=4)) is None
    assert lora_kind(nn.Linear(4, 4)) == "linear"


def test_subclasses_that_merge_exactly_stay_lora_targets():
    # Falcon's FalconLinear has its own forward but computes x @ W.T + b: merging is exact.
    model = build("text", "falcon")
    pattern = modes.lora_target_modules(model)
    assert {n.rsplit(".", 1)[-1] for n, _ in model.named_modules() if re.fullmatch(pattern, n)} == {
        "query_key_value"
    }


def test_attention_without_a_query_value_pair_keeps_lora_out_of_the_mlp():
    # DeepSeek-V2's latent attention has q_a_proj/kv_b_proj..., its MoE an MLP whose
    # gate/up/down names PEFT maps onto fused expert weights (and then refuses lora_dropout).
    model = modes.apply_mode(build("text", "deepseek_v2"), spec("lora", lora=LoraSpec(r=2)))
    wrapped = {n for n, m in model.named_modules() if hasattr(m, "lora_A") and m.lora_A}
    assert wrapped and all(".self_attn." in n for n in wrapped)


def test_gpt2_conv1d_layers_are_lora_targets_with_fan_in_fan_out():
    model = modes.apply_mode(build("text", "gpt2"), spec("lora", lora=LoraSpec(r=2)))
    assert model.peft_config["default"].fan_in_fan_out is True
    wrapped = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if hasattr(m, "lora_A")}
    assert "c_attn" in wrapped


def test_lora_auto_without_any_adaptable_layer_says_which_modes_work():
    class NoLayers(Opaque):
        def __init__(self) -> None:
            super().__init__()
            self.tower = nn.ModuleList([nn.Sequential(nn.Conv2d(4, 4, 3, groups=4))])
            self.top = nn.Linear(4, 3)

    with pytest.raises(RecipeError) as err:
        modes.apply_mode(NoLayers(), spec("lora"))
    assert str(err.value) == (
        "target_modules: auto found no layer LoRA can adapt in the blocks of NoLayers (PEFT "
        "adapts nn.Linear, transformers Conv1D and convolutions with groups=1): use "
        "model.mode=full or frozen"
    )


# --- Anatomy of the other layouts -----------------------------------------------------------


def test_parallel_block_lists_freeze_together():
    # XLM keeps attentions[i] and ffns[i] side by side instead of one list of layers.
    model = build("text", "xlm")
    parts = modes.anatomy(model)
    assert parts.blocks[0] == ["transformer.attentions.0", "transformer.ffns.0"]
    modes.apply_mode(model, spec("full", freeze_layers=1))
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert any(n.startswith("transformer.attentions.0.") for n in frozen)
    assert any(n.startswith("transformer.ffns.0.") for n in frozen)
    assert not any(
        n.startswith(("transformer.attentions.1.", "transformer.ffns.1.")) for n in frozen
    )


def test_encoder_decoder_blocks_run_from_the_encoder_up():
    model = build("text", "bart")
    parts = modes.anatomy(model)
    assert [b[0] for b in parts.blocks] == [
        "model.encoder.layers.0",
        "model.encoder.layers.1",
        "model.decoder.layers.0",
        "model.decoder.layers.1",
    ]
    modes.apply_mode(model, spec("full", freeze_layers=1))
    assert all(p.requires_grad for n, p in model.named_parameters() if ".encoder.layers.1." in n)


def test_a_head_inside_the_backbone_is_its_logits_layer():
    parts = modes.anatomy(build("image", "perceiver"))
    assert parts.head == ["perceiver.decoder.decoder.final_layer"]


def test_a_tiny_speech_models_blocks_are_its_transformer_layers():
    # Its conv feature encoder is shrunk below the transformer layers, as in real checkpoints
    # (4M of wav2vec2-base's 95M parameters), so freeze_layers counts the same blocks.
    model = build("audio", "wav2vec2")
    parts = modes.anatomy(model)
    assert parts.blocks_prefix == "wav2vec2.encoder.layers"
    assert parts.head == ["projector", "classifier"]
    assert model.config.conv_dim == [16] * 7


def test_a_tiny_tokenizer_reloaded_as_the_types_own_class_reads_every_word(tmp_path):
    # transformers reloads a Qwen2 checkpoint's tokenizer as Qwen2Tokenizer whatever was saved:
    # a byte-level BPE rebuilt from the word vocabulary, which read most words as nothing (the
    # matrix's token cells failed with "pipeline() tagged no token").
    from transformers import AutoTokenizer

    words = tiny_data.token_vocabulary()
    kind = arch.KINDS["tokens"]
    ckpt = tiny_models.save_text_checkpoint(
        "qwen2", tmp_path, 5, words, task_class=kind.auto, classes=kind.classes
    )
    tokenizer = AutoTokenizer.from_pretrained(ckpt)
    assert type(tokenizer).__name__ == "Qwen2Tokenizer"
    assert all(tokenizer(w, add_special_tokens=False)["input_ids"] for w in words)


def test_children_form_the_backbone_when_the_prefix_names_none():
    parts = modes.anatomy(build("image", "hgnet_v2"))
    assert (parts.backbone, parts.head) == (["embedder", "encoder"], ["fc"])


# --- Frozen-feature cache: sequence-shaped head inputs --------------------------------------


@pytest.mark.parametrize("model_type", ["roberta", "electra"])
def test_sequence_head_inputs_are_probed_as_cacheable(model_type):
    model = build("text", model_type)
    head = model.get_submodule(modes.anatomy(model).head[0])
    assert feature_cache.head_probe(model, head) == []


def test_heads_whose_output_the_model_pools_are_not_cached():
    model = build("text", "gpt2")
    assert feature_cache.head_probe(model, model.score) == [
        "GPT2ForSequenceClassification computes its logits after the head (the head outputs "
        "(1, 4, 2), the logits are (1, 2))"
    ]


def test_fingerprint_covers_zero_dim_buffers():
    # BatchNorm's num_batches_tracked is a 0-dim tensor: every CNN's frozen cache crashed on it.
    model = build("image", "mobilenet_v2")
    assert any(b.dim() == 0 for b in model.buffers())
    before = feature_cache.weights_fingerprint(model)
    next(b for b in model.buffers() if b.dim() == 0).add_(1)
    assert feature_cache.weights_fingerprint(model) != before


def test_a_head_probed_through_generic_inputs_is_not_cached():
    # Perceiver's main input is `inputs`; its classifier's output gets squeezed afterwards.
    model = build("image", "perceiver")
    head = model.get_submodule(modes.anatomy(model).head[0])
    assert feature_cache.head_probe(model, head) == [
        "PerceiverForImageClassificationLearned computes its logits after the head (the head "
        "outputs (1, 1, 3), the logits are (1, 3))"
    ]


@pytest.mark.slow
@pytest.mark.parametrize("model_type", ["roberta", "electra"])
def test_frozen_cache_pads_sequence_features_and_trains(model_type, tmp_path):
    from hfft.run import build_run

    ckpt, data = arch.build("text", model_type, tmp_path)
    run = build_run(arch.recipe_for("text", ckpt, data, tmp_path / "run", ["model.mode=frozen"]))
    assert isinstance(run.trainer.model, feature_cache.HeadOnly)
    shapes = {tuple(row["features"].shape) for row in run.prepared["train"]}
    assert len(shapes) == 1  # padded to the split's longest: the collator can stack them
    # Before: "stack expects each tensor to be equal size, but got [10, 32] ... [9, 32]".
    run.trainer.train()


def test_a_mode_the_model_cannot_take_is_one_preflight_line(tmp_path):
    from hfft.preflight import PreflightError
    from hfft.run import build_run

    # BiT's only convolutions standardise their weights: LoRA has nothing it can merge back.
    ckpt, _ = arch.build("image", "bit", tmp_path)
    missing = tmp_path / "no-such-data"
    recipe = arch.recipe_for("image", ckpt, missing, tmp_path / "run", ["model.mode=lora"])
    with pytest.raises(PreflightError) as err:
        build_run(recipe)
    # Found on a weightless copy before the data loads, so both problems come together.
    assert len(err.value.problems) == 2
    assert err.value.problems[0] == (
        "target_modules: auto found no layer LoRA can adapt in the blocks of "
        "BitForImageClassification (PEFT adapts nn.Linear, transformers Conv1D and "
        "convolutions with groups=1): use model.mode=full or frozen"
    )
    assert str(missing) in err.value.problems[1]


# --- The matrix, a slice: one training step, save, pipeline() reload, same logits ------------

# The types the issue names, plus one for every part of a layout or LoRA rule the matrix found
# that those do not show (checked below); each must give exactly the cells the committed matrix
# recorded.
SLICE = {
    "image": [
        *["clip", "siglip", "mobilenet_v2", "dinov2", "swin", "convnext", "resnet"],
        *["perceiver", "swiftformer", "bit"],  # head inside the backbone, 3-module head, no LoRA
    ],
    "text": [
        *["roberta", "electra", "deberta-v2", "albert"],
        # logits after the head + fused qkv, 2/3 stacks, parallel lists
        *["gpt2", "bart", "canine", "xlm"],
    ],
    # A cached spectrogram transformer, a conv feature encoder with a projector + pooled head,
    # an encoder the task names as the backbone (its 30 s window cut to 1 s).
    "audio": ["audio-spectrogram-transformer", "wav2vec2", "whisper"],
    "tokens": ["bert", "gpt2", "qwen2"],  # qwen2: its tokenizer reloads as Qwen2Tokenizer
}
MATRIX = ROOT / "docs" / "architectures.json"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "model_type"), [(k, t) for k, types in SLICE.items() for t in types]
)
def test_matrix_slice(kind, model_type, tmp_path, monkeypatch):
    # As in the matrix: the PNG plots say nothing about an architecture.
    for module, name in arch.plot_functions():
        monkeypatch.setattr(module, name, lambda *args, **kwargs: None)
    expected = json.loads(MATRIX.read_text())[f"{kind}/{model_type}"]["cells"]
    ckpt, data = arch.build(kind, model_type, tmp_path)
    results = {
        cell: arch.cell(kind, ckpt, data, tmp_path / f"run{i}", overrides)
        for i, (cell, overrides) in enumerate(arch.MODES.items())
    }
    assert results == expected


def documented(section: str) -> dict[str, list[str]]:
    """A docs/architectures.md table of `value | types` as {value: types}."""
    text = DOC.read_text().split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    return {row.split(" | ")[0][2:]: re.findall(r"`([^`]+)`", row.split(" | ")[1]) for row in rows}


def parts(value: str) -> set[str]:
    """'backbone by prefix; 1 stack; 1-module head, sequence input' -> its four parts."""
    return {part for piece in value.split("; ") for part in piece.split(", ")}


@pytest.mark.parametrize("section", ["Layouts found", "LoRA `target_modules: auto`"])
def test_the_slice_covers_every_documented_layout(section):
    if not DOC.is_file():
        pytest.skip("docs/architectures.md not generated yet: run scripts/architectures.py")
    covered = {f"{kind}/{t}" for kind, types in SLICE.items() for t in types}
    found = documented(section)
    assert found
    shown = {p for value, types in found.items() if covered & set(types) for p in parts(value)}
    missing = {p for value in found for p in parts(value)} - shown
    assert not missing, missing
