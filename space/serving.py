"""How the Space app serves: settings chosen from the hardware, and the launch's safety settings.

Next to app.py (loaded by path, as interfaces.py is); like it, it imports only the Space's
requirements, never hfft.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import gradio as gr
import torch

MAX_FILE_SIZE = "20mb"  # upload cap, enforced by the Gradio server before any decoding


@dataclass(frozen=True)
class ServingSettings:
    """How the app serves: the device, batching, and how much work may wait or run at once."""

    device: int  # -1: CPU, 0: the first GPU
    max_batch_size: int  # inputs per pipeline call (concurrent requests gathered into one)
    concurrency: int  # pipeline calls in flight at once
    max_queue: int  # requests waiting before new ones get "Queue is full, please try again"
    threads: int  # torch CPU threads

    def describe(self) -> str:
        """One log line."""
        where = "GPU" if self.device >= 0 else f"CPU ({self.threads} threads)"
        return (
            f"{where}; batches of up to {self.max_batch_size}, {self.concurrency} at a time; "
            f"queue of {self.max_queue}"
        )


def serving_settings(gpu: bool | None = None, cpus: int | None = None) -> ServingSettings:
    """Settings for this machine (or the one described), each overridable from the environment.

    CPU: one pipeline call at a time (a forward pass already uses every core; two would fight for
    them) on batches of 8, which amortise the per-call overhead without making one caller wait
    long for seven others. GPU: batches of 32 and two calls in flight, so one batch is decoded
    on the CPU while the other runs. The queue holds 8 batches' worth of waiting requests (at
    least 64): a burst queues and is batched, a flood is told to retry instead of piling up.
    """
    gpu = torch.cuda.is_available() if gpu is None else gpu
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = max(1, cpus or 1)
    batch = _env_int("HFFT_MAX_BATCH_SIZE", 32 if gpu else 8)
    concurrency = _env_int("HFFT_CONCURRENCY", 2 if gpu else 1)
    return ServingSettings(
        device=0 if gpu else -1,
        max_batch_size=batch,
        concurrency=concurrency,
        max_queue=_env_int("HFFT_MAX_QUEUE", max(64, 8 * batch * concurrency)),
        threads=cpus,
    )


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name}={value!r}: expected a whole number of at least 1")
    return int(value)


def launch_app(demo: gr.Blocks, host: str | None = None, port: int | None = None, **kwargs: Any):
    """Launch with the app's safety settings: no share link, capped uploads, no file served from
    disk. Extra kwargs go to `Blocks.launch`."""
    return demo.launch(
        server_name=host,  # None: GRADIO_SERVER_NAME (a Space sets 0.0.0.0), else 127.0.0.1
        server_port=port,
        share=False,
        max_file_size=MAX_FILE_SIZE,
        run_history=False,  # a demo keeps no record of what visitors classified
        # gr.Examples copies the example images into Gradio's cache when the app is built, so
        # not even the examples folder has to be served from disk.
        allowed_paths=None,
        **kwargs,
    )
