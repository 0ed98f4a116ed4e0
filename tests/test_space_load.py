"""The Space under load: concurrent gradio_client clients with distinct inputs get every answer,
each the right one for its own input (batching mixes none up); a flood beyond the bounded queue
is told "Queue is full, please try again" at once, and the app then serves on; the serving
settings follow the hardware.

The full bench (200 requests per round at 1, 8 and 32 clients, a ViT-small-sized model, the app
in its own process) is `python -m bench.space_load`; here the same rounds run smaller against a
tiny model served in this process."""

from __future__ import annotations

import time

import pytest

from bench import loadgen, space_load
from tests import tiny
from tests.local_server import launch_local
from tests.test_space import served

VOCABULARY = sorted({w for ws in tiny.WORDS.values() for w in ws} | set(tiny.FILLER))


def image_model(path):
    """A tiny ViT with ten labels: its top-5 scores tell the inputs apart."""
    return tiny.make_image_checkpoint(path, "vit", num_labels=10)


def text_model(path):
    """A tiny BERT with ten labels and a head scaled up: a random one scores every text alike."""
    tiny.make_text_checkpoint(path, "bert", num_labels=10)
    loadgen.sharpen(path, 100)
    return path


def inputs_for(run, task, candidates, n):
    """`n` of the candidates whose answers are far enough apart for a mix-up to show."""
    answers = loadgen.expected_answers(str(run), task, candidates, top_k=5)
    return loadgen.pick_separated(candidates, answers, n, loadgen.GAP)


@pytest.fixture(scope="module")
def app():
    from hfft.serve import load_app_module

    return load_app_module()


def spy_batches(app, monkeypatch) -> list[int]:
    sizes: list[int] = []
    original = app.Predictor.predict

    def predict(self, values):
        sizes.append(len(values))
        return original(self, values)

    monkeypatch.setattr(app.Predictor, "predict", predict)
    return sizes


def test_32_concurrent_clients_get_every_answer_right(app, tmp_path, monkeypatch):
    run = image_model(tmp_path / "vit")
    candidates = loadgen.distinct_images(tmp_path / "inputs", 160)
    inputs, expected = inputs_for(run, "image-classification", candidates, 96)
    # A mix-up is detectable: any two inputs' answers differ by far more than the tolerance.
    assert loadgen.separation(expected) > 10 * loadgen.TOLERANCE
    sizes = spy_batches(app, monkeypatch)
    with served(app, run) as server:
        done = loadgen.load_round(server.url, inputs, expected, clients=32, files=True)
    assert (done.answered, done.lost, done.mismatched) == (96, 0, 0), done.errors[:3]
    settings = app.serving_settings()
    assert max(sizes) > 1 and max(sizes) <= settings.max_batch_size  # batched, within the cap
    assert sum(sizes) == 96
    assert done.percentile(95) < 60


def test_the_round_catches_answers_mixed_up_within_a_batch(app, tmp_path, monkeypatch):
    """The check itself: a server that hands a batch's answers out in the wrong order is
    caught (the round would pass vacuously otherwise)."""
    run = image_model(tmp_path / "vit")
    candidates = loadgen.distinct_images(tmp_path / "inputs", 80)
    inputs, expected = inputs_for(run, "image-classification", candidates, 48)
    original = app.Predictor.predict
    sizes = []

    def mixed_up(self, values):
        sizes.append(len(values))
        return original(self, values)[::-1]  # a batching bug: outputs in reverse order

    monkeypatch.setattr(app.Predictor, "predict", mixed_up)
    with served(app, run) as server:
        done = loadgen.load_round(server.url, inputs, expected, clients=16, files=True)
    assert done.lost == 0 and done.answered == 48
    # Every request that shared a batch of two or more got another's answer.
    shared = sum(n for n in sizes if n > 1) - sum(1 for n in sizes if n % 2)
    assert done.mismatched >= shared > 0, sizes


def test_texts_of_different_lengths_batched_together_keep_their_own_answers(app, tmp_path, monkeypatch):  # fmt: skip
    run = text_model(tmp_path / "bert")
    candidates = loadgen.distinct_texts(150, VOCABULARY)
    texts, expected = inputs_for(run, "text-classification", candidates, 48)
    assert loadgen.separation(expected) > 10 * loadgen.TOLERANCE
    sizes = spy_batches(app, monkeypatch)
    with served(app, run) as server:
        done = loadgen.load_round(server.url, texts, expected, clients=16, files=False)
    assert (done.answered, done.lost, done.mismatched) == (48, 0, 0), done.errors[:3]
    assert max(sizes) > 1  # padded batches of texts of different lengths


