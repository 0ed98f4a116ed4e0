"""Section `scale` (issue 20): hfft when the data is 10x bigger, on Fashion-MNIST as an
imagefolder (60,000 28x28 PNGs from Debian's `dataset-fashion-mnist`; synthetic images of the
same size when it is not installed).

- preflight ÷ one epoch: the bad-example scan (every image decoded, once) against one training
  epoch of the demo ViT on the same images (its samples/s at steady state × the split size);
- the scan's rerun on unchanged data (the result read back), in seconds;
- peak resident memory of a whole run (load, scan, carve, train steps, evaluate the validation
  split) on 60,000 ÷ 6,000 images, each in a fresh process.
"""

from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import Any

from bench.context import Context
from bench.defaults import VIT_DEMO
from bench.report import Figure, Section

NAME = "scale"
FASHION = Path("/usr/share/datasets/fashion-mnist")
SIZES = {"full": 60_000, "quick": 6_000, "tiny": 300}


def _idx(name: str) -> Any:
    import numpy as np

    data = gzip.decompress((FASHION / name).read_bytes())
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def image_folder(root: Path, n: int) -> tuple[Path, str]:
    """`root/train/<class>/<i>.png`, n images; (root, where they came from)."""
    import numpy as np
    from PIL import Image

    if (FASHION / "train-images-idx3-ubyte.gz").is_file():
        images, labels = _idx("train-images-idx3-ubyte.gz"), _idx("train-labels-idx1-ubyte.gz")
        source = "Fashion-MNIST (Debian dataset-fashion-mnist)"
    else:
        rng = np.random.default_rng(0)
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        source = "synthetic 28x28 noise (dataset-fashion-mnist not installed)"
    for i in range(n):
        folder = root / "train" / f"class{labels[i]}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(folder / f"{i}.png")
    return root, source


def _recipe(data_dir: Path, out: Path, steps: int) -> dict[str, Any]:
    from bench import workloads

    return {
        "task": "image-classification",
        "model": {
            "config": {"model_type": "vit", "num_channels": 3, **VIT_DEMO},
            "processor": {"class": "ViTImageProcessor", "size": {"height": 32, "width": 32}},
        },
        # The demo's augmentation: part of what an epoch costs.
        "data": {
            "path": "imagefolder",
            "data_dir": str(data_dir),
            "augmentation": {"horizontal_flip": False, "rotation_degrees": 10},
        },
        "training": {
            **workloads.STEPS_ONLY,
            "output_dir": str(out),
            "max_steps": steps,
            "per_device_train_batch_size": 32,
            "learning_rate": 2e-3,
        },
        "early_stopping": {"patience": None},
    }


def whole_run(job: dict[str, Any]) -> dict[str, Any]:
    """In a fresh process: build, train a few steps, evaluate the validation split; peak RSS."""
    from bench.measure import peak_rss_mib, quiet
    from hfft.recipe import load_recipe
    from hfft.run import build_run

    run = build_run(load_recipe(job["recipe"]))
    quiet(run.trainer).train()
    run.trainer.evaluate()
    return {"peak_rss_mib": peak_rss_mib(), "rows": run.data.sizes()}


def run(ctx: Context) -> Section:
    import datasets

    from bench.defaults import _steps_rate
    from hfft.bad_examples import find_bad_examples
    from hfft.tasks import TASKS

    n = SIZES[ctx.scale.name]
    big, source = image_folder(ctx.work / f"images-{n}", n)
    small, _ = image_folder(ctx.work / f"images-{n // 10}", n // 10)
    modality = TASKS["image-classification"].modality

    start = time.perf_counter()
    split = datasets.load_dataset("imagefolder", data_dir=str(big), split="train")
    load_seconds = time.perf_counter() - start
    if modality.name != "image":
        split = split.rename_column("image", modality.name)
    datasets.disable_caching()  # the first scan of these files: nothing to read back
    try:
        start = time.perf_counter()
        find_bad_examples(split, modality, "train")
        scan_seconds = time.perf_counter() - start
    finally:
        datasets.enable_caching()
    find_bad_examples(split, modality, "train")  # writes the result
    start = time.perf_counter()
    find_bad_examples(split, modality, "train")
    rerun_seconds = time.perf_counter() - start

    steps = ctx.scale.mode_steps * 4 + ctx.scale.warmup_steps
    rate, built = _steps_rate(
        ctx, _recipe(big, ctx.fresh_dir("scale-epoch"), steps), ctx.scale.warmup_steps
    )
    train_rows = len(built.prepared["train"])
    epoch_seconds = train_rows / rate

    peaks = {}
    for label, folder in (("small", small), ("big", big)):
        job = {"recipe": _recipe(folder, ctx.fresh_dir(f"scale-rss-{label}"), steps)}
        peaks[label] = ctx.pool.submit(whole_run, job).result()
    ratio = peaks["big"]["peak_rss_mib"] / peaks["small"]["peak_rss_mib"]
    return Section(
        NAME,
        f"{n:,} images against {n // 10:,}: preflight and memory",
        figures=[
            Figure(
                "preflight_vs_epoch",
                f"bad-example scan ÷ one epoch of the demo ViT ({n:,} images)",
                scan_seconds / epoch_seconds,
                target="<= 0.10",
                context=f"{scan_seconds:.1f} s vs {epoch_seconds:.0f} s ({rate:.0f} samples/s "
                f"× {train_rows:,} rows)",
            ),
            Figure(
                "preflight_rerun_s",
                "bad-example scan on unchanged data, rerun (seconds)",
                rerun_seconds,
                target="<= 1",
            ),
            Figure(
                "peak_rss_ratio",
                f"peak RSS of a run, {n:,} ÷ {n // 10:,} images",
                ratio,
                target="<= 1.10",
                context=f"{peaks['big']['peak_rss_mib']:.0f} MiB vs "
                f"{peaks['small']['peak_rss_mib']:.0f} MiB",
            ),
        ],
        context={
            "data": source,
            "imagefolder_load_s": round(load_seconds, 1),
            "scan_s": round(scan_seconds, 1),
            "epoch_s": round(epoch_seconds, 1),
            "rows": {k: v["rows"] for k, v in peaks.items()},
        },
        notes=[
            "The scan is timed with datasets' caching off (a first run on new data); the rerun "
            "reads the result back from the datasets cache (hfft-scans/).",
            f"Not in the figure: `datasets.load_dataset('imagefolder')` itself took "
            f"{load_seconds:.0f} s here, most of it resolving the data files (datasets globs "
            "the tree once per split-name pattern). For data this size, save it once with "
            "`save_to_disk` (or as Parquet) and point data.path at that.",
            "Peak RSS: build (load, scan, carve), a few training steps and an evaluation of the "
            "validation split (10% of the rows), each in a fresh process.",
        ],
    )
