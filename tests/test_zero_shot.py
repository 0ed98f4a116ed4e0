"""Zero-shot classification with tiny CLIP and SigLIP checkpoints: `hfft zero-shot` equals a
hand computation, `model.head_init: zero-shot` starts exactly there, the baseline row."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hfft.errors import HfftError, RecipeError
from hfft.recipe import load_recipe
from hfft.zero_shot import prompts, readable
from hfft.zero_shot_spec import DEFAULT_TEMPLATES
from tests import tiny
from tests.tiny_clip import hand_zero_shot, make_dual_encoder

TEMPLATES = ["a photo of a {}.", "art of the {}."]


def recipe_for(tmp_path: Path, checkpoint: Path, *overrides: str, out: str = "run"):
    folder = tmp_path / "colors"
    if not folder.exists():
        tiny.make_image_folder(folder, per_class=6)
    raw = {
        "task": "image-classification",
        "model": {"checkpoint": str(checkpoint), "zero_shot": {"templates": TEMPLATES}},
        "data": {"path": "imagefolder", "data_dir": str(folder), "test_fraction": 0.2,
                 "validation_fraction": 0.2, "augmentation": {"enabled": False}},
        "training": {"output_dir": str(tmp_path / out), "num_train_epochs": 1,
                     "per_device_train_batch_size": 4, "learning_rate": 1e-3},
        "early_stopping": {"patience": 0},
    }  # fmt: skip
    return load_recipe(raw, list(overrides))


def test_label_names_read_as_words_in_every_template():
    assert readable("golden_retriever") == "golden retriever"
    assert readable("GoldenRetriever") == "golden retriever"
    assert readable("angular_leaf__spot") == "angular leaf spot"
    assert readable("T-shirt/top") == "t-shirt/top"
    assert readable("USA_flag") == "USA flag"
    assert prompts(["bean_rust"], ["a photo of a {}.", "art of the {}."]) == [
        ["a photo of a bean rust.", "art of the bean rust."]
    ]
    assert len(prompts(["x"], None)[0]) == len(DEFAULT_TEMPLATES)


def test_templates_and_head_init_are_checked_at_recipe_load(tmp_path):
    with pytest.raises(RecipeError, match=r"'a photo' must hold \{\} exactly once"):
        recipe_for(tmp_path, tmp_path, "model.zero_shot.templates=['a photo']")
    with pytest.raises(
        RecipeError, match=r"unknown value 'zeroshot' \(did you mean 'zero-shot'\?\); choose one of"
    ):
        recipe_for(tmp_path, tmp_path, "model.head_init=zeroshot")


def _test_images(recipe):
    from hfft.data import load_data
    from hfft.tasks import TASKS

    data = load_data(recipe.data, TASKS[recipe.task])
    split = data.splits["test"]
    return [row["image"] for row in split], [row["label"] for row in split], data.label_names


@pytest.mark.parametrize("model_type", ["clip", "siglip"])
def test_zero_shot_metrics_equal_a_hand_computed_cosine_argmax(tmp_path, model_type):
    from hfft.zero_shot_run import zero_shot

    checkpoint = make_dual_encoder(tmp_path / model_type, model_type)
    recipe = recipe_for(tmp_path, checkpoint)
    metrics = zero_shot(recipe)
    images, labels, names = _test_images(recipe)
    predicted, _ = hand_zero_shot(checkpoint, images, names, TEMPLATES)
    expected = float(np.mean(np.array(predicted) == np.array(labels)))
    assert metrics["test"]["accuracy"] == pytest.approx(expected)
    assert set(metrics) == {"validation", "test"}
    run = recipe.output_dir
    assert {"metrics.json", "confusion_matrix.png", "README.md", "config.json"} <= {
        p.name for p in run.iterdir()
    }
    assert not (run / "unfinished.json").exists()
    card = (run / "README.md").read_text()
    assert "A zero-shot image classifier" in card and "trust_remote_code=True" in card
    # The run directory is a model pipeline() loads: it predicts the hand computation.
    from transformers import pipeline

    from hfft.checkpoint import register_own_models

    register_own_models()
    classify = pipeline("image-classification", model=str(run))
    top = [out[0]["label"] for out in classify(images, top_k=1)]
    assert top == [names[i] for i in predicted]


def test_siglip_pads_prompts_to_the_length_it_was_trained_with(tmp_path):
    """SigLIP pools the last token: padded to the longest prompt only, its embeddings change."""
    from transformers import AutoModel, AutoTokenizer

    from hfft.zero_shot import FAMILIES, text_features

    checkpoint = make_dual_encoder(tmp_path / "siglip", "siglip")
    model = AutoModel.from_pretrained(checkpoint).eval()
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    texts = ["a photo of a red.", "a photo of a green thing."]
    ours = text_features(model, tokenizer, texts, FAMILIES["siglip"])
    length = model.config.text_config.max_position_embeddings
    ids = tokenizer(texts, padding="max_length", max_length=length, return_tensors="pt")
    with torch.no_grad():
        full = model.get_text_features(input_ids=ids["input_ids"]).pooler_output
        short = tokenizer(texts, padding=True, return_tensors="pt")
        longest = model.get_text_features(input_ids=short["input_ids"]).pooler_output
    assert torch.allclose(ours, full / full.norm(dim=-1, keepdim=True), atol=1e-6)
    assert not torch.allclose(ours, longest / longest.norm(dim=-1, keepdim=True), atol=1e-3)


def test_zero_shot_refuses_a_checkpoint_without_a_text_tower(tmp_path, vit_checkpoint):
    from hfft.zero_shot_run import zero_shot

    with pytest.raises(HfftError, match=r"zero-shot needs an image-text checkpoint .*vit model"):
        zero_shot(recipe_for(tmp_path, vit_checkpoint))
    assert not (tmp_path / "run").exists()  # nothing written


@pytest.mark.parametrize("model_type", ["clip", "siglip"])
def test_head_init_predicts_zero_shot_before_any_step(tmp_path, model_type):
    from hfft.run import build_run

    checkpoint = make_dual_encoder(tmp_path / model_type, model_type)
    recipe = recipe_for(tmp_path, checkpoint, "model.head_init=zero-shot")
    run = build_run(recipe)
    test = run.prepared["test"]
    pixels = torch.stack([test[i]["pixel_values"] for i in range(len(test))])
    with torch.no_grad():
        ours = run.model.eval()(pixel_values=pixels).logits
    images, _, names = _test_images(recipe)
    predicted, logits = hand_zero_shot(checkpoint, images, names, TEMPLATES)
    assert ours.argmax(-1).tolist() == predicted
    assert torch.allclose(ours, logits, atol=1e-5)  # the scale (and SigLIP's bias) included


def _image(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (32, 32, 3)).astype(np.uint8))


MODES = {
    "full": ["model.mode=full"],
    "freeze": ["model.freeze_layers=1"],
    "frozen": ["model.mode=frozen"],
    "lora": ["model.mode=lora", "model.lora.r=2"],
}
# The fast suite trains three of the sixteen; the slow one trains them all.
FAST = {("clip", "full", True), ("siglip", "lora", True), ("clip", "frozen", False)}


@pytest.mark.parametrize(
    ("model_type", "mode", "head_init"),
    [
        pytest.param(
            model_type, mode, head_init,
            marks=() if (model_type, mode, head_init) in FAST else pytest.mark.slow,
        )
        for model_type in ("clip", "siglip")
        for mode in MODES
        for head_init in (True, False)
    ],
)  # fmt: skip
def test_every_mode_trains_with_and_without_the_zero_shot_head(
    tmp_path, model_type, mode, head_init
):
    from hfft.run import train

    checkpoint = make_dual_encoder(tmp_path / model_type, model_type)
    init = f"model.head_init={'zero-shot' if head_init else 'null'}"
    result = train(recipe_for(tmp_path, checkpoint, *MODES[mode], init))
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    row = metrics["test"]["baselines"]["zero_shot"]  # the checkpoint classifies zero-shot
    assert set(row) >= {"accuracy", "f1_macro"}
    card = (result.run_dir / "README.md").read_text()
    assert "| baseline: zero-shot (class prompts, no training) | test |" in card
    assert "| this model | test |" in card
    assert "whose prompts' text embeddings it is most similar to" in card  # the baseline's note
    # its predictions are kept beside the model's, for paired comparisons
    kept = json.loads((result.run_dir / "predictions.json").read_text())
    assert set(kept["test"]["baselines"]["zero_shot"]) == set(kept["test"]) - {"baselines"}


def test_head_init_on_a_checkpoint_without_text_is_refused_before_training(
    tmp_path, vit_checkpoint
):
    from hfft.preflight import PreflightError
    from hfft.run import train

    with pytest.raises((HfftError, PreflightError), match=r"zero-shot needs an image-text"):
        train(recipe_for(tmp_path, vit_checkpoint, "model.head_init=zero-shot"))
    assert not list((tmp_path / "run").glob("*"))  # nothing written


def test_a_failing_zero_shot_baseline_leaves_the_trained_run_whole(tmp_path, monkeypatch):
    """The baseline is computed after training: its failure costs the row, not the run."""
    from hfft import zero_shot_baseline
    from hfft.run import train

    def broken(*args, **kwargs):
        raise HfftError("the tokenizer went missing")

    monkeypatch.setattr(zero_shot_baseline, "baseline_rows", broken)
    checkpoint = make_dual_encoder(tmp_path / "clip", "clip")
    result = train(recipe_for(tmp_path, checkpoint))
    assert "baselines" not in result.metrics["test"]
    assert not (result.run_dir / "unfinished.json").exists()
