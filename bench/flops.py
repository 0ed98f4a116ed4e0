"""Training FLOPs of a transformer classifier, counted from the model itself (no heavy imports:
bench/gpu.py uses this on machines without `datasets`)."""

from __future__ import annotations

import time
from typing import Any

FORMULA = "FLOPs/sample = 6·N·T + 12·L·h·T² (LoRA: 4·N·T + 12·L·h·T²)"


def matmul_parameters(model: Any) -> int:
    """Weights that take part in a matrix product once per token: every Linear and Conv2d
    weight (embedding tables are lookups, biases and norms are negligible). For a PEFT model
    this counts the frozen base layers and the LoRA matrices alike."""
    from torch import nn

    return sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))


def flops_per_sample(
    matmul_params: int, layers: int, hidden: int, tokens: int, lora: bool = False
) -> float:
    """Training FLOPs per sample (PaLM appendix B convention): 6·N·T + 12·L·h·T² with N the
    matmul weights, T tokens per sample, L blocks, h hidden size. Forward is 2·N·T + 4·L·h·T²
    (attention scores and weighted values); backward is twice that. With LoRA the frozen
    weights need no weight gradients, so their backward costs one forward: 4·N·T + 12·L·h·T²
    (attention has no weights; its backward still costs two forwards)."""
    per_weight = 4 if lora else 6
    return per_weight * matmul_params * tokens + 12 * layers * hidden * tokens**2


def matmul_peak(n: int, dtype: str, repeats: int = 5, device: str | None = None) -> float:
    """Best FLOP/s of n×n×n torch.matmul products on `device` (default: the GPU if any) over
    `repeats` timings; on a GPU each timing covers 10 back-to-back products (one is too short
    to time against the launch and synchronisation)."""
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    kind = getattr(torch, dtype)
    a = torch.randn(n, n, device=device).to(kind)
    b = torch.randn(n, n, device=device).to(kind)
    torch.matmul(a, b)  # warm-up: thread pool, kernel selection
    gpu = device.startswith("cuda")
    inner = 10 if gpu else 1
    best = 0.0
    for _ in range(repeats):
        if gpu:
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(inner):
            torch.matmul(a, b)
        if gpu:
            torch.cuda.synchronize()
        best = max(best, inner * 2 * n**3 / (time.perf_counter() - start))
    return best
