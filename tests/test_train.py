"""End to end `hfft train` on tiny models: which parameters trained, what the run dir holds,
LoRA reload equivalence, pipeline compatibility, best-model restore."""

from __future__ import annotations

import json
import logging
import re

import pytest
import torch
from transformers import (
    AutoModelForImageClassification,
    AutoModelForSequenceClassification,
    pipeline,
)

from hfft import modes
from hfft.cli import main
from hfft.recipe import load_recipe
from hfft.run import TRAINING_DEFAULTS, build_run, finish_run, train
from tests import tiny

pytestmark = pytest.mark.slow

TRAINING = {
    "num_train_epochs": 3,
    "per_device_train_batch_size": 8,
    "learning_rate": 1.0e-2,
    "use_cpu": True,
}
MODES = {
    "full": [],
    "freeze_layers": ["model.freeze_layers=1"],
    "frozen": ["model.mode=frozen"],
    "lora": ["model.mode=lora", "model.lora.r=4", "model.lora.alpha=8"],
}


def image_recipe(ckpt, folder, out, overrides=()):
    raw = {
        "task": "image-classification",
        "model": {"checkpoint": str(ckpt)},
        "data": {"path": "imagefolder", "data_dir": str(folder), "test_fraction": 0.25},
        "training": {**TRAINING, "output_dir": str(out)},
    }
    return load_recipe(raw, overrides)


def text_recipe(ckpt, csv_path, out, overrides=()):
    raw = {
        "task": "text-classification",
        "model": {"checkpoint": str(ckpt)},
        "data": {
            "path": "csv",
            "data_files": str(csv_path),
            "columns": {"text": "sentence", "label": "sentiment"},
            "test_fraction": 0.25,
        },
        "training": {**TRAINING, "output_dir": str(out)},
    }
    return load_recipe(raw, overrides)


