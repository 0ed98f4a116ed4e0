"""Load generation for the Space app: distinct inputs, their expected answers, and rounds of
concurrent `gradio_client` requests in which every answer is checked against its own input.

An answer counts as right only when its scores equal its own input's (within TOLERANCE: a
batched forward pass differs from a single one by float rounding, ~1e-7 here) and are closer to
them than to any other input's. `pick_separated` keeps inputs whose answers are more than GAP
apart, so that a mix-up cannot pass for a right answer. Used by `python -m bench.space_load` and
tests/test_space_load.py.
"""

from __future__ import annotations

import concurrent.futures
import math
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TOLERANCE = 1e-5  # batched vs single forward pass: float rounding only (~1e-7 measured)
GAP = 10 * TOLERANCE  # how far apart any two inputs' answers are


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
    # One request at a time each (few workers); a patient timeout, as the cores are shared.
    options = {"verbose": False, "max_workers": 2, "httpx_kwargs": {"timeout": 120}}
    sessions = [Client(url, analytics_enabled=False, **options) for _ in range(clients)]
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
