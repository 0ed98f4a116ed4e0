"""Property-based tests (hypothesis) of the recipe parser and the `key.sub=value` override syntax:
whatever a user types, the result is a valid Recipe or a RecipeError — never another exception —
and what parses, round-trips."""

from __future__ import annotations

import contextlib
import json
import math
import string

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hfft.errors import RecipeError
from hfft.recipe import apply_override, load_recipe, parse_override, recipe_from_dict

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

identifiers = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
dotted_keys = st.lists(identifiers, min_size=1, max_size=4)
# Printable text without line/paragraph separators (YAML reads those as line breaks).
texts = st.text(st.characters(whitelist_categories=("L", "N", "P", "S", "Zs")), max_size=20)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), texts)
values = st.one_of(scalars, st.lists(st.one_of(st.integers(), texts), max_size=4))


def base() -> dict:
    return {
        "task": "image-classification",
        "model": {"checkpoint": "google/vit-base-patch16-224-in21k"},
        "data": {"path": "beans"},
        "training": {"output_dir": "runs/x"},
    }


# ---------------------------------------------------------------- the override syntax


@SETTINGS
@given(keys=dotted_keys, value=values)
def test_an_override_parses_back_to_its_key_and_value(keys, value):
    # JSON is YAML: what `json.dumps` writes, the override parser must read back exactly.
    assert parse_override(f"{'.'.join(keys)}={json.dumps(value, ensure_ascii=False)}") == (
        keys,
        value,
    )


@SETTINGS
@given(keys=dotted_keys, value=st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_override_reads_back_as_the_same_number(keys, value):
    # YAML 1.1 reads `1e-05` (no dot) as a string; the recipe types coerce it back to the float.
    _, parsed = parse_override(f"{'.'.join(keys)}={value!r}")
    assert float(parsed) == value


@SETTINGS
@given(text=st.text(max_size=40))
def test_any_override_text_parses_or_is_refused_with_a_recipe_error(text):
    try:
        keys, _ = parse_override(text)
    except RecipeError as err:
        assert "must look like key.sub=value" in str(err)
    else:
        assert "=" in text and all(keys)


@SETTINGS
@given(keys=dotted_keys, value=values)
def test_applying_an_override_sets_that_key_and_nothing_else(keys, value):
    raw = {"untouched": {"a": 1}, "z": [1, 2]}
    assume(keys[0] not in raw)
    apply_override(raw, f"{'.'.join(keys)}={json.dumps(value, ensure_ascii=False)}")
    node = raw
    for key in keys[:-1]:
        node = node[key]
    assert node[keys[-1]] == value
    assert raw["untouched"] == {"a": 1} and raw["z"] == [1, 2]


@SETTINGS
@given(text=st.text(string.printable, max_size=30))
def test_any_override_value_on_a_real_recipe_gives_a_recipe_or_a_recipe_error(text):
    for key in ("training.learning_rate", "model.lora.r", "data.columns", "model.mode", "hub"):
        with contextlib.suppress(RecipeError):
            load_recipe(base(), [f"{key}={text}"])


@pytest.mark.parametrize("date", ["2001-02-30", "2024-13-01", "!!float abc", "!!int 0x"])
def test_yaml_values_that_fail_to_construct_are_kept_as_text(date):
    # YAML raises ValueError (not YAMLError) for these; the override keeps the literal string.
    assert parse_override(f"data.revision={date}") == (["data", "revision"], date)
    assert load_recipe(base(), [f"data.revision={date}"]).data.revision == date


def test_a_recipe_file_with_an_impossible_date_is_a_recipe_error(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("task: image-classification\ndata: {path: beans, revision: 2001-02-30}\n")
    with pytest.raises(RecipeError, match="is not valid YAML: day is out of range"):
        load_recipe(path)


# ---------------------------------------------------------------- whole recipes

lora_settings = st.fixed_dictionaries(
    {},
    optional={
        "r": st.integers(1, 64),
        "alpha": st.integers(1, 64),
        "dropout": st.floats(0, 0.99),
        "target_modules": st.one_of(st.just("auto"), st.lists(identifiers, min_size=1, max_size=3)),
    },
)


@st.composite
def recipes(draw) -> dict:
    """Valid raw recipes: LoRA settings only in LoRA mode, the task's own columns, a validation
    fraction no larger than what the test fraction leaves for train."""
    task = draw(st.sampled_from(["image-classification", "text-classification"]))
    model = {"checkpoint": draw(st.from_regex(r"[a-z]{1,8}/[a-z0-9-]{1,12}", fullmatch=True))}
    mode = draw(st.sampled_from([None, "frozen", "lora"]))
    if mode:
        model["mode"] = mode
    if mode == "lora" and draw(st.booleans()):
        model["lora"] = draw(lora_settings)
    if draw(st.booleans()):
        model["cache_features"] = draw(st.one_of(st.none(), st.booleans()))
    data = draw(
        st.fixed_dictionaries(
            {"path": st.sampled_from(["beans", "imagefolder", "csv"])},
            optional={
                "test_fraction": st.floats(0, 0.45),
                "seed": st.integers(0, 2**31),
                "max_train_samples": st.one_of(st.none(), st.integers(1, 10**6)),
                "on_bad_example": st.sampled_from(["error", "skip"]),
                "columns": st.dictionaries(
                    st.sampled_from([task.split("-")[0], "label"]), identifiers
                ),
            },
        )
    )
    if draw(st.booleans()):
        left = 1.0 - data.get("test_fraction", 0.0)
        data["validation_fraction"] = draw(st.floats(0.01, left / 2))
    training = draw(
        st.fixed_dictionaries(
            {"output_dir": st.from_regex(r"runs/[a-z0-9_-]{1,12}", fullmatch=True)},
            optional={
                "learning_rate": st.floats(1e-7, 1.0),
                "num_train_epochs": st.integers(1, 100),
                "per_device_train_batch_size": st.integers(1, 512),
                "seed": st.integers(0, 2**31),
            },
        )
    )
    rest = draw(
        st.fixed_dictionaries(
            {
                "early_stopping": st.fixed_dictionaries(
                    {}, optional={"patience": st.one_of(st.none(), st.integers(0, 10))}
                ),
                "eval": st.fixed_dictionaries(
                    {}, optional={"metrics": st.lists(st.sampled_from(["accuracy", "f1_macro"]))}
                ),
            }
        )
    )
    return {"task": task, "model": model, "data": data, "training": training, **rest}


@SETTINGS
@given(raw=recipes())
def test_a_valid_recipe_round_trips_through_its_saved_yaml(raw):
    recipe = recipe_from_dict(raw)
    assert load_recipe(yaml.safe_load(recipe.to_yaml())) == recipe


@SETTINGS
@given(raw=recipes(), keys=st.lists(identifiers, min_size=1, max_size=3))
def test_an_unknown_key_anywhere_is_named_in_the_error(raw, keys):
    section = keys[0] if keys[0] in ("model", "data", "eval", "hub") else None
    target = raw.setdefault(section, {}) if section else raw
    unknown = "zz_" + keys[-1]
    target[unknown] = 1
    with pytest.raises(RecipeError, match=rf"unknown recipe key '{(section + '.') if section else ''}{unknown}'"):  # fmt: skip
        recipe_from_dict(raw)


@SETTINGS
@given(raw=recipes(), epochs=st.floats(0.5, 50), lr=st.floats(1e-6, 1e-1))
def test_overrides_equal_editing_the_recipe(raw, epochs, lr):
    edited = json.loads(json.dumps(raw))
    edited["training"].update(num_train_epochs=epochs, learning_rate=lr)
    overridden = load_recipe(
        raw, [f"training.num_train_epochs={epochs!r}", f"training.learning_rate={lr!r}"]
    )
    assert overridden == recipe_from_dict(edited)
    assert math.isclose(overridden.training["learning_rate"], lr)


json_like = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), texts),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(texts, children, max_size=3)
    ),
    max_leaves=12,
)


