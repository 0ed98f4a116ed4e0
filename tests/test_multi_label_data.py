"""Multi-label data: every label format gives the same encoded data, the scheme is chosen from
the data (and said why), empty label sets are valid, splits are carved by iterative
stratification, and bad label data is one clear error before anything trains."""

from __future__ import annotations

import json
import logging

import datasets
import numpy as np
import pandas as pd
import pytest

from hfft.data import load_data, load_split
from hfft.errors import DataError, RecipeError
from hfft.recipe import DataSpec, load_recipe
from hfft.tasks import TASKS
from hfft.tasks.multi_label import MULTI_LABEL, carve, check_coverage

TEXT_TASK = TASKS["text-classification"]
IMAGE_TASK = TASKS["image-classification"]
NAMES = ["billing", "login", "shipping"]
TRAIN = [
    ("charged twice", ["billing"]),
    ("cannot sign in", ["login"]),
    ("parcel late and charged", ["billing", "shipping"]),
    ("password reset and invoice", ["billing", "login"]),
    ("where is my box", ["shipping"]),
    ("thanks a lot", []),
    ("login fails, parcel lost, refund", ["billing", "login", "shipping"]),
    ("wrong address", ["shipping"]),
]
VALIDATION = [("sign in loop", ["login"]), ("double charge", ["billing"]), ("hello", [])]


def _rows(rows):
    return [{"text": text, "tags": tags} for text, tags in rows]


def _write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in _rows(rows)) + "\n")
    return str(path)


def _formats(tmp_path):
    """The same labels as each format the issue names -> the data: spec that reads them."""
    out = {}
    files = {s: _write_jsonl(tmp_path / f"{s}.jsonl", r) for s, r in (("train", TRAIN),
             ("validation", VALIDATION))}  # fmt: skip
    out["json lists"] = {"path": "json", "data_files": files, "columns": {"label": "tags"}}
    parquet = {}
    for split, rows in (("train", TRAIN), ("validation", VALIDATION)):
        parquet[split] = str(tmp_path / f"{split}.parquet")
        pd.DataFrame(_rows(rows)).to_parquet(parquet[split])
    out["parquet lists"] = {"path": "parquet", "data_files": parquet,
                            "columns": {"label": "tags"}}  # fmt: skip
    feature = datasets.Features(
        {"text": datasets.Value("string"),
         "tags": datasets.Sequence(datasets.ClassLabel(names=NAMES))}
    )  # fmt: skip
    ids = {name: i for i, name in enumerate(NAMES)}
    disk = datasets.DatasetDict(
        {
            split: datasets.Dataset.from_list(
                [{"text": t, "tags": [ids[n] for n in tags]} for t, tags in rows], features=feature
            )
            for split, rows in (("train", TRAIN), ("validation", VALIDATION))
        }
    )
    disk.save_to_disk(str(tmp_path / "disk"))
    out["Sequence(ClassLabel)"] = {"path": str(tmp_path / "disk"), "columns": {"label": "tags"}}
    csv = {}
    zero_one = {}
    for split, rows in (("train", TRAIN), ("validation", VALIDATION)):
        csv[split] = str(tmp_path / f"{split}.csv")
        pd.DataFrame({"text": [t for t, _ in rows], "tags": [",".join(g) for _, g in rows]}).to_csv(
            csv[split], index=False
        )
        zero_one[split] = str(tmp_path / f"{split}-01.csv")
        frame = {"text": [t for t, _ in rows]}
        for name in reversed(NAMES):  # column order does not matter: names are sorted
            frame[name] = [int(name in g) for _, g in rows]
        pd.DataFrame(frame).to_csv(zero_one[split], index=False)
    out["label_separator"] = {"path": "csv", "data_files": csv, "columns": {"label": "tags"},
                              "label_separator": ","}  # fmt: skip
    out["0/1 columns"] = {"path": "csv", "data_files": zero_one,
                          "columns": {"label": list(reversed(NAMES))}}  # fmt: skip
    return out


def _spec(section):
    return load_recipe(
        {"task": "text-classification", "model": {"checkpoint": "x"}, "data": section,
         "training": {"output_dir": "runs/x"}}
    ).data  # fmt: skip


