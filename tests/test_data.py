"""Data loading: column mapping, label encoding, split carving and their error messages."""

from __future__ import annotations

import csv
import logging
import shutil

import datasets
import pytest

from hfft.data import load_data
from hfft.errors import DataError, RecipeError
from hfft.recipe import DataSpec
from hfft.tasks import TASKS
from hfft.tasks.single_label import encode as encode_labels
from tests import tiny

IMAGE_TASK = TASKS["image-classification"]
TEXT_TASK = TASKS["text-classification"]


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
    loaded = load_data(data, IMAGE_TASK)
    assert loaded.label_names == ["blue", "green", "red"]
    assert set(loaded.splits) == {"train", "validation"}
    assert loaded.splits["train"].column_names == ["image", "label"]
    assert len(loaded.splits["train"]) == 12
    assert sorted(loaded.splits["validation"]["label"]) == [0, 0, 1, 1, 2, 2]  # stratified


def test_test_split_carved_with_seed_and_fraction(image_folder):
    data = spec(path="imagefolder", data_dir=str(image_folder), test_fraction=0.5, seed=42)
    first = load_data(data, IMAGE_TASK)
    again = load_data(data, IMAGE_TASK)
    assert len(first.splits["test"]) == 9
    assert sorted(first.splits["test"]["label"]) == [0, 0, 0, 1, 1, 1, 2, 2, 2]  # stratified
    assert list(first.splits["test"]["label"]) == list(again.splits["test"]["label"])  # seeded


def test_csv_with_string_labels_and_column_mapping(text_csv):
    data = spec(
        path="csv", data_files=str(text_csv), columns={"text": "sentence", "label": "sentiment"}
    )
    loaded = load_data(data, TEXT_TASK)
    assert loaded.label_names == ["negative", "positive"]  # stable sorted order
    assert loaded.splits["train"].features["label"].names == ["negative", "positive"]
    assert loaded.splits["train"].column_names == ["text", "label"]


def test_integer_labels_become_names(tmp_path):
    path = write_csv(
        tmp_path / "d.csv", [(f"t{i}", [3, 7][i % 2]) for i in range(20)], ("text", "label")
    )
    loaded = load_data(spec(path="csv", data_files=str(path)), TEXT_TASK)
    assert loaded.label_names == ["3", "7"]
    first = loaded.splits["train"][0]
    assert loaded.label_names[first["label"]] == str([3, 7][int(first["text"][1:]) % 2])


def test_missing_column_lists_the_columns(text_csv):
    data = spec(path="csv", data_files=str(text_csv), columns={"text": "review"})
    with pytest.raises(
        DataError,
        match=r"column 'review' \(data.columns.text\) not found.*\['sentence', 'sentiment'\]",
    ):
        load_data(data, TEXT_TASK)


def test_unmapped_input_column_says_which_key_to_set(text_csv):
    with pytest.raises(DataError, match=r"set data.columns.label"):
        load_data(
            spec(path="csv", data_files=str(text_csv), columns={"text": "sentence"}), TEXT_TASK
        )


def test_unknown_standard_column_name(text_csv):
    with pytest.raises(
        RecipeError, match="unknown standard name 'txt' \\(did you mean 'text'\\?\\)"
    ):
        load_data(
            spec(path="csv", data_files=str(text_csv), columns={"txt": "sentence"}), TEXT_TASK
        )


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
        load_data(data, TEXT_TASK)


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
    loaded = load_data(data, TEXT_TASK)
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
        load_data(data, TEXT_TASK)


def test_wrong_split_name_suggests_one(text_csv):
    data = spec(path="csv", data_files=str(text_csv), train_split="trian")
    with pytest.raises(
        DataError,
        match=r"data.train_split 'trian' not found \(did you mean 'train'\?\); the dataset has splits \['train'\]",
    ):
        load_data(data, TEXT_TASK)


def test_missing_local_paths(tmp_path):
    with pytest.raises(DataError, match="data.data_dir .* does not exist"):
        load_data(spec(path="imagefolder", data_dir=str(tmp_path / "nope")), IMAGE_TASK)
    with pytest.raises(DataError, match="data.path .* does not exist"):
        load_data(spec(path=str(tmp_path / "nope" / "x")), IMAGE_TASK)


def test_image_paths_column_is_decoded(tmp_path, image_folder):
    files = sorted(image_folder.rglob("*.png"))
    rows = [(str(f), f.parent.name) for f in files]
    path = write_csv(tmp_path / "images.csv", rows, ("path", "colour"))
    data = spec(path="csv", data_files=str(path), columns={"image": "path", "label": "colour"})
    loaded = load_data(data, IMAGE_TASK)
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
        spec(path="imagefolder", data_dir=str(image_folder), test_fraction=0.25), IMAGE_TASK
    )
    capped = load_data(data, IMAGE_TASK)
    assert capped.sizes() == {"train": 5, "validation": 2, "test": 2}
    # The first rows of the same carved splits: capping does not change what is held out.
    for name, ds in capped.splits.items():
        assert list(ds["label"]) == list(full.splits[name]["label"])[: len(ds)], name


