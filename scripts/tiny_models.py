"""Tiny random checkpoints of any transformers classifier, built from its config class alone.

`tiny_config(model_type)` takes the config class's defaults (a full-size model) and shrinks every
size it recognises by the attribute's name: widths to 32, layers to 2, heads to 2, vocabularies to
a few hundred tokens, images to 32x32; nested configs (`vision_config`, `text_config`, ...) the
same way. Lists shrink element-wise (stage depths to 1, stage widths scaled down together), so a
config's own ratios survive. Nothing here knows a particular model: a type whose tiny config does
not build is reported as such by scripts/architectures.py, not patched by hand.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

IMAGE_SIZE = 64
VOCAB_SIZE = 256
WIDTH = 32
HEADS = 2
LAYERS = 2
INTERMEDIATE = 64

# Attribute names by what they size (ints unless noted). Matching is by exact name.
LAYER_COUNTS = {
    "num_hidden_layers", "n_layer", "n_layers", "num_layers", "encoder_layers", "decoder_layers",
    "num_decoder_layers", "num_encoder_layers", "num_hidden_groups",
    "num_self_attends_per_block",
}  # fmt: skip
HEAD_COUNTS = {
    "num_attention_heads", "n_head", "n_heads", "encoder_attention_heads", "num_heads",
    "decoder_attention_heads", "num_self_attention_heads", "num_cross_attention_heads",
    "linear_num_key_heads", "linear_num_value_heads", "n_mamba_heads", "index_n_heads",
}  # fmt: skip
KV_HEAD_COUNTS = {"num_key_value_heads", "num_kv_heads"}
WIDTHS = {
    "hidden_size", "d_model", "n_embd", "embed_dim", "dim", "emb_dim", "embedding_size",
    "word_embed_proj_dim", "pooler_hidden_size", "true_hidden_size", "intra_bottleneck_size",
    "d_latents", "projection_dim", "hidden_dim", "attention_hidden_size", "pooler_output_size",
    "decoder_hidden_size", "entity_emb_size", "xpath_unit_hidden_size", "dim_model_base",
    "coordinate_size", "shape_size", "stem_channels", "stem_out_channels", "auxiliary_channels",
    "aspp_out_channels", "output_num_channels", "prompt_mid_dim", "_label_trainable_num_channels",
}  # fmt: skip
HEAD_DIMS = {
    "head_dim", "d_kv", "d_head", "attention_head_dim", "kv_channels", "qk_rope_head_dim",
    "qk_nope_head_dim", "v_head_dim", "linear_key_head_dim", "linear_value_head_dim",
    "index_head_dim", "mamba_d_state", "mamba_dt_rank", "kv_lora_rank", "q_lora_rank",
    "query_pre_attn_scalar", "rotary_dim",
}  # fmt: skip
INTERMEDIATES = {
    "intermediate_size", "ffn_dim", "encoder_ffn_dim", "decoder_ffn_dim", "d_ff", "n_inner",
    "moe_intermediate_size", "shared_expert_intermediate_size", "d_inner", "dff",
    "ffn_hidden_size",
}  # fmt: skip
EXPERTS = {"num_experts", "num_local_experts", "n_routed_experts"}
VOCABS = {"vocab_size", "entity_vocab_size"}
POSITIONS = {
    "max_position_embeddings", "n_positions", "max_seq_len", "original_max_position_embeddings",
    "max_2d_position_embeddings", "max_length",  # AST's spectrogram frames
}  # fmt: skip
# Channels of each layer of a speech model's convolutional feature encoder (wav2vec2, SEW).
CONV_WIDTHS = {"conv_dim"}
# Per-stage lists of CNN / hierarchical transformer widths: scaled down together.
STAGE_WIDTHS = {
    "hidden_sizes", "embed_dims", "embed_dim", "neck_hidden_sizes", "stem_channels",
    "stage_in_channels", "stage_mid_channels", "stage_out_channels", "in_channels",
    "out_channels", "hidden_size", "base_attn_unit_dims", "key_dim",
}  # fmt: skip
STAGE_DEPTHS = {
    "depths", "depth", "num_block_repeats", "stage_num_blocks", "stage_numb_of_layers",
    "block_repeats", "n_attn_blocks", "block_sizes",
}  # fmt: skip
STAGE_HEADS = {"num_heads", "num_attention_heads"}
NESTED = {"text_config", "vision_config", "encoder", "decoder", "attn_config"}
# Defaults left unset that a real checkpoint's config always sets (some default configs do not
# build a model without them).
FILL_WHEN_UNSET = {
    "head_dim": WIDTH // HEADS,
    "num_key_value_heads": HEADS,
    "num_experts_per_tok": 2,
    "vocab_size": VOCAB_SIZE,
}
TOKEN_IDS = {
    "pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id", "cls_token_id",
    "decoder_start_token_id", "mask_token_id", "unk_index", "mask_index", "eod_token_id",
    "forced_eos_token_id", "image_token_id", "image_token_index", "boi_token_index",
    "eoi_token_index", "video_token_id", "vision_start_token_id", "vision_end_token_id",
}  # fmt: skip


def shrink(settings: dict[str, Any], vision: bool) -> dict[str, Any]:
    """A copy of a config dict with every recognised size made tiny (see the module docstring)."""
    out = dict(settings)
    # One scale for every per-stage width list, so stage i's output still feeds stage i+1.
    firsts = [
        v[0] for k, v in settings.items()
        if k in STAGE_WIDTHS and isinstance(v, list) and v and _is_int(v[0]) and v[0] > 8
    ]  # fmt: skip
    scale = 8 / min(firsts) if firsts else 1.0
    old_layers = next((settings[k] for k in LAYER_COUNTS if isinstance(settings.get(k), int)), 0)
    # Per-layer lists of kinds (layer_types, ...); per-stage int lists (depths) keep their length.
    per_layer = [
        k
        for k, v in settings.items()
        if isinstance(v, list) and old_layers and len(v) == old_layers and not all(map(_is_int, v))
    ]
    # Hybrid models (sliding + full attention, linear attention + full, ...) keep one layer of
    # each kind: the first of each, then the lowest others, up to LAYERS.
    keep = sorted({settings[k].index(v) for k in per_layer for v in settings[k] if _hashable(v)})
    keep = sorted(set(keep) | set(range(min(old_layers, LAYERS)))) if per_layer else []
    for key, value in settings.items():
        if key in NESTED and isinstance(value, dict):
            out[key] = shrink(value, vision or key == "vision_config")
        elif key in per_layer:
            out[key] = [value[i] for i in keep]
        elif isinstance(value, bool):
            continue
        elif value is None:
            if key in FILL_WHEN_UNSET:
                out[key] = FILL_WHEN_UNSET[key]
        elif isinstance(value, int):
            out[key] = _shrink_int(key, value, scale)
        elif isinstance(value, list) and value and all(_is_int(v) for v in value):
            out[key] = _shrink_int_list(key, value, scale)
    if keep and len(keep) > LAYERS:
        for key in LAYER_COUNTS & set(settings):
            if settings[key] == old_layers:
                out[key] = len(keep)
    return out


def _hashable(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shrink_int(key: str, value: int, scale: float) -> int:
    if key in LAYER_COUNTS:
        return min(value, LAYERS)
    if key in HEAD_COUNTS:
        return min(value, HEADS)
    if key in KV_HEAD_COUNTS:
        return min(value, HEADS)
    if key in WIDTHS:
        # Beside per-stage widths (a CNN's stem feeding its first stage) a width scales with them.
        return _scaled(value, scale) if scale < 1 else min(value, WIDTH)
    if key in HEAD_DIMS:
        return min(value, WIDTH // HEADS)
    if key in INTERMEDIATES:
        return min(value, INTERMEDIATE)
    if key in EXPERTS:
        return min(value, 4)
    if key in VOCABS:
        return min(value, VOCAB_SIZE)
    if key in POSITIONS:
        return min(value, 128)
    if key == "image_size" or key == "input_size":
        return min(value, IMAGE_SIZE)  # patch sizes stay: a 64x64 image still has 4x4 patches
    if key.endswith("_layer_period"):  # attention/expert every N layers (Jamba, Zamba)
        return min(value, LAYERS)
    if key.endswith("_layer_offset"):
        return min(value, LAYERS - 1)
    if key in {"n_group", "topk_group"}:  # expert groups must divide the (few) experts
        return 1
    if key == "num_experts_per_tok":
        return min(value, 2)
    if key == "window_size":
        return min(value, 2)
    if key == "num_groups":  # GroupNorm groups: must divide the (multiple of 8) channel counts
        return min(value, 4)
    if key in TOKEN_IDS:
        return value if value < 8 else 1  # inside the tiny vocabulary
    return value


def _shrink_int_list(key: str, values: list[int], scale: float) -> list[int]:
    if key in STAGE_DEPTHS:
        return [min(v, 1) for v in values]
    if key in STAGE_HEADS:
        return [min(v, HEADS) for v in values]
    if key in STAGE_WIDTHS:
        return [_scaled(v, scale) for v in values]
    if key in CONV_WIDTHS:
        return [min(v, WIDTH // 2) for v in values]  # below the encoder layers, as in real ones
    if key == "image_size":
        return [min(v, IMAGE_SIZE) for v in values]
    if key in TOKEN_IDS:
        return [v if v < 8 else 1 for v in values]
    return values


# Where a model's own constraint trips the generic rules (each line says which).
OVERRIDES: dict[str, dict[str, Any]] = {
    # CvT indexes stage i's drop-path rates by i, so stage i needs at least i + 1 layers.
    "cvt": {"depth": [1, 2, 3]},
    # EfficientNet's stem width is fixed at 32 in its modeling code: keep the B0 channels.
    "efficientnet": {
        "in_channels": [32, 16, 24, 40, 80, 112, 192],
        "out_channels": [16, 24, 40, 80, 112, 192, 320],
        "width_coefficient": 1.0,
    },
    # GPT-Neo expands [[pattern], repeats] to the layer list, which must match num_layers.
    "gpt_neo": {"attention_types": [[["global", "local"], 1]]},
}


def _scaled(value: int, scale: float) -> int:
    """A width scaled down with its stages, kept a multiple of 8; input channels (3) and other
    small counts stay as they are."""
    return value if value <= 8 else max(8, round(value * scale / 8) * 8)


def tiny_config(
    model_type: str, num_labels: int, vision: bool, classes: Callable[[], dict] | None = None
) -> Any:
    """The config class of `model_type` with its default sizes shrunk, sized for `num_labels`;
    `classes` is the Auto mapping that names its task class (image or sequence classification
    by default)."""
    from transformers import CONFIG_MAPPING

    config_class = CONFIG_MAPPING[model_type]
    defaults = config_class().to_dict()
    settings = shrink(defaults, vision)
    accepted = set(inspect.signature(config_class.__init__).parameters)
    # Derived settings (layer_types computed from num_hidden_layers, ...) are recomputed by the
    # class when only the settings its constructor names are passed.
    keep_all = "kwargs" in accepted
    kwargs = {k: v for k, v in settings.items() if keep_all or k in accepted}
    for key in (
        "transformers_version",
        "model_type",
        "architectures",
        "id2label",
        "label2id",
        "num_labels",
    ):
        kwargs.pop(key, None)
    if not vision:
        # The tiny tokenizer's [PAD], [CLS] and [SEP]: decoder heads pool on the last non-pad
        # token, encoder-decoder heads on the end-of-sequence token.
        tokens = {"pad_token_id": 0, "bos_token_id": 2, "eos_token_id": 3}
        kwargs.update(tokens)
        if isinstance(kwargs.get("text_config"), dict):  # multimodal configs read it there
            kwargs["text_config"] = {**kwargs["text_config"], **tokens}
        if defaults.get("is_encoder_decoder"):
            kwargs["decoder_start_token_id"] = 0
    kwargs.update(OVERRIDES.get(model_type, {}))
    # Not the LABEL_i defaults: transformers omits those from config.json, and BART-style
    # configs (3 labels by default) would then reload with the wrong number of labels.
    labels = {i: f"class_{i}" for i in range(num_labels)}
    config = config_class(**kwargs, id2label=labels, label2id={v: k for k, v in labels.items()})
    if getattr(config, "languages", None) and getattr(config, "default_language", 0) is None:
        config.default_language = config.languages[0]  # X-MOD: which language adapter to run
    # Auto mappings with several classes for a type (DeiT with/without teacher) pick by this.
    mapping = classes or (IMAGE_CLASSES if vision else TEXT_CLASSES)
    names = mapping()[model_type]
    config.architectures = [names[0] if isinstance(names, tuple) else names]
    return config


def IMAGE_CLASSES() -> dict[str, Any]:
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES

    return dict(MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES)


def TEXT_CLASSES() -> dict[str, Any]:
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
    )

    return dict(MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES)


def AUDIO_CLASSES() -> dict[str, Any]:
    """Audio classifiers, whatever their class suffix (wav2vec2-style heads are
    *ForSequenceClassification)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES

    return dict(MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES)


