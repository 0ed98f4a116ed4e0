"""Load a checkpoint (Hub id or local directory) safely: safetensors only unless the recipe opts
in to pickle, `trust_remote_code` off unless the recipe sets it, a new head sized to the labels."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from hfft.errors import HfftError, first_line
from hfft.local_paths import absent_path, looks_like_local_path
from hfft.recipe import ModelSpec
from hfft.run_files import CONFIG_FILE
from hfft.tasks import Task

log = logging.getLogger("hfft")
# Files of a checkpoint folder that transformers reads (weights, configs, vocabularies).
_READ_SUFFIXES = (".json", ".safetensors", ".bin", ".txt", ".model", ".jinja")


def resolve(checkpoint: str) -> str:
    """The checkpoint as given, after checking that a local-looking path exists and is
    readable."""
    local = Path(checkpoint).expanduser()
    if local.exists():
        _check_readable(checkpoint, local)
        if not (local / CONFIG_FILE).is_file():
            raise HfftError(
                f"model.checkpoint '{checkpoint}' is a folder without {CONFIG_FILE}: point it at a "
                "directory written by save_pretrained (or a Hub id)"
            )
        return str(local)
    if looks_like_local_path(checkpoint):
        raise HfftError(
            f"model.checkpoint '{checkpoint}' does not exist: give an existing local directory or "
            "a Hub id such as google/vit-base-patch16-224-in21k"
        )
    return checkpoint


def _check_readable(checkpoint: str, local: Path) -> None:
    """Refuse a checkpoint folder or file hfft may not read: safetensors reports an unreadable
    file as "No such file or directory", which would send the user looking in the wrong place."""
    fix = "make it readable (chmod -R a+rX) or copy the checkpoint somewhere you can read"
    try:
        names = sorted(os.listdir(local)) if local.is_dir() else []
    except PermissionError:
        raise HfftError(
            f"model.checkpoint '{checkpoint}': cannot read the folder {local} (permission "
            f"denied); {fix}"
        ) from None
    for name in names:
        path = local / name
        if not name.endswith(_READ_SUFFIXES) or not path.is_file():
            continue
        try:
            path.open("rb").close()
        except PermissionError:
            raise HfftError(
                f"model.checkpoint '{checkpoint}': cannot read {path} (permission denied); {fix}"
            ) from None


def load_failure(key: str, source: str, what: str, err: BaseException, spec: ModelSpec) -> str:
    """The one-line message for `from_pretrained(source)` failing to load its `what` (config,
    tokenizer, ...); `key` is the recipe key that named `source`. A value that names no local
    path was tried as a Hub id; `runs/base` may as well have been meant as a folder, so say both."""
    missing = absent_path(source)
    if missing is not None:
        return (
            f"{key} '{source}' does not exist: there is no {missing}, and as a Hub id it could "
            f"not be loaded either ({first_line(err)})"
        )
    return f"could not load the {what} of '{source}': {first_line(err)}{_hint(err, spec)}"


def load_kwargs(spec: ModelSpec) -> dict[str, Any]:
    """Keyword arguments shared by every `from_pretrained` call of a recipe (and the models
    hfft defines registered, so such a call can load them)."""
    register_own_models()
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
        key = "model.processor" if spec.processor else "model.checkpoint"
        message = load_failure(key, source, kind, err, spec)
        if absent_path(source) is None:
            message += (
                f". The run directory must be usable by pipeline(), so the checkpoint needs its "
                f"{kind} files"
            )
        raise HfftError(message) from None
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

    from hfft import library_noise

    auto = getattr(transformers, task.model_class)
    labels = {
        "id2label": dict(enumerate(label_names)),
        "label2id": {name: i for i, name in enumerate(label_names)},
        **task.labels.model_kwargs,  # e.g. problem_type
    }
    if spec.config is not None:
        return task.locate_backbone(
            auto.from_config(load_config(spec, num_labels=len(label_names), **labels))
        )
    checkpoint = resolve(spec.checkpoint)
    # Every run loads its model here before its Trainer exists: the place to quiet what the
    # Trainer would say.
    library_noise.install()
    try:
        # Without num_labels (id2label sets it): passing both warns "incompatible" whenever the
        # checkpoint's head has another size, which is the normal case here.
        with library_noise.without_load_report():
            model, info = auto.from_pretrained(
                checkpoint,
                **labels,
                # The checkpoint's own head (e.g. 1000 ImageNet classes) is replaced, not an error.
                ignore_mismatched_sizes=True,
                # Pickled .bin weights execute code on load; only safetensors unless opted in.
                use_safetensors=None if spec.allow_pickle else True,
                output_loading_info=True,
                **load_kwargs(spec),
            )
    except (OSError, ValueError) as err:
        raise HfftError(
            load_failure("model.checkpoint", spec.checkpoint, "weights", err, spec)
        ) from None
    model = task.locate_backbone(model)
    original = label_names_of(checkpoint, spec)
    new_head = _report_loading(model, info, len(label_names), len(original))
    if not new_head and original != list(label_names):
        # Same number of classes but other classes (digits 0-4 -> 5-9): `ignore_mismatched_sizes`
        # only replaces heads whose shape changes, so this one was loaded as trained for the
        # source task. A new task gets a new head.
        reset_head(model)
        log.info(
            "a new classification head was initialised for %d labels (the checkpoint's head had "
            "%d other labels)",
            len(label_names),
            len(original),
        )
    return model


def load_config(spec: ModelSpec, **settings: Any) -> Any:
    """The model's transformers config, `settings` applied: built from `model.config` (training
    from scratch), else read from the checkpoint."""
    if spec.config is not None:
        return _build_config(spec.config, settings)
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(resolve(spec.checkpoint), **load_kwargs(spec), **settings)


def build_skeleton(task: Task, spec: ModelSpec) -> Any:
    """The task model built from its config on the meta device: its structure, without loading
    or allocating any weight (to count its blocks)."""
    import torch
    import transformers

    config = load_config(spec)
    auto = getattr(transformers, task.model_class)
    with torch.device("meta"):
        return task.locate_backbone(
            auto.from_config(config, trust_remote_code=spec.trust_remote_code)
        )


def _report_loading(model: Any, info: dict[str, Any], num_labels: int, original: int) -> bool:
    """Say in one line what `from_pretrained` did to the task head (and warn about backbone
    weights it did not find); True when the head was initialised anew."""
    prefix = getattr(model, "base_model_prefix", "")

    def in_head(key: str) -> bool:
        return key.split(".", 1)[0] != prefix

    missing = sorted(info.get("missing_keys") or ())
    mismatched = sorted(key for key, *_ in info.get("mismatched_keys") or ())
    # Layers sized by the labels, wherever they sit (RT-DETR keeps its class heads inside its
    # base model): their shape differs by exactly the change in the number of labels.
    sized = {key for key, *shapes in info.get("mismatched_keys") or () if _label_sized(
        shapes, num_labels - original)}  # fmt: skip
    backbone = [key for key in missing + mismatched if not in_head(key) and key not in sized]
    if backbone:
        shown = ", ".join(backbone[:5]) + (", ..." if len(backbone) > 5 else "")
        log.warning(
            "%d backbone weights were not in the checkpoint (or had another shape) and start "
            "random: %s; is model.checkpoint a checkpoint of this architecture?",
            len(backbone),
            shown,
        )
    head_mismatched = [key for key in mismatched if in_head(key) or key in sized]
    head_missing = [key for key in missing if in_head(key)]
    if head_mismatched:
        had = f"the checkpoint's head had {original}"
    elif head_missing:
        had = "the checkpoint had none"
    else:
        return False
    log.info("a new classification head was initialised for %d labels (%s)", num_labels, had)
    return True


def _label_sized(shapes: list[Any], change: int) -> bool:
    """Whether a (checkpoint, model) pair of shapes differs only by `change` labels."""
    if len(shapes) != 2 or not change:
        return False
    old, new = (tuple(s) for s in shapes)
    return len(old) == len(new) and all(b in (a, a + change) for a, b in zip(old, new, strict=True))


def label_names_of(checkpoint: str, spec: ModelSpec) -> list[str]:
    """Class names the checkpoint's own config declares (LABEL_0... when it has none)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(checkpoint, **load_kwargs(spec))
    return [config.id2label[i] for i in sorted(config.id2label)]


