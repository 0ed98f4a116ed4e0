"""Training-step measurements that run in a fresh process each, so peak memory is per job.

The processes come from a `forkserver` that has already imported torch, transformers, PEFT and
hfft (importing them costs 5-15 s on a busy 2-core machine): each job is a new process forked
from that server, so its peak resident memory (ru_maxrss) covers that job alone plus the same
import baseline for every job.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

# Imported here so the forkserver holds them before it forks a job.
import torch
from transformers import Trainer  # noqa: F401

from bench.flops import matmul_parameters
from bench.measure import peak_rss_mib, quiet, steady_rate, step_timer
from hfft import modes
from hfft.recipe import load_recipe
from hfft.run import build_run


def current_rss_mib() -> float:
    """Resident memory right now (from /proc/self/statm, in pages)."""
    import os

    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def train_steps(job: dict[str, Any]) -> dict[str, Any]:
    """Build an hfft run from `job["recipe"]` (a raw recipe dict, with training.max_steps set),
    train it and report steady-state samples/s, parameters and peak memory."""
    rss_start = current_rss_mib()
    began = time.perf_counter()
    recipe = load_recipe(job["recipe"])
    run = build_run(recipe)
    build_seconds = time.perf_counter() - began
    stamps: list[float] = []
    quiet(run.trainer).add_callback(step_timer(stamps))
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    rss_before = current_rss_mib()
    start = time.perf_counter()
    run.trainer.train()
    seconds = time.perf_counter() - start
    trainable, total = modes.count_parameters(run.model)
    config = run.model.config
    batch = recipe.training["per_device_train_batch_size"]
    return {
        "samples_per_s": steady_rate(stamps, job["warmup"], per_step=batch),
        "build_seconds": build_seconds,
        "train_seconds": seconds,
        "steps": len(stamps),
        "trainable_parameters": trainable,
        "total_parameters": total,
        "matmul_parameters": matmul_parameters(run.model),
        "layers": config.num_hidden_layers,
        "hidden": config.hidden_size,
        "rss_start_mib": rss_start,
        "rss_before_train_mib": rss_before,
        "peak_rss_mib": peak_rss_mib(),
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20
        if torch.cuda.is_available()
        else None,
    }


def pool() -> ProcessPoolExecutor:
    """Executor whose every job runs in a new process forked from a preloaded server."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["bench.worker"])
    return ProcessPoolExecutor(max_workers=1, mp_context=context, max_tasks_per_child=1)
