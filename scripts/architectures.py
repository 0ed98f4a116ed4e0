"""The architecture coverage matrix: every model type transformers maps to image, sequence, audio
or token classification, built tiny from its config class (scripts/tiny_models.py), through
every mode.

    python scripts/architectures.py                    # all types -> docs/architectures.md
    python scripts/architectures.py --types clip roberta --results /tmp/r.json
    python scripts/architectures.py --kinds audio tokens  # one kind (scripts/architecture_kinds.py)

Each (model type, mode) cell is one real `hfft` run on a tiny dataset: one training step, the run
directory written, then `pipeline()` loads it and must give the logits the trained model gave
before saving (and the same top label). A type runs in its own process with a timeout, so one
hanging or crashing architecture cannot stop the matrix; results accumulate in a JSON file, and a
rerun skips the types already there.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Run as a script or imported by the tests: hfft and the scripts' helpers both importable.
for _path in (ROOT, ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
tiny_models = importlib.import_module("tiny_models")
KINDS = importlib.import_module("architecture_kinds").KINDS
# Cell name -> recipe overrides.
MODES = {
    "full": [],
    "freeze_layers: 1": ["model.freeze_layers=1"],
    "frozen (cached)": ["model.mode=frozen"],
    "frozen (uncached)": ["model.mode=frozen", "model.cache_features=false"],
    "lora": ["model.mode=lora", "model.lora.r=4", "model.lora.alpha=8"],
}
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_EVALUATE_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "CUDA_VISIBLE_DEVICES": "",
}


def model_types(kind: str) -> list[str]:
    """Every model type of the Auto mapping for this kind of classification."""
    return list(KINDS[kind].classes())


def one_line(err: BaseException) -> str:
    """The error's type and first line; for a crash (not hfft's own one-line errors) also the
    last hfft source line it went through, so a cell says where to look."""
    import traceback

    from hfft.errors import HfftError

    lines = str(err).strip().splitlines()
    text = f"{type(err).__name__}: {lines[0][:300] if lines else ''}".rstrip(": ")
    if isinstance(err, HfftError):
        return text
    frames = [f for f in traceback.extract_tb(err.__traceback__) if "/hfft/" in f.filename]
    if frames:
        inside = frames[-1].filename.rsplit("/hfft/", 1)[1]
        text += f" (at hfft/{inside}:{frames[-1].lineno})"
    return text


# --------------------------------------------------------------------------------------------
# One model type (runs inside the child process)


def build(kind: str, model_type: str, work: Path) -> tuple[Path, Path]:
    """(tiny checkpoint, dataset) for `model_type`; raises when the tiny model itself does not
    train a step outside hfft (then the type is 'not built', not an hfft failure)."""
    return KINDS[kind].build(model_type, work)


def recipe_for(kind: str, ckpt: Path, data: Path, out: Path, overrides: list[str]) -> Any:
    from hfft.recipe import load_recipe

    raw = {
        "task": KINDS[kind].task,
        "model": {"checkpoint": str(ckpt)},
        "data": {**KINDS[kind].source(data), "validation_fraction": 0.25},
        "early_stopping": {"patience": None},
        "training": {
            "output_dir": str(out),
            "max_steps": 1,
            "per_device_train_batch_size": 4,
            "per_device_eval_batch_size": 4,
            "learning_rate": 1e-2,
            "eval_strategy": "no",
            "save_strategy": "no",
            "logging_strategy": "no",
            "load_best_model_at_end": False,
            "use_cpu": True,
        },
    }
    return load_recipe(raw, overrides)


def run_mode(kind: str, ckpt: Path, data: Path, out: Path, overrides: list[str]) -> str:
    """One cell: 'ok' (maybe with a note), or raises. One step, save, pipeline() reload."""
    import torch
    from transformers import pipeline

    from hfft.feature_cache import HeadOnly
    from hfft.run import build_run, finish_run

    run = build_run(recipe_for(kind, ckpt, data, out, overrides))
    trained = [p for p in run.trainer.model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in trained]
    run.trainer.train()
    if not any(not torch.equal(a, p) for a, p in zip(before, trained, strict=True)):
        raise AssertionError("one training step changed no trainable parameter")
    spec = KINDS[kind]
    examples = spec.examples()
    model = run.model.eval()
    expected = [model(**spec.inputs(run.processor, x)).logits for x in examples]
    finish_run(run, 0.0)
    pipe = pipeline(spec.task, model=str(out), device="cpu")
    for x, logits in zip(examples, expected, strict=True):
        got = pipe.model(**spec.pipeline_inputs(pipe, x)).logits
        torch.testing.assert_close(got, logits, atol=1e-4, rtol=1e-4)
        wrong = spec.disagreement(pipe, x, logits)
        if wrong:
            raise AssertionError(wrong)
    cacheable = "model.mode=frozen" in overrides and "model.cache_features=false" not in overrides
    if cacheable and not isinstance(run.trainer.model, HeadOnly):
        from hfft.feature_cache import cache_decision

        return "ok, uncached: " + cache_decision(run.recipe, run.model)[1]
    return "ok"


def cell(kind: str, ckpt: Path, data: Path, out: Path, overrides: list[str]) -> str:
    """`run_mode`'s 'ok...', or the one-line reason it failed."""
    try:
        return run_mode(kind, ckpt, data, out, overrides)
    except Exception as err:
        return one_line(err)