def register_own_models() -> None:
    """Let transformers' Auto classes load the models hfft defines (hfft.modeling_zero_shot:
    a run that started from a zero-shot head) from hfft's own code, never a copy's."""
    from hfft.modeling_zero_shot import register

    register()


def reset_head(model: Any) -> None:
    """Re-initialise the task head's parameters (every module PyTorch can reset)."""
    from hfft.modes import anatomy

    for name in anatomy(model).head:
        for module in model.get_submodule(name).modules():  # a head may be nested (Perceiver)
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

    config = json.loads((Path(model_dir) / CONFIG_FILE).read_text())
    id2label = config.get("id2label") or {}
    return [id2label[k] for k in sorted(id2label, key=int)]


# Config attributes that hold a model's hidden size (its matmuls' width), by architecture family.
_WIDTH_KEYS = ("hidden_size", "d_model", "dim", "n_embd", "embed_dim", "hidden_dim")


def model_width(spec: Any) -> int | None:
    """The model's hidden size from its config (a sub-model's for composite ones, the widest
    stage for convolutional ones), or None when it cannot be read."""
    if spec is None:
        return None
    key = (spec.checkpoint, spec.revision, repr(spec.config))
    if key not in _WIDTHS:
        _WIDTHS[key] = _read_width(spec)
    return _WIDTHS[key]


_WIDTHS: dict[tuple, int | None] = {}  # a run asks for its start line, arguments and recipe.yaml


def _read_width(spec: Any) -> int | None:
    try:
        config = load_config(spec)
    except Exception:  # an unreadable checkpoint is preflight's to report, not this guess's
        return None
    # A composite config (CLIP, an encoder-decoder) keeps its sub-models' in `*_config` fields.
    subs = [v for k, v in vars(config).items() if k.endswith("_config") and hasattr(v, "to_dict")]
    for part in (config, *subs):
        for key in _WIDTH_KEYS:
            value = getattr(part, key, None)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        sizes = getattr(part, "hidden_sizes", None)
        if isinstance(sizes, (list, tuple)) and sizes:
            return max(int(s) for s in sizes)
    return None