def test_a_flood_beyond_the_queue_is_told_to_retry_and_the_app_serves_on(app, tmp_path, monkeypatch):  # fmt: skip
    from gradio_client import Client, handle_file

    run = image_model(tmp_path / "vit")
    candidates = loadgen.distinct_images(tmp_path / "inputs", 48)
    inputs, expected = inputs_for(run, "image-classification", candidates, 24)
    original = app.Predictor.predict

    def slow(self, values):
        time.sleep(0.5)  # a model far slower than the flood
        return original(self, values)

    monkeypatch.setattr(app.Predictor, "predict", slow)
    settings = app.ServingSettings(device=-1, max_batch_size=2, concurrency=1, max_queue=4, threads=1)  # fmt: skip
    demo = app.build_app(str(run), settings)
    url = launch_local(app, demo)
    try:
        began = time.perf_counter()
        done = loadgen.load_round(url, inputs, expected, clients=24, files=True)
        assert done.busy > 0 and done.lost == done.busy  # only "busy", no other failure
        assert set(done.errors) == {"QueueError: Queue is full! Please try again."}
        assert done.mismatched == 0 and done.answered == len(inputs) - done.busy
        # Refused at once, not after waiting: the whole flood took a few batches' time.
        assert time.perf_counter() - began < 30
        client = Client(url, verbose=False)
        answer = loadgen.answer_scores(client.predict(handle_file(inputs[3]), api_name="/predict"))  # fmt: skip
        assert loadgen.distance(answer, expected[3]) <= loadgen.TOLERANCE
    finally:
        demo.close()


def test_serving_settings_follow_the_hardware_and_the_environment(app, monkeypatch):
    for name in ("HFFT_MAX_BATCH_SIZE", "HFFT_MAX_QUEUE", "HFFT_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    cpu = app.serving_settings(gpu=False, cpus=2)
    assert cpu == app.ServingSettings(device=-1, max_batch_size=8, concurrency=1, max_queue=64, threads=2)  # fmt: skip
    gpu = app.serving_settings(gpu=True, cpus=16)
    assert gpu == app.ServingSettings(device=0, max_batch_size=32, concurrency=2, max_queue=512, threads=16)  # fmt: skip
    assert cpu.describe() == "CPU (2 threads); batches of up to 8, 1 at a time; queue of 64"
    monkeypatch.setenv("HFFT_MAX_BATCH_SIZE", "4")
    monkeypatch.setenv("HFFT_MAX_QUEUE", "10")
    set_by_env = app.serving_settings(gpu=False, cpus=2)
    assert (set_by_env.max_batch_size, set_by_env.max_queue) == (4, 10)
    monkeypatch.setenv("HFFT_CONCURRENCY", "0")
    with pytest.raises(ValueError, match=r"HFFT_CONCURRENCY='0': expected a whole number of at least 1"):  # fmt: skip
        app.serving_settings()


def test_the_app_applies_its_settings_to_the_queue_and_the_events(app, tmp_path):
    settings = app.ServingSettings(device=-1, max_batch_size=3, concurrency=1, max_queue=7, threads=2)  # fmt: skip
    demo = app.build_app(str(image_model(tmp_path / "vit")), settings)
    predict = next(f for f in demo.fns.values() if f.api_name == "predict")
    assert (predict.batch, predict.max_batch_size, predict.concurrency_limit) == (True, 3, 1)
    assert demo._queue.max_size == 7


@pytest.mark.slow
def test_the_bench_script_serves_the_app_in_its_own_process(tmp_path):
    results = space_load.run(
        ["--model", "tiny", "--requests", "24", "--clients", "1", "8", "--out", str(tmp_path)]
    )
    (found,) = results["models"]
    assert [(r["clients"], r["lost"], r["mismatched"]) for r in found["rounds"]] == [
        (1, 0, 0),
        (8, 0, 0),
    ]
    assert all(r["requests_per_s"] > 0 for r in found["rounds"])
    assert found["pipeline_inputs_per_s"] > 0
    table = (tmp_path / "space_load.md").read_text()
    assert "| model | clients | requests | answered | lost | mismatched | requests/s |" in table
    assert "| tiny | 8 | 24 | 24 | 0 | 0 |" in table


def test_a_round_reports_throughput_and_nearest_rank_percentiles():
    done = loadgen.Round(clients=2, requests=5, answered=4, lost=1, seconds=2.0)
    done.latencies = [0.4, 0.1, 0.3, 0.2]
    assert (done.percentile(50), done.percentile(95), done.requests_per_s) == (0.2, 0.4, 2.0)
    summary = done.summary()
    assert (summary["p50_ms"], summary["p95_ms"], summary["requests_per_s"]) == (200.0, 400.0, 2.0)
    # An answer is right only when it is its own input's: another input's is a mismatch.
    ours, theirs = {"a": 0.7, "b": 0.3}, {"a": 0.2, "b": 0.8}
    assert loadgen.distance(ours, ours) == 0 and loadgen.distance(ours, theirs) == 0.5
    assert loadgen.distance(ours, {"a": 0.7, "c": 0.3}) == float("inf")
