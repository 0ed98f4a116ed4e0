"""Loading a recipe: a YAML file (or a bundled recipe's name), dotted `key.sub=value` overrides,
then the typed build and the checks. `load_recipe` is the one entry point."""

from __future__ import annotations

import copy
import logging
import typing
from pathlib import Path
from typing import Any

import yaml

from hfft import resources
from hfft.errors import RecipeError, first_line
from hfft.recipe_checks import (
    check_task_keys,
    drop_other_options,
    settle_evaluation_off,
    validate_task,
    validate_training,
)
from hfft.recipe_schema import Recipe, data_spec_for
from hfft.recipe_types import build

log = logging.getLogger("hfft")


def load_recipe(
    source: str | Path | dict[str, Any], overrides: typing.Sequence[str] = ()
) -> Recipe:
    """Load a recipe from a YAML path (or a dict), apply `key.sub=value` overrides, validate.

    A relative path that is not a file here but names a bundled recipe (`recipes/<task>/x.yaml`,
    as `hfft recipes` prints it, with or without `recipes/`) loads that bundled recipe."""
    if isinstance(source, dict):
        raw = copy.deepcopy(source)  # overrides must not leak into the caller's dict
    else:
        raw = _read_yaml(_recipe_file(Path(source)))
    for item in overrides:
        apply_override(raw, item)
    return recipe_from_dict(raw)


def _recipe_file(path: Path) -> Path:
    if path.is_file():
        return path
    bundled = resources.bundled_recipe(path)
    if bundled is not None:
        log.info("using the bundled recipe %s", bundled)
        return bundled
    where = "" if path.is_absolute() else f"in {Path.cwd()}, nor "
    bundled_dir = resources.recipes_dir()
    raise RecipeError(
        f"recipe file not found: {path} ({where}among the bundled recipes in {bundled_dir}); "
        "`hfft recipes` lists bundled ones"
    )


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, ValueError) as err:
        # ValueError: YAML matched a value it cannot build, such as the date 2001-02-30.
        raise RecipeError(f"{path} is not valid YAML: {_yaml_problem(err)}") from None
    if not isinstance(raw, dict):
        raise RecipeError(f"{path} must hold a mapping of recipe keys, got {type(raw).__name__}")
    return raw


def _yaml_problem(err: Exception) -> str:
    """One line: what YAML could not parse, and where."""
    problem = getattr(err, "problem", None) or first_line(err)
    mark = getattr(err, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{problem}{where}"


def parse_override(item: str) -> tuple[list[str], Any]:
    """`a.b.c=value` -> (["a", "b", "c"], yaml-parsed value)."""
    key, sep, text = item.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(p.strip() for p in parts):
        raise RecipeError(f"override {item!r} must look like key.sub=value (e.g. model.mode=lora)")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except (yaml.YAMLError, ValueError):
        # Unparseable, or a value YAML cannot build (the date 2001-02-30): the literal string.
        value = text
    return [p.strip() for p in parts], value


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Apply one `key.sub=value` override to a raw recipe dict (see `set_dotted`)."""
    parts, value = parse_override(item)
    try:
        set_dotted(raw, ".".join(parts), value)
    except RecipeError as err:
        raise RecipeError(f"override {item!r}: {err}") from None


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    """raw['a']['b']['c'] = value for the dotted key 'a.b.c', creating missing (or null)
    sections; the one way overrides and `hfft tune`'s trials set a recipe key."""
    *parents, last = key.split(".")
    node = raw
    for i, part in enumerate(parents):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise RecipeError(f"{'.'.join(parents[: i + 1])} is a value, not a section")
        node = child
    node[last] = value


def recipe_from_dict(raw: dict[str, Any]) -> Recipe:
    """Build and validate a `Recipe` from a plain dict (as read from YAML)."""
    task = raw.get("task") if isinstance(raw, dict) else None
    hints = {}
    if isinstance(task, str):
        # The task decides what `data:` holds: the generic keys plus its modality's options.
        found = validate_task(task)
        raw = {**raw, "data": drop_other_options(raw.get("data"), found)}
        hints["data"] = data_spec_for(found.modality.options)
    recipe = build(Recipe, raw, prefix="", hints=hints)
    task = validate_task(recipe.task)
    if not (raw.get("eval") or {}).get("metrics"):
        # Unset: the task's own metrics (a tagger's entity F1, not a classifier's accuracy).
        recipe.eval.metrics = list(task.labels.default_metrics or recipe.eval.metrics)
    if "output_dir" not in recipe.training or not recipe.training["output_dir"]:
        raise RecipeError(
            "training.output_dir is required: the run directory, e.g. training.output_dir=runs/x"
        )
    recipe.training = validate_training(recipe.training)
    check_task_keys(recipe)
    settle_evaluation_off(recipe, raw)
    from hfft.stream_settings import check_recipe as check_streaming

    check_streaming(recipe)
    return recipe


def bundled_recipes() -> list[tuple[str, str]]:
    """(path relative to recipes/, first line) for every bundled recipe."""
    root = resources.recipes_dir()
    out = []
    for path in sorted(root.rglob("*.yaml")):
        first = path.read_text().splitlines()[0].lstrip("# ").strip() if path.stat().st_size else ""
        out.append((str(path.relative_to(root.parent)), first))
    return out
