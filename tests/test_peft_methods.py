"""`model.mode: peft`: every PEFT method on tiny ViT and BERT trains exactly its own parameters and
the head, leaves every other weight bit-for-bit as it was, and its merged model computes what the
adapter computed; `model.peft` keys are checked against the method's PEFT config class."""

from __future__ import annotations

import json
import re

import pytest
import torch
from transformers import AutoModelForImageClassification, AutoModelForSequenceClassification

from hfft import modes
from hfft.cli import main
from hfft.errors import RecipeError
from hfft.modes.peft_targets import METHODS
from hfft.recipe import ModelSpec, load_recipe
from tests import tiny

ARCHS = ("vit", "bert")
# The layers auto targets, per method and architecture (leaf names).
AUTO_TARGETS = {
    "vit": {
        "ia3": {"k_proj", "v_proj", "fc2"},
        "ln_tuning": {"layernorm_before", "layernorm_after"},
    },
    "bert": {"ia3": {"key", "value", "dense"}, "ln_tuning": {"LayerNorm"}},
}
QUERY_VALUE = {"vit": {"q_proj", "v_proj"}, "bert": {"query", "value"}}


def build(arch: str):
    torch.manual_seed(0)
    if arch == "vit":
        return AutoModelForImageClassification.from_config(tiny.image_config("vit"))
    return AutoModelForSequenceClassification.from_config(tiny.text_config("bert"))


def inputs(arch: str) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    if arch == "vit":
        return {"pixel_values": torch.randn(3, 3, 32, 32, generator=generator)}
    return {"input_ids": torch.randint(5, 30, (3, 9), generator=generator)}


def peft_spec(method: str, **options) -> ModelSpec:
    return ModelSpec(checkpoint="x", mode="peft", peft={"method": method, **options})


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_method_trains_exactly_its_own_parameters_and_the_head(method, arch):
    model = modes.apply_mode(build(arch), peft_spec(method))
    trainable = {n: p.numel() for n, p in model.named_parameters() if p.requires_grad}
    marker = METHODS[method].marker
    own = {n for n in trainable if marker in n}
    head = {n for n in trainable if ".classifier.modules_to_save." in n}
    assert own and head, (own, head)
    assert set(trainable) == own | head, sorted(set(trainable) - own - head)
    # The head copy trains whole: weight and bias of the classifier.
    assert {n.rsplit(".", 1)[-1] for n in head} == {"weight", "bias"}
    trained, _ = modes.count_parameters(model)
    assert trained == sum(trainable.values())
    wrapped = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if hasattr(m, "base_layer")}
    wrapped.discard("classifier")
    assert wrapped == AUTO_TARGETS[arch].get(method, QUERY_VALUE[arch])


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("method", sorted(METHODS))
def test_merged_model_computes_what_the_adapter_computes(method, arch, tmp_path):
    model = modes.apply_mode(build(arch), peft_spec(method))
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():  # stands in for training: every trainable tensor moves
        for param in model.parameters():
            if param.requires_grad:
                param.add_(0.1 * torch.randn(param.shape, generator=generator))
    model.eval()
    with torch.no_grad():
        adapter_logits = model(**inputs(arch)).logits
    merged = modes.finalize(model, tmp_path)
    assert not modes.is_peft(merged)
    merged.eval()
    with torch.no_grad():
        merged_logits = merged(**inputs(arch)).logits
    torch.testing.assert_close(merged_logits, adapter_logits, atol=1e-5, rtol=0)
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["modules_to_save"] == ["classifier"]


def _train(tmp_path, checkpoint, arch, peft, epochs=1):
    from hfft.run import train

    data = (
        {"path": "imagefolder", "data_dir": str(tiny.make_image_folder(tmp_path / "colors"))}
        if arch == "vit"
        else {
            "path": "csv",
            "data_files": str(tiny.make_text_csv(tmp_path / "reviews")),
            "columns": {"text": "sentence", "label": "sentiment"},
        }
    )
    task = "image-classification" if arch == "vit" else "text-classification"
    recipe = load_recipe(
        {
            "task": task,
            "model": {"checkpoint": str(checkpoint), "mode": "peft", "peft": peft},
            "data": data,
            "early_stopping": {"patience": None},
            "training": {
                "output_dir": str(tmp_path / "run"),
                "num_train_epochs": epochs,
                "per_device_train_batch_size": 4,
                "learning_rate": 5e-2,
                "weight_decay": 0.1,  # a frozen weight in the optimizer would shrink
                "use_cpu": True,
                "save_strategy": "no",
                "load_best_model_at_end": False,
            },
        }
    )
    return train(recipe)


# Each method once, on one of the two architectures (the pipeline is the same for both).
TRAINED = [
    ("dora", "vit"), ("ia3", "vit"), ("ln_tuning", "vit"), ("oft", "vit"), ("lokr", "vit"),
    ("lora", "bert"), ("vera", "bert"), ("loha", "bert"), ("adalora", "bert"), ("boft", "bert"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "arch"), TRAINED)
