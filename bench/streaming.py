"""Section `streaming` (issue 20): what `data.streaming: true` costs, side by side in one run.

- streamed ÷ map-style training samples/s: the same recipe and steps, once from the Arrow
  dataset (`set_transform`) and once from an IterableDataset (labels encoded and rows checked
  batch by batch as they stream, a shuffle buffer, the images decoded by the stream);
- peak RSS of a streamed run that reads its whole stream once, 60,000 ÷ 6,000 rows (a fresh
  process each; the tiny BERT and generated texts of the `evalmem` section).
"""

from __future__ import annotations

from pathlib import Path
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
ROWS = {"full": 60_000, "quick": 20_000, "tiny": 1_200}  # against a tenth of it
STREAM_BATCH = 32


def _text_recipe(model: Path, csv_file: Path, out: Path, rows: int) -> dict[str, Any]:
    from bench import eval_memory

    recipe = eval_memory._recipe(model, {"train": str(csv_file)}, out)
    recipe["data"].update(streaming=True, max_eval_samples=HELD_OUT)
    # One pass over the stream (less the held-out rows): every row is read, encoded and checked.
    recipe["training"].update(
        max_steps=max(1, (rows - HELD_OUT) // STREAM_BATCH),
        per_device_train_batch_size=STREAM_BATCH,
    )
    return recipe


def stream_job(job: dict[str, Any]) -> dict[str, Any]:
    """In a fresh process: a streamed run through its whole stream; peak RSS."""
    from bench.measure import peak_rss_mib, quiet
    from hfft.recipe import load_recipe
    from hfft.run import build_run

    run = build_run(load_recipe(job["recipe"]))
    quiet(run.trainer).train()
    return {"peak_rss_mib": peak_rss_mib(), "steps": run.trainer.state.global_step}


def rss_figure(ctx: Context) -> Figure:
    from bench import eval_memory

    rows = ROWS[ctx.scale.name]
    model = eval_memory.checkpoint(ctx.work / "stream-bert", 10)
    peaks = {}
    for label, n in (("small", rows // 10), ("big", rows)):
        csv_file = eval_memory.texts_csv(ctx.work / f"stream-{n}.csv", n, 10)
        recipe = _text_recipe(model, csv_file, ctx.fresh_dir(f"stream-rss-{label}"), n)
        peaks[label] = ctx.pool.submit(stream_job, {"recipe": recipe}).result()
    return Figure(
        "streamed_peak_rss_ratio",
        f"peak RSS of a streamed run through its whole stream, {rows:,} ÷ {rows // 10:,} rows",
        peaks["big"]["peak_rss_mib"] / peaks["small"]["peak_rss_mib"],
        target="<= 1.10",
        context=f"{peaks['big']['peak_rss_mib']:.0f} vs {peaks['small']['peak_rss_mib']:.0f} MiB; "
        f"{peaks['big']['steps']} vs {peaks['small']['steps']} steps of {STREAM_BATCH}",
    )


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
        rss_figure(ctx),
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
