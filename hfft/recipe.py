"""Recipes: YAML -> validated dataclasses, dotted overrides, strict unknown-key errors.

A recipe is plain data. Validation happens at load, once, so the pipeline can trust every field:
an unknown key anywhere is an error naming the key and the nearest valid one, every value is
checked against its field's type (a YAML `5e-3`, which YAML reads as a string, is accepted as the
float it obviously is) and every number against its range.

The work is split by job; this module is the one to import from:
  recipe_schema   the sections as dataclasses, each checking its own values
  recipe_types    raw YAML values -> typed fields (unknown keys, type hints)
  recipe_checks   cross-section checks and `training:` against TrainingArguments
  recipe_loader   YAML files, bundled recipe names, `key.sub=value` overrides
"""

from __future__ import annotations

from hfft.recipe_checks import SECRET_TRAINING_KEYS
from hfft.recipe_loader import (
    apply_override,
    bundled_recipes,
    load_recipe,
    parse_override,
    recipe_from_dict,
    set_dotted,
)
from hfft.recipe_schema import (
    MODES,
    DataSpec,
    EarlyStoppingSpec,
    EvalSpec,
    HubSpec,
    LoraSpec,
    LpFtSpec,
    Mode,
    ModelSpec,
    OptimSpec,
    Recipe,
    TuneSpec,
)
from hfft.resources import recipes_dir
from hfft.tasks.image import AugmentationSpec

RECIPES_DIR = recipes_dir()

__all__ = [
    "MODES",
    "RECIPES_DIR",
    "SECRET_TRAINING_KEYS",
    "AugmentationSpec",
    "DataSpec",
    "EarlyStoppingSpec",
    "EvalSpec",
    "HubSpec",
    "LoraSpec",
    "LpFtSpec",
    "Mode",
    "ModelSpec",
    "OptimSpec",
    "Recipe",
    "TuneSpec",
    "apply_override",
    "bundled_recipes",
    "load_recipe",
    "parse_override",
    "recipe_from_dict",
    "set_dotted",
]
