"""training.bf16/fp16 `auto` (the default): bf16 where the hardware has it natively (a GPU with
bf16, a CPU with bf16 instructions), fp32 otherwise; the resolved value goes in the start line,
recipe.yaml and the card; a bf16-trained run evaluates and predicts on any machine."""

from __future__ import annotations

import json
import logging

import pytest
import yaml

from hfft import precision
from hfft.cli import main
from hfft.errors import RecipeError
from hfft.recipe import load_recipe
from tests import tiny

X86 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n"
OLD_X86 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (X86, (True, "CPU with avx512_bf16")),
        (X86.replace("avx512_bf16", "amx_bf16 amx_tile"), (True, "CPU with amx_bf16")),
        (ARM, (True, "CPU with bf16")),
        (OLD_X86, (False, "CPU without bf16 instructions")),
    ],
)
def test_cpu_flags_decide(tmp_path, monkeypatch, text, expected):
    monkeypatch.delenv(precision.CPU_BF16_ENV)
    (tmp_path / "cpuinfo").write_text(text)
    assert precision.cpu_bf16(tmp_path / "cpuinfo") == expected
    assert precision.cpu_bf16(tmp_path / "missing")[0] is False
    monkeypatch.setenv(precision.CPU_BF16_ENV, "1")
    assert precision.cpu_bf16(tmp_path / "cpuinfo") == (True, "HFFT_CPU_BF16=1")


def test_auto_on_cpus(tmp_path, monkeypatch):
    monkeypatch.delenv(precision.CPU_BF16_ENV)
    monkeypatch.setattr(precision, "CPUINFO", tmp_path / "cpuinfo")
    (tmp_path / "cpuinfo").write_text(X86)
    assert precision.resolve({}) == (
        {"bf16": True, "fp16": False},
        "bf16 (auto: CPU with avx512_bf16)",
    )
    (tmp_path / "cpuinfo").write_text(OLD_X86)
    assert precision.resolve({"bf16": "auto"}) == (
        {"bf16": False, "fp16": False},
        "fp32 (auto: CPU without bf16 instructions)",
    )


@pytest.mark.parametrize(
    ("bf16_gpu", "expected"),
    [
        (True, ({"bf16": True, "fp16": False}, "bf16 (auto: cuda GPU with bf16)")),
        (False, ({"bf16": False, "fp16": False}, "fp32 (auto: cuda GPU without bf16 (training.fp16=true is the fast choice there))")),
    ],
)  # fmt: skip
def test_auto_on_a_gpu(monkeypatch, bf16_gpu, expected):
    import transformers.utils

    monkeypatch.setattr(precision, "_accelerator", lambda: "cuda")
    monkeypatch.setattr(transformers.utils, "is_torch_bf16_gpu_available", lambda: bf16_gpu)
    assert precision.resolve({}) == expected
    # use_cpu: the CPU decides (conftest: one without bf16)
    assert precision.resolve({"use_cpu": True})[1] == "fp32 (auto: HFFT_CPU_BF16=0)"


def test_the_recipe_decides_when_it_says(monkeypatch):
    monkeypatch.setenv(precision.CPU_BF16_ENV, "1")
    assert precision.resolve({"fp16": True}) == ({"bf16": False, "fp16": True}, "fp16 (recipe)")
    assert precision.resolve({"bf16": False}) == ({"bf16": False, "fp16": False}, "fp32 (recipe)")
    assert precision.resolve({"bf16": True}) == ({"bf16": True, "fp16": False}, "bf16 (recipe)")


def test_a_bad_value_is_one_line():
    raw = {
        "task": "image-classification",
        "model": {"checkpoint": "./m"},
        "data": {"path": "imagefolder", "data_dir": "./d"},
        "training": {"output_dir": "run", "bf16": "maybe"},
    }
    with pytest.raises(RecipeError, match=r"^training.bf16='maybe': choose true, false or auto$"):
        load_recipe(raw)
    raw["training"]["bf16"] = "auto"
    assert load_recipe(raw).training["bf16"] == "auto"


@pytest.mark.slow
def test_bf16_auto_trains_and_the_run_evaluates_and_predicts_without_bf16(
    tmp_path, monkeypatch, caplog, capsys
):
    ckpt = tiny.make_image_checkpoint(tmp_path / "ckpt")
    folder = tiny.make_image_folder(tmp_path / "colors", per_class=6)
    raw = {
        "task": "image-classification",
        "model": {"checkpoint": str(ckpt)},
        "data": {"path": "imagefolder", "data_dir": str(folder), "test_fraction": 0.25},
        "training": {"output_dir": str(tmp_path / "run"), "num_train_epochs": 1},
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setenv(precision.CPU_BF16_ENV, "1")  # a CPU with bf16 instructions
    with caplog.at_level(logging.INFO, logger="hfft"):
        assert main(["train", str(tmp_path / "recipe.yaml")]) == 0
    assert any("| bf16 (auto: HFFT_CPU_BF16=1) |" in r.getMessage() for r in caplog.records)
    run = tmp_path / "run"
    saved = yaml.safe_load((run / "recipe.yaml").read_text())["training"]
    assert (saved["bf16"], saved["fp16"]) == (True, False)
    assert "use_cpu" not in saved  # the machine's business, not the recipe's
    assert "| `bf16` | `True` |" in (run / "README.md").read_text()

    monkeypatch.setenv(precision.CPU_BF16_ENV, "0")  # another machine: no bf16 there
    capsys.readouterr()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="hfft"):
        assert main(["eval", str(run)]) == 0
    out = capsys.readouterr()
    assert "evaluating in fp32: the run trained with bf16=true" in caplog.text
    assert 0 <= json.loads(out.out)["accuracy"] <= 1
    image = next((folder / "train" / "red").glob("*.png"))
    assert main(["predict", str(run), str(image)]) == 0
    line = json.loads(capsys.readouterr().out)
    assert {p["label"] for p in line["predictions"]} == {"blue", "green", "red"}


@pytest.mark.parametrize(
    ("hidden", "expected"),
    [
        (384, "bf16 (auto: CPU with avx512_bf16, hidden size 384)"),
        (64, "fp32 (auto: CPU with avx512_bf16, but hidden size 64 < 256 trains faster in fp32)"),
    ],
)
def test_on_a_cpu_narrow_models_stay_fp32(tmp_path, monkeypatch, hidden, expected):
    # measured: the demo's ViT (hidden 64) trains 0.54x as fast in bf16, ViT-small 1.9x
    from hfft.checkpoint import model_width
    from hfft.recipe_schema import ModelSpec

    monkeypatch.delenv(precision.CPU_BF16_ENV)
    monkeypatch.setattr(precision, "CPUINFO", tmp_path / "cpuinfo")
    (tmp_path / "cpuinfo").write_text(X86)
    config = {"model_type": "vit", "hidden_size": hidden, "num_attention_heads": 4}
    spec = ModelSpec(config=config, processor={"class": "ViTImageProcessor"})
    assert precision.resolve({}, lambda: model_width(spec))[1] == expected
    ckpt = tiny.make_image_checkpoint(tmp_path / "ckpt")  # hidden 32, from its config.json
    assert model_width(ModelSpec(checkpoint=str(ckpt))) == 32
    assert model_width(ModelSpec(checkpoint=str(tmp_path / "nothing"))) is None