def layout(kind: str, ckpt: Path) -> dict[str, str]:
    """Where hfft finds the backbone, blocks and head of this model ("layout"), and which rule
    LoRA `target_modules: auto` applies ("lora")."""
    import re

    import transformers

    from hfft.feature_cache import head_probe
    from hfft.modes import anatomy, lora_target_modules
    from hfft.modes.lora import ATTENTION, ATTENTION_PAIRS, FUSED_ATTENTION, lora_kind
    from hfft.tasks import TASKS

    auto = getattr(transformers, KINDS[kind].auto)
    # As hfft loads it: the task names a backbone transformers' prefix does not (Whisper).
    model = TASKS[KINDS[kind].task].locate_backbone(auto.from_pretrained(ckpt))
    parts = anatomy(model)
    found = "prefix" if parts.backbone == [model.base_model_prefix] else "children"
    blocks = "no blocks"
    if parts.blocks:
        per_block = len(parts.blocks[0])
        stacks = len({b[0].rpartition(".")[0] for b in parts.blocks})
        blocks = f"{stacks} stack{'s' if stacks > 1 else ''}"
        blocks += f" of {per_block} parallel lists" if per_block > 1 else ""
    inside = any("." in h for h in parts.head)
    head = f"{len(parts.head)}-module head" + (" inside the backbone" if inside else "")
    if len(parts.head) == 1:
        probe = head_probe(model, model.get_submodule(parts.head[0]))
        head += ", logits after the head" if probe and "after" in probe[0] else ""
        head += ", sequence input" if not probe and _sequence_head(model, parts.head[0]) else ""
    try:
        pattern = lora_target_modules(model)
        matched = {n: m for n, m in model.named_modules() if re.fullmatch(pattern, n)}
        leaves = {n.rsplit(".", 1)[-1] for n in matched}
        if any(leaves == set(pair) for pair in ATTENTION_PAIRS):
            lora = "attention query/value"
        elif leaves <= set(FUSED_ATTENTION):
            lora = "fused attention"
        elif all(any(ATTENTION.search(p) for p in n.split(".")[:-1]) for n in matched):
            lora = "attention's linear layers"
        elif {lora_kind(m) for m in matched.values()} == {"linear"}:
            lora = "every linear layer"
        else:
            lora = "convolutions"
    except Exception as err:
        lora = "none (" + type(err).__name__ + ")"
    return {"layout": f"backbone by {found}; {blocks}; {head}", "lora": lora}


def _sequence_head(model: Any, head: str) -> bool:
    import torch

    from hfft.feature_cache import dummy_inputs

    seen = []
    hook = model.get_submodule(head).register_forward_pre_hook(
        lambda _m, args: seen.append(args[0].dim())
    )
    try:
        inputs = dummy_inputs(model.eval(), 4)
        with torch.no_grad():
            model(**inputs)
    finally:
        hook.remove()
    return bool(seen) and seen[0] == 3 and model.main_input_name == "input_ids"


def plot_functions() -> list[tuple[Any, str]]:
    """(module, name) of hfft's PNG plot functions, wherever the pipeline looks them up."""
    import hfft.evaluation
    import hfft.plots

    names = [n for n in dir(hfft.plots) if n.startswith("plot_")]
    return [(m, n) for m in (hfft.plots, hfft.evaluation) for n in names if hasattr(m, n)]


