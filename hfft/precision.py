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
_WIDTH_KEYS = ("hidden_size", "d_model", "dim", "n_embd", "embed_dim", "hidden_dim")


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


def model_width(spec: Any) -> int | None:
    """The model's hidden size from its config (a sub-model's for composite ones, the widest
    stage for convolutional ones), or None when it cannot be read."""
    if spec is None:
        return None
    key = (spec.checkpoint, spec.revision, repr(spec.config))
    if key not in _widths:
        _widths[key] = _read_width(spec)
    return _widths[key]


_widths: dict[tuple, int | None] = {}  # a run asks for its start line, arguments and recipe.yaml


def _read_width(spec: Any) -> int | None:
    try:
        from hfft.checkpoint import load_config

        config = load_config(spec)
    except Exception:  # an unreadable checkpoint is preflight's to report, not this guess's
        return None
    for part in (config, *(getattr(config, f"{k}_config", None) for k in _SUB_CONFIGS)):
        if part is None:
            continue
        for key in _WIDTH_KEYS:
            value = getattr(part, key, None)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        sizes = getattr(part, "hidden_sizes", None)
        if isinstance(sizes, (list, tuple)) and sizes:
            return max(int(s) for s in sizes)
    return None


_SUB_CONFIGS = ("text", "vision", "audio", "encoder")


def resolve(training: dict[str, Any], model: Any = None) -> tuple[dict[str, bool], str]:
    """({"bf16": ..., "fp16": ...} with auto decided for this machine and the recipe's `model`
    (a ModelSpec, for its width; None: width unknown), what and why in words, e.g.
    "bf16 (auto: CPU with avx512_bf16, hidden size 384)")."""
    bf16 = check_value("bf16", training.get("bf16"))
    fp16 = check_value("fp16", training.get("fp16"))
    if fp16 is True:
        return {"bf16": bool(bf16 is True), "fp16": True}, "fp16 (recipe)"
    if bf16 is not AUTO:
        return {"bf16": bf16, "fp16": False}, f"{'bf16' if bf16 else 'fp32'} (recipe)"
    chosen, why = _auto_bf16(training, model)
    return {"bf16": chosen, "fp16": False}, f"{'bf16' if chosen else 'fp32'} (auto: {why})"


def _auto_bf16(training: dict[str, Any], model: Any) -> tuple[bool, str]:
    if on_cpu(training):
        native, why = cpu_bf16()
        if not native or why.startswith(CPU_BF16_ENV):
            return native, why
        width = model_width(model)
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
