"""Section `streaming` (issue 20): what `data.streaming: true` costs, side by side in one run.

streamed ÷ map-style training samples/s: the same recipe and steps, once from the Arrow dataset
(`set_transform`) and once from an IterableDataset (labels encoded and rows checked batch by
batch as they stream, a shuffle buffer, the images decoded by the stream).
"""

from __future__ import annotations

from typing import Any

from bench import workloads
from bench.context import Context
from bench.measure import interleave, quiet, steady_rate, step_timer
from bench.report import Figure, Section

NAME = "streaming"
# The demo's ViT (recipes/demo/source_*.yaml): 32x32 images in 4x4 patches, hidden 64, 4 blocks.
VIT_DEMO = {
    "hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
    "intermediate_size": 128, "image_size": 32, "patch_size": 4,
}  # fmt: skip
HELD_OUT = 64


def _recipe(ctx: Context, checkpoint: Any, streaming: bool, steps: int) -> dict[str, Any]:
    training = {
        **workloads.STEPS_ONLY,
        "max_steps": steps,
        "per_device_train_batch_size": ctx.scale.batch_size,
        "learning_rate": 1e-3,
        "seed": 0,
    }
    key = "streamed" if streaming else "mapped"
    raw = workloads.image_recipe(checkpoint, ctx.digits / "source", ctx.fresh_dir(key), training)
    if streaming:
        raw["data"].update(streaming=True, max_eval_samples=HELD_OUT, preflight_rows=256)
    return raw


def run(ctx: Context) -> Section:
    from hfft.recipe import load_recipe
    from hfft.run import build_run

    checkpoint = workloads.vit_checkpoint(ctx.work / "vit-demo", VIT_DEMO)
    # Several passes over the digits: the stream's per-pass shuffle and re-reads are in the rate.
    steps = ctx.scale.mode_steps * 12 + ctx.scale.warmup_steps

    def rate(streaming: bool) -> float:
        built = build_run(load_recipe(_recipe(ctx, checkpoint, streaming, steps)))
        stamps: list[float] = []
        quiet(built.trainer).add_callback(step_timer(stamps))
        built.trainer.train()
        return steady_rate(stamps, ctx.scale.warmup_steps, per_step=ctx.scale.batch_size)

    rounds = interleave(
        {"streamed": lambda: rate(True), "mapped": lambda: rate(False)}, ctx.scale.rounds
    )
    figures = [
        Figure(
            "streamed_vs_mapped_samples_per_s",
            "streamed ÷ map-style dataset, training samples/s (demo ViT, digits)",
            rounds.ratio("streamed", "mapped"),
            target=">= 0.9",
            context=f"{rounds.median('streamed'):.0f} vs {rounds.median('mapped'):.0f} "
            "samples/s; the stream encodes labels, checks rows and shuffles as it is read",
        ),
    ]
    return Section(
        NAME,
        "data.streaming: an IterableDataset against the Arrow dataset, same recipe and steps",
        figures=figures,
        context={"steps": steps, "batch": ctx.scale.batch_size, "held_out": HELD_OUT},
        notes=[
            "Both variants read the digits imagefolder from local disk; a Hub stream adds the "
            "network, which this machine does not have.",
            "Training speed only: the time to the first step depends on caches (a map-style run "
            "reads its scan of unchanged data back), not on streaming.",
        ],
    )
