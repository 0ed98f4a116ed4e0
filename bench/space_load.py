"""The Space app under load: N concurrent `gradio_client` clients, every answer checked.

    python -m bench.space_load                       # ViT-small-sized, 200 requests at 1, 8, 32
    python -m bench.space_load --model minilm        # the real all-MiniLM-L6-v2, texts
    python -m bench.space_load --clients 1 8 32 --requests 200 --update-readme

The app (`space/app.py`, exactly as a Space runs it) serves a model in a subprocess on 127.0.0.1;
the clients run in this process, one `gradio_client.Client` (one session) each. Every request
carries a distinct input whose expected answer was computed beforehand with transformers'
pipeline, one input at a time, and every answer is checked against it (bench/loadgen.py: within
1e-5, and no other input's; any two inputs' answers differ by more than 1e-4). A round reports
lost requests (errors, "Queue is full"), mismatched answers, requests/s over the round and
client-side latency percentiles.

tests/test_space_load.py runs the same rounds, smaller, against a tiny model in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.loadgen import (
    GAP,
    distinct_images,
    distinct_texts,
    expected_answers,
    load_round,
    pick_separated,
    separation,
    sharpen,
)

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "space" / "app.py"
README = Path(__file__).resolve().parent / "README.md"
BEGIN, END = "<!-- space-load:begin -->", "<!-- space-load:end -->"


# ---------------------------------------------------------------- the app in a subprocess


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServedApp:
    """`python space/app.py --model MODEL` on 127.0.0.1, as a Space runs it."""

    def __init__(self, model: str, env: dict[str, str] | None = None, startup: float = 180):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server)
        cmd = [sys.executable, str(APP), "--model", model, "--port", str(self.port)]
        server_env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", **(env or {})}
        self.proc = subprocess.Popen(cmd, env=server_env, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait(startup)

    def _wait(self, startup: float) -> None:
        import httpx

        deadline = time.monotonic() + startup
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited ({self.proc.returncode}):\n{self.output()}")
            try:
                if httpx.get(f"{self.url}config", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.close()
        raise TimeoutError(f"the app did not answer within {startup:.0f} s:\n{self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# ---------------------------------------------------------------- the bench


def make_model(kind: str, folder: Path, n: int) -> tuple[str, str, list[str], bool]:
    """(model dir, task, `n` candidate inputs, inputs-are-files) for the bench's model `kind`.
    Ten labels: the top-5 scores then tell inputs apart (two labels give one number)."""
    from bench import workloads

    if kind in ("vit", "tiny"):
        config = workloads.VIT_SMALL if kind == "vit" else workloads.VIT_MINI
        model = workloads.vit_checkpoint(folder / f"{kind}-model", config, num_labels=10)
        inputs = distinct_images(folder / "inputs", n, size=config["image_size"])
        return str(model), "image-classification", inputs, True
    if kind == "minilm":
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        model_dir = folder / "minilm-model"
        torch.manual_seed(0)
        source = workloads.minilm_dir()
        model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=10)
        model.save_pretrained(model_dir)
        AutoTokenizer.from_pretrained(source).save_pretrained(model_dir)
        sharpen(model_dir, 10)
        return str(model_dir), "text-classification", distinct_texts(n), False
    raise ValueError(kind)


MODELS = {
    "vit": "ViT-small-sized (hidden 384, 12 blocks, 64x64 patch 8), random init, 10 labels",
    "minilm": "all-MiniLM-L6-v2 (real weights) with a random 10-label head",
    "tiny": "ViT-mini (hidden 96, 4 blocks, 32x32 patch 8), random init, 10 labels",
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.space_load", description=__doc__)
    p.add_argument("--model", nargs="+", choices=list(MODELS), default=["vit"])
    p.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--requests", type=int, default=200, help="per round")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    p.add_argument("--update-readme", action="store_true", help="replace the table in README")
    return p.parse_args(argv)


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Serve each model, run one round per client count, write space_load.{json,md}."""
    from bench.__main__ import OFFLINE
    from bench.measure import load_average, machine

    args = parse_args(argv)
    for key, value in OFFLINE.items():
        os.environ.setdefault(key, value)
    results: dict[str, Any] = {
        "command": "python -m bench.space_load " + " ".join(sys.argv[1:] if argv is None else argv),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": machine(),
        "load_before": load_average(),
        "settings": _app_settings(),
        "models": [],
    }
    work = Path(tempfile.mkdtemp(prefix="hfft-space-load-"))
    for kind in args.model:
        results["models"].append(one_model(kind, work, args, results["settings"]))
    results["load_after"] = load_average()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "space_load.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (args.out / "space_load.md").write_text(table + "\n")
    if args.update_readme:
        update_readme(table)
    print(table)
    return results


