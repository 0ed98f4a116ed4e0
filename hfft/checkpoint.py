"""Load a checkpoint (Hub id or local directory) safely: safetensors only unless the recipe opts
in to pickle, `trust_remote_code` off unless the recipe sets it, a new head sized to the labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hfft.errors import HfftError, first_line
from hfft.local_paths import looks_like_local_path
from hfft.recipe import ModelSpec
from hfft.tasks import Task


def resolve(checkpoint: str) -> str:
    """The checkpoint as given, after checking that a local-looking path exists."""
    local = Path(checkpoint).expanduser()
    if local.exists():
        if not (local / "config.json").is_file():
            raise HfftError(
                f"model.checkpoint '{checkpoint}' is a folder without config.json: point it at a "
                "directory written by save_pretrained (or a Hub id)"
            )
        return str(local)
    if looks_like_local_path(checkpoint):
        raise HfftError(
            f"model.checkpoint '{checkpoint}' does not exist: give an existing local directory or "
            "a Hub id such as google/vit-base-patch16-224-in21k"
        )
    return checkpoint


def load_kwargs(spec: ModelSpec) -> dict[str, Any]:
    """Keyword arguments shared by every `from_pretrained` call of a recipe."""
    kwargs: dict[str, Any] = {"trust_remote_code": spec.trust_remote_code}
    if spec.revision:
        kwargs["revision"] = spec.revision
    return kwargs


def load_processor(task: Task, spec: ModelSpec) -> Any:
    """The checkpoint's image processor or tokenizer (or the one `model.processor` names)."""
    if isinstance(spec.processor, dict):
        return _build_processor(spec.processor)
    source = spec.processor or spec.checkpoint
    checkpoint = resolve(source)
    kind = task.modality.processor_kind
    try:
        processor = task.modality.load_processor(checkpoint, load_kwargs(spec))
    except (OSError, ValueError) as err:
        raise HfftError(
            f"could not load the {kind} of '{source}': {first_line(err)}{_hint(err, spec)}. The "
            f"run directory must be usable by pipeline(), so the checkpoint needs its {kind} files"
        ) from None
    if _only_special_tokens(processor):
        # transformers 5 builds a tokenizer from config.json alone when its files are missing:
        # every word becomes [UNK] and the model silently learns nothing from the text.
        raise HfftError(
            f"could not load the tokenizer of '{source}': it has no vocabulary (no tokenizer.json "
            "or vocab files, only special tokens). Add the tokenizer files to the checkpoint, or "
            "set model.processor to a tokenizer's folder or Hub id"
        )
    return processor


def _only_special_tokens(processor: Any) -> bool:
    get_vocab = getattr(processor, "get_vocab", None)
    if get_vocab is None or not hasattr(processor, "all_special_tokens"):
        return False  # an image processor
    return not set(get_vocab()) - set(processor.all_special_tokens)


def load_model(task: Task, spec: ModelSpec, label_names: list[str]) -> Any:
    """The task model with a head for `label_names` (`id2label`/`label2id` set in its config)."""
    import transformers

    auto = getattr(transformers, task.model_class)
    labels = {
        "num_labels": len(label_names),
        "id2label": dict(enumerate(label_names)),
        "label2id": {name: i for i, name in enumerate(label_names)},
        **task.labels.model_kwargs,  # e.g. problem_type
    }
    if spec.config is not None:
        return auto.from_config(_build_config(spec.config, labels))
    checkpoint = resolve(spec.checkpoint)
    try:
        model = auto.from_pretrained(
            checkpoint,
            **labels,
            # The checkpoint's own head (e.g. 1000 ImageNet classes) is replaced, not an error.
            ignore_mismatched_sizes=True,
            # Pickled .bin weights execute code on load; only safetensors unless opted in.
            use_safetensors=None if spec.allow_pickle else True,
            **load_kwargs(spec),
        )
    except (OSError, ValueError) as err:
        raise HfftError(
            f"could not load checkpoint '{spec.checkpoint}': {first_line(err)}{_hint(err, spec)}"
        ) from None
    original = label_names_of(checkpoint, spec)
    if len(original) == len(label_names) and original != list(label_names):
        # Same number of classes but other classes (digits 0-4 -> 5-9): `ignore_mismatched_sizes`
        # only replaces heads whose shape changes, so this one was loaded as trained for the
        # source task. A new task gets a new head.
        reset_head(model)
    return model


def label_names_of(checkpoint: str, spec: ModelSpec) -> list[str]:
    """Class names the checkpoint's own config declares (LABEL_0... when it has none)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(checkpoint, **load_kwargs(spec))
    return [config.id2label[i] for i in sorted(config.id2label)]


def reset_head(model: Any) -> None:
    """Re-initialise the task head's parameters (every module PyTorch can reset)."""
    from hfft.modes import anatomy

    for name in anatomy(model).head:
        for module in getattr(model, name).modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()


def _hint(err: BaseException, spec: ModelSpec) -> str:
    """What to do about a load failure caused by hfft's safety defaults."""
    text = str(err).lower()
    if ("custom code" in text or "trust_remote_code" in text) and not spec.trust_remote_code:
        return (
            " (the checkpoint needs its own Python code: set model.trust_remote_code=true only "
            "if you trust its source)"
        )
    if "safetensors" in text and not spec.allow_pickle:
        return " (only pickle .bin weights? set model.allow_pickle=true if you trust them)"
    return ""


def _build_config(config: dict[str, Any], labels: dict[str, Any]) -> Any:
    from transformers import AutoConfig

    settings = dict(config)
    model_type = settings.pop("model_type")
    try:
        return AutoConfig.for_model(model_type, **settings, **labels)
    except ValueError as err:
        raise HfftError(f"model.config: {first_line(err)}") from None


def _build_processor(settings: dict[str, Any]) -> Any:
    import transformers

    kwargs = dict(settings)
    name = kwargs.pop("class", None)
    cls = getattr(transformers, str(name), None) if name else None
    if cls is None or not hasattr(cls, "from_pretrained"):
        raise HfftError(
            f"model.processor.class {name!r} is not a transformers processor class; "
            "e.g. {class: ViTImageProcessor, size: {height: 64, width: 64}}"
        )
    return cls(**kwargs)


def label_names(model_dir: str | Path) -> list[str]:
    """Class names of a saved classifier, in class-id order, from its config.json."""
    import json

    config = json.loads((Path(model_dir) / "config.json").read_text())
    id2label = config.get("id2label") or {}
    return [id2label[k] for k in sorted(id2label, key=int)]
