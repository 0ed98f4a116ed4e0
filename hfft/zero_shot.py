"""Zero-shot classification with an image-text checkpoint (CLIP, SigLIP): class prompts from
templates, their text embeddings, and the classifier built from them.

Each label name is made readable (`golden_retriever` -> "golden retriever", `GoldenRetriever`
-> "golden retriever") and put into every template ("a photo of a {}."); a class's embedding is
the mean of its prompts' unit text embeddings, normalised again (CLIP's prompt ensembling). The
classifier (hfft.modeling_zero_shot) scores an image by its unit image embedding against those,
times the checkpoint's `exp(logit_scale)`, plus SigLIP's `logit_bias`: the checkpoint's own
`logits_per_image`. SigLIP's text tower pools the *last* token, so its prompts are padded to the
length it was trained with (`max_length`), as its zero-shot pipeline does; padded to the longest
prompt instead, its text embeddings change (the known mistake reported to cost tens of points).

Used three ways: `hfft zero-shot RECIPE` (hfft.zero_shot_run), `model.head_init: zero-shot`
(training starts from this classifier: before any step it predicts what zero-shot does), and the
zero-shot baseline row of a fine-tuned run's metrics and card.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hfft.errors import HfftError, RecipeError, first_line
from hfft.zero_shot_spec import DEFAULT_TEMPLATES, HEAD_INITS, ZERO_SHOT, ZeroShotSpec

log = logging.getLogger("hfft")


@dataclass(frozen=True)
class Family:
    """One image-text model family: its dual-encoder class and how its text side is fed."""

    dual_encoder: str  # the transformers class of the checkpoint (CLIPModel, SiglipModel)
    pad_to_max_length: bool  # the text tower pools the last token: pad as it was trained


FAMILIES = {
    "clip": Family("CLIPModel", pad_to_max_length=False),
    "siglip": Family("SiglipModel", pad_to_max_length=True),
}


def readable(label: str) -> str:
    """A label name as a prompt says it: `golden_retriever` and `GoldenRetriever` -> "golden
    retriever"; acronyms (`USA`) keep their case, hyphens stay (`T-shirt` -> "t-shirt")."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(label))
    words = re.sub(r"[_\s]+", " ", spaced).strip().split(" ")
    return " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)


def prompts(label_names: Sequence[str], templates: Sequence[str] | None) -> list[list[str]]:
    """Every class's prompts: one per template."""
    chosen = list(templates or DEFAULT_TEMPLATES)
    return [[t.format(readable(name)) for t in chosen] for name in label_names]


def family_of(config: Any) -> Family | None:
    """The image-text family of a checkpoint config (None: not one)."""
    return FAMILIES.get(getattr(config, "model_type", None))


def check_dual_encoder(spec: Any) -> tuple[Any, Family]:
    """(config, family) of the recipe's checkpoint, or HfftError saying why it cannot classify
    zero-shot (not CLIP/SigLIP, or a saved image classifier without its text tower)."""
    from hfft import checkpoint

    if spec.checkpoint is None:
        raise RecipeError(
            "zero-shot needs a pretrained image-text checkpoint (model.checkpoint), not "
            "model.config"
        )
    config = checkpoint.load_config(spec)
    family = family_of(config)
    source = spec.checkpoint
    if family is None:
        known = ", ".join(f.dual_encoder for f in FAMILIES.values())
        raise HfftError(
            f"zero-shot needs an image-text checkpoint ({known}); '{source}' is a "
            f"{getattr(config, 'model_type', '?')} model: drop model.head_init, or use e.g. "
            "openai/clip-vit-base-patch32"
        )
    saved_as = list(getattr(config, "architectures", None) or [])
    if saved_as and family.dual_encoder not in saved_as:
        raise HfftError(
            f"zero-shot needs the checkpoint's text tower, but '{source}' was saved as "
            f"{saved_as[0]} (image side only): use the {family.dual_encoder} checkpoint it came "
            "from"
        )
    return config, family


def text_features(model: Any, tokenizer: Any, texts: list[str], family: Family) -> Any:
    """Unit text embeddings of `texts` (one row each)."""
    import torch

    kwargs: dict[str, Any] = {"padding": True, "truncation": True}
    if family.pad_to_max_length:
        length = model.config.text_config.max_position_embeddings
        kwargs.update(padding="max_length", max_length=length)
    tokens = tokenizer(texts, return_tensors="pt", **kwargs)
    accepted = {"input_ids", "attention_mask", "position_ids"}
    tokens = {k: v for k, v in tokens.items() if k in accepted}
    if family.pad_to_max_length:
        tokens.pop("attention_mask", None)  # SigLIP was trained without one (as its pipeline)
    with torch.no_grad():
        out = model.get_text_features(**tokens)
    embeds = getattr(out, "pooler_output", out)
    return embeds / embeds.norm(p=2, dim=-1, keepdim=True)