def TOKEN_CLASSES() -> dict[str, Any]:
    from transformers.models.auto.modeling_auto import MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES

    return dict(MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES)


def save_image_checkpoint(
    model_type: str, path: Path, num_labels: int, own_processor: bool = False
) -> Path:
    """A tiny image classifier of `model_type` saved to `path`, with a ViT image processor at
    the tiny image size (or, with `own_processor`, the type's own processor class as it comes:
    for models whose inputs are more than resized pixels)."""
    import torch
    import transformers
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES

    config = tiny_config(model_type, num_labels, vision=True)
    torch.manual_seed(0)
    model = transformers.AutoModelForImageClassification.from_config(config)
    size = _image_size(config)
    model.save_pretrained(path)
    if own_processor:
        processor = getattr(
            transformers, IMAGE_PROCESSOR_MAPPING_NAMES[model_type]["torchvision"]
        )()
    else:
        processor = transformers.ViTImageProcessor(size={"height": size, "width": size})
    processor.save_pretrained(path)
    return Path(path)


def _image_size(config: Any) -> int:
    inner = getattr(config, "vision_config", None) or config
    size = getattr(inner, "image_size", IMAGE_SIZE)
    return size[0] if isinstance(size, (list, tuple)) else int(size)


SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def save_text_checkpoint(
    model_type: str,
    path: Path,
    num_labels: int,
    words: list[str],
    task_class: str = "AutoModelForSequenceClassification",
    classes: Callable[[], dict] | None = None,
) -> Path:
    """A tiny text classifier of `model_type` (a sequence classifier, or `task_class` from the
    mapping `classes`) and a word-level (fast) tokenizer over `words`."""
    import torch
    import transformers
    from transformers import BertTokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(SPECIAL_TOKENS + sorted(set(words))) + "\n")
    config = tiny_config(model_type, num_labels, vision=False, classes=classes)
    torch.manual_seed(0)
    model = getattr(transformers, task_class).from_config(config)
    # A real checkpoint's tokenizer emits only the inputs its model takes.
    accepted = set(inspect.signature(model.forward).parameters)
    names = [n for n in ("input_ids", "token_type_ids", "attention_mask") if n in accepted]
    # transformers 5 ignores BertTokenizer(vocab_file=...); from_pretrained(dir) reads vocab.txt.
    tokenizer = BertTokenizer.from_pretrained(path, model_input_names=names)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    # transformers reloads some types' tokenizers as their own class whatever was saved (Qwen2:
    # a byte-level BPE rebuilt from the vocabulary), which reads a word only from its single
    # characters: then the vocabulary gets those too.
    reloaded = transformers.AutoTokenizer.from_pretrained(path)
    if not all(reloaded(w, add_special_tokens=False)["input_ids"] for w in words):
        (path / "tokenizer.json").unlink()  # else from_pretrained reads it, not vocab.txt
        chars = sorted({c for w in words for c in w} | set(words))
        (path / "vocab.txt").write_text("\n".join(SPECIAL_TOKENS + chars) + "\n")
        BertTokenizer.from_pretrained(path, model_input_names=names).save_pretrained(path)
    return path


