"""Section `defaults` (issue 20): what hfft's defaults buy, each A ÷ B side by side in one run.

- threads: the default thread choice (hfft.threads: usable and idle cores) ÷ 1 thread, training
  samples/s of the demo-sized ViT on this (shared) machine: never the 10x trap;
- bf16 auto ÷ fp32: training samples/s and test accuracy of the same run otherwise;
- cached tune ÷ uncached: wall time of a 10-trial frozen-mode `hfft tune` of a ViT-small-sized
  backbone on a few hundred images, the features on disk shared by the trials, and whether both
  pick the same best trial;
- torch_compile ÷ eager: training samples/s, full and LoRA (compile time left out: it is paid
  once per run and reported as context).

`HFFT_BENCH_DEFAULTS=tune python -m bench --quick --only defaults` runs only the tune figure
(parts: threads, bf16, tune, compile; comma-separated).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from bench import workloads
from bench.context import Context
from bench.measure import interleave, quiet, steady_rate, step_timer
from bench.report import Figure, Section

NAME = "defaults"
# The demo's ViT (recipes/demo/source_*.yaml): 32x32 images in 4x4 patches, hidden 64, 4 blocks.
VIT_DEMO = {
    "hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
    "intermediate_size": 128, "image_size": 32, "patch_size": 4,
}  # fmt: skip


def _steps_rate(ctx: Context, raw: dict[str, Any], warmup: int) -> tuple[float, Any]:
    """(training samples/s at steady state, the run) of a raw recipe with max_steps set."""
    from hfft.recipe import load_recipe
    from hfft.run import build_run

    run = build_run(load_recipe(raw))
    stamps: list[float] = []
    quiet(run.trainer).add_callback(step_timer(stamps))
    run.trainer.train()
    batch = raw["training"]["per_device_train_batch_size"]
    return steady_rate(stamps, warmup, per_step=batch), run


def _training(ctx: Context, steps: int, **extra: Any) -> dict[str, Any]:
    return {
        **workloads.STEPS_ONLY,
        "max_steps": steps,
        "per_device_train_batch_size": ctx.scale.batch_size,
        "learning_rate": 1e-3,
        "seed": 0,
        **extra,
    }


def threads_figure(ctx: Context) -> Figure:
    import torch

    from hfft.threads import choose_threads

    checkpoint = workloads.vit_checkpoint(ctx.work / "vit-demo", VIT_DEMO)
    steps = ctx.scale.mode_steps * 4 + ctx.scale.warmup_steps
    choice = choose_threads()  # what `hfft train` would pick now
    before = torch.get_num_threads()

    def rate(threads: int) -> float:
        torch.set_num_threads(threads)
        raw = workloads.image_recipe(
            checkpoint, ctx.digits / "source", ctx.fresh_dir("threads"), _training(ctx, steps)
        )
        return _steps_rate(ctx, raw, ctx.scale.warmup_steps)[0]

    try:
        rounds = interleave(
            {"default": lambda: rate(choice.threads), "one": lambda: rate(1)}, ctx.scale.rounds
        )
    finally:
        torch.set_num_threads(before)
    return Figure(
        "threads_default_vs_one",
        "default threads ÷ 1 thread, training samples/s (demo ViT)",
        rounds.ratio("default", "one"),
        target=">= 0.9",
        context=f"{choice.describe()}; {rounds.median('default'):.0f} vs "
        f"{rounds.median('one'):.0f} samples/s; load {os.getloadavg()[0]:.1f}",
    )


def bf16_figures(ctx: Context) -> tuple[list[Figure], dict[str, Any]]:
    from hfft import precision
    from hfft.checkpoint import model_width
    from hfft.recipe_schema import ModelSpec

    # ViT-small's width at every scale but tiny: narrower models stay fp32 under auto on a CPU
    vit = workloads.VIT_TINY if ctx.scale.name == "tiny" else workloads.VIT_SMALL
    checkpoint = workloads.vit_checkpoint(ctx.work / "vit-bf16", vit)
    spec = ModelSpec(checkpoint=str(checkpoint))
    auto_training, why = precision.resolve({}, lambda: model_width(spec))
    epochs = max(2, ctx.scale.cache_epochs // 2)
    accuracy: dict[str, float] = {}

    def run(bf16: Any) -> float:
        training = {
            **_training(ctx, -1, num_train_epochs=epochs, learning_rate=5e-4),
            "bf16": bf16,
        }
        raw = workloads.image_recipe(
            checkpoint, ctx.digits / "target", ctx.fresh_dir("bf16"), training
        )
        rate, built = _steps_rate(ctx, raw, ctx.scale.warmup_steps)
        metrics = built.trainer.evaluate(built.prepared["test"], metric_key_prefix="test")
        accuracy["auto" if bf16 == "auto" else "fp32"] = metrics["test_accuracy"]
        return rate

    rounds = interleave({"auto": lambda: run("auto"), "fp32": lambda: run(False)}, 1)
    figures = [
        Figure(
            "bf16_auto_vs_fp32",
            "bf16 auto ÷ fp32, training samples/s (ViT, full)",
            rounds.ratio("auto", "fp32"),
            context=f"auto chose {why}; {rounds.median('auto'):.1f} vs "
            f"{rounds.median('fp32'):.1f} samples/s",
        ),
        Figure(
            "bf16_auto_accuracy_ratio",
            "bf16 auto ÷ fp32, test accuracy after the same steps",
            accuracy["auto"] / accuracy["fp32"] if accuracy["fp32"] else 0.0,
            context=f"{accuracy['auto']:.3f} vs {accuracy['fp32']:.3f}",
        ),
    ]
    return figures, {"bf16_auto": why, "bf16_auto_training": auto_training, "epochs": epochs}


def tune_figures(ctx: Context, trials: int = 10) -> tuple[list[Figure], dict[str, Any]]:
    """A `hfft tune` of a frozen ViT-small-sized backbone as a user runs it (hfft's training
    defaults: evaluate and checkpoint every epoch, the best restored), uncached ÷ cached."""
    import statistics

    import datasets
    import torch

    from hfft.recipe import load_recipe
    from hfft.threads import choose_threads
    from hfft.tune import tune

    vit = ctx.scale.tune_vit or ctx.scale.vit
    checkpoint = workloads.vit_checkpoint(ctx.work / "vit-tune", vit)
    data = workloads.digits(ctx.work / "digits-tune", ctx.scale, ctx.scale.tune_split, vit)
    images = {
        split: sum(1 for f in (data / "target" / split).rglob("*.png"))
        for split in ("train", "validation", "test")
    }
    # One thread choice for both searches (what `hfft tune` would pick now), so neither gains
    # from a quieter moment of the machine.
    choice = choose_threads()
    before = torch.get_num_threads()
    best: dict[str, Any] = {}
    trial_seconds: dict[str, list[float]] = {}

    def search(cache: bool) -> float:
        key = "cached" if cache else "uncached"
        training = {
            "num_train_epochs": 3,
            "per_device_train_batch_size": 16,
            "learning_rate": 5e-3,
            "seed": 0,
            "disable_tqdm": True,
        }
        raw = workloads.image_recipe(
            checkpoint,
            data / "target",
            ctx.fresh_dir(f"tune-{key}"),
            training,
            mode="frozen",
            cache_features=cache,
        )
        raw["tune"] = {"trials": trials, "seed": 0}
        # A cache of its own each time: the first cached trial extracts the features.
        saved = datasets.config.HF_DATASETS_CACHE
        datasets.config.HF_DATASETS_CACHE = str(ctx.fresh_dir(f"datasets-{key}"))
        torch.set_num_threads(choice.threads)
        try:
            start = time.perf_counter()
            result = quiet_tune(tune, load_recipe(raw))
            seconds = time.perf_counter() - start
        finally:
            datasets.config.HF_DATASETS_CACHE = saved
            torch.set_num_threads(before)
        best[key] = (result.best_trial.number, round(result.best_value, 4))
        trial_seconds[key] = [float(t.user_attrs.get("seconds", 0)) for t in result.study.trials]
        return seconds

    rounds = interleave({"uncached": lambda: search(False), "cached": lambda: search(True)}, 1)
    same = best["cached"] == best["uncached"]
    cached = trial_seconds["cached"]
    later = statistics.median(cached[1:]) if len(cached) > 1 else 0.0
    figure = Figure(
        "tune_cached_speedup",
        f"{trials}-trial frozen tune, uncached ÷ cached wall time",
        rounds.ratio("uncached", "cached"),
        target=">= 5",
        context=f"{rounds.median('uncached'):.0f} s vs {rounds.median('cached'):.0f} s; best "
        f"trial {'the same' if same else 'DIFFERS'} (cached {best['cached']}, uncached "
        f"{best['uncached']}); cached trial 0 (extracts) {cached[0]:.1f} s, later trials "
        f"median {later:.2f} s; {images['train']}+{images['validation']} images; "
        f"{choice.describe()}; load {os.getloadavg()[0]:.1f}",
    )
    return [figure], {
        "tune_best": best,
        "tune_trial_seconds": trial_seconds,
        "tune_images": images,
        "tune_backbone": vit,
    }


def quiet_tune(tune: Any, recipe: Any) -> Any:
    """`tune(recipe)` without the Trainer's per-evaluation metric dicts on stdout."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return tune(recipe)