def weights(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def in_memory_weights(auto, path) -> dict[str, torch.Tensor]:
    """Parameters under the in-memory names (transformers 5 renames some on load)."""
    return weights(auto.from_pretrained(path))


def frozen_by_mode(mode: str, name: str, blocks: str, head: list[str]) -> bool:
    """Whether `name` must stay bit-for-bit unchanged in this mode (LoRA checked separately)."""
    if any(name.startswith(h + ".") for h in head):
        return False
    if mode == "frozen":
        return True
    if mode == "freeze_layers":
        m = re.match(re.escape(blocks) + r"\.(\d+)\.", name)
        return bool(m and int(m.group(1)) < 1) or "embed" in name
    return False


@pytest.mark.parametrize("task", ["image", "text"])
@pytest.mark.parametrize("mode", list(MODES))
def test_each_mode_trains_exactly_what_it_should(task, mode, tmp_path, request):
    if task == "image":
        ckpt, data = (
            request.getfixturevalue("vit_checkpoint"),
            request.getfixturevalue("image_folder"),
        )
        recipe, auto = (
            image_recipe(ckpt, data, tmp_path / "run", MODES[mode]),
            AutoModelForImageClassification,
        )
    else:
        ckpt, data = request.getfixturevalue("bert_checkpoint"), request.getfixturevalue("text_csv")
        recipe, auto = (
            text_recipe(ckpt, data, tmp_path / "run", MODES[mode]),
            AutoModelForSequenceClassification,
        )
    base = auto.from_pretrained(ckpt)
    parts = modes.anatomy(base)
    before = weights(base)

    result = train(recipe)

    after = in_memory_weights(auto, result.run_dir)
    assert after.keys() == before.keys()
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    head = {n for n in before if any(n.startswith(h + ".") for h in parts.head)}
    assert head <= changed, "the new head must train in every mode"
    if mode == "lora":
        targets = {"q_proj", "v_proj"} if task == "image" else {"query", "value"}
        lora_merged = {
            n for n in before if n.rsplit(".", 2)[-2] in targets and n.endswith("weight")
        }
        assert changed == head | lora_merged  # everything else bit-for-bit unchanged
        assert (result.run_dir / "adapter" / "adapter_config.json").is_file()
    else:
        frozen = {n for n in before if frozen_by_mode(mode, n, parts.blocks_prefix, parts.head)}
        assert not (frozen & changed), f"frozen parameters changed: {sorted(frozen & changed)[:5]}"
        assert changed == set(before) - frozen, (
            f"not trained: {sorted(set(before) - frozen - changed)}"
        )
        expected_trainable = sum(before[n].numel() for n in set(before) - frozen)
        assert result.trainable_parameters == expected_trainable
        assert not (result.run_dir / "adapter").exists()


def test_run_directory_is_complete_and_pipeline_ready(
    vit_checkpoint, image_folder, tmp_path, caplog
):
    recipe = image_recipe(vit_checkpoint, image_folder, tmp_path / "run")
    with caplog.at_level(logging.INFO, logger="hfft"):
        result = train(recipe)
    run_dir = result.run_dir
    for name in (
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "recipe.yaml",
        "metrics.json",
        "README.md",
    ):
        assert (run_dir / name).is_file(), name
    assert any((run_dir / "checkpoints").glob("checkpoint-*"))
    config = json.loads((run_dir / "config.json").read_text())
    assert config["id2label"] == {"0": "blue", "1": "green", "2": "red"}
    saved = load_recipe(run_dir / "recipe.yaml")
    assert saved.model == recipe.model and saved.data == recipe.data
    assert saved.training == {
        **TRAINING_DEFAULTS,
        "remove_unused_columns": False,
        **recipe.training,
        # auto, as resolved here (conftest: a CPU without bf16)
        "bf16": False,
        "fp16": False,
    }
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {"test", "validation"} <= set(metrics)
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    examples = json.loads((run_dir / "examples" / "examples.json").read_text())
    test_size = sum(c["support"] for c in metrics["test"]["per_class"].values())
    assert len(examples) == min(8, test_size)
    # One class after another, so even the first few examples show every class.
    assert {e["label"] for e in examples[:3]} == {"blue", "green", "red"}
    assert all((run_dir / "examples" / e["input"]).is_file() for e in examples)

    classify = pipeline("image-classification", model=str(run_dir))
    image = next((image_folder / "train" / "red").glob("*.png"))
    predictions = classify(str(image))
    assert {p["label"] for p in predictions} == {"blue", "green", "red"}

    start = next(r.getMessage() for r in caplog.records if "trainable" in r.getMessage())
    assert re.search(r"trainable [\d,]+ of [\d,]+ \(100.00%\)", start)
    assert "labels [blue, green, red]" in start
    assert "| fp32 (auto: HFFT_CPU_BF16=0) | threads " in start
    assert any("run directory" in r.getMessage() for r in caplog.records)


def test_lora_adapter_and_merged_model_reproduce_the_trained_logits(
    bert_checkpoint, text_csv, tmp_path
):
    from peft import PeftModel
    from transformers import AutoTokenizer

    recipe = text_recipe(bert_checkpoint, text_csv, tmp_path / "run", MODES["lora"])
    run = build_run(recipe)
    run.trainer.train()
    tokenizer = AutoTokenizer.from_pretrained(bert_checkpoint)
    batch = tokenizer(["a good fun film", "the plot was awful"], return_tensors="pt", padding=True)
    trained = run.trainer.model.eval()
    with torch.no_grad():
        expected = trained(**batch).logits
    finish_run(run, seconds=0.0)

    merged = AutoModelForSequenceClassification.from_pretrained(tmp_path / "run").eval()
    base = AutoModelForSequenceClassification.from_pretrained(bert_checkpoint)
    reloaded = PeftModel.from_pretrained(base, tmp_path / "run" / "adapter").eval()
    with torch.no_grad():
        torch.testing.assert_close(merged(**batch).logits, expected, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(reloaded(**batch).logits, expected, atol=1e-5, rtol=1e-4)
    text = pipeline("text-classification", model=str(tmp_path / "run"))("good fun")
    assert text[0]["label"] in {"negative", "positive"}


def test_best_model_is_restored_at_the_end(vit_checkpoint, image_folder, tmp_path):
    # A learning rate this high makes the last epoch worse than the best one on purpose.
    recipe = image_recipe(
        vit_checkpoint,
        image_folder,
        tmp_path / "run",
        [
            "training.learning_rate=0.5",
            "training.num_train_epochs=4",
            "early_stopping.patience=null",
        ],
    )
    run = build_run(recipe)
    run.trainer.train()
    losses = [e["eval_loss"] for e in run.trainer.state.log_history if "eval_loss" in e]
    final = run.trainer.evaluate()["eval_loss"]
    assert final == pytest.approx(min(losses), rel=1e-5)


def test_early_stopping_stops_on_validation_loss(vit_checkpoint, image_folder, tmp_path):
    recipe = image_recipe(
        vit_checkpoint, image_folder, tmp_path / "run",
        ["training.learning_rate=5.0", "training.num_train_epochs=30", "early_stopping.patience=2"],
    )  # fmt: skip
    run = build_run(recipe)
    run.trainer.train()
    losses = [e["eval_loss"] for e in run.trainer.state.log_history if "eval_loss" in e]
    assert len(losses) < 30
    # It stopped because of the patience: the best loss came exactly 2 evaluations before the
    # end, and neither of those improved on it.
    assert losses.index(min(losses)) == len(losses) - 3, losses


def test_cli_train_with_a_missing_checkpoint_prints_one_line(tmp_path, capsys, image_folder):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "task: image-classification\n"
        f"model: {{checkpoint: {tmp_path}/missing-model}}\n"
        # 0.2 of 18 images: 4 validation rows hold the 3 classes, so the carving says nothing.
        f"data: {{path: imagefolder, data_dir: {image_folder}, validation_fraction: 0.2}}\n"
        f"training: {{output_dir: {tmp_path}/run}}\n"
    )
    assert main(["train", str(recipe)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"hfft: error: model.checkpoint '{tmp_path}/missing-model' does not exist: give an existing local directory or a Hub id such as google/vit-base-patch16-224-in21k"
    ]
    assert main(["train", str(recipe), "training.num_train_epochs=many"]) == 2
    assert "training.num_train_epochs: expected a number, got 'many'" in capsys.readouterr().err


def test_a_new_task_with_as_many_classes_gets_a_new_head(tmp_path, image_folder):
    """digits 0-4 -> 5-9: the same head shape, other classes; the source head must not be kept."""
    from hfft import checkpoint
    from hfft.recipe import ModelSpec
    from hfft.tasks import TASKS

    source = AutoModelForImageClassification.from_config(tiny.image_config("vit", num_labels=3))
    source.config.id2label = {0: "cat", 1: "dog", 2: "eel"}
    source.config.label2id = {"cat": 0, "dog": 1, "eel": 2}
    source.save_pretrained(tmp_path / "source")
    task = TASKS["image-classification"]
    spec = ModelSpec(checkpoint=str(tmp_path / "source"))
    same = checkpoint.load_model(task, spec, ["cat", "dog", "eel"])
    other = checkpoint.load_model(task, spec, ["blue", "green", "red"])
    assert torch.equal(same.classifier.weight, source.classifier.weight)  # same task: kept
    assert not torch.equal(other.classifier.weight, source.classifier.weight)  # new task: new head
    assert torch.equal(
        other.vit.layers[0].attention.q_proj.weight, source.vit.layers[0].attention.q_proj.weight
    )


def test_gradient_checkpointing_with_frozen_layers_still_trains(
    bert_checkpoint, text_csv, tmp_path
):
    """transformers #21381: frozen embeddings + gradient checkpointing once silently gave no
    gradients. transformers 5.24 + torch 2.14 no longer do even without hfft's guard
    (`modes.enable_checkpointing_inputs`, non-reentrant checkpointing); this pins the behaviour."""
    recipe = text_recipe(
        bert_checkpoint, text_csv, tmp_path / "run",
        ["model.freeze_layers=1", "training.gradient_checkpointing=true", "training.num_train_epochs=1"],
    )  # fmt: skip
    run = build_run(recipe)
    before = {n: p.detach().clone() for n, p in run.model.named_parameters()}
    run.trainer.train()
    after = dict(run.model.named_parameters())
    top_block = [n for n in before if n.startswith("bert.encoder.layer.1.")]
    assert top_block and all(not torch.equal(before[n], after[n]) for n in top_block)
    assert all(
        torch.equal(before[n], after[n]) for n in before if n.startswith("bert.encoder.layer.0.")
    )