def _skip_plots() -> None:
    """The run directory's PNG plots say nothing about an architecture and take a third of a
    tiny run's time: the matrix skips drawing them (everything else is the real pipeline)."""
    for module, name in plot_functions():
        setattr(module, name, lambda *args, **kwargs: None)


def run_type(kind: str, model_type: str) -> dict[str, Any]:
    """Every cell of one model type, as {"built": ..., "layout": ..., "cells": {...}}."""
    import logging
    import warnings

    import datasets
    from transformers.utils import logging as transformers_logging

    warnings.filterwarnings("ignore")
    transformers_logging.set_verbosity_error()
    datasets.disable_progress_bars()
    logging.getLogger("hfft").setLevel(logging.WARNING)
    _skip_plots()
    result: dict[str, Any] = {"kind": kind, "type": model_type, "cells": {}}
    with tempfile.TemporaryDirectory(prefix=f"hfft-arch-{model_type}-") as tmp:
        work = Path(tmp)
        began = time.perf_counter()
        try:
            ckpt, data = build(kind, model_type, work)
        except Exception as err:
            result["built"] = one_line(err)
            return result
        result["built"] = "ok"
        try:
            result.update(layout(kind, ckpt))
        except Exception as err:
            result["layout"] = "anatomy: " + one_line(err)
        for name, overrides in MODES.items():
            result["cells"][name] = cell(kind, ckpt, data, work / name[:6], overrides)
        result["seconds"] = round(time.perf_counter() - began, 1)
    return result


# --------------------------------------------------------------------------------------------
# The whole matrix (parent process)


def run_matrix(kinds: list[str], types: list[str] | None, results: Path, timeout: int) -> dict:
    """Run every missing type in a child process; returns {"kind/type": result}."""
    done = json.loads(results.read_text()) if results.exists() else {}
    env = {
        **os.environ,
        **OFFLINE,
        "HF_HOME": tempfile.mkdtemp(prefix="hfft-arch-home-"),
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'scripts'}",
    }
    for kind in kinds:
        for model_type in types or model_types(kind):
            key = f"{kind}/{model_type}"
            if key in done or (types and model_type not in model_types(kind)):
                continue
            began = time.perf_counter()
            command = [sys.executable, __file__, "--one", kind, model_type]
            try:
                proc = subprocess.run(
                    command, env=env, capture_output=True, text=True, timeout=timeout, check=False
                )
                lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
                if lines:
                    done[key] = json.loads(lines[-1])
                else:
                    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                    done[key] = {"kind": kind, "type": model_type, "built": f"crashed: {tail}"}
            except subprocess.TimeoutExpired:
                done[key] = {"kind": kind, "type": model_type, "built": f"timeout {timeout}s"}
            took = time.perf_counter() - began
            print(f"{key}: {_summary(done[key])} ({took:.0f}s)", flush=True)
            results.write_text(json.dumps(done, indent=1, sort_keys=True))
    return done


def relayout(results: Path) -> dict:
    """Recompute the layout of every built type in `results` (no training), in this process."""
    os.environ.update(OFFLINE)
    done = json.loads(results.read_text())
    for result in done.values():
        if result.get("built") != "ok":
            continue
        with tempfile.TemporaryDirectory() as tmp:
            try:
                ckpt, _ = build(result["kind"], result["type"], Path(tmp))
                result.update(layout(result["kind"], ckpt))
            except Exception as err:
                result["layout"] = "anatomy: " + one_line(err)
    results.write_text(json.dumps(done, indent=1, sort_keys=True))
    return done


def _summary(result: dict[str, Any]) -> str:
    if result.get("built") != "ok":
        return f"not built ({result.get('built')})"
    cells = result.get("cells", {})
    bad = [c for c, v in cells.items() if not v.startswith("ok")]
    return "ok" if not bad else "failed: " + ", ".join(bad)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    parser.add_argument("--types", nargs="+", help="only these model types")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "architectures.json")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "architectures.md")
    parser.add_argument("--timeout", type=int, default=400, help="seconds per model type")
    parser.add_argument("--one", nargs=2, metavar=("KIND", "TYPE"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--relayout", action="store_true", help="only recompute the layouts of the results"
    )
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_type(*args.one)), flush=True)
        return 0
    args.results.parent.mkdir(parents=True, exist_ok=True)
    if args.relayout:
        done = relayout(args.results)
    else:
        done = run_matrix(args.kinds, args.types, args.results, args.timeout)
    from architectures_doc import write_doc

    write_doc(done, args.doc)
    print(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
