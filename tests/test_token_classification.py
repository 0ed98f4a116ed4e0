"""Token classification, piece by piece: sub-token alignment (WordPiece and byte-level BPE),
windows that stitch back to one prediction per word, seqeval's metrics, tagging schemes, CoNLL
files, and bad input refused in one line before anything is written."""

from __future__ import annotations

import itertools
import json
import logging

import datasets
import numpy as np
import pytest
import yaml

from hfft.cli import main
from hfft.data import load_data
from hfft.errors import DataError, RecipeError
from hfft.recipe_schema import data_spec_for
from hfft.tasks import TASKS
from hfft.tasks.conll import parse_conll, read_conll
from hfft.tasks.tag_schemes import IOB2, IOBES, breaks, detect_scheme, repair
from hfft.tasks.tags_metrics import TagMetrics, build_metrics, register_layout
from hfft.tasks.token_windows import label_windows
from hfft.tasks.tokens import TokenOptions, load_processor
from tests import tiny_tokens as tt

TASK = TASKS["token-classification"]
Spec = data_spec_for(TokenOptions)
NAMES = tt.TAG_NAMES
ID = {name: i for i, name in enumerate(NAMES)}


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    root = tmp_path_factory.mktemp("tokenizers")
    wordpiece = load_processor(str(tt.make_token_checkpoint(root / "bert")), {})
    bpe = load_processor(str(tt.make_bpe_tokenizer(root / "bpe")), {})
    return {"wordpiece": wordpiece, "bpe": bpe}


def _labels(tokenizer, words, tags, max_length=64, stride=4, **kwargs):
    encoded = tokenizer(
        words, is_split_into_words=True, truncation=True, max_length=max_length, stride=stride,
        return_overflowing_tokens=True,
    )  # fmt: skip
    content = max_length - tokenizer.num_special_tokens_to_add()
    return encoded, label_windows(encoded, tags, content=content, stride=stride, **kwargs)


# ---------------------------------------------------------------- alignment


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_only_the_first_sub_token_of_a_word_gets_its_tag(kind, tokenizers):
    tokenizer = tokenizers[kind]
    words = ["erin", "johnson", "works", "for", "stark", "industries", "."]
    tags = ["B-PER", "I-PER", "O", "O", "B-ORG", "I-ORG", "O"]
    encoded, (labels, _, _) = _labels(tokenizer, [words], [[ID[t] for t in tags]], score_once=False)
    word_ids = encoded.word_ids(0)
    assert any(a == b is not None for a, b in itertools.pairwise(word_ids)), (
        "the fixture must split some word into several sub-tokens"
    )
    for position, (word, label) in enumerate(zip(word_ids, labels[0], strict=True)):
        first = word is not None and (position == 0 or word_ids[position - 1] != word)
        assert label == (ID[tags[word]] if first else -100), (position, word, label)
    assert [NAMES[x] for x in labels[0] if x != -100] == tags  # one label per word, in order


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_label_all_tokens_turns_b_into_i_after_the_first_sub_token(kind, tokenizers):
    from hfft.tasks.tag_schemes import inside_of

    tokenizer = tokenizers[kind]
    words = ["heidi", "johnson", "visited", "rome"]
    tags = [ID[t] for t in ["B-PER", "I-PER", "O", "B-LOC"]]
    encoded, (labels, _, _) = _labels(
        tokenizer, [words], [tags], score_once=False, inside=inside_of(NAMES)
    )
    word_ids = encoded.word_ids(0)
    seen = set()
    for word, label in zip(word_ids, labels[0], strict=True):
        if word is None:
            assert label == -100  # special tokens stay ignored
            continue
        if word in seen:
            assert not NAMES[label].startswith("B-"), "a sub-token after the first got B-"
            assert NAMES[label].removeprefix("I-") == NAMES[tags[word]][2:] or label == tags[word]
        else:
            assert label == tags[word]
        seen.add(word)
    assert len(seen) == len(words)