def compile_figures(ctx: Context) -> tuple[list[Figure], dict[str, Any]]:
    checkpoint = workloads.vit_checkpoint(ctx.work / "vit-demo", VIT_DEMO)
    steps = ctx.scale.mode_steps * 4 + ctx.scale.warmup_steps + 2
    compile_seconds: dict[str, float] = {}
    figures = []
    for mode in ("full", "lora"):
        model: dict[str, Any] = {"mode": mode}
        if mode == "lora":
            model["lora"] = {"r": 8, "alpha": 16}

        def rate(compiled: bool, mode: str = mode, model: dict = model) -> float:
            raw = workloads.image_recipe(
                checkpoint,
                ctx.digits / "source",
                ctx.fresh_dir(f"compile-{mode}"),
                _training(ctx, steps, torch_compile=compiled),
                **model,
            )
            start = time.perf_counter()
            value, _ = _steps_rate(ctx, raw, ctx.scale.warmup_steps + 2)
            if compiled:
                compile_seconds[mode] = round(time.perf_counter() - start, 1)
            return value

        rounds = interleave({"compiled": lambda: rate(True), "eager": lambda: rate(False)}, 1)
        figures.append(
            Figure(
                f"compile_{mode}",
                f"torch_compile ÷ eager, training samples/s ({mode}, demo ViT)",
                rounds.ratio("compiled", "eager"),
                context=f"{rounds.median('compiled'):.0f} vs {rounds.median('eager'):.0f} "
                f"samples/s; the compiled run took {compile_seconds.get(mode)} s in all",
            )
        )
    return figures, {"compile_run_seconds": compile_seconds}


