"""Section `pipeline` (issue 20): does the input pipeline keep the model fed?

For an hfft image run (and an audio run), three rates on the same Trainer, in samples/s:

- delivered: the Trainer's own train DataLoader (`trainer.get_train_dataloader()`, with the
  workers hfft chose: hfft.threads.dataloader_defaults) iterated on its own: decode, augment,
  process, collate; no model;
- consumed: training steps (`trainer.train()`, forward, backward, optimizer) on batches that
  loader already delivered, held in memory: what the model takes when it never waits;
- end to end: `trainer.train()` on the real data, as a run trains.

delivered ÷ consumed > 1 means the pipeline could keep up; end to end ÷ consumed is the share
of the model's speed a run gets. Where an accelerator is present, hfft's automatic workers are
measured against 0 workers (the Trainer's default); on a CPU hfft chooses 0 workers (they would
take cores from the compute threads) and the pipeline and the model share the same cores.
bench/gpu.py reports the same rates for base-sized runs on a GPU (bench/pipeline_gpu.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import workloads
from bench.context import Context
from bench.measure import interleave, quiet, steady_rate, step_timer
from bench.report import Figure, Section

NAME = "pipeline"
TIMED_MAX = 12


class ReadyBatches:
    """A map-style dataset whose every item is a whole collated batch (cycling through
    `batches`), for a Trainer with `first` as its collator: each step gets one ready batch."""

    def __init__(self, batches: list[dict[str, Any]], length: int) -> None:
        self.batches, self.length = batches, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.batches[i % len(self.batches)]


def first(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Collator of ReadyBatches: the sampled batch (already collated) as it is."""
    return items[0]


def _forever(loader: Any) -> Iterator[dict[str, Any]]:
    while True:
        yield from loader


def _on_cpu(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: v.cpu() if hasattr(v, "cpu") else v for k, v in batch.items()}


def delivered(trainer: Any, batches: int, warmup: int) -> tuple[float, list[dict[str, Any]]]:
    """(samples/s of the Trainer's train DataLoader alone after `warmup` batches, which pay
    for worker start-up; the batches it delivered, on the CPU)."""
    loader = trainer.get_train_dataloader()
    stream = _forever(loader)
    ready = [next(stream) for _ in range(warmup)]
    samples = 0
    start = time.perf_counter()
    for _ in range(batches):
        batch = next(stream)
        samples += len(batch["labels"])
        ready.append(batch)
    seconds = time.perf_counter() - start
    stream.close()
    return samples / seconds, [_on_cpu(b) for b in ready]


def _timed_train(trainer: Any, warmup: int) -> float:
    stamps: list[float] = []
    timer = step_timer(stamps)
    quiet(trainer).add_callback(timer)
    try:
        trainer.train()
    finally:
        trainer.remove_callback(timer)
    return steady_rate(stamps, warmup, per_step=trainer.args.per_device_train_batch_size)


def consumed(trainer: Any, ready: list[dict[str, Any]], warmup: int) -> float:
    """Training samples/s on batches already delivered (in memory, no loader workers)."""
    args = trainer.args
    saved = (trainer.train_dataset, trainer.data_collator, args.dataloader_num_workers,
             args.dataloader_persistent_workers, args.dataloader_prefetch_factor)  # fmt: skip
    steps = args.max_steps * args.per_device_train_batch_size
    trainer.train_dataset, trainer.data_collator = ReadyBatches(ready, steps), first
    args.dataloader_num_workers, args.dataloader_persistent_workers = 0, False
    args.dataloader_prefetch_factor = None
    try:
        return _timed_train(trainer, warmup)
    finally:
        (trainer.train_dataset, trainer.data_collator, args.dataloader_num_workers,
         args.dataloader_persistent_workers, args.dataloader_prefetch_factor) = saved  # fmt: skip


def end_to_end(trainer: Any, warmup: int) -> float:
    """Training samples/s on the real data, decoded by the run's own loader."""
    return _timed_train(trainer, warmup)


def measure(build: Any, batches: int, warmup: int, rounds: int) -> dict[str, Any]:
    """The three rates of `build()`'s run (an hfft Run), interleaved over `rounds`; with the
    loader workers hfft chose for it."""
    run = build()
    trainer = run.trainer
    ready: list[dict[str, Any]] = []

    def deliver() -> float:
        rate, got = delivered(trainer, batches, warmup)
        ready[:] = got
        return rate

    # Untimed: the first decode of every file, lazy imports, the first training's one-off costs
    # (allocator, kernels), which would otherwise fall on whichever rate runs first.
    deliver()
    consumed(trainer, ready, warmup)
    found = interleave(
        {
            "delivered": deliver,
            "consumed": lambda: consumed(trainer, ready, warmup),
            "end_to_end": lambda: end_to_end(trainer, warmup),
        },
        rounds,
    )
    return {
        "workers": trainer.args.dataloader_num_workers,
        "delivered": found.median("delivered"),
        "consumed": found.median("consumed"),
        "end_to_end": found.median("end_to_end"),
        "delivered_vs_consumed": found.ratio("delivered", "consumed"),
        "end_to_end_vs_consumed": found.ratio("end_to_end", "consumed"),
        "bf16": bool(trainer.args.bf16),
    }


def image_recipe(checkpoint: Path, data_dir: Path, out: Path, training: dict[str, Any]) -> dict:
    """An hfft image recipe with the default augmentation and no dataloader settings: the
    input pipeline hfft chooses."""
    return {
        "task": "image-classification",
        "model": {"checkpoint": str(checkpoint)},
        "data": {"path": "imagefolder", "data_dir": str(data_dir)},
        "training": {"output_dir": str(out), **training},
        "early_stopping": {"patience": None},
    }