def test_a_bpe_tokenizer_gets_add_prefix_space_a_wordpiece_one_does_not(tokenizers):
    bpe, wordpiece = tokenizers["bpe"], tokenizers["wordpiece"]
    assert bpe.add_prefix_space is True
    # every word read one by one starts with the space marker, as in running text
    pieces = bpe(["alice", "lives", "in", "paris"], is_split_into_words=True).tokens()
    assert [p for p in pieces if p.startswith("Ġ")], pieces
    assert not getattr(wordpiece, "add_prefix_space", False)


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
@pytest.mark.parametrize(("max_length", "stride"), [(12, 3), (16, 7), (10, 0)])
def test_windows_stitch_back_to_one_prediction_per_word(kind, max_length, stride, tokenizers):
    tokenizer = tokenizers[kind]
    sentences = tt.entity_sentences(8, seed=3)
    long_words = [w for words, _ in sentences for w in words]
    long_tags = [ID[t] for _, tags in sentences for t in tags]
    short_words, short_tags = sentences[0][0], [ID[t] for t in sentences[0][1]]
    batch = [short_words, long_words, short_words]
    tags = [short_tags, long_tags, short_tags]
    _, (labels, continues, _) = _labels(tokenizer, batch, tags, max_length, stride, score_once=True)
    assert sum(continues) >= 3, "the long sentence must need several windows"
    width = max(map(len, labels))
    label_ids = np.array([row + [-100] * (width - len(row)) for row in labels])
    register_layout(label_ids, continues)
    # predictions = the labels, shifted by one tag id where scored: stitching must keep words
    preds = np.where(label_ids == -100, 0, (label_ids + 1) % len(NAMES))
    true, pred = TagMetrics(["f1"], NAMES).words(preds, label_ids)
    assert true == tags  # three sentences, every word once, in order
    assert pred == [[(t + 1) % len(NAMES) for t in row] for row in tags]


# ---------------------------------------------------------------- metrics


def test_metrics_equal_seqeval_on_fixed_predictions():
    from seqeval.metrics import (
        accuracy_score,
        classification_report,
        f1_score,
        precision_score,
        recall_score,
    )

    rng = np.random.default_rng(0)
    true = [[NAMES[t] for t in rng.integers(0, len(NAMES), size=n)] for n in (5, 9, 3, 12, 7)]
    pred = [[t if rng.random() < 0.6 else NAMES[rng.integers(len(NAMES))] for t in s] for s in true]
    metrics = build_metrics(["f1", "precision", "recall", "accuracy", "f1_macro"], NAMES)
    got = metrics.scores([[ID[t] for t in s] for s in true], [[ID[t] for t in s] for s in pred])
    assert got["f1"] == pytest.approx(f1_score(true, pred))
    assert got["precision"] == pytest.approx(precision_score(true, pred))
    assert got["recall"] == pytest.approx(recall_score(true, pred))
    assert got["accuracy"] == pytest.approx(accuracy_score(true, pred))
    assert got["f1_macro"] == pytest.approx(f1_score(true, pred, average="macro"))
    report = classification_report(true, pred, output_dict=True)
    for kind in ("LOC", "ORG", "PER"):
        assert got["per_class"][kind]["f1"] == pytest.approx(report[kind]["f1-score"])
        assert got["per_class"][kind]["support"] == report[kind]["support"]


