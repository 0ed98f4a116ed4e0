"""Section 6, `hfft predict` throughput (hfft.predict.predict) against calling
`transformers.pipeline` directly on the same image files with the same batch size."""

from __future__ import annotations

import time
from pathlib import Path

from bench import workloads
from bench.context import Context
from bench.measure import interleave
from bench.report import Figure, Section

NAME = "predict"
BATCH_SIZE = 16


def image_files(ctx: Context, n: int) -> list[str]:
    """`n` digit images (cycling through the test split's files if it holds fewer)."""
    files = sorted(str(p) for p in (ctx.digits / "target").rglob("*.png"))
    return [files[i % len(files)] for i in range(n)]


def run(ctx: Context) -> Section:
    from transformers import pipeline

    from hfft.predict import predict

    model_dir = workloads.vit_checkpoint(ctx.work / "vit-mid", ctx.scale.vit)
    files = image_files(ctx, ctx.scale.predict_images)
    n = len(files)

    def with_hfft() -> float:
        start = time.perf_counter()
        results = list(predict(str(model_dir), files, top_k=5, batch_size=BATCH_SIZE))
        seconds = time.perf_counter() - start
        assert len(results) == n and all("predictions" in r for r in results)
        return n / seconds

    def with_pipeline() -> float:
        # What a user writes without hfft: build the pipeline, call it on the file paths.
        start = time.perf_counter()
        classifier = pipeline("image-classification", model=str(model_dir))
        results = classifier(files, top_k=5, batch_size=BATCH_SIZE)
        seconds = time.perf_counter() - start
        assert len(results) == n
        return n / seconds

    with_pipeline()  # untimed: first load of the weights from disk, lazy imports
    rounds = interleave({"hfft": with_hfft, "pipeline": with_pipeline}, ctx.scale.rounds)
    return Section(
        NAME,
        "hfft predict against transformers.pipeline (images/s)",
        figures=[
            Figure(
                "predict_vs_pipeline_images_per_s",
                "hfft predict ÷ transformers.pipeline, images/s",
                rounds.ratio("hfft", "pipeline"),
                target=">= 0.95",
                context=f"{rounds.median('hfft'):.1f} vs {rounds.median('pipeline'):.1f} images/s",
            )
        ],
        context={
            "model": f"{ctx.scale.vit_label}, random init",
            "images": n,
            "batch_size": BATCH_SIZE,
            "rounds": ctx.scale.rounds,
            "hfft_images_per_s": rounds.values["hfft"],
            "pipeline_images_per_s": rounds.values["pipeline"],
        },
        notes=[
            "Both include building the pipeline (hfft.predict builds one per call) and reading "
            "the image files; hfft also checks each input and decodes images itself, "
            f"{BATCH_SIZE * 4} at a time.",
            f"Model files: {Path(model_dir).name} (config.json, model.safetensors, processor).",
        ],
    )
