"""Section 1, pipeline overhead: `hfft` training against a hand-written transformers Trainer
script on the same checkpoint, data and TrainingArguments — steady-state training steps/s."""

from __future__ import annotations

import time
from typing import Any

from bench import baseline, workloads
from bench.context import Context
from bench.measure import interleave, quiet, steady_rate, step_timer
from bench.report import Figure, Section

NAME = "overhead"
# Arguments hfft's defaults would set differently are given explicitly, so both runs get the
# same TrainingArguments (checked below, field by field).
HFFT_DEFAULT_KEYS = {
    "per_device_eval_batch_size": 32,
    "save_total_limit": 2,
    "metric_for_best_model": "eval_loss",
    "greater_is_better": False,
    "remove_unused_columns": False,  # hfft's image task default; the HF example sets it too
    "label_names": ["labels"],  # what the Trainer infers for these models; hfft names it
}


def run(ctx: Context) -> Section:
    """Interleave hfft and baseline runs; report hfft steps/s ÷ baseline steps/s."""
    from hfft.recipe import load_recipe
    from hfft.run import build_run

    scale = ctx.scale
    checkpoint = workloads.vit_checkpoint(ctx.work / "vit-overhead", scale.overhead_vit)
    data_dir = ctx.digits / "source"
    training = {
        **workloads.STEPS_ONLY,
        **HFFT_DEFAULT_KEYS,
        "max_steps": scale.overhead_steps + scale.warmup_steps + 1,
        "per_device_train_batch_size": 32,
        "learning_rate": 1e-3,
        "seed": 0,
        # hfft turns pinning off on a machine without an accelerator; say it for both runs.
        "dataloader_pin_memory": False,
    }
    warmup = scale.warmup_steps
    setup: dict[str, list[float]] = {"hfft": [], "trainer": []}
    arg_dicts: dict[str, dict[str, Any]] = {}

    def hfft_run() -> float:
        out = ctx.fresh_dir("overhead-hfft")
        start = time.perf_counter()
        built = build_run(load_recipe(workloads.image_recipe(checkpoint, data_dir, out, training)))
        setup["hfft"].append(time.perf_counter() - start)
        arg_dicts["hfft"] = built.trainer.args.to_dict()
        stamps: list[float] = []
        quiet(built.trainer).add_callback(step_timer(stamps))
        built.trainer.train()
        return steady_rate(stamps, warmup)

    def trainer_run() -> float:
        out = ctx.fresh_dir("overhead-trainer")
        stamps: list[float] = []
        start = time.perf_counter()
        trainer = baseline.build_trainer(
            checkpoint, data_dir, {**training, "output_dir": str(out)}, [step_timer(stamps)]
        )
        setup["trainer"].append(time.perf_counter() - start)
        arg_dicts["trainer"] = trainer.args.to_dict()
        quiet(trainer).train()
        return steady_rate(stamps, warmup)

    rounds = interleave({"hfft": hfft_run, "trainer": trainer_run}, scale.rounds)
    differing = sorted(
        key
        for key in arg_dicts["hfft"]
        if key not in ("output_dir", "logging_dir")
        and arg_dicts["hfft"][key] != arg_dicts["trainer"].get(key)
    )
    ratio = rounds.ratio("hfft", "trainer")
    return Section(
        NAME,
        "hfft pipeline against a hand-written Trainer script (training steps/s)",
        figures=[
            Figure(
                "hfft_vs_trainer_steps_per_s",
                "hfft ÷ plain Trainer, training steps/s",
                ratio,
                target=">= 0.98",
                context=f"{rounds.median('hfft'):.2f} vs {rounds.median('trainer'):.2f} steps/s",
            )
        ],
        context={
            "model": "ViT hidden 128, 4 blocks, 32x32 patch 4 (65 tokens), random init",
            "data": "digits 0-4 imagefolder (train split)",
            "batch_size": training["per_device_train_batch_size"],
            "timed_steps": scale.overhead_steps,
            "rounds": scale.rounds,
            "hfft_steps_per_s": rounds.values["hfft"],
            "trainer_steps_per_s": rounds.values["trainer"],
            "hfft_setup_s": [round(s, 2) for s in setup["hfft"]],
            "trainer_setup_s": [round(s, 2) for s in setup["trainer"]],
        },
        notes=[
            "Steady-state steps/s: time from the end of step "
            f"{warmup} to the last step, measured by a Trainer callback in both scripts.",
            "TrainingArguments fields that differ between the two runs (output dirs aside): "
            + (", ".join(differing) if differing else "none"),
            "Setup (data + model + Trainer) time is context only: hfft also validates the "
            "recipe, checks every example and builds metrics.",
        ],
    )
