"""Tiny image-text checkpoints (CLIPModel, SiglipModel) with a real CLIP BPE tokenizer built
offline (a character-level vocabulary), and the hand computation of zero-shot they are tested
against."""

from __future__ import annotations

import json
from pathlib import Path

from tests.tiny import IMAGE_SIZE

CHARS = "abcdefghijklmnopqrstuvwxyz."
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def make_tokenizer(path: Path):
    """A CLIP tokenizer whose vocabulary is single characters (no merges): every prompt
    tokenizes, offline."""
    from transformers import CLIPTokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vocab = {c: i for i, c in enumerate(CHARS)}
    vocab.update({c + "</w>": len(CHARS) + i for i, c in enumerate(CHARS)})
    vocab.update({BOS: len(vocab), EOS: len(vocab) + 1})
    (path / "vocab.json").write_text(json.dumps(vocab))
    (path / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer.from_pretrained(path)
    for name in ("vocab.json", "merges.txt"):
        (path / name).unlink()
    return tokenizer


def dual_config(model_type: str):
    """A tiny CLIPConfig or SiglipConfig (both towers)."""
    from transformers import CLIPConfig, SiglipConfig

    vocab = len(CHARS) * 2 + 2
    text = {
        "vocab_size": vocab, "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
        "num_attention_heads": 2, "max_position_embeddings": 64,
        "bos_token_id": vocab - 2, "eos_token_id": vocab - 1, "pad_token_id": vocab - 1,
    }  # fmt: skip
    vision = {
        "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
        "num_attention_heads": 2, "image_size": IMAGE_SIZE, "patch_size": 8,
    }  # fmt: skip
    if model_type == "clip":
        return CLIPConfig(text_config=text, vision_config=vision, projection_dim=24)
    if model_type == "siglip":
        return SiglipConfig(text_config=text, vision_config=vision)
    raise ValueError(model_type)


def make_dual_encoder(path: Path, model_type: str = "clip", seed: int = 0) -> Path:
    """Save a tiny random CLIPModel/SiglipModel with its tokenizer and image processor."""
    import torch
    from transformers import AutoModel, CLIPImageProcessor

    path = Path(path)
    torch.manual_seed(seed)
    model = AutoModel.from_config(dual_config(model_type))
    with torch.no_grad():  # a logit scale and bias other than the defaults, to be read
        model.logit_scale.fill_(2.5)
        if hasattr(model, "logit_bias"):
            model.logit_bias.fill_(-1.5)
    model.save_pretrained(path)
    make_tokenizer(path).save_pretrained(path)
    size = {"shortest_edge": IMAGE_SIZE}
    crop = {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    CLIPImageProcessor(size=size, crop_size=crop).save_pretrained(path)
    return path


def hand_zero_shot(checkpoint: Path, images: list, label_names: list[str], templates: list[str]):
    """Zero-shot class ids and logits computed by hand from the dual encoder's own methods:
    cosine similarity of unit image and (prompt-averaged) class embeddings, argmax."""
    import torch
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(checkpoint).eval()
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    processor = AutoImageProcessor.from_pretrained(checkpoint)
    siglip = model.config.model_type == "siglip"
    classes = []
    with torch.no_grad():
        for name in label_names:
            texts = [t.format(name.replace("_", " ")) for t in templates]
            if siglip:  # as SigLIP was trained: padded to the full length, no attention mask
                length = model.config.text_config.max_position_embeddings
                ids = tokenizer(texts, padding="max_length", max_length=length, return_tensors="pt")
                emb = model.get_text_features(input_ids=ids["input_ids"]).pooler_output
            else:
                tokens = tokenizer(texts, padding=True, return_tensors="pt")
                emb = model.get_text_features(**tokens).pooler_output
            emb = emb / emb.norm(dim=-1, keepdim=True)
            mean = emb.mean(0)
            classes.append(mean / mean.norm())
        text = torch.stack(classes)
        pixels = processor([im.convert("RGB") for im in images], return_tensors="pt")
        image = model.get_image_features(pixel_values=pixels["pixel_values"]).pooler_output
        image = image / image.norm(dim=-1, keepdim=True)
        logits = image @ text.T * model.logit_scale.exp()
        if siglip:
            logits = logits + model.logit_bias
    return logits.argmax(-1).tolist(), logits
