"""The Space app under load: N concurrent `gradio_client` clients, every answer checked.

    python -m bench.space_load                       # ViT-small-sized, 200 requests at 1, 8, 32
    python -m bench.space_load --model minilm        # the real all-MiniLM-L6-v2, texts
    python -m bench.space_load --clients 1 8 32 --requests 200 --update-readme

The app (`space/app.py`, exactly as a Space runs it) serves a model in a subprocess on 127.0.0.1;
the clients run in this process, one `gradio_client.Client` (one session) each. Every request
carries a distinct input whose expected answer was computed beforehand with transformers'
pipeline, one input at a time; an answer counts as right only when its scores equal its own
input's (within 1e-5: a batched forward pass differs from a single one by float rounding, ~1e-7
here) and no other input's. The inputs are picked so that any two answers differ by more than
1e-4, so a mix-up cannot pass for a right answer. A round reports lost requests (errors,
"Queue is full"), mismatched answers, requests/s over the round and client-side latency
percentiles.

tests/test_space_load.py runs the same rounds, smaller, against a tiny model in CI.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import os
import queue
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "space" / "app.py"
TOLERANCE = 1e-5  # batched vs single forward pass: float rounding only (~1e-7 measured)
GAP = 10 * TOLERANCE  # how far apart any two inputs' answers are
README = Path(__file__).resolve().parent / "README.md"
BEGIN, END = "<!-- space-load:begin -->", "<!-- space-load:end -->"


# ---------------------------------------------------------------- inputs and their answers


def distinct_images(folder: Path, n: int, size: int = 32, seed: int = 0) -> list[str]:
    """`n` PNG files, each different: a colour gradient of its own plus noise."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    ramp = np.linspace(0, 1, size)[None, :, None]
    for i in range(n):
        start, end = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        pixels = start + (end - start) * ramp + rng.normal(0, 20, (size, size, 3))
        path = folder / f"input-{i:04d}.png"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path)
        paths.append(str(path))
    return paths


WORDS = "good great bad awful boring fun film plot actor scene slow fast long short sad happy"


def distinct_texts(n: int, words: Sequence[str] = WORDS.split(), seed: int = 0) -> list[str]:
    """`n` different short reviews of different lengths (so a batch pads them)."""
    import random

    rnd = random.Random(seed)
    texts: dict[str, None] = {}
    while len(texts) < n:
        texts[" ".join(rnd.choice(words) for _ in range(rnd.randint(3, 40)))] = None
    return list(texts)


def sharpen(model_dir: str | Path, factor: float) -> None:
    """Scale a randomly initialised classifier head by `factor`, in place.

    A random head (std 0.02) gives every input nearly the same scores (0.5 +- 1e-5 for two
    labels): answers that cannot tell inputs apart cannot show a mix-up either. A larger head
    spreads them; serving costs the same."""
    import torch
    from transformers import (
        AutoConfig,
        AutoModelForImageClassification,
        AutoModelForSequenceClassification,
    )

    config = AutoConfig.from_pretrained(model_dir)
    image = any(a.endswith("ForImageClassification") for a in config.architectures or [])
    auto = AutoModelForImageClassification if image else AutoModelForSequenceClassification
    model = auto.from_pretrained(model_dir)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.startswith("classifier."):
                param.mul_(factor)
    model.save_pretrained(model_dir)


def expected_answers(model: str, task: str, inputs: Sequence[str], top_k: int) -> list[dict]:
    """{label: score} per input from transformers' pipeline, one input per call (no batching)."""
    from transformers import pipeline

    pipe = pipeline(task, model=model)
    kwargs: dict[str, Any] = {"top_k": top_k}
    if task == "text-classification":
        kwargs.update(truncation=True, max_length=min(pipe.tokenizer.model_max_length, 512))
    return [{o["label"]: o["score"] for o in pipe(x, **kwargs)} for x in inputs]


def distance(a: dict[str, float], b: dict[str, float]) -> float:
    """Largest score difference; infinite when the label sets differ."""
    if a.keys() != b.keys():
        return math.inf
    return max(abs(a[k] - b[k]) for k in a)


def pick_separated(
    inputs: Sequence[str], expected: Sequence[dict], n: int, gap: float
) -> tuple[list[str], list[dict]]:
    """The first `n` inputs (in order) whose answers all differ from each other's by more than
    `gap`; raises when the candidates hold fewer."""
    kept: list[int] = []
    for i in range(len(inputs)):
        if all(distance(expected[i], expected[j]) > gap for j in kept):
            kept.append(i)
            if len(kept) == n:
                return [inputs[i] for i in kept], [expected[i] for i in kept]
    raise ValueError(
        f"only {len(kept)} of {len(inputs)} candidate inputs have answers more than {gap:g} "
        f"apart; {n} were asked for"
    )


def separation(expected: Sequence[dict]) -> float:
    """The smallest distance between two inputs' answers: a mix-up is detectable only when it is
    well above TOLERANCE."""
    return min(
        distance(expected[i], expected[j])
        for i in range(len(expected))
        for j in range(i + 1, len(expected))
    )


# ---------------------------------------------------------------- one round


