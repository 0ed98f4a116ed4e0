"""Tiny detectors and tiny detection data for the tests (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

SIZE = 64
CATEGORIES = ("square", "bar")
COLOURS = {"square": (230, 40, 40), "bar": (40, 60, 230)}


def detector_config(model_type: str = "detr", num_labels: int = 2, **extra: Any) -> Any:
    """A tiny random config of a detection architecture (a 2-stage ResNet backbone for DETR)."""
    import transformers as T

    labels = {"id2label": {i: f"class_{i}" for i in range(num_labels)},
              "label2id": {f"class_{i}": i for i in range(num_labels)}}  # fmt: skip
    transformer = dict(
        d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, num_queries=8,
    )  # fmt: skip
    resnet = dict(embedding_size=8, hidden_sizes=[8, 16, 16], depths=[1, 1, 1],
                  out_features=["stage3"])  # fmt: skip
    if model_type in ("detr", "conditional_detr"):
        cls = T.DetrConfig if model_type == "detr" else T.ConditionalDetrConfig
        return cls(backbone_config=T.ResNetConfig(**resnet), **transformer, **labels, **extra)
    if model_type == "yolos":
        return T.YolosConfig(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
            image_size=[SIZE, SIZE], patch_size=8, num_detection_tokens=8, **labels, **extra,
        )  # fmt: skip
    if model_type == "rt_detr":
        backbone = T.RTDetrResNetConfig(embedding_size=8, hidden_sizes=[16, 16, 16, 16],
                                        depths=[1, 1, 1, 1],
                                        out_features=["stage2", "stage3", "stage4"])  # fmt: skip
        return T.RTDetrConfig(
            backbone_config=backbone, encoder_hidden_dim=32, encoder_in_channels=[16, 16, 16],
            decoder_in_channels=[32, 32, 32], num_denoising=4, **transformer, **labels, **extra,
        )  # fmt: skip
    raise ValueError(f"no tiny detector config for {model_type!r}")


def detector_processor(model_type: str = "detr") -> Any:
    import transformers as T

    if model_type == "rt_detr":
        return T.RTDetrImageProcessor(size={"height": SIZE, "width": SIZE})
    cls = T.YolosImageProcessor if model_type == "yolos" else T.DetrImageProcessor
    return cls(size={"shortest_edge": SIZE, "longest_edge": SIZE})


def make_detector_checkpoint(path: Path, model_type: str = "detr", num_labels: int = 2) -> Path:
    """Save a tiny random detector and its image processor as a checkpoint directory."""
    import torch
    from transformers import AutoModelForObjectDetection

    torch.manual_seed(0)
    model = AutoModelForObjectDetection.from_config(detector_config(model_type, num_labels))
    model.save_pretrained(path)
    detector_processor(model_type).save_pretrained(path)
    return Path(path)


def shapes_scene(rng: np.random.Generator, size: int = SIZE) -> tuple[np.ndarray, list, list]:
    """A noisy grey image with 1-2 objects: a red square or a blue horizontal bar. Returns
    (pixels, COCO boxes, category names)."""
    pixels = np.clip(128 + rng.integers(-20, 20, size=(size, size, 3)), 0, 255).astype(np.uint8)
    boxes, names = [], []
    for slot in range(int(rng.integers(1, 3))):
        name = CATEGORIES[int(rng.integers(2))]
        w, h = (16, 16) if name == "square" else (26, 8)
        x = int(rng.integers(slot * size // 2, (slot + 1) * size // 2 - w))
        y = int(rng.integers(0, size - h))
        pixels[y : y + h, x : x + w] = COLOURS[name]
        boxes.append([float(x), float(y), float(w), float(h)])
        names.append(name)
    return pixels, boxes, names


def make_box_folder(path: Path, rows: int = 24, seed: int = 0, split: str = "train") -> Path:
    """An imagefolder with metadata.jsonl of shape scenes (COCO boxes, category names)."""
    rng = np.random.default_rng(seed)
    folder = Path(path) / split
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(rows):
        pixels, boxes, names = shapes_scene(rng)
        Image.fromarray(pixels).save(folder / f"{i}.png")
        lines.append(json.dumps({"file_name": f"{i}.png",
                                 "objects": {"bbox": boxes, "category": names}}))  # fmt: skip
    (folder / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    return Path(path)


def box_data(path: Path) -> dict:
    """The recipe's data: section for a shapes imagefolder written under `path`."""
    folder = make_box_folder(path / "shapes", rows=24)
    return {"path": "imagefolder", "data_dir": str(folder), "test_fraction": 0.25,
            "validation_fraction": 0.25, "augmentation": {"enabled": False}}  # fmt: skip


def boxes_ok(line: dict, labels: Any, scheme: Any) -> None:
    """A detector's `hfft predict` line: boxes with a known label, a score and 4 corners."""
    for box in line["predictions"]:
        assert box["label"] in labels and 0 <= box["score"] <= 1 and len(box["box"]) == 4, line