@SETTINGS
@given(
    section=st.sampled_from(["model", "data", "training", "eval", "hub", "early_stopping"]),
    key=st.sampled_from(
        [
            "checkpoint",
            "mode",
            "lora",
            "freeze_layers",
            "columns",
            "path",
            "output_dir",
            "learning_rate",
            "metrics",
            "push",
            "repo_id",
            "patience",
            "augmentation",
            "data_files",
        ]
    ),
    value=json_like,
)
def test_a_junk_value_anywhere_gives_a_recipe_or_a_recipe_error(section, key, value):
    raw = base()
    raw.setdefault(section, {})[key] = value
    try:
        recipe = recipe_from_dict(raw)
    except RecipeError:
        return
    assert isinstance(recipe.output_dir.name, str)  # a usable recipe: its paths are paths
    yaml.safe_load(recipe.to_yaml())


# ---------------------------------------------------------------- value ranges

# dotted key -> (lowest valid value, whether it is an integer), for a recipe that reads the key
LOWEST = {
    "training.learning_rate": (0, False),
    "training.weight_decay": (0, False),
    "training.per_device_train_batch_size": (1, True),
    "training.per_device_eval_batch_size": (1, True),
    "training.gradient_accumulation_steps": (1, True),
    "training.seed": (0, True),
    "data.seed": (0, True),
    "data.max_train_samples": (1, True),
    "data.max_eval_samples": (1, True),
    "data.augmentation.rotation_degrees": (0, False),
    "early_stopping.patience": (0, True),
    "model.freeze_layers": (0, True),
}


@SETTINGS
@given(key=st.sampled_from(sorted(LOWEST)), below=st.floats(1e-6, 1e12))
def test_any_value_below_its_range_is_refused_naming_key_value_and_range(key, below):
    low, integer = LOWEST[key]
    value = low - (max(1, int(below)) if integer else below)
    with pytest.raises(RecipeError) as err:
        load_recipe(base(), [f"{key}={value!r}"])
    message = str(err.value)
    assert message.startswith(f"{key} must be ")
    assert f"got {value:.6g}" in message if not integer else f"got {value}" in message
    assert "\n" not in message
    # and the lowest valid value itself passes
    load_recipe(base(), [f"{key}={low}"])