@dataclass
class Round:
    """What one round measured."""

    clients: int
    requests: int
    answered: int = 0
    lost: int = 0  # errors, including "Queue is full"
    busy: int = 0  # of which "Queue is full, please try again"
    mismatched: int = 0  # an answer that is not its own input's (another's, or garbage)
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list, repr=False)
    errors: list[str] = field(default_factory=list, repr=False)

    @property
    def requests_per_s(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        """Client-side latency percentile in seconds (nearest rank)."""
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]

    def summary(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("latencies", "errors")}
        out.update(
            requests_per_s=round(self.requests_per_s, 2),
            p50_ms=round(self.percentile(50) * 1000, 1),
            p95_ms=round(self.percentile(95) * 1000, 1),
            first_errors=self.errors[:3],
        )
        return out


def answer_scores(result: Any) -> dict[str, float]:
    """{label: score} from the app's gr.Label value."""
    return {c["label"]: float(c["confidence"]) for c in result["confidences"]}


def load_round(
    url: str,
    inputs: Sequence[str],
    expected: Sequence[dict],
    clients: int,
    files: bool,
    timeout: float = 300,
) -> Round:
    """Send every input once, from `clients` concurrent clients; check every answer."""
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError
    from gradio_client.utils import QueueError

    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in range(len(inputs)):
        todo.put(i)
    result = Round(clients, len(inputs))
    lock = threading.Lock()
    # Connected before the clock starts: a Client fetches the app's config when created.
    sessions = [Client(url, verbose=False) for _ in range(clients)]
    deadline = time.monotonic() + timeout

    def worker(client: Any) -> None:
        while time.monotonic() < deadline:
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            payload = handle_file(inputs[i]) if files else inputs[i]
            began = time.perf_counter()
            try:
                answer = answer_scores(client.predict(payload, api_name="/predict"))
            except (AppError, QueueError, OSError, ValueError) as err:
                with lock:
                    result.lost += 1
                    result.busy += isinstance(err, QueueError)
                    result.errors.append(f"{type(err).__name__}: {err}")
                continue
            took = time.perf_counter() - began
            closest = min(range(len(expected)), key=lambda j: distance(answer, expected[j]))
            right = closest == i and distance(answer, expected[i]) <= TOLERANCE
            with lock:
                result.answered += 1
                result.latencies.append(took)
                result.mismatched += not right

    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, sessions))
    result.seconds = time.perf_counter() - began
    result.lost += len(inputs) - result.answered - result.lost  # not sent before the deadline
    for client in sessions:
        client.close()
    return result


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


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.space_load", description=__doc__)
    p.add_argument("--model", choices=["vit", "minilm", "tiny"], default="vit")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--requests", type=int, default=200, help="per round")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    p.add_argument("--update-readme", action="store_true", help="replace the table in README")
    return p.parse_args(argv)


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Serve the model, run one round per client count, write space_load.{json,md}."""
    from bench.__main__ import OFFLINE
    from bench.measure import load_average, machine

    args = parse_args(argv)
    for key, value in OFFLINE.items():
        os.environ.setdefault(key, value)
    work = Path(tempfile.mkdtemp(prefix="hfft-space-load-"))
    model, task, candidates, files = make_model(args.model, work, 3 * args.requests)
    app_settings = _app_settings()
    answers = expected_answers(model, task, candidates, top_k=app_settings["top_k"])
    inputs, expected = pick_separated(candidates, answers, args.requests, GAP)
    gap = separation(expected)
    results: dict[str, Any] = {
        "command": "python -m bench.space_load " + " ".join(sys.argv[1:] if argv is None else argv),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": machine(),
        "load_before": load_average(),
        "model": args.model,
        "task": task,
        "separation": gap,
        "settings": app_settings,
        "rounds": [],
    }
    served = ServedApp(model)
    try:
        load_round(served.url, inputs[:8], expected[:8], 2, files)  # warm-up, not recorded
        for clients in args.clients:
            done = load_round(served.url, inputs, expected, clients, files)
            results["rounds"].append(done.summary())
            print(f"[space-load] {clients} clients: {done.summary()}", file=sys.stderr)
    finally:
        served.close()
    results["load_after"] = load_average()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "space_load.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (args.out / "space_load.md").write_text(table + "\n")
    if args.update_readme:
        update_readme(table)
    print(table)
    return results


def _app_settings() -> dict[str, Any]:
    """The serving settings the app will choose on this machine (read from the app's own code)."""
    from hfft.serve import load_app_module

    app = load_app_module()
    settings = app.serving_settings()
    return {**asdict(settings), "top_k": app.interfaces.TOP_K}


def markdown(results: dict[str, Any]) -> str:
    """The results table (and how it was measured)."""
    s, m = results["settings"], results["machine"]
    lines = [
        f"Measured with `{results['command'].strip()}` on {results['started']} ({m['cpu_count']} "
        f"cores, {m['cpu']}, no GPU; the clients share the cores with the server); load average "
        f"{results['load_before']} before, {results['load_after']} after. Model: "
        f"{results['model']} ({results['task']}); app settings: batches of up to "
        f"{s['max_batch_size']}, {s['concurrency']} at a time, queue of {s['max_queue']}.",
        "",
        "| clients | requests | answered | lost | mismatched | requests/s | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results["rounds"]:
        lines.append(
            f"| {r['clients']} | {r['requests']} | {r['answered']} | {r['lost']} | "
            f"{r['mismatched']} | {r['requests_per_s']:.1f} | {r['p50_ms']:.0f} | "
            f"{r['p95_ms']:.0f} |"
        )
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
