"""hfft's benchmark suite: `python -m bench [--quick] [--only NAME ...] [--out DIR]`.

Every headline figure is a ratio of variants measured side by side in one run (interleaved
rounds, medians); absolute times are context. Sections (see bench/README.md):

1. overhead   — hfft training against a hand-written transformers Trainer script
2. caching    — frozen mode with cached backbone features against uncached
3. modes      — full / freeze_layers / frozen / LoRA: parameters, peak memory, samples/s
4. efficiency — achieved training FLOP/s against the measured matmul peak
5. startup    — `hfft --help` / `hfft recipes` against `import transformers`
6. predict    — `hfft predict` against `transformers.pipeline`

`bench/gpu.sh` is the separate GPU benchmark (bf16 full and LoRA training of a ViT-base).
"""
