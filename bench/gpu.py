"""GPU benchmark: bf16 full and LoRA training of base-sized image, text, token and audio models.

Reports, per workload and mode: samples/s (median step after warm-up), peak GPU memory, achieved
TFLOP/s and MFU against the GPU's bf16 dense datasheet peak (a small table, by device name) and
against a bf16 matmul measured in the same run. Writes gpu.json and gpu.md to $OUT if set, else
bench/results. Run it through bench/gpu.sh; `--cpu-smoke` runs a tiny config on the CPU to check
the script end to end on a machine without a GPU.

Needs torch, transformers (with accelerate) and peft only — not `datasets` — so it also runs on
a GPU image that has those but cannot install hfft's other dependencies; the input pipeline rows
(bench/pipeline_gpu.py: hfft image and audio runs' DataLoader against their model, hfft's loader
workers and 0) need them, and say so when they are missing.
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
# Text and audio at base size: BERT-base on 128 tokens, wav2vec2-base on 1 s of 16 kHz audio.
BERT_BASE = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "intermediate_size": 3072, "vocab_size": 30522, "tokens": 128}  # fmt: skip
BERT_SMOKE = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
              "intermediate_size": 64, "vocab_size": 100, "tokens": 16}  # fmt: skip
WAV2VEC2_BASE = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                 "intermediate_size": 3072, "samples": 16000}  # fmt: skip
WAV2VEC2_SMOKE = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                  "intermediate_size": 64, "conv_dim": (32,) * 7, "num_conv_pos_embeddings": 16,
                  "samples": 8000}  # fmt: skip
WORKLOADS = ("image", "text", "tokens", "audio")
MODEL_NAMES = {  # workload -> (full-size name, smoke name)
    "image": ("ViT-base-sized (hidden 768, 12 blocks, 224x224 patch 16, 197 tokens)",
              "ViT smoke (hidden 32, 2 blocks, 32x32 patch 8)"),
    "text": ("BERT-base-sized sequence classification, 128 tokens",
             "BERT smoke (hidden 32, 2 blocks, 16 tokens)"),
    "tokens": ("BERT-base-sized token classification, 128 tokens",
               "BERT smoke token classification (16 tokens)"),
    "audio": ("wav2vec2-base-sized, 1 s at 16 kHz (49 frames)",
              "wav2vec2 smoke (hidden 32, 2 blocks, 0.5 s)"),
}  # fmt: skip


def datasheet_peak(name: str) -> float | None:
    """bf16 dense peak in FLOP/s for a device name, or None when it is not in the table."""
    for key, tflops in BF16_PEAK_TFLOPS:
        if key.lower() in name.lower():
            return tflops * 1e12
    return None


class Synthetic:
    """`length` examples cycling through a small pool of random inputs (a fixed pool: the
    benchmark measures training, not random-number generation): images, token ids (with
    per-token labels for token classification) or waveforms."""

    def __init__(
        self, length: int, workload: str, config: dict[str, Any], pool: int = 64, seed: int = 0
    ) -> None:
        import torch

        generator = torch.Generator().manual_seed(seed)
        self.key, self.per_token = "pixel_values", workload == "tokens"
        if workload == "image":
            size = config["image_size"]
            self.inputs = torch.randn(pool, 3, size, size, generator=generator)
        elif workload in ("text", "tokens"):
            self.key = "input_ids"
            shape = (pool, config["tokens"])
            self.inputs = torch.randint(5, config["vocab_size"], shape, generator=generator)
        else:
            self.key = "input_values"
            self.inputs = torch.randn(pool, config["samples"], generator=generator)
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, Any]:
        import torch

        inputs = self.inputs[i % len(self.inputs)]
        if self.per_token:
            labels = torch.arange(len(inputs)) % NUM_LABELS
            return {self.key: inputs, "labels": labels}
        return {self.key: inputs, "labels": i % NUM_LABELS}


def build_model(workload: str, config: dict[str, Any]) -> tuple[Any, int]:
    """(a randomly initialised classifier for `workload`, tokens per sample)."""
    import transformers as tf

    settings = {k: v for k, v in config.items() if k not in ("tokens", "samples")}
    if workload == "image":
        model = tf.ViTForImageClassification(tf.ViTConfig(num_labels=NUM_LABELS, **settings))
        return model, (config["image_size"] // config["patch_size"]) ** 2 + 1
    if workload in ("text", "tokens"):
        kind = tf.BertForTokenClassification if workload == "tokens" else None
        kind = kind or tf.BertForSequenceClassification
        return kind(tf.BertConfig(num_labels=NUM_LABELS, **settings)), config["tokens"]
    model = tf.Wav2Vec2ForSequenceClassification(
        tf.Wav2Vec2Config(num_labels=NUM_LABELS, **settings)
    )
    frames = int(model.wav2vec2._get_feat_extract_output_lengths(config["samples"]))
    return model, frames


def train_mode(
    mode: str, config: dict[str, Any], opts: argparse.Namespace, gpu: bool, workload: str = "image"
) -> dict:
    """Train `mode` (full or lora) of `workload` for warm-up + timed steps; return its
    measurements."""
    import torch
    from transformers import Trainer, TrainingArguments

    from hfft import modes
    from hfft.recipe import ModelSpec

    torch.manual_seed(0)
    model, tokens = build_model(workload, config)
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
            train_dataset=Synthetic(steps * opts.batch_size, workload, config),
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
    matmul = matmul_parameters(model)
    layers, hidden = config["num_hidden_layers"], config["hidden_size"]
    flops = flops_per_sample(matmul, layers, hidden, tokens, lora=mode == "lora")
    result = {
        "workload": workload,
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
        "Models: " + "; ".join(f"{k}: {v}" for k, v in results["models"].items()) + "; bf16 "
        "autocast; synthetic data.  ",
        f"Datasheet bf16 dense peak: {results['datasheet_peak_tflops'] or 'unknown'} TFLOP/s; "
        f"measured bf16 matmul ({results['matmul_n']}³): {results['matmul_tflops']:.1f} TFLOP/s.",
        "",
        "| workload | mode | trainable params | batch | samples/s | peak GPU MiB | TFLOP/s | MFU | "
        "÷ measured matmul |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["modes"]:
        if "error" in r:
            lines.append(f"| {r['workload']} | {r['mode']} | error: {r['error']} | | | | | | |")
            continue
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a"
        mem = f"{r['peak_gpu_mib']:,.0f}" if r["peak_gpu_mib"] is not None else "n/a (CPU)"
        lines.append(
            f"| {r['workload']} | {r['mode']} | {r['trainable_parameters']:,} | "
            f"{r['batch_size']} | {r['samples_per_s']:.1f} | {mem} | "
            f"{r['achieved_tflops']:.2f} | {mfu} | {r['fraction_of_matmul']:.1%} |"
        )
    lines += [
        "",
        f"{FORMULA}; N = Linear/Conv2d weights, T = tokens per sample (patches + 1, tokens, or "
        "audio frames), L blocks, h hidden. MFU = achieved ÷ datasheet peak. Audio: wav2vec2's "
        "convolutional feature encoder (Conv1d) is not counted, so its MFU is a lower bound.",
    ]
    for workload in results["models"]:
        rows = {r["mode"]: r for r in results["modes"] if r["workload"] == workload}
        full, lora = rows.get("full"), rows.get("lora")
        if full and lora and "error" not in full and "error" not in lora:
            memory = (
                f", peak GPU memory {lora['peak_gpu_mib'] / full['peak_gpu_mib']:.2f}"
                if full["peak_gpu_mib"]
                else ""
            )
            ratio = lora["samples_per_s"] / full["samples_per_s"]
            lines.append(f"{workload}: LoRA ÷ full samples/s {ratio:.2f}{memory}.")
    if results.get("pipeline"):
        from bench.pipeline_gpu import gpu_markdown

        lines += gpu_markdown(results["pipeline"])
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/gpu.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("--cpu-smoke", action="store_true", help="tiny config on the CPU")
    p.add_argument("--modes", nargs="+", default=["full", "lora"], choices=["full", "lora"])
    p.add_argument(
        "--workloads",
        nargs="+",
        default=list(WORKLOADS),
        choices=WORKLOADS,
        help="image: ViT-base 224; text: BERT-base 128 tokens; tokens: BERT-base token "
        "classification; audio: wav2vec2-base 1 s (default: all)",
    )
    p.add_argument("--batch-size", type=int, help="default 128 (GPU), 4 (smoke)")
    p.add_argument("--steps", type=int, help="timed steps (default 30 GPU, 3 smoke)")
    p.add_argument("--warmup", type=int, help="untimed first steps (default 5 GPU, 1 smoke)")
    p.add_argument("--peak-tflops", type=float, help="override the datasheet bf16 dense peak")
    p.add_argument("--out", type=Path, help="results folder (default $OUT, else bench/results)")
    p.add_argument(
        "--no-pipeline",
        action="store_true",
        help="skip the input pipeline rows (hfft image/audio runs: loader vs model samples/s)",
    )
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
    configs = {
        "image": VIT_SMOKE if smoke else VIT_BASE,
        "text": BERT_SMOKE if smoke else BERT_BASE,
        "tokens": BERT_SMOKE if smoke else BERT_BASE,
        "audio": WAV2VEC2_SMOKE if smoke else WAV2VEC2_BASE,
    }
    configs = {w: configs[w] for w in opts.workloads}
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
        "models": {w: MODEL_NAMES[w][smoke] for w in configs},
        "configs": configs,
        "formula": FORMULA,
        "datasheet_peak_tflops": peak / 1e12 if peak else None,
        "matmul_n": matmul_n,
        "matmul_tflops": matmul / 1e12,
        "modes": [],
    }
    for workload, config in configs.items():
        for mode in opts.modes:
            print(f"[gpu bench] {workload} {mode} ...", flush=True)
            try:
                r = train_mode(mode, config, opts, gpu, workload)
            except Exception as err:  # e.g. out of memory: report it, still run the others
                traceback.print_exc()
                error = f"{type(err).__name__}: {err}"[:300]
                results["modes"].append({"workload": workload, "mode": mode, "error": error})
                continue
            achieved = r["achieved_tflops"] * 1e12
            r["mfu"] = achieved / peak if peak else None
            r["mfu_6n"] = r["achieved_tflops_6n"] * 1e12 / peak if peak else None
            r["fraction_of_matmul"] = achieved / matmul
            results["modes"].append(r)
            print(f"[gpu bench] {workload} {mode}: {json.dumps(r)}", flush=True)
    fed = {w: c for w, c in configs.items() if w in ("image", "audio")}
    if fed and not opts.no_pipeline:
        from bench.pipeline_gpu import gpu_rows

        print("[gpu bench] input pipeline ...", flush=True)
        try:
            results["pipeline"] = gpu_rows(fed, opts.batch_size, opts.steps, opts.warmup)
        except Exception as err:  # report it, keep the training rows
            traceback.print_exc()
            error = f"{type(err).__name__}: {err}"[:300]
            results["pipeline"] = [{"workload": w, "error": error} for w in fed]
        print(f"[gpu bench] input pipeline: {json.dumps(results['pipeline'])}", flush=True)
    out = opts.out or Path(os.environ.get("OUT") or ROOT / "bench" / "results")
    out.mkdir(parents=True, exist_ok=True)
    stem = "gpu-smoke" if smoke else "gpu"
    (out / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / f"{stem}.md").write_text(markdown(results))
    print(markdown(results))
    print(f"wrote {out / stem}.json and .md")
    rows = results["modes"] + results.get("pipeline", [])
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
