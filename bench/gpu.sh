#!/usr/bin/env bash
# bench/gpu.sh [--cpu-smoke] [bench/gpu.py options]
#
# One command for the GPU benchmark: bf16 full and LoRA training of base-sized image (ViT), text
# (BERT, sequence and token classification) and audio (wav2vec2) models on
# synthetic data; samples/s, peak GPU memory, MFU; the input pipeline of an hfft image run
# and audio run (loader vs model samples/s, hfft's workers vs 0). Results: gpu.json + gpu.md in $OUT if set,
# else bench/results. `--cpu-smoke` runs a tiny config on the CPU (checks the script end to end).
#
# Python: $PYTHON if set; else the first of $VENV (default .venv) and python3 that already has
# torch, transformers, accelerate, peft and pyyaml (hfft and bench are used from this source
# tree); else a new venv at $VENV with `pip install -c constraints.txt -e .` (nothing else).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
NEEDS='import torch, transformers, accelerate, peft, yaml'
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for candidate in "$VENV/bin/python" python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "$NEEDS" 2>/dev/null; then
      PY=$candidate
      break
    fi
  done
fi
if [ -z "$PY" ]; then
  echo "bench/gpu.sh: no Python with torch/transformers/peft found; installing into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -c constraints.txt -e .
  PY="$VENV/bin/python"
fi
echo "bench/gpu.sh: using $PY ($("$PY" -c 'import torch; print("torch", torch.__version__)'))" >&2

# Nothing here needs the network; without offline mode a Hub lookup would retry for ~23 s.
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
export HF_HUB_DISABLE_PROGRESS_BARS=1 TRANSFORMERS_VERBOSITY=error TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export PYTHONWARNINGS="ignore::FutureWarning"  # library deprecation notices, not results
# DDP within the node is not measured here; say what this machine would allow.
GPUS=$("$PY" -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null || echo 0)
if [ "$GPUS" -gt 1 ]; then
  echo "bench/gpu.sh: $GPUS GPUs: 1-GPU vs DDP within the node not measured; compare this run with" \
    "torchrun --nproc_per_node=$GPUS -m hfft.cli train RECIPE (recipes/launch/README.md)" >&2
else
  echo "bench/gpu.sh: $GPUS GPU(s): no DDP-within-the-node line (needs 2 or more GPUs)" >&2
fi
exec "$PY" bench/gpu.py "$@"