def test_each_label_format_gives_the_same_encoded_data(tmp_path, caplog):
    expected = {
        split: [(t, [float(n in tags) for n in NAMES]) for t, tags in rows]
        for split, rows in (("train", TRAIN), ("validation", VALIDATION))
    }
    reasons = {}
    for fmt, section in _formats(tmp_path).items():
        loaded = load_data(_spec(section), TEXT_TASK)
        assert loaded.task.labels is MULTI_LABEL, fmt
        assert loaded.label_names == NAMES, fmt
        for split in ("train", "validation"):
            ds = loaded.splits[split]
            assert list(zip(ds["text"], ds["label"], strict=True)) == expected[split], (fmt, split)
        assert loaded.splits["train"].features["label"] == datasets.List(
            datasets.Value("float32"), length=3
        )
        reasons[fmt] = loaded.scheme_reason
    assert reasons == {
        "json lists": "the label column holds lists of labels",
        "parquet lists": "the label column holds lists of labels",
        "Sequence(ClassLabel)": "the label column holds lists of labels",
        "label_separator": "data.label_separator ',' splits the label column",
        "0/1 columns": "data.columns.label lists 3 0/1 columns",
    }


def test_empty_label_lists_are_valid_examples(tmp_path):
    loaded = load_data(_spec(_formats(tmp_path)["json lists"]), TEXT_TASK)
    train = loaded.splits["train"]
    assert len(train) == len(TRAIN)  # the row with [] is kept, not a bad example
    assert train["label"][5] == [0.0, 0.0, 0.0]


def test_multi_label_can_be_forced_either_way(tmp_path):
    csv = tmp_path / "one.csv"
    pd.DataFrame({"text": ["a b", "c d", "e f", "g h"] * 3, "tag": ["x", "y"] * 6}).to_csv(
        csv, index=False
    )
    section = {"path": str(csv), "columns": {"label": "tag"}, "validation_fraction": 0.25}
    single = load_data(_spec(section), TEXT_TASK)
    assert single.task.labels.name == "single-label"
    assert single.scheme_reason == "one label per row"
    forced = load_data(_spec({**section, "multi_label": True}), TEXT_TASK)
    assert (forced.task.labels.name, forced.scheme_reason) == ("multi-label",
                                                               "data.multi_label is true")  # fmt: skip
    assert forced.label_names == ["x", "y"]
    assert all(sorted(v) == [0.0, 1.0] for v in forced.splits["train"]["label"])  # one label each
    lists = _formats(tmp_path)["json lists"]
    with pytest.raises(DataError, match=r"holds lists of labels .* data\.multi_label is false"):
        load_data(_spec({**lists, "multi_label": False}), TEXT_TASK)


def test_image_task_reads_lists_from_json_lines_of_paths(tmp_path):
    from tests import tiny

    jsonl = tiny.make_multilabel_images(tmp_path / "tags", rows=12)
    spec = _spec({"path": str(jsonl), "columns": {"label": "colours"}})
    loaded = load_data(spec, IMAGE_TASK)
    assert loaded.task.labels is MULTI_LABEL and loaded.label_names == ["blue", "green", "red"]
    assert isinstance(loaded.splits["train"].features["image"], datasets.Image)


# ------------------------------------------------------------------ bad input: one clear line


def _fails(section, error, message, task=TEXT_TASK):
    with pytest.raises(error) as raised:
        load_data(_spec(section), task)
    text = str(raised.value)
    assert "\n" not in text, text
    assert message in text, text
    return text


def test_a_list_column_mixed_with_strings_is_one_clear_error(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"text": "a", "tags": ["x", "y"]}\n{"text": "b", "tags": "x"}\n' * 3)
    _fails(
        {"path": str(path), "columns": {"label": "tags"}},
        DataError,
        "the label column of the train split mixes lists and single values: row 1 holds 'x' "
        "(str); a multi-label column holds a list of labels in every row ([] for none)",
    )


def test_a_held_out_label_absent_from_train_is_the_single_label_error(tmp_path):
    files = {"train": _write_jsonl(tmp_path / "t.jsonl", TRAIN),
             "test": _write_jsonl(tmp_path / "s.jsonl", [("new", ["refund"])])}  # fmt: skip
    _fails(
        {"path": "json", "data_files": files, "columns": {"label": "tags"}},
        DataError,
        "label(s) ['refund'] appear in the test split but not in train (train labels: "
        "['billing', 'login', 'shipping']); a model cannot learn a label it never sees",
    )


