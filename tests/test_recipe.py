"""Recipe loading: strict keys, typed values, dotted overrides, bundled recipes."""

from __future__ import annotations

import pytest
import yaml

from hfft.errors import RecipeError
from hfft.recipe import RECIPES_DIR, bundled_recipes, load_recipe, parse_override

BASE = {
    "task": "image-classification",
    "model": {"checkpoint": "google/vit-base-patch16-224-in21k", "mode": "lora"},
    "data": {"path": "beans"},
    "training": {"output_dir": "runs/x"},
}


def test_every_bundled_recipe_validates_and_starts_with_its_command():
    recipes = bundled_recipes()
    assert len(recipes) >= 7
    for path, first_line in recipes:
        recipe = load_recipe(RECIPES_DIR.parent / path)
        assert first_line.startswith(f"hfft train {path}"), path
        assert recipe.training["output_dir"]


def test_dotted_overrides_are_parsed_as_yaml():
    recipe = load_recipe(
        BASE,
        [
            "model.lora.r=4",
            "model.lora.target_modules=[query, value]",
            "training.learning_rate=1e-3",
            "training.bf16=true",
            "data.columns.label=labels",
        ],
    )
    assert recipe.model.lora.r == 4
    assert recipe.model.lora.target_modules == ["query", "value"]
    assert recipe.training["learning_rate"] == pytest.approx(1e-3)  # YAML reads 1e-3 as a str
    assert recipe.training["bf16"] is True
    assert recipe.data.columns == {"label": "labels"}


def test_resolved_recipe_round_trips(tmp_path):
    recipe = load_recipe(BASE, ["model.freeze_layers=0", "early_stopping.patience=5"])
    recipe.save(tmp_path / "recipe.yaml")
    again = load_recipe(tmp_path / "recipe.yaml")
    assert again == recipe
    assert yaml.safe_load((tmp_path / "recipe.yaml").read_text())["early_stopping"]["patience"] == 5


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["modle.mode=full"], "unknown recipe key 'modle' (did you mean 'model'?)"),
        (["model.lora.rank=8"], "unknown recipe key 'model.lora.rank'"),
        (["training.learning_rat=1"], "'training.learning_rate'"),
        (["task=image-clasification"], "did you mean 'image-classification'"),
        (["model.mode=lorra"], "model.mode: unknown value 'lorra' (did you mean 'lora'?)"),
        (["model.lora.r=abc"], "model.lora.r: expected an integer, got 'abc' (str)"),
        (["training.learning_rate=fast"], "training.learning_rate: expected a number, got 'fast'"),
        (["training.num_train_epochs=[1]"], "training.num_train_epochs: expected a number"),
        (["model.freeze_layers=2"], "only applies to mode 'full'"),
        (["training.output_dir="], "training.output_dir is required"),
        (["model.lora=3"], "model.lora must be a mapping"),
        (["nonsense"], "must look like key.sub=value"),
    ],
)
def test_bad_recipes_name_the_problem(overrides, expected):
    with pytest.raises(RecipeError) as err:
        load_recipe(BASE, overrides)
    assert expected in str(err.value)


def test_unknown_task_lists_the_tasks():
    with pytest.raises(RecipeError, match=r"unknown task 'audio'.*text-classification"):
        load_recipe({**BASE, "task": "audio"})


def test_missing_recipe_file_points_at_bundled_ones(tmp_path):
    with pytest.raises(RecipeError, match="hfft recipes"):
        load_recipe(tmp_path / "nope.yaml")


def test_not_a_mapping(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(RecipeError, match="must hold a mapping"):
        load_recipe(path)


def test_config_and_checkpoint_are_exclusive():
    scratch = {**BASE, "model": {"config": {"model_type": "vit"}, "processor": "x"}}
    assert load_recipe(scratch, ["model.mode=full"]).model.config == {"model_type": "vit"}
    with pytest.raises(RecipeError, match="exactly one of model.checkpoint"):
        load_recipe(BASE, ["model.config={model_type: vit}"])
    with pytest.raises(RecipeError, match="model.processor"):
        load_recipe({**BASE, "model": {"config": {"model_type": "vit"}}})


def test_parse_override_keeps_unparseable_values_as_strings():
    assert parse_override("data.path=a: b: c") == (["data", "path"], "a: b: c")
    assert parse_override("a.b=") == (["a", "b"], None)
