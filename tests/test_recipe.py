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
        # zero-shot recipes evaluate without training (`hfft zero-shot`)
        assert first_line.startswith((f"hfft train {path}", f"hfft zero-shot {path}")), path
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


def test_one_dotted_set_for_overrides_and_tune_trials():
    """Issue 13: `key.sub=value` overrides and `hfft tune`'s trial values set keys one way."""
    from hfft import search_space
    from hfft.recipe import set_dotted

    assert search_space.set_dotted is set_dotted  # imported, not a copy
    raw = {"model": {"lora": None}, "training": {"seed": 1}}
    set_dotted(raw, "model.lora.r", 4)  # a null section is a new one, as in an override
    set_dotted(raw, "early_stopping.patience", 0)
    assert raw == {
        "model": {"lora": {"r": 4}},
        "training": {"seed": 1},
        "early_stopping": {"patience": 0},
    }
    with pytest.raises(RecipeError, match=r"^training.seed is a value, not a section$"):
        set_dotted(raw, "training.seed.x", 1)
    with pytest.raises(RecipeError) as err:
        load_recipe(BASE, ["training.output_dir.x=1"])
    assert str(err.value) == "override 'training.output_dir.x=1': training.output_dir is a value, not a section"  # fmt: skip
    base = load_recipe(BASE, ["model.lora.r=4"])
    with pytest.raises(RecipeError) as err:
        search_space.check_value(base, "model.lora.r.x", 1)
    assert str(err.value) == (
        "tune.space 'model.lora.r.x' (value 1): model.lora.r is a value, not a section"
    )


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
    with pytest.raises(RecipeError) as err:
        load_recipe(tmp_path / "nope.yaml")
    assert str(err.value) == (
        f"recipe file not found: {tmp_path / 'nope.yaml'} (among the bundled recipes in "
        f"{RECIPES_DIR}); `hfft recipes` lists bundled ones"
    )


BUNDLED = "image-classification/vit-base_beans_lora.yaml"


@pytest.mark.parametrize("name", [f"recipes/{BUNDLED}", BUNDLED, f"./recipes/{BUNDLED}"])
def test_a_bundled_recipe_name_loads_from_any_folder(name, tmp_path, monkeypatch):
    # what `hfft recipes` prints, typed in a folder that has no recipes/ of its own
    monkeypatch.chdir(tmp_path)
    assert load_recipe(name) == load_recipe(RECIPES_DIR / BUNDLED)


def test_a_local_file_wins_over_the_bundled_recipe_of_that_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    local = tmp_path / "recipes" / BUNDLED
    local.parent.mkdir(parents=True)
    local.write_text(yaml.safe_dump({**BASE, "training": {"output_dir": "runs/mine"}}))
    assert load_recipe(f"recipes/{BUNDLED}").training["output_dir"] == "runs/mine"


def test_an_installed_hfft_finds_its_bundled_recipes_and_names_where(tmp_path, monkeypatch):
    # A wheel installs the recipes under <prefix>/share/hfft/recipes, not next to the package.
    from hfft import resources

    installed = tmp_path / "prefix" / "share" / "hfft" / "recipes"
    (installed / "text-classification").mkdir(parents=True)
    (installed / "text-classification" / "x.yaml").write_text(
        yaml.safe_dump({**BASE, "training": {"output_dir": "runs/installed"}})
    )
    monkeypatch.setattr(resources, "recipes_dir", lambda: installed)
    monkeypatch.chdir(tmp_path)
    assert load_recipe("recipes/text-classification/x.yaml").output_dir.name == "installed"
    with pytest.raises(RecipeError) as err:
        load_recipe("recipes/text-classification/nope.yaml")
    assert str(err.value) == (
        f"recipe file not found: recipes/text-classification/nope.yaml (in {tmp_path}, nor "
        f"among the bundled recipes in {installed}); `hfft recipes` lists bundled ones"
    )


def test_the_printed_command_trains_from_another_folder(tmp_path, capsys, monkeypatch):
    # `hfft train recipes/...` from a folder without recipes/: the bundled recipe is used (here
    # it then fails where it needs the network, which proves it was found and read).
    from hfft.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", f"recipes/{BUNDLED}", "training.bf16=false"]) == 2
    err = capsys.readouterr().err
    assert f"hfft: using the bundled recipe {RECIPES_DIR / BUNDLED}" in err
    assert "recipe file not found" not in err


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
