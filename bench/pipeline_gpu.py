"""bench/gpu.py's input pipeline rows: the rates of bench/pipeline.py (samples/s the train
DataLoader delivers alone, the model consumes on ready batches, a run trains at) for hfft runs
of base-sized models, with hfft's automatic loader workers and with 0 (the Trainer's default).

- image: a ViT on generated JPEGs (1.43x the model's side, so the processor resizes) with hfft's
  default augmentation;
- audio: a wav2vec2 on generated chirps at 22.05 kHz (resampled to 16 kHz, a random 1 s crop).

Needs hfft's own dependencies (datasets, torchvision, soundfile), unlike the rest of gpu.py:
without them, a row saying so.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.pipeline import _training, measure


def write_jpegs(root: Path, n: int, side: int, classes: int = 4) -> Path:
    """An imagefolder of `n` smooth random JPEGs (`side` pixels square), photo-like to decode."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / "train" / f"class{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        small = Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8))
        small.resize((side, side), Image.BICUBIC).save(folder / f"{i}.jpg", quality=90)
    return root


def _image_recipe(config: dict[str, Any], data: Path) -> dict[str, Any]:
    size = config["image_size"]
    return {
        "task": "image-classification",
        "model": {
            "config": {"model_type": "vit", "num_channels": 3, **config},
            "processor": {"class": "ViTImageProcessor", "size": {"height": size, "width": size}},
        },
        "data": {"path": "imagefolder", "data_dir": str(data)},
    }


def _audio_recipe(config: dict[str, Any], data: Path) -> dict[str, Any]:
    # Lists, not tuples: the recipe is saved as YAML.
    settings = {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}
    settings.pop("samples", None)
    return {
        "task": "audio-classification",
        "model": {
            "config": {"model_type": "wav2vec2", **settings},
            "processor": {"class": "Wav2Vec2FeatureExtractor", "return_attention_mask": True},
        },
        "data": {"path": "audiofolder", "data_dir": str(data), "max_duration": 1.0},
    }


def gpu_rows(configs: dict[str, dict[str, Any]], batch: int, timed: int, warmup: int) -> list:
    """One row per workload of `configs` ("image": a ViT's shape, "audio": a wav2vec2's) and
    loader workers (hfft's choice, then 0)."""
    try:
        import datasets  # noqa: F401
        import soundfile  # noqa: F401
        import torchvision  # noqa: F401

        from bench.audio import write_clips
        from hfft.recipe import load_recipe
        from hfft.run import build_run
    except ImportError as err:
        return [{"workload": w, "skipped": f"needs hfft's dependencies ({err.name})"}
                for w in configs]  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory(prefix="hfft-pipeline-") as tmp:
        for workload, config in configs.items():
            if workload == "image":
                side = config["image_size"] * 10 // 7
                data = write_jpegs(Path(tmp) / "images", max(4 * batch, 64), side)
                recipe = _image_recipe(config, data)
            else:
                data = write_clips(Path(tmp) / "clips", per_class=max(8, batch))
                recipe = _audio_recipe(config, data)
            for label, workers in (("auto", None), ("0", 0)):
                out = Path(tmp) / f"run-{workload}-{label}"
                training = _training(warmup + timed + 1, batch, workers)
                full = {**recipe, "training": {"output_dir": str(out), **training},
                        "early_stopping": {"patience": None}}  # fmt: skip
                found = measure(lambda r=full: build_run(load_recipe(r)), timed, warmup, 1)
                rows.append({"workload": workload, "workers_chosen": label, **found})
    return rows


def gpu_markdown(rows: list[dict]) -> list[str]:
    """bench/gpu.py's table of `gpu_rows`."""
    lines = [
        "",
        "Input pipeline (hfft runs, generated JPEGs with the default augmentation and chirps "
        "with a random 1 s crop): samples/s the train DataLoader delivers alone, the model "
        "consumes on ready batches, a run trains at.",
        "",
        "| workload | loader workers | delivered | consumed | end to end | delivered ÷ consumed |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "skipped" in r or "error" in r:
            why = f"skipped: {r['skipped']}" if "skipped" in r else f"error: {r['error']}"
            lines.append(f"| {r['workload']} | {why} | | | | |")
            continue
        lines.append(
            f"| {r['workload']} | {r['workers']} ({r['workers_chosen']}) | {r['delivered']:.0f} "
            f"| {r['consumed']:.0f} | {r['end_to_end']:.0f} | {r['delivered_vs_consumed']:.2f} |"
        )
    return lines
