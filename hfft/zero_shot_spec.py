"""`model.zero_shot` and `model.head_init` in a recipe: the class prompts of zero-shot
classification (hfft.zero_shot) and the head initialisation that starts from them. Light: the
recipe schema imports it to validate recipes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from hfft.errors import RecipeError

# A small CLIP-style ensemble (from the seven templates CLIP's authors chose for ImageNet).
DEFAULT_TEMPLATES = (
    "a photo of a {}.",
    "a bad photo of a {}.",
    "a photo of the large {}.",
    "a photo of the small {}.",
    "art of the {}.",
    "itap of a {}.",
    "a {} in a video game.",
)
# The value of model.head_init that starts the head from the class prompts.
ZERO_SHOT = "zero-shot"
HEAD_INITS = (ZERO_SHOT,)


@dataclass
class ZeroShotSpec:
    """`model.zero_shot`: the class prompts, and whether a fine-tuned run reports zero-shot."""

    # Prompt templates, "{}" standing for the label name; null: DEFAULT_TEMPLATES.
    templates: Union[list[str], None] = None  # noqa: UP007
    # A fine-tuned run of an image-text checkpoint also scores zero-shot on its held-out splits
    # (the baseline row of metrics.json and the card).
    baseline: bool = True

    def __post_init__(self) -> None:
        if self.templates is None:
            return
        if not self.templates:
            raise RecipeError("model.zero_shot.templates is empty: list prompts with {}, or null")
        for template in self.templates:
            if not isinstance(template, str) or template.count("{}") != 1:
                raise RecipeError(
                    f"model.zero_shot.templates: {template!r} must hold {{}} exactly once, "
                    "where the label name goes (e.g. 'a photo of a {}.')"
                )
            try:
                template.format("x")
            except (IndexError, KeyError, ValueError):
                raise RecipeError(
                    f"model.zero_shot.templates: {template!r} has braces other than {{}}: "
                    "double them ({{ }}) to keep them"
                ) from None