def class_embeddings(
    model: Any, tokenizer: Any, label_names: Sequence[str], templates: Sequence[str] | None
) -> Any:
    """One unit embedding per class: the mean of its prompts' unit embeddings, normalised."""
    import torch

    family = family_of(model.config)
    rows = []
    for class_prompts in prompts(label_names, templates):
        mean = text_features(model, tokenizer, class_prompts, family).mean(dim=0)
        rows.append(mean / mean.norm(p=2))
    return torch.stack(rows)


def zero_shot_head(model: Any, classes: Any) -> tuple[Any, Any]:
    """(weight, bias) of the classifier that computes the dual encoder's logits_per_image."""
    import torch

    scale = model.logit_scale.detach().exp()
    weight = scale * classes
    bias = getattr(model, "logit_bias", None)
    bias = torch.zeros(len(classes)) if bias is None else bias.detach().expand(len(classes))
    return weight.float(), bias.float().clone()


def load_dual_encoder(spec: Any) -> tuple[Any, Any, Family]:
    """(dual-encoder model, tokenizer, family) of the recipe's checkpoint, safely loaded."""
    import transformers
    from transformers import AutoTokenizer

    from hfft import checkpoint, library_noise

    _, family = check_dual_encoder(spec)
    source = checkpoint.resolve(spec.checkpoint)
    cls = getattr(transformers, family.dual_encoder)
    try:
        with library_noise.without_load_report():
            model, info = cls.from_pretrained(
                source,
                use_safetensors=None if spec.allow_pickle else True,
                output_loading_info=True,
                **checkpoint.load_kwargs(spec),
            )
        tokenizer = AutoTokenizer.from_pretrained(source, **checkpoint.load_kwargs(spec))
    except (OSError, ValueError, ImportError) as err:  # ImportError: SigLIP's sentencepiece
        raise HfftError(
            f"could not load '{spec.checkpoint}' as a {family.dual_encoder} with its tokenizer "
            f"for zero-shot: {first_line(err)}"
        ) from None
    missing = [k for k in info.get("missing_keys") or () if k.startswith("text_")]
    if missing:
        raise HfftError(
            f"zero-shot needs the checkpoint's text tower, but '{spec.checkpoint}' lacks "
            f"{len(missing)} of its weights (e.g. {missing[0]}): use a {family.dual_encoder} "
            "checkpoint"
        )
    return model.eval(), tokenizer, family


def load_zero_shot_model(task: Any, spec: Any, label_names: Sequence[str]) -> Any:
    """The image classifier (hfft.modeling_zero_shot) whose head is the zero-shot head for
    `label_names`: `model.head_init: zero-shot`, and `hfft zero-shot`."""
    from hfft.modeling_zero_shot import CLASSES, register

    register()
    dual, tokenizer, _ = load_dual_encoder(spec)
    config_class, model_class = CLASSES[dual.config.model_type]
    settings = {
        **dual.config.to_dict(),
        "id2label": dict(enumerate(label_names)),
        "label2id": {name: i for i, name in enumerate(label_names)},
        **task.labels.model_kwargs,  # e.g. problem_type
    }
    for key in ("model_type", "architectures", "num_labels", "transformers_version"):
        settings.pop(key, None)
    config = config_class(**settings)
    config.architectures = [model_class.__name__]
    model = model_class(config)
    own = model.state_dict()
    state = {k: v for k, v in dual.state_dict().items() if k in own}
    left = sorted(set(own) - set(state) - {k for k in own if k.startswith(_HEAD_KEYS)})
    if left:  # the image tower must come whole from the checkpoint
        raise HfftError(f"'{spec.checkpoint}' lacks image-tower weights {left[:3]} for zero-shot")
    model.load_state_dict(state, strict=False)
    classes = class_embeddings(dual, tokenizer, label_names, spec.zero_shot.templates)
    model.set_zero_shot_head(*zero_shot_head(dual, classes))
    n = len(spec.zero_shot.templates or DEFAULT_TEMPLATES)
    log.info(
        "zero-shot head: %d classes x %d prompt templates (e.g. %r)",
        len(label_names),
        n,
        prompts(label_names[:1], spec.zero_shot.templates)[0][0],
    )
    return model


_HEAD_KEYS = ("classifier.", "zero_shot_")


def start_head(model: Any) -> tuple[Any, Any] | None:
    """The zero-shot head a model trained from (its saved buffers), or None for a model that
    did not start from one."""
    weight = getattr(model, "zero_shot_weight", None)
    bias = getattr(model, "zero_shot_bias", None)
    if weight is None or bias is None or not bool(weight.abs().sum()):
        return None
    return weight, bias


def supports(spec: Any) -> str | None:
    """None when the recipe's checkpoint can classify zero-shot, else why not (one phrase)."""
    try:
        check_dual_encoder(spec)
    except Exception as err:  # whatever stops it (an unreachable Hub id too) means "cannot"
        return first_line(err)
    return None


__all__ = [
    "DEFAULT_TEMPLATES",
    "FAMILIES",
    "HEAD_INITS",
    "ZERO_SHOT",
    "ZeroShotSpec",
    "load_zero_shot_model",
    "prompts",
    "readable",
    "start_head",
    "supports",
]