def test_metrics_on_a_hand_checked_example():
    # gold: PER(0-1), LOC(4); predicted: PER(0-1) right, LOC(3-4) wrong span, ORG(6) spurious
    true = [["B-PER", "I-PER", "O", "O", "B-LOC", "O", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "B-ORG"]]
    got = build_metrics([], NAMES).scores(
        [[ID[t] for t in s] for s in true], [[ID[t] for t in s] for s in pred]
    )
    assert list(got) == ["f1", "precision", "recall", "accuracy", "per_class"]
    assert got["precision"] == pytest.approx(1 / 3) and got["recall"] == pytest.approx(1 / 2)
    assert got["f1"] == pytest.approx(0.4)
    assert got["accuracy"] == pytest.approx(4 / 7)  # words 3, 4 and 6 wrong
    assert got["per_class"]["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert got["per_class"]["ORG"]["support"] == 0


def test_plain_tags_score_every_word_as_its_own_unit():
    names = ["DET", "NOUN", "VERB"]
    metrics = build_metrics(["f1", "accuracy"], names)
    assert metrics.scheme == "plain"
    got = metrics.scores([[0, 1, 2, 1]], [[0, 1, 1, 1]])
    assert got["accuracy"] == pytest.approx(0.75) and got["f1"] == pytest.approx(0.75)


def test_an_unknown_metric_name_is_one_clear_error():
    with pytest.raises(RecipeError, match=r"unknown metric 'f1_micro' in eval.metrics"):
        build_metrics(["f1_micro"], NAMES)


def test_plots_are_the_tag_confusion_matrix_and_per_type_f1(tmp_path):
    metrics = build_metrics([], NAMES)
    labels = np.array([[-100, ID["B-PER"], ID["I-PER"], ID["O"], ID["B-LOC"], -100]])
    entry, data = metrics.report(labels, labels)
    assert entry["f1"] == 1.0
    written = TASK.labels.plot(data, NAMES, tmp_path, "test")
    assert written == ["confusion_matrix.png", "per_type_f1.png"]
    assert all((tmp_path / name).stat().st_size > 1000 for name in written)
    assert [name for _, name in TASK.labels.plots] == ["per_type_f1.png", "confusion_matrix.png"]


def test_the_recipe_defaults_to_the_entity_metrics(tmp_path):
    from hfft.recipe import load_recipe

    raw = {"task": "token-classification", "model": {"checkpoint": "x"},
           "data": {"path": "conll", "data_files": "a.conll"},
           "training": {"output_dir": str(tmp_path)}}  # fmt: skip
    assert load_recipe(raw).eval.metrics == ["f1", "precision", "recall", "accuracy"]
    raw["task"] = "text-classification"
    assert load_recipe(raw).eval.metrics == ["accuracy", "f1_macro"]


# ---------------------------------------------------------------- tag schemes


def test_tag_schemes_are_detected():
    assert detect_scheme(["O", "B-PER", "I-PER"]) == IOB2
    assert detect_scheme(["O", "B-LOC", "E-LOC", "S-PER", "I-LOC"]) == IOBES
    assert detect_scheme(["O", "U-PER", "L-PER", "B-PER"]) == "BILOU"
    assert detect_scheme(["NN", "VB", "DT"]) == "plain"


def test_broken_sequences_are_listed_and_repaired():
    tags = ["O", "I-PER", "I-PER", "O", "B-LOC", "I-PER", "B-ORG"]
    assert breaks(tags, IOB2) == [(1, "I-PER", "O"), (5, "I-PER", "B-LOC")]
    assert repair(tags, IOB2) == ["O", "B-PER", "I-PER", "O", "B-LOC", "B-PER", "B-ORG"]
    assert repair(["B-X", "I-X", "O", "I-Y"], IOBES) == ["B-X", "E-X", "O", "S-Y"]
    assert repair(["B-X", "I-X", "E-X", "S-Y"], IOBES) == ["B-X", "I-X", "E-X", "S-Y"]


def test_repaired_entities_are_the_entities_seqeval_reads():
    from seqeval.metrics.sequence_labeling import get_entities

    from hfft.tasks.tag_schemes import entities

    rng = np.random.default_rng(1)
    pool = ["O", "B-X", "I-X", "E-X", "S-X", "B-Y", "I-Y"]
    for _ in range(500):
        tags = [pool[i] for i in rng.integers(0, len(pool), size=rng.integers(1, 9))]
        assert sorted((k, a, b - 1) for k, a, b in entities(tags)) == sorted(get_entities(tags))
        assert repair(repair(tags, IOBES), IOBES) == repair(tags, IOBES)


# ---------------------------------------------------------------- CoNLL files


CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER


"""


def test_conll_lines_parse_with_docstart_and_trailing_blank_lines():
    assert list(parse_conll(CONLL.splitlines())) == [
        (["EU", "rejects", "German"], ["B-ORG", "O", "B-MISC"]),
        (["Peter", "Blackburn"], ["B-PER", "I-PER"]),
    ]
    # no final blank line, tab-separated words holding a space
    assert list(parse_conll(["New York\tB-LOC", "is\tO"])) == [(["New York", "is"], ["B-LOC", "O"])]


def test_a_conll_line_without_a_tag_is_one_clear_error():
    with pytest.raises(DataError) as err:
        list(parse_conll(["EU B-ORG", "rejects", ""], source="train.conll"))
    assert str(err.value).startswith("train.conll line 2: 'rejects' has no tag;")


def test_conll_files_load_by_name_by_extension_and_by_split(tmp_path):
    train = tt.make_entity_conll(tmp_path / "ner" / "train.conll", rows=20, seed=1)
    tt.make_entity_conll(tmp_path / "ner" / "dev.conll", rows=6, seed=2, docstart=False)
    loaded = read_conll({"train": [str(train)]})["train"]
    assert len(loaded) == 20 and loaded.column_names == ["tokens", "tags"]
    assert (loaded[0]["tokens"], loaded[0]["tags"]) == tt.entity_sentences(20, seed=1)[0]

    by_file = load_data(Spec(path=str(train)), TASK)  # a .conll file as data.path
    assert sorted(by_file.splits) == ["train", "validation"] and by_file.label_names == NAMES
    files = {"train": str(train), "validation": str(tmp_path / "ner" / "dev.conll")}
    by_name = load_data(Spec(path="conll", data_files=files), TASK)
    assert by_name.sizes() == {"train": 20, "validation": 6}
    by_dir = load_data(Spec(path="conll", data_dir=str(tmp_path / "ner")), TASK)
    assert by_dir.sizes() == {"train": 20, "validation": 6}


def test_conll_by_name_needs_files(tmp_path):
    with pytest.raises(DataError, match=r"data.path 'conll' reads local files: set data.data_dir"):
        load_data(Spec(path="conll"), TASK)
    with pytest.raises(DataError, match=r"data.path 'conll': Unable to find"):
        load_data(Spec(path="conll", data_files=str(tmp_path / "missing.conll")), TASK)


# ---------------------------------------------------------------- data checks


def _jsonl(tmp_path, rows, name="bad.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return str(path)


GOOD = [{"tokens": w, "ner_tags": t} for w, t in tt.entity_sentences(12)]


def test_words_and_tags_of_different_lengths_name_the_row(tmp_path):
    rows = [*GOOD[:3], {"tokens": ["alice", "lives", "in", "rome"], "ner_tags": ["B-PER", "O"]}]
    with pytest.raises(DataError) as err:
        load_data(Spec(path="json", data_files=_jsonl(tmp_path, rows + GOOD)), TASK)
    assert str(err.value) == (
        "the train split has 1 row(s) whose words and tags differ in number: row 3 has 4 words "
        "but 2 tags; give every word exactly one tag"
    )


def test_a_tokens_column_of_strings_is_refused(tmp_path):
    rows = [{"tokens": " ".join(r["tokens"]), "ner_tags": r["ner_tags"]} for r in GOOD]
    with pytest.raises(DataError) as err:
        load_data(Spec(path="json", data_files=_jsonl(tmp_path, rows)), TASK)
    assert str(err.value).startswith(
        "the tokens column holds string values, not lists of words (running text? split it "
        "into words first): token-classification reads one list of words per row"
    )


def test_an_unknown_tag_id_is_refused(tmp_path):
    features = datasets.Features(
        {"tokens": datasets.List(datasets.Value("string")),
         "ner_tags": datasets.List(datasets.ClassLabel(names=NAMES))}
    )  # fmt: skip
    rows = {
        "tokens": [r["tokens"] for r in GOOD],
        "ner_tags": [[0] * len(r["tokens"]) for r in GOOD],
    }
    ds = datasets.Dataset.from_dict(rows, features=features)
    ids = [list(t) for t in ds["ner_tags"]]
    ids[2][1] = 9  # ClassLabel does not check ids read back from arrow/parquet
    ds = ds.remove_columns("ner_tags").add_column("ner_tags", ids).cast(features)
    ds.to_parquet(str(tmp_path / "tags.parquet"))
    with pytest.raises(DataError) as err:
        load_data(Spec(path=str(tmp_path / "tags.parquet")), TASK)
    assert str(err.value) == (
        "unknown tags in the train split: row 2 has tag id 9, but the tags' ClassLabel has 7 "
        "names (ids 0-6); fix the data"
    )


def test_integer_tags_without_names_are_refused(tmp_path):
    rows = [{"tokens": r["tokens"], "ner_tags": [0] * len(r["tokens"])} for r in GOOD]
    with pytest.raises(DataError, match=r"holds integer ids without names \(no ClassLabel\)"):
        load_data(Spec(path="json", data_files=_jsonl(tmp_path, rows)), TASK)


def test_an_empty_sentence_is_an_unusable_example(tmp_path):
    rows = [*GOOD[:5], {"tokens": [], "ner_tags": []}, *GOOD[5:]]
    with pytest.raises(DataError) as err:
        load_data(Spec(path="json", data_files=_jsonl(tmp_path, rows)), TASK)
    assert str(err.value).startswith(
        "1 unusable example(s): train row 5: empty sentence (no words). Fix or remove them"
    )
    skipped = load_data(
        Spec(path="json", data_files=_jsonl(tmp_path, rows), on_bad_example="skip"), TASK
    )
    assert sum(skipped.sizes().values()) == len(GOOD)


def test_a_tag_only_in_the_test_split_is_refused(tmp_path):
    test = [{"tokens": ["x", "y"], "ner_tags": ["B-DATE", "O"]}, *GOOD[:2]]
    files = {
        "train": _jsonl(tmp_path, GOOD, "train.jsonl"),
        "test": _jsonl(tmp_path, test, "t.jsonl"),
    }
    with pytest.raises(DataError) as err:
        load_data(Spec(path="json", data_files=files), TASK)
    assert str(err.value).startswith("tag(s) ['B-DATE'] appear in the test split but not in train")


def test_hub_style_classlabel_tags_keep_their_names_and_order(tmp_path):
    features = datasets.Features(
        {"id": datasets.Value("string"), "tokens": datasets.List(datasets.Value("string")),
         "pos_tags": datasets.List(datasets.Value("int32")),
         "ner_tags": datasets.List(datasets.ClassLabel(names=["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]))}
    )  # fmt: skip
    rows = {"id": ["0", "1", "2", "3"], "tokens": [["alice", "smith"], ["rome"], ["bob"], ["paris", "x"]],
            "pos_tags": [[1, 2], [3], [1], [3, 4]], "ner_tags": [[1, 2], [3], [1], [3, 0]]}  # fmt: skip
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows, features=features),
                               "validation": datasets.Dataset.from_dict(rows, features=features)})  # fmt: skip
    dd.save_to_disk(str(tmp_path / "saved"))
    loaded = load_data(Spec(path=str(tmp_path / "saved")), TASK)
    assert loaded.label_names == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]  # ner_tags, not pos
    assert loaded.splits["train"]["label"][0] == [1, 2]


def test_broken_tags_are_listed_at_preflight(tmp_path, caplog):
    rows = [*GOOD, {"tokens": ["the", "rome", "office"], "ner_tags": ["O", "I-LOC", "O"]}]
    with caplog.at_level(logging.INFO, "hfft"):
        loaded = load_data(Spec(path="json", data_files=_jsonl(tmp_path, rows)), TASK)
    assert "tags: IOB2 scheme, 7 tags, 3 entity types (LOC, ORG, PER)" in caplog.text
    assert "1 tag(s) break the IOB2 scheme (row 12 word 1: I-LOC after O)" in caplog.text
    assert loaded.label_names == NAMES


def test_token_options_are_checked_at_recipe_load():
    with pytest.raises(RecipeError, match=r"data.stride=64 must be below half of data.max_length"):
        TokenOptions(max_length=128, stride=64)
    assert TokenOptions(max_length=128).window_stride() == 32


def test_bad_token_data_is_one_line_from_the_cli(tmp_path, capsys, monkeypatch):
    rows = [*GOOD, {"tokens": ["alice", "lives"], "ner_tags": ["B-PER"]}]
    ckpt = tt.make_token_checkpoint(tmp_path / "ckpt")
    recipe = {
        "task": "token-classification",
        "model": {"checkpoint": str(ckpt)},
        "data": {"path": "json", "data_files": _jsonl(tmp_path, rows)},
        "training": {"output_dir": str(tmp_path / "run"), "use_cpu": True},
    }
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(tmp_path / "r.yaml")]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("hfft: error")]
    assert err == [
        "hfft: error: the train split has 1 row(s) whose words and tags differ in number: "
        "row 12 has 2 words but 1 tags; give every word exactly one tag"
    ]
    assert not any((tmp_path / "run").iterdir())  # preflight checked it is writable, no more


# ---------------------------------------------------------------- model side


def test_head_loss_is_the_token_models_own_loss(tmp_path):
    import torch
    from transformers import AutoModelForTokenClassification

    model = AutoModelForTokenClassification.from_pretrained(tt.make_token_checkpoint(tmp_path))
    input_ids = torch.randint(5, 40, (3, 7))
    labels = torch.randint(0, len(NAMES), (3, 7))
    labels[:, 0] = labels[:, -1] = -100  # special tokens
    out = model(input_ids=input_ids, labels=labels)
    assert TASK.labels.head_loss(out.logits, labels).item() == pytest.approx(out.loss.item())


def test_frozen_mode_does_not_cache_token_features_and_says_why(tmp_path):
    from transformers import AutoModelForTokenClassification

    from hfft import feature_cache
    from hfft.recipe import load_recipe

    ckpt = tt.make_token_checkpoint(tmp_path / "ckpt")
    model = AutoModelForTokenClassification.from_pretrained(ckpt)
    raw = {"task": "token-classification", "model": {"checkpoint": str(ckpt), "mode": "frozen"},
           "data": {"path": "conll", "data_files": "x.conll"},
           "training": {"output_dir": str(tmp_path / "run")}}  # fmt: skip
    cache, why = feature_cache.cache_decision(load_recipe(raw), model)
    assert (
        not cache
        and why == "token-level features (one per token, rows of varying length) are not cached"
    )
    raw["model"]["cache_features"] = True
    with pytest.raises(RecipeError, match=r"model.cache_features is true but cannot apply: token"):
        feature_cache.cache_decision(load_recipe(raw), model)


def test_the_space_shows_entities_as_highlighted_text():
    from types import SimpleNamespace

    from hfft.serve import load_app_module

    entry = load_app_module().interfaces.INTERFACES["token-classification"]
    text = "Alice Smith lives in Paris."
    output = [
        {"entity_group": "PER", "start": 0, "end": 11, "score": 0.9, "word": "alice smith"},
        {"entity_group": "LOC", "start": 11, "end": 11, "score": 0.4, "word": " "},  # zero-width
        {"entity_group": "LOC", "start": 21, "end": 26, "score": 0.8, "word": "paris"},
    ]
    component = entry.output.component(None)
    shown = component.postprocess(entry.output.postprocess(output, text, None))
    assert [(d.token, d.class_or_confidence) for d in shown.root] == [
        ("Alice Smith", "PER"), (" lives in ", None), ("Paris", "LOC"), (".", None),
    ]  # fmt: skip
    error = component.postprocess(entry.output.error_value("The text is empty"))
    assert [d.token for d in error.root] == ["Error: The text is empty"]
    assert entry.output.call_kwargs(None, None) == {"aggregation_strategy": "simple"}
    # the pipeline takes no `truncation`: a tokenizer without a limit gets the model's, and a
    # stride reads longer texts in windows
    tokenizer = SimpleNamespace(model_max_length=int(1e30), is_fast=True)
    pipe = SimpleNamespace(
        tokenizer=tokenizer,
        model=SimpleNamespace(config=SimpleNamespace(max_position_embeddings=514)),
    )
    assert entry.input.call_kwargs(pipe) == {"stride": 128} and tokenizer.model_max_length == 512
