"""`training.bf16` / `training.fp16`: true, false or `auto` (the default).

auto is bf16 where the hardware runs it natively and it is faster: a GPU that supports bf16, or
a CPU with bf16 dot-product instructions (x86 `amx_bf16` / `avx512_bf16`, Arm `bf16` in
/proc/cpuinfo) training a model at least CPU_BF16_MIN_WIDTH wide. Measured on an AMD EPYC with
avx512_bf16 (Trainer steps, 1 thread): a ViT of hidden size 384 trains 1.9x faster in bf16, one
of 96 at 0.85-1.2x, the demo's ViT of 64 at 0.54x (autocast's casts outweigh the smaller
matmuls). Without those instructions torch emulates bf16 on a CPU, slower than fp32, so auto is
fp32 there. The decision reads CPU flags and the model's config rather than timing a benchmark:
it costs nothing, and the same machine and model always get the same choice.
fp16 is never chosen by auto: it can overflow where bf16 does not; set training.fp16=true.
$HFFT_CPU_BF16=1/0 forces the CPU decision (a VM that hides its flags, or to compare).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hfft.errors import RecipeError

AUTO = "auto"
KEYS = ("bf16", "fp16")
CPU_BF16_ENV = "HFFT_CPU_BF16"
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16", "bf16")
CPUINFO = Path("/proc/cpuinfo")
# Narrower models train slower in bf16 on a CPU (see above): 96 was a draw, 384 twice as fast.
CPU_BF16_MIN_WIDTH = 256


def check_value(key: str, value: Any) -> Any:
    """true, false or auto; anything else is one RecipeError line."""
    if value is None or isinstance(value, bool) or value == AUTO:
        return AUTO if value is None else value
    raise RecipeError(f"training.{key}={value!r}: choose true, false or auto")


def cpu_bf16(cpuinfo: Path | None = None) -> tuple[bool, str]:
    """(whether this CPU runs bf16 natively, the flag that says so or why not)."""
    forced = os.environ.get(CPU_BF16_ENV)
    if forced in ("0", "1"):
        return forced == "1", f"{CPU_BF16_ENV}={forced}"
    try:
        text = (cpuinfo or CPUINFO).read_text()
    except OSError:
        return False, "CPU flags unknown"
    words: set[str] = set()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            words.update(value.split())
    found = next((flag for flag in CPU_BF16_FLAGS if flag in words), None)
    if found:
        return True, f"CPU with {found}"
    return False, "CPU without bf16 instructions"


def _accelerator() -> str | None:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available():
        return "xpu"
    return None


def on_cpu(training: dict[str, Any]) -> bool:
    """Whether the Trainer will run on the CPU (use_cpu, or no accelerator)."""
    return bool(training.get("use_cpu")) or _accelerator() is None


def resolve(
    training: dict[str, Any], width: Callable[[], int | None] | None = None
) -> tuple[dict[str, bool], str]:
    """({"bf16": ..., "fp16": ...} with auto decided for this machine and the model's width
    (`width()`, asked only on a CPU: `hfft.checkpoint.model_width`; None: unknown), what and why
    in words, e.g. "bf16 (auto: CPU with avx512_bf16, hidden size 384)")."""
    bf16 = check_value("bf16", training.get("bf16"))
    fp16 = check_value("fp16", training.get("fp16"))
    if fp16 is True:
        return {"bf16": bool(bf16 is True), "fp16": True}, "fp16 (recipe)"
    if bf16 is not AUTO:
        return {"bf16": bf16, "fp16": False}, f"{'bf16' if bf16 else 'fp32'} (recipe)"
    chosen, why = _auto_bf16(training, width)
    return {"bf16": chosen, "fp16": False}, f"{'bf16' if chosen else 'fp32'} (auto: {why})"


def _auto_bf16(training: dict[str, Any], width_of: Any) -> tuple[bool, str]:
    if on_cpu(training):
        native, why = cpu_bf16()
        if not native or why.startswith(CPU_BF16_ENV):
            return native, why
        width = width_of() if width_of is not None else None
        if width is None:
            return True, why
        if width < CPU_BF16_MIN_WIDTH:
            return (
                False,
                f"{why}, but hidden size {width} < {CPU_BF16_MIN_WIDTH} trains faster in fp32",
            )
        return True, f"{why}, hidden size {width}"
    from transformers.utils import is_torch_bf16_gpu_available

    device = _accelerator()
    if device == "mps":  # bf16 is emulated in fp32 by Metal on M1/M2: no faster
        return False, "Apple GPU"
    if is_torch_bf16_gpu_available():
        return True, f"{device} GPU with bf16"
    return False, f"{device} GPU without bf16 (training.fp16=true is the fast choice there)"


def cpu_can_bf16(training: dict[str, Any]) -> bool:
    """Whether bf16 (autocast) runs on this CPU natively: then the Trainer gets use_cpu, which
    it needs for bf16 without a GPU."""
    return on_cpu(training) and cpu_bf16()[0]
