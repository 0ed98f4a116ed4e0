"""Data loading: column mapping, label encoding, split carving and their error messages."""

from __future__ import annotations

import csv

import datasets
import pytest

from hfft.data import encode_labels, load_data
from hfft.errors import DataError, RecipeError
from hfft.recipe import DataSpec


def spec(**kwargs) -> DataSpec:
    return DataSpec(**kwargs)


def write_csv(path, rows, header=("sentence", "sentiment")):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_imagefolder_gets_a_stratified_validation_split(image_folder):
    data = spec(path="imagefolder", data_dir=str(image_folder), validation_fraction=1 / 3)
    loaded = load_data(data, "image")
    assert loaded.label_names == ["blue", "green", "red"]
    assert set(loaded.splits) == {"train", "validation"}
    assert loaded.splits["train"].column_names == ["image", "label"]
    assert len(loaded.splits["train"]) == 12
    assert sorted(loaded.splits["validation"]["label"]) == [0, 0, 1, 1, 2, 2]  # stratified


def test_test_split_carved_with_seed_and_fraction(image_folder):
    data = spec(path="imagefolder", data_dir=str(image_folder), test_fraction=0.5, seed=42)
    first = load_data(data, "image")
    again = load_data(data, "image")
    assert len(first.splits["test"]) == 9
    assert sorted(first.splits["test"]["label"]) == [0, 0, 0, 1, 1, 1, 2, 2, 2]  # stratified
    assert list(first.splits["test"]["label"]) == list(again.splits["test"]["label"])  # seeded


def test_csv_with_string_labels_and_column_mapping(text_csv):
    data = spec(
        path="csv", data_files=str(text_csv), columns={"text": "sentence", "label": "sentiment"}
    )
    loaded = load_data(data, "text")
    assert loaded.label_names == ["negative", "positive"]  # stable sorted order
    assert loaded.splits["train"].features["label"].names == ["negative", "positive"]
    assert loaded.splits["train"].column_names == ["text", "label"]


def test_integer_labels_become_names(tmp_path):
    path = write_csv(
        tmp_path / "d.csv", [(f"t{i}", [3, 7][i % 2]) for i in range(20)], ("text", "label")
    )
    loaded = load_data(spec(path="csv", data_files=str(path)), "text")
    assert loaded.label_names == ["3", "7"]
    first = loaded.splits["train"][0]
    assert loaded.label_names[first["label"]] == str([3, 7][int(first["text"][1:]) % 2])


def test_missing_column_lists_the_columns(text_csv):
    data = spec(path="csv", data_files=str(text_csv), columns={"text": "review"})
    with pytest.raises(
        DataError,
        match=r"column 'review' \(data.columns.text\) not found.*\['sentence', 'sentiment'\]",
    ):
        load_data(data, "text")


def test_unmapped_input_column_says_which_key_to_set(text_csv):
    with pytest.raises(DataError, match=r"set data.columns.label"):
        load_data(spec(path="csv", data_files=str(text_csv), columns={"text": "sentence"}), "text")


def test_unknown_standard_column_name(text_csv):
    with pytest.raises(
        RecipeError, match="unknown standard name 'txt' \\(did you mean 'text'\\?\\)"
    ):
        load_data(spec(path="csv", data_files=str(text_csv), columns={"txt": "sentence"}), "text")


def test_unseen_label_in_validation_is_an_error(tmp_path):
    train = write_csv(tmp_path / "train.csv", [("a", "cat"), ("b", "dog")] * 3)
    val = write_csv(tmp_path / "val.csv", [("c", "cat"), ("d", "bird")])
    data = spec(
        path="csv",
        data_files={"train": str(train), "validation": str(val)},
        columns={"text": "sentence", "label": "sentiment"},
    )
    with pytest.raises(
        DataError, match=r"\['bird'\] appear in the validation split but not in train"
    ):
        load_data(data, "text")


def test_label_order_differing_between_splits_is_remapped_by_name():
    names_a, names_b = ["cat", "dog"], ["dog", "cat"]
    train = datasets.Dataset.from_dict(
        {"text": ["x", "y"], "label": [0, 1]},
        features=datasets.Features(
            {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names_a)}
        ),
    )
    val = datasets.Dataset.from_dict(
        {"text": ["z"], "label": [0]},  # "dog" in this split's own order
        features=datasets.Features(
            {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names_b)}
        ),
    )
    names, out = encode_labels({"train": train, "validation": val})
    assert names == ["cat", "dog"]
    assert out["validation"]["label"][0] == 1  # dog in train's order
    assert out["validation"].features["label"].names == names


def test_fewer_classes_in_validation_is_fine(tmp_path):
    train = write_csv(tmp_path / "train.csv", [("a", "cat"), ("b", "dog"), ("c", "eel")] * 2)
    val = write_csv(tmp_path / "val.csv", [("c", "cat")])
    data = spec(
        path="csv",
        data_files={"train": str(train), "validation": str(val)},
        columns={"text": "sentence", "label": "sentiment"},
    )
    loaded = load_data(data, "text")
    assert loaded.splits["validation"].features["label"].names == ["cat", "dog", "eel"]


def test_empty_split_is_an_error(tmp_path):
    train = write_csv(tmp_path / "train.csv", [("a", "cat"), ("b", "dog")] * 3)
    test = write_csv(tmp_path / "test.csv", [])
    data = spec(
        path="csv",
        data_files={"train": str(train), "test": str(test)},
        columns={"text": "sentence", "label": "sentiment"},
    )
    with pytest.raises(DataError, match="the test split is empty"):
        load_data(data, "text")


def test_wrong_split_name_suggests_one(text_csv):
    data = spec(path="csv", data_files=str(text_csv), train_split="trian")
    with pytest.raises(
        DataError,
        match=r"data.train_split 'trian' not found \(did you mean 'train'\?\); the dataset has splits \['train'\]",
    ):
        load_data(data, "text")


def test_missing_local_paths(tmp_path):
    with pytest.raises(DataError, match="data.data_dir .* does not exist"):
        load_data(spec(path="imagefolder", data_dir=str(tmp_path / "nope")), "image")
    with pytest.raises(DataError, match="data.path .* does not exist"):
        load_data(spec(path=str(tmp_path / "nope" / "x")), "image")


def test_image_paths_column_is_decoded(tmp_path, image_folder):
    files = sorted(image_folder.rglob("*.png"))
    rows = [(str(f), f.parent.name) for f in files]
    path = write_csv(tmp_path / "images.csv", rows, ("path", "colour"))
    data = spec(path="csv", data_files=str(path), columns={"image": "path", "label": "colour"})
    loaded = load_data(data, "image")
    assert isinstance(loaded.splits["train"].features["image"], datasets.Image)
    assert loaded.splits["train"][0]["image"].size == (32, 32)


def test_max_samples_cap_train_and_each_held_out_split(image_folder):
    data = spec(
        path="imagefolder",
        data_dir=str(image_folder),
        test_fraction=0.25,
        max_train_samples=5,
        max_eval_samples=2,
    )
    full = load_data(
        spec(path="imagefolder", data_dir=str(image_folder), test_fraction=0.25), "image"
    )
    capped = load_data(data, "image")
    assert capped.sizes() == {"train": 5, "validation": 2, "test": 2}
    # The first rows of the same carved splits: capping does not change what is held out.
    for name, ds in capped.splits.items():
        assert list(ds["label"]) == list(full.splits[name]["label"])[: len(ds)], name
