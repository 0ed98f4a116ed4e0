"""Section 3, adaptation modes (full, freeze_layers, frozen, LoRA) on a ViT-small-sized model and
the real all-MiniLM-L6-v2: trainable parameters, peak memory, samples/s; ratios against full.

Each (model, mode) trains in its own fresh process (bench.worker), so its peak resident memory
is its own. Rounds interleave the modes (full, freeze, frozen, lora, then reversed, ...).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench import workloads
from bench.context import Context
from bench.report import Figure, Section

NAME = "modes"
MODES = ("full", "freeze_layers", "frozen", "lora")


def model_settings(mode: str, freeze_layers: int) -> dict[str, Any]:
    """The recipe's model: keys for a bench mode."""
    if mode == "freeze_layers":
        return {"mode": "full", "freeze_layers": freeze_layers}
    if mode == "frozen":
        # Training cost of the mode itself: the backbone runs every step (caching is section 2).
        return {"mode": "frozen", "cache_features": False}
    return {"mode": mode}


def jobs(
    ctx: Context,
    model: str,
    extra_training: dict[str, Any] | None = None,
    variants: dict[str, dict[str, Any]] | None = None,
) -> dict:
    """mode -> worker job (a raw recipe and the timing settings) for `model` ("vit"/"minilm");
    `variants`: name -> recipe keys (`model:` keys, and an `optim:` section) instead of the
    modes."""
    scale = ctx.scale
    training = {
        **workloads.STEPS_ONLY,
        "max_steps": scale.mode_steps + scale.warmup_steps + 1,
        "per_device_train_batch_size": scale.batch_size,
        "learning_rate": 1e-4,
        "seed": 0,
        **(extra_training or {}),
    }
    out: dict[str, dict[str, Any]] = {}
    if variants is None:
        variants = {mode: model_settings(mode, scale.freeze_layers[model]) for mode in MODES}
    for mode, given in variants.items():
        settings = dict(given)
        optim = settings.pop("optim", None)
        run_dir = ctx.fresh_dir(f"modes-{model}-{mode}")
        if model == "vit":
            checkpoint = workloads.vit_checkpoint(ctx.work / "vit-mid", scale.vit)
            recipe = workloads.image_recipe(
                checkpoint, ctx.digits / "target", run_dir, training, **settings
            )
        else:
            csv_path = workloads.reviews_csv(ctx.work / "reviews")
            recipe = workloads.text_recipe(
                workloads.minilm_dir(), csv_path, run_dir, training, scale.text_tokens, **settings
            )
        if optim:
            recipe["optim"] = optim
        out[mode] = {"recipe": recipe, "warmup": scale.warmup_steps}
    return out


def tokens(ctx: Context, model: str) -> int:
    if model == "vit":
        return (ctx.scale.vit["image_size"] // ctx.scale.vit["patch_size"]) ** 2 + 1
    return ctx.scale.text_tokens


def measure(
    ctx: Context, model: str, rounds: int, variants: dict[str, dict[str, Any]] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """mode (or variant) -> one worker result per round, alternating order every round."""
    todo = jobs(ctx, model, variants=variants)
    names = tuple(todo)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for r in range(rounds):
        for mode in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            results[mode].append(ctx.pool.submit(_train_steps, todo[mode]).result())
            took = time.perf_counter() - start
            ctx.log(f"modes: {model} {mode} (round {r + 1}/{rounds}) took {took:.1f} s")
    return results


def _train_steps(job: dict[str, Any]) -> dict[str, Any]:
    from bench.worker import train_steps

    return train_steps(job)


def run(ctx: Context) -> Section:
    figures: list[Figure] = []
    rows: list[dict[str, Any]] = []
    rounds = max(1, ctx.scale.rounds - 1)
    labels = {"vit": ctx.scale.vit_label + ", random init", "minilm": "all-MiniLM-L6-v2 (real)"}
    for model in ("vit", "minilm"):
        results = measure(ctx, model, rounds)

        def med(mode: str, key: str, results: dict = results) -> float:
            return statistics.median(r[key] for r in results[mode])

        def speed_ratio(mode: str, results: dict = results) -> float:
            pairs = zip(results[mode], results["full"], strict=True)
            return statistics.median(a["samples_per_s"] / b["samples_per_s"] for a, b in pairs)

        for mode in MODES:
            train_mib = med(mode, "peak_rss_mib") - med(mode, "rss_before_train_mib")
            full_train_mib = med("full", "peak_rss_mib") - med("full", "rss_before_train_mib")
            row = {
                "model": model,
                "mode": mode,
                "trainable params": int(med(mode, "trainable_parameters")),
                "trainable ÷ full": med(mode, "trainable_parameters")
                / med("full", "trainable_parameters"),
                "peak RSS MiB": med(mode, "peak_rss_mib"),
                "peak ÷ full": med(mode, "peak_rss_mib") / med("full", "peak_rss_mib"),
                "training MiB": train_mib,
                "training MiB ÷ full": train_mib / full_train_mib if full_train_mib > 0 else 0.0,
                "samples/s": med(mode, "samples_per_s"),
                "samples/s ÷ full": speed_ratio(mode),
            }
            if results[mode][0]["peak_gpu_mib"] is not None:
                row["peak GPU MiB"] = med(mode, "peak_gpu_mib")
            rows.append(row)
            if mode == "full":
                continue
            figures += [
                Figure(
                    f"{model}_{mode}_samples_per_s_vs_full",
                    f"{model} {mode} ÷ full, samples/s",
                    row["samples/s ÷ full"],
                    context=f"{row['samples/s']:.1f} vs {med('full', 'samples_per_s'):.1f}",
                ),
                Figure(
                    f"{model}_{mode}_trainable_vs_full",
                    f"{model} {mode} ÷ full, trainable parameters",
                    row["trainable ÷ full"],
                    headline=mode == "lora",
                ),
                Figure(
                    f"{model}_{mode}_peak_memory_vs_full",
                    f"{model} {mode} ÷ full, peak resident memory",
                    row["peak ÷ full"],
                    headline=mode == "lora",
                    context=f"{row['peak RSS MiB']:.0f} vs {med('full', 'peak_rss_mib'):.0f} MiB",
                ),
            ]
    return Section(
        NAME,
        "adaptation modes against full fine-tuning",
        figures=figures,
        rows=rows,
        context={
            "vit": labels["vit"],
            "minilm": labels["minilm"],
            "vit_tokens": tokens(ctx, "vit"),
            "minilm_tokens": ctx.scale.text_tokens,
            "batch_size": ctx.scale.batch_size,
            "timed_steps": ctx.scale.mode_steps,
            "rounds": rounds,
        },
        notes=[
            "Each (model, mode) trains in a fresh process forked from a server that has already "
            "imported torch/transformers/PEFT/hfft, so 'peak RSS' includes that shared import "
            "baseline; 'training MiB' is the peak minus the resident memory just before "
            "trainer.train() (gradients, optimizer state, activations).",
            "frozen is measured uncached (the backbone runs every step); section 'caching' "
            "shows what caching adds. freeze_layers freezes the embeddings and the lowest "
            f"{ctx.scale.freeze_layers['vit']} (ViT) / {ctx.scale.freeze_layers['minilm']} "
            "(MiniLM) blocks. LoRA: r=16 on the attention query/value projections (hfft's auto "
            "targets), head trained in full.",
        ],
    )