def one_model(kind: str, work: Path, args: argparse.Namespace, settings: dict) -> dict[str, Any]:
    """The rounds for one model: inputs picked, the app served, one round per client count."""
    # Half as many again as needed: pick_separated drops inputs whose answers lie too close.
    model, task, candidates, files = make_model(kind, work, args.requests * 3 // 2)
    answers = expected_answers(model, task, candidates, top_k=settings["top_k"])
    inputs, expected = pick_separated(candidates, answers, args.requests, GAP)
    found: dict[str, Any] = {
        "model": kind,
        "description": MODELS[kind],
        "task": task,
        "separation": separation(expected),
        "pipeline_inputs_per_s": round(
            pipeline_rate(model, task, inputs[:64], settings["max_batch_size"]), 1
        ),
        "rounds": [],
    }
    served = ServedApp(model)
    try:
        load_round(served.url, inputs[:8], expected[:8], 2, files)  # warm-up, not recorded
        for clients in args.clients:
            done = load_round(served.url, inputs, expected, clients, files)
            found["rounds"].append(done.summary())
            print(f"[space-load] {kind}, {clients} clients: {done.summary()}", file=sys.stderr)
    finally:
        served.close()
    return found


def pipeline_rate(model: str, task: str, inputs: Sequence[str], batch: int) -> float:
    """Inputs/s of transformers' pipeline alone on `inputs`, in batches of `batch` (best of 3):
    the model's own ceiling on this machine, with no server, queue or client."""
    from transformers import pipeline

    pipe = pipeline(task, model=model)
    pipe(list(inputs[:batch]), batch_size=batch)  # warm-up
    best = 0.0
    for _ in range(3):
        began = time.perf_counter()
        pipe(list(inputs), batch_size=batch)
        best = max(best, len(inputs) / (time.perf_counter() - began))
    return best


def _app_settings() -> dict[str, Any]:
    """The serving settings the app will choose on this machine (read from the app's own code)."""
    from hfft.serve import load_app_module

    app = load_app_module()
    settings = app.serving_settings()
    return {**asdict(settings), "top_k": app.interfaces.outputs.TOP_K}


def markdown(results: dict[str, Any]) -> str:
    """The results table (and how it was measured)."""
    s, m = results["settings"], results["machine"]
    lines = [
        f"Measured with `{results['command'].strip()}` on {results['started']} ({m['cpu_count']} "
        f"cores, {m['cpu']}, no GPU; the clients share the cores with the server); load average "
        f"{results['load_before']} before, {results['load_after']} after (1/5/15 min). App "
        f"settings chosen for this machine: batches of up to {s['max_batch_size']}, "
        f"{s['concurrency']} at a time, queue of {s['max_queue']}.",
        "",
        "| model | clients | requests | answered | lost | mismatched | requests/s | p50 ms | "
        "p95 ms | pipeline alone, inputs/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for found in results["models"]:
        for r in found["rounds"]:
            lines.append(
                f"| {found['model']} | {r['clients']} | {r['requests']} | {r['answered']} | "
                f"{r['lost']} | {r['mismatched']} | {r['requests_per_s']:.1f} | "
                f"{r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {found['pipeline_inputs_per_s']:.1f} |"
            )
    lines.append("")
    lines += [f"- {f['model']}: {f['description']} ({f['task']})" for f in results["models"]]
    return "\n".join(lines)


def update_readme(table: str, readme: Path = README) -> None:
    """Replace the space-load block of bench/README.md with `table`."""
    text = readme.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{readme} has no {BEGIN} ... {END} block to replace")
    readme.write_text(pattern.sub(lambda _m: f"{BEGIN}\n{table}\n{END}", text))


if __name__ == "__main__":
    run()