# transformers' feature-extractor table names the wav2vec2 one for wav2vec2-bert, whose model
# reads 160-wide stacked mel features: its checkpoints ship this one.
FEATURE_EXTRACTORS = {"wav2vec2-bert": "SeamlessM4TFeatureExtractor"}


def save_audio_checkpoint(model_type: str, path: Path, num_labels: int, rate: int) -> Path:
    """A tiny audio classifier of `model_type` and its feature extractor at its defaults (at
    `rate` Hz), with the sizes its config also names (mel bins, frames) taken from the config."""
    import torch
    import transformers
    from transformers.models.auto.feature_extraction_auto import FEATURE_EXTRACTOR_MAPPING_NAMES

    config = tiny_config(model_type, num_labels, vision=False, classes=AUDIO_CLASSES)
    torch.manual_seed(0)
    transformers.AutoModelForAudioClassification.from_config(config).save_pretrained(path)
    name = FEATURE_EXTRACTORS.get(model_type) or FEATURE_EXTRACTOR_MAPPING_NAMES[model_type]
    extractor_class = getattr(transformers, name)
    accepted = set(inspect.signature(extractor_class.__init__).parameters)
    kwargs: dict[str, Any] = {"sampling_rate": rate}
    for key in ("num_mel_bins", "max_length"):  # AST's spectrogram grid
        if key in accepted and isinstance(getattr(config, key, None), int):
            kwargs[key] = getattr(config, key)
    if "feature_size" in accepted and isinstance(getattr(config, "num_mel_bins", None), int):
        kwargs["feature_size"] = config.num_mel_bins  # Whisper: one feature per mel bin
    extractor_class(**kwargs).save_pretrained(path)
    return Path(path)