def test_training_changes_only_the_adapted_layers_and_the_head(method, arch, tmp_path):
    make = tiny.make_image_checkpoint if arch == "vit" else tiny.make_text_checkpoint
    checkpoint = make(tmp_path / "ckpt")
    peft = {"method": method, **({"init_r": 4, "target_r": 2} if method == "adalora" else {})}
    result = _train(tmp_path, checkpoint, arch, peft)
    run = result.run_dir
    # In-memory names (transformers 5 saves ViT under its original names).
    auto = AutoModelForImageClassification if arch == "vit" else AutoModelForSequenceClassification
    before = auto.from_pretrained(str(checkpoint)).state_dict()
    after = auto.from_pretrained(str(run)).state_dict()
    config = json.loads((run / "adapter" / "adapter_config.json").read_text())
    assert config["peft_type"].lower().replace("_", "") == METHODS[method].config_class.lower().removesuffix("config")  # fmt: skip
    # Only the targeted layers and the head changed; every other tensor is bit-for-bit the
    # checkpoint's (the merged model holds the adapted layers).
    model = build(arch)
    targets = [n for n, _ in model.named_modules() if re.fullmatch(config["target_modules"], n)]
    leaves = {n.rsplit(".", 1)[-1] for n in targets}
    adapted = [k for k in after if k.rsplit(".", 2)[-2] in leaves or k.startswith("classifier.")]
    changed = {k for k in before if k in after and not torch.equal(before[k], after[k])}
    assert changed and changed <= set(adapted), sorted(changed - set(adapted))
    untouched = [k for k in before if k in after and k not in adapted]
    assert untouched and all(torch.equal(before[k], after[k]) for k in untouched)
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
    card = (run / "README.md").read_text()
    assert "**peft** mode" in card and f"PEFT {method} adapters" in card


def test_pipeline_loads_the_merged_model(tmp_path):
    from transformers import pipeline

    checkpoint = tiny.make_image_checkpoint(tmp_path / "ckpt")
    run = _train(tmp_path, checkpoint, "vit", {"method": "ia3"}).run_dir
    image = next((tmp_path / "colors" / "train" / "red").glob("*.png"))
    out = pipeline("image-classification", model=str(run))(str(image))
    assert {o["label"] for o in out} == {"red", "green", "blue"}


@pytest.mark.parametrize(
    ("peft", "message"),
    [
        (
            {"method": "dorra"},
            "model.peft.method: unknown method 'dorra' (did you mean 'dora'?); choose one of",
        ),
        (
            {"method": "lora", "rank": 4},
            "unknown recipe key 'model.peft.rank' (did you mean 'model.peft.r'?): model.peft: "
            "takes peft.LoraConfig options (method lora) and method",
        ),
        (
            {"method": "ia3", "r": 4},
            "unknown recipe key 'model.peft.r' (did you mean 'model.peft.target_modules'?)",
        ),
        (
            {"method": "loha", "alpha": "many"},
            "model.peft.alpha: expected an integer, got 'many' (str)",
        ),
        ({"method": "dora", "use_dora": False}, "model.peft.use_dora is set by hfft"),
        ({"task_type": "SEQ_CLS"}, "model.peft.task_type is set by hfft"),
        (
            {"method": "oft", "r": 4, "oft_block_size": 8},
            "model.peft (method oft): You can only specify either r (4) or oft_block_size (8)",
        ),
    ],
)
def test_bad_peft_keys_are_one_line(peft, message):
    with pytest.raises(RecipeError) as err:
        ModelSpec(checkpoint="x", mode="peft", peft=peft)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_peft_options_are_completed_and_refused_in_other_modes():
    spec = ModelSpec(checkpoint="x", mode="peft", peft={"r": 4, "lora_dropout": "5e-2"})
    assert spec.peft == {"method": "lora", "r": 4, "lora_dropout": 0.05, "target_modules": "auto"}
    with pytest.raises(RecipeError, match=r"model.peft=\{'r': 4\} only applies to mode 'peft'"):
        ModelSpec(checkpoint="x", mode="full", peft={"r": 4})
    saved = modes.saved_model_spec(spec, "run")
    assert saved.mode == "full" and saved.peft == {}


def test_a_method_that_cannot_adapt_the_architecture_fails_at_preflight(tmp_path, capsys):
    checkpoint = tiny.make_image_checkpoint(tmp_path / "resnet", "resnet")
    folder = tiny.make_image_folder(tmp_path / "colors")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        json.dumps(
            {
                "task": "image-classification",
                "model": {
                    "checkpoint": str(checkpoint),
                    "mode": "peft",
                    "peft": {"method": "vera"},
                },
                "data": {"path": "imagefolder", "data_dir": str(folder)},
                "training": {"output_dir": str(tmp_path / "run"), "use_cpu": True},
            }
        )
    )
    assert main(["train", str(recipe)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "hfft: error: model.peft.method vera: target_modules auto found no layer it can adapt "
        "in the blocks of ResNetForImageClassification (vera adapts linear layers here); choose "
        "another model.peft.method (lora adapts convolutions too) or set "
        "model.peft.target_modules"
    )
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_explicit_targets_pass_through_and_a_bad_one_is_one_line():
    model = modes.apply_mode(build("bert"), peft_spec("loha", target_modules=["query"]))
    assert any("query.hada_w1_a" in n for n, _ in model.named_parameters())
    with pytest.raises(RecipeError) as err:
        modes.apply_mode(build("bert"), peft_spec("loha", target_modules=["nope"]))
    assert str(err.value).startswith(
        "model.peft.method loha cannot adapt BertForSequenceClassification (target_modules "
        "['nope']): "
    )
