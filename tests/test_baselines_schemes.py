"""Baselines of the multi-label and tags schemes (hfft.baselines), equal to a hand computation on
the tiny fixtures: the most frequent training label set / tag, and the linear probe as a user
would fit it with scikit-learn on the frozen checkpoint's features (the pooled text for a
multi-label classifier, each word's first sub-token for a tagger)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hfft import checkpoint
from hfft.baselines import compute_baselines
from hfft.data import load_data
from hfft.recipe import load_recipe
from hfft.tasks import TASKS
from tests import tiny


def loaded_fixture(tmp_path: Path, name: str, fixture):
    ckpt = fixture.make_checkpoint(tmp_path / "ckpt")
    recipe = load_recipe({
        "task": name,
        "model": {"checkpoint": str(ckpt), "mode": "frozen"},
        "data": fixture.make_data(tmp_path / "data"),
        "eval": {"metrics": []},
        "training": {"output_dir": str(tmp_path / "run"), "use_cpu": True},
    })  # fmt: skip
    data = load_data(recipe.data, TASKS[name])
    task = data.task or TASKS[name]
    processor = checkpoint.load_processor(task, recipe.model)
    held_out = {"test": data.splits["test"]}
    found = compute_baselines(task, recipe, data.splits, data.label_names, processor, held_out)
    return ckpt, data, found["test"]


def handwritten_probe():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def test_multi_label_baselines_equal_a_hand_computation(tmp_path):
    from sklearn.metrics import f1_score
    from sklearn.multiclass import OneVsRestClassifier
    from transformers import AutoModel, AutoTokenizer

    fixture = tiny.SCHEME_FIXTURES["text-classification", "multi-label"]
    ckpt, data, found = loaded_fixture(tmp_path, "text-classification", fixture)
    assert list(found) == ["majority_label_set", "linear_probe"]
    train_y = np.asarray(data.splits["train"]["label"], dtype=np.int64)
    test_y = np.asarray(data.splits["test"]["label"], dtype=np.int64)

    sets, counts = np.unique(train_y, axis=0, return_counts=True)
    common = sets[np.argmax(counts)]
    majority = found["majority_label_set"]
    assert majority["exact_match"] == pytest.approx(np.mean((test_y == common).all(axis=1)))
    tiled = np.tile(common, (len(test_y), 1))
    assert majority["f1_micro"] == pytest.approx(f1_score(test_y, tiled, average="micro"))

    tokenizer = AutoTokenizer.from_pretrained(ckpt)
    model = AutoModel.from_pretrained(ckpt).eval()  # the checkpoint's BERT, its pooler too

    def features(texts):
        with torch.no_grad():
            return model(**tokenizer(texts, padding=True, return_tensors="pt")).pooler_output

    fitted = OneVsRestClassifier(handwritten_probe()).fit(
        features(list(data.splits["train"]["text"])).numpy(), train_y
    )
    decided = fitted.predict_proba(features(list(data.splits["test"]["text"])).numpy()) >= 0.5
    probe = found["linear_probe"]
    assert probe["f1_micro"] == pytest.approx(f1_score(test_y, decided, average="micro"))
    assert probe["exact_match"] == pytest.approx(np.mean((decided == test_y).all(axis=1)))
    low, high = probe["f1_micro_ci"]
    assert low <= probe["f1_micro"] <= high


def test_tags_baselines_equal_a_hand_computation(tmp_path):
    from transformers import AutoModel, AutoTokenizer

    fixture = tiny.TASK_FIXTURES["token-classification"]
    ckpt, data, found = loaded_fixture(tmp_path, "token-classification", fixture)
    assert list(found) == ["majority_tag", "linear_probe"]
    names = data.label_names

    def words_and_tags(split):
        rows = data.splits[split]
        return list(rows["tokens"]), [[names[t] if isinstance(t, int) else t for t in r]
                                for r in rows["label"]]  # fmt: skip

    train_words, train_tags = words_and_tags("train")
    test_words, test_tags = words_and_tags("test")
    flat_train = [t for s in train_tags for t in s]
    flat_test = [t for s in test_tags for t in s]
    common = max(set(flat_train), key=flat_train.count)
    assert common == "O"
    majority = found["majority_tag"]
    assert majority["accuracy"] == pytest.approx(np.mean([t == "O" for t in flat_test]))
    assert majority["f1"] == 0.0  # no entity predicted

    tokenizer = AutoTokenizer.from_pretrained(ckpt)
    model = AutoModel.from_pretrained(ckpt).eval()

    def features(sentences):
        rows = []
        for words in sentences:
            batch = tokenizer(words, is_split_into_words=True, return_tensors="pt")
            with torch.no_grad():
                hidden = model(**batch).last_hidden_state[0]
            ids, seen = batch.word_ids(), set()
            for position, word in enumerate(ids):  # each word's first sub-token
                if word is not None and word not in seen:
                    seen.add(word)
                    rows.append(hidden[position].numpy())
        return np.stack(rows)

    fitted = handwritten_probe().fit(features(train_words), flat_train)
    predicted = fitted.predict(features(test_words))
    probe = found["linear_probe"]
    assert probe["accuracy"] == pytest.approx(np.mean(predicted == np.asarray(flat_test)))
    low, high = probe["f1_ci"]
    assert low <= probe["f1"] <= high