def _training(steps: int, batch: int, workers: int | None) -> dict[str, Any]:
    training = {k: v for k, v in workloads.STEPS_ONLY.items() if k != "dataloader_num_workers"}
    training.update(max_steps=steps, per_device_train_batch_size=batch, learning_rate=1e-4)
    if workers is not None:
        training["dataloader_num_workers"] = workers
    return training


def _builders(ctx: Context, steps: int, workers: int | None) -> dict[str, Any]:
    from bench.audio import wav2vec2_checkpoint, write_clips
    from hfft.recipe import load_recipe
    from hfft.run import build_run

    batch = ctx.scale.batch_size
    training = _training(steps, batch, workers)
    # The overhead section's ViT: small enough that the input pipeline shows next to compute
    # (and a few rounds of three rates fit in minutes on a busy 2-core machine).
    vit = workloads.vit_checkpoint(ctx.work / "vit-overhead", ctx.scale.overhead_vit)
    images = ctx.digits / "target"
    audio_model = ctx.work / "wav2vec2-audio"
    if not (audio_model / "config.json").is_file():
        wav2vec2_checkpoint(audio_model)
    clips = ctx.work / "clips"
    if not clips.is_dir():
        write_clips(clips, per_class=max(8, batch))

    def image() -> Any:
        out = ctx.fresh_dir("pipeline-image")
        return build_run(load_recipe(image_recipe(vit, images, out, training)))

    def audio() -> Any:
        recipe = {
            "task": "audio-classification",
            "model": {"checkpoint": str(audio_model)},
            "data": {"path": "audiofolder", "data_dir": str(clips), "max_duration": 1.0},
            "training": {"output_dir": str(ctx.fresh_dir("pipeline-audio")), **training},
            "early_stopping": {"patience": None},
        }
        return build_run(load_recipe(recipe))

    return {"image": image, "audio": audio}


def run(ctx: Context) -> Section:
    import os

    import torch

    from hfft.threads import dataloader_defaults, usable_cores

    scale = ctx.scale
    # Fewer timed batches than the overhead section: 3 rates x 2 tasks x rounds train here.
    warmup, timed = scale.warmup_steps, min(scale.overhead_steps, TIMED_MAX)
    steps = warmup + timed + 1
    accelerator = torch.cuda.is_available()
    variants: dict[str, int | None] = {"auto": None}
    if accelerator:
        variants["0 workers"] = 0
    rows, figures = [], []
    for workers_label, workers in variants.items():
        for task, build in _builders(ctx, steps, workers).items():
            ctx.log(f"pipeline: {task}, {workers_label} loader workers ...")
            found = measure(build, timed, warmup, scale.rounds)
            rows.append({"task": task, "workers": f"{found['workers']} ({workers_label})",
                         **{k: round(v, 3) if isinstance(v, float) else v
                            for k, v in found.items() if k != "workers"}})  # fmt: skip
    for row in rows:
        if not row["workers"].endswith("(auto)"):
            continue
        task = row["task"]
        figures += [
            Figure(
                f"{task}_delivered_vs_consumed",
                f"{task}: input pipeline ÷ model, samples/s ({row['workers']} loader workers)",
                row["delivered_vs_consumed"],
                target=">= 1",
                context=f"{row['delivered']:.0f} delivered vs {row['consumed']:.0f} consumed "
                f"samples/s; a run trains at {row['end_to_end']:.0f}"
                + ("" if accelerator else "; CPU: loader and model share the 2 cores"),
            ),
            Figure(
                f"{task}_end_to_end_vs_consumed",
                f"{task}: training on the real data ÷ on ready batches, samples/s",
                row["end_to_end_vs_consumed"],
                headline=False,
            ),
        ]
    if accelerator:
        for task in ("image", "audio"):
            auto, zero = (r for r in rows if r["task"] == task)
            figures.append(
                Figure(
                    f"{task}_auto_vs_0_workers_delivered",
                    f"{task}: delivered samples/s, hfft's workers ÷ 0 workers",
                    auto["delivered"] / zero["delivered"],
                    target=">= 1",
                    context=f"{auto['workers']} vs {zero['workers']}",
                )
            )
    cores, why = usable_cores()
    chosen = dataloader_defaults({}, on_cpu=not accelerator)
    return Section(
        NAME,
        "input pipeline: samples/s delivered by the train DataLoader vs consumed by the model",
        figures=figures,
        rows=rows,
        context={
            "accelerator": torch.cuda.get_device_name(0) if accelerator else "none",
            "usable_cores": f"{cores} ({why})",
            "hfft_loader_settings": chosen or "none (CPU run: 0 workers, the Trainer's default)",
            "cpu_count": os.cpu_count(),
            "image": "ViT hidden {hidden_size}, {num_hidden_layers} blocks, {image_size}x"
            "{image_size} patch {patch_size}, digits imagefolder, hfft's default "
            "augmentation".format(**scale.overhead_vit),
            "audio": "wav2vec2 hidden 128, 4 blocks; chirps 0.8-1.4 s at 22.05 kHz, 1 s crop",
            "batch_size": scale.batch_size,
            "timed_batches": timed,
            "rounds": scale.rounds,
        },
        notes=[
            "delivered: `trainer.get_train_dataloader()` iterated alone (decode, augment, "
            "processor, collate) after the warm-up batches; consumed: `trainer.train()` on "
            "batches it delivered, held in memory; end to end: `trainer.train()` on the data. "
            "Medians over interleaved rounds; the ratios are per round.",
            "On this CPU machine the loader and the model compete for the same cores: "
            "delivered and consumed are each measured with every core to themselves, and with "
            "0 workers a run pays both in turn (end to end ≈ 1 / (1/delivered + 1/consumed)). "
            "The auto-vs-0-workers comparison needs an accelerator (bench/gpu.sh).",
        ],
    )
