"""Section `methods`: each PEFT method (`model.mode: peft`) and layer-wise lr decay against full
fine-tuning, on the ViT-small-sized model and the real all-MiniLM-L6-v2: trainable parameters,
samples/s and peak memory, each ÷ full, measured in one run (each job in a fresh process, rounds
interleaved, as section `modes`).

LP-FT is not a row: its fine-tuning phase is full fine-tuning (or LoRA), and its probe is the
frozen mode's cost (section `caching`).
"""

from __future__ import annotations

import statistics
from typing import Any

from bench import modes
from bench.context import Context
from bench.report import Figure, Section

NAME = "methods"
# variant -> recipe keys; every PEFT method with its defaults (auto targets), LoRA at r=16 as in
# section `modes`, IA3 and LN tuning have no size.
VARIANTS: dict[str, dict[str, Any]] = {
    "full": {"mode": "full"},
    "layer_decay": {"mode": "full", "optim": {"layer_decay": 0.75}},
    "lora": {"mode": "peft", "peft": {"method": "lora", "r": 16}},
    "dora": {"mode": "peft", "peft": {"method": "dora", "r": 16}},
    "adalora": {"mode": "peft", "peft": {"method": "adalora", "init_r": 16, "target_r": 8}},
    "loha": {"mode": "peft", "peft": {"method": "loha", "r": 16}},
    "lokr": {"mode": "peft", "peft": {"method": "lokr", "r": 16}},
    "vera": {"mode": "peft", "peft": {"method": "vera", "r": 256}},
    "oft": {"mode": "peft", "peft": {"method": "oft"}},
    "boft": {"mode": "peft", "peft": {"method": "boft"}},
    "ia3": {"mode": "peft", "peft": {"method": "ia3"}},
    "ln_tuning": {"mode": "peft", "peft": {"method": "ln_tuning"}},
}


def run(ctx: Context) -> Section:
    figures: list[Figure] = []
    rows: list[dict[str, Any]] = []
    rounds = max(1, ctx.scale.rounds - 2)
    for model in ("vit", "minilm"):
        results = modes.measure(ctx, model, rounds, VARIANTS)

        def med(name: str, key: str, results: dict = results) -> float:
            return statistics.median(r[key] for r in results[name])

        def ratio(name: str, key: str, results: dict = results) -> float:
            pairs = zip(results[name], results["full"], strict=True)
            return statistics.median(a[key] / b[key] for a, b in pairs)

        for name in VARIANTS:
            train_mib = med(name, "peak_rss_mib") - med(name, "rss_before_train_mib")
            full_mib = med("full", "peak_rss_mib") - med("full", "rss_before_train_mib")
            row = {
                "model": model,
                "method": name,
                "trainable params": int(med(name, "trainable_parameters")),
                "trainable ÷ full": ratio(name, "trainable_parameters"),
                "samples/s": med(name, "samples_per_s"),
                "samples/s ÷ full": ratio(name, "samples_per_s"),
                "peak RSS MiB": med(name, "peak_rss_mib"),
                "peak ÷ full": ratio(name, "peak_rss_mib"),
                "training MiB ÷ full": train_mib / full_mib if full_mib > 0 else 0.0,
            }
            if results[name][0]["peak_gpu_mib"] is not None:
                row["peak GPU MiB"] = med(name, "peak_gpu_mib")
                row["peak GPU ÷ full"] = ratio(name, "peak_gpu_mib")
            rows.append(row)
            if name == "full":
                continue
            figures += [
                Figure(
                    f"{model}_{name}_samples_per_s_vs_full",
                    f"{model} {name} ÷ full, samples/s",
                    row["samples/s ÷ full"],
                    context=f"{row['samples/s']:.1f} vs {med('full', 'samples_per_s'):.1f}",
                    headline=False,
                ),
                Figure(
                    f"{model}_{name}_peak_memory_vs_full",
                    f"{model} {name} ÷ full, peak resident memory",
                    row["peak ÷ full"],
                    headline=False,
                ),
            ]
    return Section(
        NAME,
        "PEFT methods and layer-wise lr decay against full fine-tuning",
        figures=figures,
        rows=rows,
        context={
            "vit": ctx.scale.vit_label + ", random init",
            "minilm": "all-MiniLM-L6-v2 (real)",
            "batch_size": ctx.scale.batch_size,
            "timed_steps": ctx.scale.mode_steps,
            "rounds": rounds,
        },
        notes=[
            "Every method with hfft's auto targets (`target_modules: auto`): the attention "
            "query/value projections (IA3: keys, values and the feed-forward down-projection; "
            "LN tuning: the blocks' LayerNorms), the head trained in full. BOFT runs PEFT's "
            "pure-PyTorch path on a CPU (its CUDA kernel needs a GPU build).",
            "'peak RSS' includes the shared import baseline (see section `modes`); 'training "
            "MiB' is the peak minus the resident memory just before trainer.train().",
        ],
    )
