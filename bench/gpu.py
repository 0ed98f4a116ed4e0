"""GPU benchmark: bf16 full and LoRA training of a ViT-base-sized classifier on synthetic data.

Reports, per mode: samples/s (median step after warm-up), peak GPU memory, achieved TFLOP/s and
MFU against the GPU's bf16 dense datasheet peak (a small table, by device name) and against a
bf16 matmul measured in the same run. Writes gpu.json and gpu.md to $OUT if set, else
bench/results. Run it through bench/gpu.sh; `--cpu-smoke` runs a tiny config on the CPU to check
the script end to end on a machine without a GPU.

Needs torch, transformers (with accelerate) and peft only — not `datasets` — so it also runs on
a GPU image that has those but cannot install hfft's other dependencies.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench` and `hfft` importable from source
    sys.path.insert(0, str(ROOT))

from bench.flops import FORMULA, flops_per_sample, matmul_parameters, matmul_peak  # noqa: E402
from bench.measure import load_average, peak_rss_mib, quiet, steady_rate, step_timer  # noqa: E402

# bf16 dense tensor-core peaks from the vendor datasheets, TFLOP/s (no sparsity). Matched as
# substrings of torch.cuda.get_device_name(), most specific first.
BF16_PEAK_TFLOPS = (
    ("H200 NVL", 835.0),
    ("H200", 989.4),
    ("GH200", 989.4),
    ("H100 NVL", 835.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.4),  # SXM5, e.g. "NVIDIA H100 80GB HBM3"
    ("H800", 989.4),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
)
VIT_BASE = {
    "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
    "intermediate_size": 3072, "image_size": 224, "patch_size": 16,
}  # fmt: skip
VIT_SMOKE = {
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
    "intermediate_size": 64, "image_size": 32, "patch_size": 8,
}  # fmt: skip
NUM_LABELS = 10


def datasheet_peak(name: str) -> float | None:
    """bf16 dense peak in FLOP/s for a device name, or None when it is not in the table."""
    for key, tflops in BF16_PEAK_TFLOPS:
        if key.lower() in name.lower():
            return tflops * 1e12
    return None


class Synthetic:
    """`length` examples cycling through a small pool of random images (a fixed pool: the
    benchmark measures training, not random-number generation)."""

    def __init__(self, length: int, image_size: int, pool: int = 64, seed: int = 0) -> None:
        import torch

        generator = torch.Generator().manual_seed(seed)
        self.pixels = torch.randn(pool, 3, image_size, image_size, generator=generator)
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"pixel_values": self.pixels[i % len(self.pixels)], "labels": i % NUM_LABELS}


def train_mode(mode: str, config: dict[str, Any], opts: argparse.Namespace, gpu: bool) -> dict:
    """Train `mode` (full or lora) for warm-up + timed steps; return its measurements."""
    import torch
    from transformers import Trainer, TrainingArguments, ViTConfig, ViTForImageClassification

    from hfft import modes
    from hfft.recipe import ModelSpec

    torch.manual_seed(0)
    model = ViTForImageClassification(ViTConfig(num_labels=NUM_LABELS, **config))
    # hfft's own mode logic: LoRA r=16 on the attention q/v projections, head trained in full.
    model = modes.apply_mode(model, ModelSpec(checkpoint="synthetic", mode=mode))
    trainable, total = modes.count_parameters(model)
    steps = opts.warmup + opts.steps + 1
    workers = min(4, os.cpu_count() or 1) if gpu else 0
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            max_steps=steps,
            per_device_train_batch_size=opts.batch_size,
            learning_rate=1e-4,
            bf16=True,
            use_cpu=not gpu,
            eval_strategy="no",
            save_strategy="no",
            logging_strategy="no",
            report_to="none",
            remove_unused_columns=False,
            dataloader_num_workers=workers,
            dataloader_persistent_workers=workers > 0,
            dataloader_pin_memory=gpu,
            disable_tqdm=True,
            seed=0,
        )
        stamps: list[float] = []
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=Synthetic(steps * opts.batch_size, config["image_size"]),
            callbacks=[step_timer(stamps)],
        )
        quiet(trainer)
        if gpu:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    samples_per_s = steady_rate(stamps, opts.warmup, per_step=opts.batch_size)
    tokens = (config["image_size"] // config["patch_size"]) ** 2 + 1
    matmul = matmul_parameters(model)
    layers, hidden = config["num_hidden_layers"], config["hidden_size"]
    flops = flops_per_sample(matmul, layers, hidden, tokens, lora=mode == "lora")
    result = {
        "mode": mode,
        "batch_size": opts.batch_size,
        "timed_steps": len(stamps) - 1 - opts.warmup,
        "samples_per_s": samples_per_s,
        "train_seconds": seconds,
        "trainable_parameters": trainable,
        "total_parameters": total,
        "matmul_parameters": matmul,
        "tokens_per_sample": tokens,
        "gflop_per_sample": flops / 1e9,
        "achieved_tflops": samples_per_s * flops / 1e12,
        # The 6·N convention, as most MFU figures are quoted (counts LoRA's skipped work too).
        "achieved_tflops_6n": samples_per_s
        * flops_per_sample(matmul, layers, hidden, tokens)
        / 1e12,
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if gpu else None,
        "peak_rss_mib": peak_rss_mib(),
        "attention": getattr(model.config, "_attn_implementation", None),
    }
    del trainer, model
    gc.collect()
    if gpu:
        torch.cuda.empty_cache()
    return result


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# hfft GPU benchmark",
        "",
        f"Command: `{results['command']}`  ",
        f"Device: {results['device']}; torch {results['torch']}, transformers "
        f"{results['transformers']}; started {results['started']}, load {results['load']}.  ",
        f"Model: {results['model']}; bf16 autocast; synthetic data.  ",
        f"Datasheet bf16 dense peak: {results['datasheet_peak_tflops'] or 'unknown'} TFLOP/s; "
        f"measured bf16 matmul ({results['matmul_n']}³): {results['matmul_tflops']:.1f} TFLOP/s.",
        "",
        "| mode | trainable params | batch | samples/s | peak GPU MiB | TFLOP/s | MFU | "
        "÷ measured matmul |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results["modes"]:
        if "error" in r:
            lines.append(f"| {r['mode']} | error: {r['error']} | | | | | | |")
            continue
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a"
        mem = f"{r['peak_gpu_mib']:,.0f}" if r["peak_gpu_mib"] is not None else "n/a (CPU)"
        lines.append(
            f"| {r['mode']} | {r['trainable_parameters']:,} | {r['batch_size']} | "
            f"{r['samples_per_s']:.1f} | {mem} | {r['achieved_tflops']:.2f} | {mfu} | "
            f"{r['fraction_of_matmul']:.1%} |"
        )
    lines += [
        "",
        f"{FORMULA}; N = Linear/Conv2d weights, T = tokens per sample, L blocks, h hidden. "
        "MFU = achieved ÷ datasheet peak.",
    ]
    if len([r for r in results["modes"] if "error" not in r]) == 2:
        full, lora = results["modes"]
        lines.append(
            f"LoRA ÷ full: samples/s {lora['samples_per_s'] / full['samples_per_s']:.2f}"
            + (
                f", peak GPU memory {lora['peak_gpu_mib'] / full['peak_gpu_mib']:.2f}"
                if full["peak_gpu_mib"]
                else ""
            )
            + "."
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/gpu.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("--cpu-smoke", action="store_true", help="tiny config on the CPU")
    p.add_argument("--modes", nargs="+", default=["full", "lora"], choices=["full", "lora"])
    p.add_argument("--batch-size", type=int, help="default 128 (GPU), 4 (smoke)")
    p.add_argument("--steps", type=int, help="timed steps (default 30 GPU, 3 smoke)")
    p.add_argument("--warmup", type=int, help="untimed first steps (default 5 GPU, 1 smoke)")
    p.add_argument("--peak-tflops", type=float, help="override the datasheet bf16 dense peak")
    p.add_argument("--out", type=Path, help="results folder (default $OUT, else bench/results)")
    opts = p.parse_args(argv)

    import torch
    import transformers

    gpu = not opts.cpu_smoke
    if gpu and not torch.cuda.is_available():
        print("bench/gpu.sh: no CUDA device visible to torch; use --cpu-smoke on a CPU machine")
        return 2
    smoke = opts.cpu_smoke
    opts.batch_size = opts.batch_size or (4 if smoke else 128)
    opts.steps = opts.steps or (3 if smoke else 30)
    opts.warmup = opts.warmup if opts.warmup is not None else (1 if smoke else 5)
    config = VIT_SMOKE if smoke else VIT_BASE
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = True  # the few fp32 matmuls left under autocast
        torch.backends.cudnn.allow_tf32 = True
    device = torch.cuda.get_device_name(0) if gpu else "CPU (smoke test)"
    peak = datasheet_peak(device) if gpu else None
    if opts.peak_tflops:
        peak = opts.peak_tflops * 1e12
    matmul_n = 8192 if gpu else 256
    matmul = matmul_peak(matmul_n, "bfloat16", repeats=5, device="cuda" if gpu else "cpu")
    results: dict[str, Any] = {
        "command": "bench/gpu.sh " + " ".join(sys.argv[1:] if argv is None else argv),
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "device": device,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "load": load_average(),
        "model": "ViT-base-sized (hidden 768, 12 blocks, 12 heads, 224x224 patch 16, 197 tokens)"
        if not smoke
        else "ViT smoke config (hidden 32, 2 blocks, 32x32 patch 8)",
        "config": config,
        "formula": FORMULA,
        "datasheet_peak_tflops": peak / 1e12 if peak else None,
        "matmul_n": matmul_n,
        "matmul_tflops": matmul / 1e12,
        "modes": [],
    }
    for mode in opts.modes:
        print(f"[gpu bench] {mode} ...", flush=True)
        try:
            r = train_mode(mode, config, opts, gpu)
        except Exception as err:  # e.g. out of memory: report it, still run the other mode
            traceback.print_exc()
            results["modes"].append({"mode": mode, "error": f"{type(err).__name__}: {err}"[:300]})
            continue
        achieved = r["achieved_tflops"] * 1e12
        r["mfu"] = achieved / peak if peak else None
        r["mfu_6n"] = r["achieved_tflops_6n"] * 1e12 / peak if peak else None
        r["fraction_of_matmul"] = achieved / matmul
        results["modes"].append(r)
        print(f"[gpu bench] {mode}: {json.dumps(r)}", flush=True)
    out = opts.out or Path(os.environ.get("OUT") or ROOT / "bench" / "results")
    out.mkdir(parents=True, exist_ok=True)
    stem = "gpu-smoke" if smoke else "gpu"
    (out / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / f"{stem}.md").write_text(markdown(results))
    print(markdown(results))
    print(f"wrote {out / stem}.json and .md")
    return 1 if any("error" in r for r in results["modes"]) else 0


if __name__ == "__main__":
    sys.exit(main())