def test_a_zero_one_column_with_other_values_is_one_clear_error(tmp_path):
    csv = tmp_path / "flags.csv"
    pd.DataFrame({"text": ["a", "b", "c", "d"], "x": [0, 1, 1, 0], "y": [1, 0, 2, 0]}).to_csv(
        csv, index=False
    )
    _fails(
        {"path": str(csv), "columns": {"label": ["x", "y"]}},
        DataError,
        "column 'y' of data.columns.label holds 2 in the train split (row 2); those columns "
        "must hold 0 or 1 (one column per label)",
    )


def test_label_separator_on_a_list_column_is_one_clear_error(tmp_path):
    section = {**_formats(tmp_path)["json lists"], "label_separator": ","}
    _fails(
        section,
        DataError,
        "data.label_separator ',' splits a string label column, but the train split's label "
        "column holds lists already: remove data.label_separator",
    )


def test_contradictory_and_misplaced_settings_are_refused(tmp_path):
    zero_one = _formats(tmp_path)["0/1 columns"]
    _fails({**zero_one, "multi_label": False}, RecipeError, "but data.multi_label is false")
    _fails({**zero_one, "label_separator": ";"}, RecipeError, "remove data.label_separator")
    with pytest.raises(RecipeError, match=r"data.columns.label lists \[\]: list the 0/1 column"):
        _spec({**zero_one, "columns": {"label": []}})
    with pytest.raises(RecipeError, match=r"eval\.threshold must be in \(0, 1\), got 1"):
        load_recipe({"task": "text-classification", "model": {"checkpoint": "x"},
                     "data": {"path": "csv"}, "eval": {"threshold": 1},
                     "training": {"output_dir": "x"}})  # fmt: skip


def test_missing_zero_one_column_names_what_was_found(tmp_path):
    zero_one = _formats(tmp_path)["0/1 columns"]
    _fails(
        {"path": zero_one["data_files"]["train"], "columns": {"label": ["billing", "logn"]}},
        DataError,
        "column(s) ['logn'] (data.columns.label) not found in the train split (did you mean "
        "'login'?); its columns are ['text', 'shipping', 'login', 'billing']",
    )


def test_eval_data_against_a_multi_label_model_reads_lists(tmp_path):
    section = _formats(tmp_path)["json lists"]
    spec = _spec(section)
    model_task = TEXT_TASK.for_config({"problem_type": "multi_label_classification"})
    ds = load_split(spec, model_task, "validation", NAMES)
    assert ds["label"] == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    with pytest.raises(DataError, match=r"not among the model's labels \(\['billing'\]\)"):
        load_split(spec, model_task, "validation", ["billing"])


# ------------------------------------------------------------------ carving and coverage


def _tagged(n_rows, seed=0):
    rng = np.random.default_rng(seed)
    share = np.array([0.5, 0.2, 0.05])  # a common, a medium and a rare label
    matrix = (rng.random((n_rows, 3)) < share).astype(np.float32)
    ds = datasets.Dataset.from_dict({"text": [f"row {i}" for i in range(n_rows)],
                                     "label": matrix.tolist()})  # fmt: skip
    return ds, matrix


def test_carved_splits_keep_every_label_share_by_iterative_stratification(caplog):
    ds, matrix = _tagged(400)
    with caplog.at_level(logging.INFO, logger="hfft"):
        kept, held = carve(ds, 0.2, 42, "validation")
    assert "validation split: 80 rows carved from train by iterative stratification" in caplog.text
    assert len(held) == 80 and len(kept) == 320
    assert sorted([*kept["text"], *held["text"]]) == sorted(ds["text"])
    expected = matrix.sum(axis=0) * 0.2
    got = np.asarray(held["label"]).sum(axis=0)
    assert np.all(np.abs(got - expected) <= 1.0), (got, expected)  # within a row of each share
    assert list(carve(ds, 0.2, 42, "validation")[1]["text"]) == list(held["text"])  # seeded