# $HFFT_BENCH_DEFAULTS=tune,bf16 runs only those parts of the section (default: all).
PARTS_VARIABLE = "HFFT_BENCH_DEFAULTS"


def _threads_part(ctx: Context) -> tuple[list[Figure], dict[str, Any]]:
    return [threads_figure(ctx)], {}


PARTS = {
    "threads": _threads_part,
    "bf16": bf16_figures,
    "tune": tune_figures,
    "compile": compile_figures,
}


NOTES = {
    "threads": "threads: the default is read from the load average when the run starts; on a "
    "machine whose load changes during the run it can still be one too many or few.",
    "bf16": "bf16 auto follows the CPU's flags (avx512_bf16/amx_bf16) or the GPU's bf16 "
    "support; accuracy is one run each after the same steps from the same seed.",
    "tune": "tune: each variant gets an empty datasets cache, so the cached search pays for one "
    "extraction (its first trial) and every later trial reads the features back; the trials "
    "keep hfft's training defaults (evaluate and checkpoint every epoch, the best restored) and "
    "the default frozen search space.",
    "compile": "torch_compile: samples/s after the first steps (which compile); on a CPU "
    "inductor compiles with the system C++ compiler, minutes on 2 busy cores.",
}


def chosen_parts(value: str | None) -> list[str]:
    """The parts named in $HFFT_BENCH_DEFAULTS (comma-separated), all when unset."""
    if not value:
        return list(PARTS)
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in PARTS]
    if unknown:
        raise SystemExit(f"{PARTS_VARIABLE}: unknown part {unknown[0]!r}; parts: {list(PARTS)}")
    return names


def run(ctx: Context) -> Section:
    figures: list[Figure] = []
    context: dict[str, Any] = {}
    chosen = chosen_parts(os.environ.get(PARTS_VARIABLE))
    for name in chosen:
        if ctx.scale.name == "tiny" and name == "compile":
            continue  # minutes of compilation: not for the bench's own tests
        more, info = PARTS[name](ctx)
        figures += more
        context.update(info)
    return Section(
        NAME,
        "hfft's defaults: threads, bf16 auto, the on-disk feature cache in tune, torch_compile",
        figures=figures,
        context={"data": str(Path("digits")), **context},
        notes=[NOTES[name] for name in chosen if name in NOTES],
    )
