"""The bundled zero-shot recipes: each names its own command on its first line, validates, and
runs (zero-shot, or trains) on a tiny checkpoint of the same family (the real ones need the
Hub; their architectures do not)."""

from __future__ import annotations

import json

import pytest

from hfft.recipe import RECIPES_DIR, bundled_recipes, load_recipe
from tests import tiny
from tests.tiny_clip import make_dual_encoder

FAMILIES = {"openai/clip-vit-base-patch32": "clip", "google/siglip-base-patch16-224": "siglip"}
RECIPES = [path for path, _ in bundled_recipes() if path.startswith("recipes/zero-shot/")]


def test_every_recipe_names_its_command_and_validates():
    assert len(RECIPES) == 8
    for path, first in bundled_recipes():
        if path not in RECIPES:
            continue
        recipe = load_recipe(RECIPES_DIR.parent / path)
        command = "zero-shot" if path.endswith("_zero-shot.yaml") else "train"
        assert first == f"hfft {command} {path}"
        assert recipe.model.checkpoint in FAMILIES
        assert command == "zero-shot" or recipe.model.head_init == "zero-shot"


@pytest.mark.slow
@pytest.mark.parametrize("path", RECIPES)
def test_bundled_recipe_runs_on_a_tiny_checkpoint_of_its_family(path, tmp_path):
    from hfft.run import train
    from hfft.zero_shot_run import zero_shot

    recipe = load_recipe(RECIPES_DIR.parent / path)
    checkpoint = make_dual_encoder(tmp_path / "ckpt", FAMILIES[recipe.model.checkpoint])
    data = tiny.make_image_folder(tmp_path / "data", per_class=6)
    recipe = load_recipe(
        RECIPES_DIR.parent / path,
        [
            f"model.checkpoint={checkpoint}", "data.path=imagefolder", f"data.data_dir={data}",
            "data.columns={}", "data.test_fraction=0.2", f"training.output_dir={tmp_path / 'run'}",
            "training.num_train_epochs=1", "training.per_device_train_batch_size=8",
            "training.bf16=false", "training.dataloader_num_workers=0",
        ],
    )  # fmt: skip
    if path.endswith("_zero-shot.yaml"):
        metrics = zero_shot(recipe)
    else:
        metrics = train(recipe).metrics
        assert "zero_shot" in metrics["test"]["baselines"]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == metrics