def test_stratified_carving_survives_a_single_row_class(tmp_path, caplog):
    # Stratifying needs two rows per class: the singleton stays in train, the rest is stratified.
    rows = [(f"t{i}", label) for i, label in enumerate(["cat"] * 4 + ["dog"] * 4 + ["eel"])]
    path = write_csv(tmp_path / "d.csv", rows, ("text", "label"))
    data = spec(path="csv", data_files=str(path), validation_fraction=0.3)
    with caplog.at_level(logging.INFO, "hfft"):
        loaded = load_data(data, TEXT_TASK)
    names = loaded.label_names
    validation = sorted(names[i] for i in loaded.splits["validation"]["label"])
    train = sorted(names[i] for i in loaded.splits["train"]["label"])
    assert validation in (["cat", "cat", "dog"], ["cat", "dog", "dog"])  # both classes held out
    assert train.count("eel") == 1
    assert (
        "validation split: 1 class(es) have a single row (['eel']) and stay in train; "
        "the other 2 classes are stratified"
    ) in caplog.text


def test_carving_that_cannot_stratify_says_it_is_random(tmp_path, caplog):
    # 10 classes of 3 rows, a 10% validation split: 3 rows cannot hold one row of each class.
    rows = [(f"t{i}", f"c{i % 10}") for i in range(30)]
    path = write_csv(tmp_path / "d.csv", rows, ("text", "label"))
    with caplog.at_level(logging.WARNING, "hfft"):
        loaded = load_data(spec(path="csv", data_files=str(path)), TEXT_TASK)
    assert len(loaded.splits["validation"]) == 3
    assert (
        "the validation split gets 3 row(s) for 10 classes, too few to hold one of each, so it "
        "was carved at random: raise data.validation_fraction, or give the dataset its own "
        "validation split"
    ) in caplog.text


@pytest.mark.parametrize("layout", ["split/class/sub", "mixed-depth"])
def test_nested_image_folders_are_explained(tmp_path, layout):
    folder = tiny.make_image_folder(tmp_path / "colors", per_class=2)
    for colour in tiny.COLORS:
        class_dir = folder / "train" / colour
        sub = class_dir / "extra"
        sub.mkdir()
        images = sorted(class_dir.glob("*.png"))
        for image in images if layout == "split/class/sub" else images[:1]:
            image.rename(sub / image.name)
    with pytest.raises(DataError) as err:
        load_data(spec(path="imagefolder", data_dir=str(folder)), IMAGE_TASK)
    message = str(err.value)
    assert message.startswith(
        f"no label column: the class folders in data.data_dir '{folder}' contain subfolders "
        "(e.g. train/blue/extra/"
    )
    assert "split/class/image.png or class/image.png" in message


def test_image_folder_with_one_class_says_so(tmp_path):
    folder = tiny.make_image_folder(tmp_path / "colors", per_class=2)
    for colour in ("green", "red"):
        shutil.rmtree(folder / "train" / colour)
    with pytest.raises(DataError, match=r"holds one class folder \('blue'\)"):
        load_data(spec(path="imagefolder", data_dir=str(folder)), IMAGE_TASK)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".parquet"])
def test_data_path_may_be_a_data_file(tmp_path, suffix):
    import pandas as pd

    frame = pd.DataFrame({"text": [f"t{i}" for i in range(10)], "label": ["a", "b"] * 5})
    path = tmp_path / f"data{suffix}"
    if suffix in (".csv", ".tsv"):
        frame.to_csv(path, index=False, sep="," if suffix == ".csv" else "\t")
    elif suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records", lines=suffix == ".jsonl")
    loaded = load_data(spec(path=str(path)), TEXT_TASK)
    assert loaded.label_names == ["a", "b"]
    assert sum(loaded.sizes().values()) == 10


def test_data_path_file_of_unknown_type_or_with_data_files(tmp_path):
    odd = tmp_path / "data.xlsx"
    odd.write_text("x")
    with pytest.raises(DataError, match=r"data.path '.*data.xlsx' is a file hfft cannot read"):
        load_data(spec(path=str(odd)), TEXT_TASK)
    good = write_csv(tmp_path / "d.csv", [("a", "b")], ("text", "label"))
    with pytest.raises(DataError, match="data.path .* is a file, so data.data_files"):
        load_data(spec(path=str(good), data_files=str(good)), TEXT_TASK)


def test_labels_taken_from_subfolders_of_class_folders_are_flagged(tmp_path, caplog):
    # cat/2019/x.png and dog/2019/y.png: imagefolder labels both '2019' and '2020' silently.
    folder = tiny.make_image_folder(tmp_path / "pets", per_class=2)
    for i, image in enumerate(sorted(folder.rglob("*.png"))):
        target = tmp_path / "nested" / image.parent.name / f"{2019 + i % 2}" / image.name
        target.parent.mkdir(parents=True, exist_ok=True)
        image.rename(target)
    with caplog.at_level(logging.WARNING, "hfft"):
        loaded = load_data(spec(path="imagefolder", data_dir=str(tmp_path / "nested")), IMAGE_TASK)
    assert loaded.label_names == ["2019", "2020"]  # what imagefolder infers
    assert "'2019' sits in several folders that are not splits (['blue', 'green', 'red'])" in (
        caplog.text
    )
    # train/red/ and test/red/: one class folder in two splits is the expected layout.
    caplog.clear()
    usual = tiny.make_image_folder(tmp_path / "usual", per_class=2, splits=("train", "test"))
    with caplog.at_level(logging.WARNING, "hfft"):
        load_data(spec(path="imagefolder", data_dir=str(usual)), IMAGE_TASK)
    assert "sits in several folders" not in caplog.text
