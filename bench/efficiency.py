"""Section 4, CPU (or GPU) efficiency: achieved training FLOP/s of full fine-tuning against this
machine's matmul peak measured in the same run, in fp32 and in bf16.

Achieved FLOP/s = samples/s × FLOPs per sample, with FLOPs per sample = 6·N·T + 12·L·h·T²
(N matmul weights, T tokens per sample, L blocks, h hidden size; see bench.flops).
"""

from __future__ import annotations

import statistics
from typing import Any

from bench import modes as modes_section
from bench.context import Context
from bench.flops import FORMULA, flops_per_sample, matmul_peak
from bench.report import Figure, Section

NAME = "efficiency"


def per_sample(result: dict[str, Any], tokens: int) -> float:
    """Full fine-tuning FLOPs per sample of a bench.worker result."""
    return flops_per_sample(result["matmul_parameters"], result["layers"], result["hidden"], tokens)


def run(ctx: Context) -> Section:
    import torch

    scale = ctx.scale
    # bf16 autocast through the Trainer, as a recipe's `training.bf16: true` does; on a machine
    # without a GPU the Trainer accepts bf16 only with use_cpu.
    bf16 = {"bf16": True, **({} if torch.cuda.is_available() else {"use_cpu": True})}
    todo = {
        "fp32": modes_section.jobs(ctx, "vit")["full"],
        "bf16": modes_section.jobs(ctx, "vit", bf16)["full"],
    }
    tokens = modes_section.tokens(ctx, "vit")
    rounds = max(1, scale.rounds - 1)
    peaks: dict[str, list[float]] = {"fp32": [], "bf16": []}
    achieved: dict[str, list[float]] = {"fp32": [], "bf16": []}
    speeds: dict[str, list[float]] = {"fp32": [], "bf16": []}
    fractions: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for r in range(rounds):
        for dtype in ("fp32", "bf16") if r % 2 == 0 else ("bf16", "fp32"):
            ctx.log(f"efficiency: {dtype} (round {r + 1}/{rounds})")
            # Peak and training back to back, so both see the same machine load.
            peak = matmul_peak(scale.matmul_size, "float32" if dtype == "fp32" else "bfloat16")
            result = ctx.pool.submit(modes_section._train_steps, todo[dtype]).result()
            flops = result["samples_per_s"] * per_sample(result, tokens)
            peaks[dtype].append(peak)
            achieved[dtype].append(flops)
            speeds[dtype].append(result["samples_per_s"])
            fractions[dtype].append(flops / peak)
    last: dict[str, Any] = result
    gflop = per_sample(last, tokens) / 1e9
    med = statistics.median
    figures = [
        Figure(
            f"{dtype}_fraction_of_matmul_peak",
            f"full training FLOP/s ÷ matmul peak ({dtype})",
            med(fractions[dtype]),
            context=f"{med(achieved[dtype]) / 1e9:.0f} of {med(peaks[dtype]) / 1e9:.0f} GFLOP/s",
        )
        for dtype in ("fp32", "bf16")
    ]
    figures.append(
        Figure(
            "bf16_vs_fp32_training_speed",
            "bf16 ÷ fp32 training samples/s",
            statistics.median(b / f for b, f in zip(speeds["bf16"], speeds["fp32"], strict=True)),
            context=f"matmul peak bf16 ÷ fp32 {med(peaks['bf16']) / med(peaks['fp32']):.2f}",
        )
    )
    return Section(
        NAME,
        "achieved training FLOP/s against the measured matmul peak",
        figures=figures,
        context={
            "model": f"{scale.vit_label}, full fine-tuning",
            "formula": FORMULA.split(" (")[0],
            "N_matmul_weights": last["matmul_parameters"],
            "T_tokens": tokens,
            "L_blocks": last["layers"],
            "h_hidden": last["hidden"],
            "gflop_per_sample": gflop,
            "matmul_n": scale.matmul_size,
            "peak_gflops_fp32": [round(p / 1e9, 1) for p in peaks["fp32"]],
            "peak_gflops_bf16": [round(p / 1e9, 1) for p in peaks["bf16"]],
            "samples_per_s_fp32": speeds["fp32"],
            "samples_per_s_bf16": speeds["bf16"],
            "rounds": rounds,
        },
        notes=[
            "Achieved FLOP/s = samples/s × (6·N·T + 12·L·h·T²): N = weights of every Linear and "
            "Conv2d (embedding tables and biases left out), T tokens per sample (patches + CLS), "
            "L blocks, h hidden size; the 6 is forward (2) + backward (4) per weight per token, "
            "the second term is attention scores and weighted values (PaLM appendix B).",
            f"Matmul peak: the best of 5 {scale.matmul_size}×{scale.matmul_size} torch.matmul "
            "products, measured right before each training run.",
        ],
    )