def test_carving_says_when_it_falls_back_to_random(monkeypatch, caplog):
    from iterstrat import ml_stratifiers

    def refuse(self, X, y, groups=None):
        raise ValueError("not enough rows")

    monkeypatch.setattr(ml_stratifiers.MultilabelStratifiedShuffleSplit, "split", refuse)
    ds, _ = _tagged(50)
    with caplog.at_level(logging.WARNING, logger="hfft"):
        kept, held = carve(ds, 0.2, 42, "test")
    assert "could not stratify the test split by label (not enough rows): carved it at random" in (
        caplog.text
    )
    assert len(kept) + len(held) == 50


def test_a_held_out_label_without_training_rows_after_carving_is_refused():
    train = datasets.Dataset.from_dict({"label": [[1.0, 0.0], [1.0, 0.0]]})
    validation = datasets.Dataset.from_dict({"label": [[0.0, 1.0]]})
    with pytest.raises(DataError, match=r"label\(s\) \['rare'\] have rows in the validation split"):
        check_coverage({"train": train, "validation": validation}, ["common", "rare"])


def test_single_label_recipe_settings_for_multi_label_data_are_refused_on_single_label_data():
    from hfft.tasks.single_label import scheme_metrics

    with pytest.raises(RecipeError, match="eval.threshold=0.3 applies to multi-label runs"):
        scheme_metrics(["accuracy"], ["a", "b"], 0.3)


def test_spec_defaults_keep_existing_recipes_single_label():
    spec = DataSpec(path="csv")
    assert spec.multi_label is None and spec.label_separator is None


@pytest.mark.parametrize(
    "case",
    [
        "mixed",
        "absent from train",
        "not 0/1",
        "separator on lists",
        "lists forced single-label",
        "threshold on single-label",
    ],
)
def test_hfft_train_stops_with_one_line_and_writes_nothing(case, tmp_path, capsys):
    """Each bad multi-label input through `hfft train`: exit 2, one `hfft: error:` line, nothing
    written (no checkpoint, no run directory)."""
    import yaml

    from hfft.cli import main
    from tests import tiny

    ckpt = tiny.make_text_checkpoint(tmp_path / "ckpt")
    formats = _formats(tmp_path)
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text('{"text": "a", "tags": ["x"]}\n{"text": "b", "tags": "x"}\n' * 4)
    flags = tmp_path / "flags.csv"
    pd.DataFrame({"text": list("abcd"), "x": [0, 1, 1, 0], "y": [1, 0, 2, 0]}).to_csv(flags)
    absent = {"train": formats["json lists"]["data_files"]["train"],
              "test": _write_jsonl(tmp_path / "s.jsonl", [("new", ["refund"])])}  # fmt: skip
    data, expected, extra = {
        "mixed": ({"path": str(mixed), "columns": {"label": "tags"}}, "mixes lists and single", {}),
        "absent from train": ({"path": "json", "data_files": absent, "columns": {"label": "tags"}},
                              "appear in the test split but not in train", {}),
        "not 0/1": ({"path": str(flags), "columns": {"label": ["x", "y"]}},
                    "column 'y' of data.columns.label holds 2", {}),
        "separator on lists": ({**formats["json lists"], "label_separator": ","},
                               "holds lists already: remove data.label_separator", {}),
        "lists forced single-label": (formats["json lists"] | {"multi_label": False},
                                   "holds lists of labels (multi-label data), but data.multi_label "
                                   "is false", {}),
        "threshold on single-label": (
            {"path": str(tiny.make_text_csv(tmp_path / "reviews")),
             "columns": {"text": "sentence", "label": "sentiment"}},
            "eval.threshold=0.3 applies to multi-label runs, and this run is single-label",
            {"eval": {"threshold": 0.3}}),
    }[case]  # fmt: skip
    run = tmp_path / "run"
    raw = {"task": "text-classification", "model": {"checkpoint": str(ckpt)}, "data": data,
           "training": {"output_dir": str(run), "use_cpu": True}, **extra}  # fmt: skip
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(raw))
    assert main(["train", str(tmp_path / "recipe.yaml")]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("hfft: error: ")]
    assert len(errors) == 1 and expected in errors[0], err
    assert "Traceback" not in err and not (run.exists() and any(run.iterdir()))
