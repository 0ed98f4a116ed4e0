"""What `data.streaming: true` means for the rest of a recipe, settled when it loads: the
settings a stream cannot honour are refused, and its training defaults count steps, not
epochs. (The streaming itself: hfft.streaming.) `recipe` is an hfft.recipe.Recipe, not imported
even for typing: the recipe loader imports this module."""

from __future__ import annotations

from typing import Any

from hfft.errors import RecipeError


def check_recipe(recipe: Any) -> None:
    """What a streamed run cannot do, refused when the recipe loads: no length means no epochs,
    no fraction of the rows, no pass over the whole train split before training."""
    data = recipe.data
    if not data.streaming:
        if data.label_names is not None:
            raise RecipeError(
                "data.label_names is read with data.streaming only (other runs find every label "
                "in the data): remove it, or set data.streaming: true"
            )
        return
    if not (recipe.training.get("max_steps") or 0) > 0:
        raise RecipeError(
            "data.streaming: true trains from a stream, which has no length, so epochs are "
            "undefined: set training.max_steps (e.g. 10000)"
        )
    if data.test_fraction:
        raise RecipeError(
            f"data.test_fraction={data.test_fraction:g} needs the size of the train split, which "
            "a stream does not have: give the dataset's test split (data.test_split), or remove "
            "data.test_fraction"
        )
    from hfft.modes import mode_of

    if mode_of(recipe.model).probe_epochs(recipe.model) > 0:
        raise RecipeError(
            f"model.mode {recipe.model.mode} first fits the head on every train row's cached "
            "features, which a stream cannot hold: use full, lora or peft with data.streaming, "
            "or drop it"
        )
    if recipe.model.cache_features is True:
        raise RecipeError(
            "model.cache_features is true, but a streamed train split is read once per pass, "
            "not kept: set model.cache_features to null, or drop data.streaming"
        )


def training_defaults(recipe: Any) -> dict[str, Any]:
    """TrainingArguments defaults of a streamed run (the recipe's `training:` wins): evaluate,
    save and log every tenth of max_steps (at most every 500 steps), as a stream has no epochs
    to end."""
    if not recipe.data.streaming:
        return {}
    every = max(1, min(500, int(recipe.training.get("max_steps") or 0) // 10))
    return {
        "eval_strategy": "steps",
        "save_strategy": "steps",
        "logging_strategy": "steps",
        "eval_steps": every,
        "save_steps": every,
        "logging_steps": every,
    }
