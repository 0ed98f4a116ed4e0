"""Every bundled audio recipe runs in its mode on a tiny random model of its checkpoint's
model_type (the real checkpoints and ESC-50 need the Hub; their architectures do not)."""

from __future__ import annotations

import pytest

from hfft.recipe import RECIPES_DIR, bundled_recipes, load_recipe
from hfft.run import train
from tests import tiny

MODEL_TYPES = {
    "MIT/ast-finetuned-audioset-10-10-0.4593": "ast",
    "facebook/wav2vec2-base": "wav2vec2",
    "facebook/hubert-base-ls960": "hubert",
    "openai/whisper-small": "whisper",
}
AUDIO_RECIPES = [p for p, _ in bundled_recipes() if p.startswith("recipes/audio-classification/")]


def test_the_bundled_audio_recipes_cover_every_model_and_mode():
    recipes = [load_recipe(RECIPES_DIR.parent / path) for path in AUDIO_RECIPES]
    assert {r.model.checkpoint for r in recipes} == set(MODEL_TYPES)
    assert {r.model.mode for r in recipes} == {"full", "frozen", "lora"}
    for path, recipe in zip(AUDIO_RECIPES, recipes, strict=True):
        first = (RECIPES_DIR.parent / path).read_text().splitlines()[0]
        assert first == f"# hfft train {path}"
        assert recipe.task == "audio-classification" and recipe.data.path == "ashraq/esc50"


@pytest.mark.slow
@pytest.mark.parametrize("path", AUDIO_RECIPES)
def test_bundled_audio_recipe_architecture_runs_in_its_mode(path, tmp_path):
    recipe = load_recipe(RECIPES_DIR.parent / path)
    model_type = MODEL_TYPES[recipe.model.checkpoint]
    ckpt = tiny.make_audio_checkpoint(tmp_path / "ckpt", model_type, window_seconds=30)
    data = tiny.make_audio_folder(tmp_path / "data", per_class=4)
    recipe = load_recipe(
        RECIPES_DIR.parent / path,
        [
            f"model.checkpoint={ckpt}",
            "data.path=audiofolder",
            f"data.data_dir={data}",
            "data.columns={}",
            f"training.output_dir={tmp_path / 'run'}",
            "training.num_train_epochs=1",
            "training.per_device_train_batch_size=4",
            "training.bf16=false",
            "training.use_cpu=true",
            "training.dataloader_num_workers=0",
        ],
    )
    result = train(recipe)
    share = result.trainable_parameters / result.total_parameters
    if recipe.model.mode == "full" and not recipe.model.freeze_layers:
        assert share == 1.0
    else:
        assert 0 < share < 0.8, f"{recipe.model.mode}: {share:.2%} of the parameters trained"
    assert (result.run_dir / "adapter").is_dir() == (recipe.model.mode == "lora")
