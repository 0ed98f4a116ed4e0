"""Labels that a model cannot learn or predict are refused before training, whatever the loader:
labels only outside train, per-row ids, held-out classes left without a training row, integer
labels that pandas made float, and new labels in data evaluated against a trained model."""

from __future__ import annotations

import logging

import datasets
import pytest

from hfft.data import load_data, load_split
from hfft.errors import DataError
from hfft.recipe import DataSpec
from hfft.splits import check_class_coverage
from hfft.tasks import TASKS
from tests import tiny

IMAGE_TASK = TASKS["image-classification"]
TEXT_TASK = TASKS["text-classification"]


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_imagefolder_label_only_in_test_is_refused_like_csv(tmp_path):
    # imagefolder infers one ClassLabel over all splits: train's features name 'yellow' too.
    folder = tiny.make_image_folder(tmp_path / "colors", per_class=3, splits=("train", "test"))
    (folder / "test" / "yellow").mkdir()
    (folder / "test" / "red" / "red_0.png").rename(folder / "test" / "yellow" / "yellow_0.png")
    spec = DataSpec(path="imagefolder", data_dir=str(folder))
    with pytest.raises(DataError) as err:
        load_data(spec, IMAGE_TASK)
    assert str(err.value).startswith(
        "label(s) ['yellow'] appear in the test split but not in train "
        "(train labels: ['blue', 'green', 'red'])"
    )


def test_declared_class_with_no_row_anywhere_is_left_out(tmp_path, caplog):
    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["cat", "dog", "eel"]),
        }
    )
    train = datasets.Dataset.from_dict(
        {"text": [f"t{i}" for i in range(12)], "label": [0, 2] * 6}, features=features
    )
    datasets.DatasetDict({"train": train}).save_to_disk(str(tmp_path / "saved"))
    with caplog.at_level(logging.INFO, "hfft"):
        loaded = load_data(DataSpec(path=str(tmp_path / "saved")), TEXT_TASK)
    assert loaded.label_names == ["cat", "eel"]
    assert sorted(set(loaded.splits["train"]["label"])) == [0, 1]
    assert "declares class(es) ['dog'] that no train row has" in caplog.text


def test_per_row_id_label_column_is_a_preflight_error(tmp_path):
    # 40 distinct values on 50 rows: the "label" is an id, most classes have one row.
    rows = [f"text {i},id-{i % 40}" for i in range(50)]
    path = write(tmp_path / "d.csv", "text,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError) as err:
        load_data(DataSpec(path="csv", data_files=str(path)), TEXT_TASK)
    message = str(err.value)
    assert message.startswith("the label column has 40 classes on 50 rows, and ")
    assert "of them have fewer than 2 training rows" in message
    assert "Is data.columns.label the right column?" in message


def test_held_out_class_without_a_training_row_is_an_error():
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["a", "b", "c"])}
    )

    def ds(labels):
        return datasets.Dataset.from_dict(
            {"text": ["x"] * len(labels), "label": labels}, features=features
        )

    splits = {"train": ds([0, 0, 0, 1, 1, 1]), "validation": ds([0, 1, 2, 2])}
    with pytest.raises(DataError) as err:
        check_class_coverage(splits, ["a", "b", "c"])
    assert str(err.value).startswith(
        "class(es) ['c'] have rows in the validation split but no training row left after "
        "carving it out of train"
    )
    check_class_coverage({"train": ds([0, 0, 1, 1, 2, 2]), "validation": ds([2])}, ["a", "b", "c"])


def test_carving_that_leaves_a_class_without_training_rows_is_refused(tmp_path):
    # 7 validation rows cannot stratify 11 classes: carved at random, and with this seed both
    # rows of 'rare' land in validation. Training on would report a class it never saw.
    rows = [f"t{i},c{i % 10}" for i in range(60)] + ["u0,rare", "u1,rare"]
    path = write(tmp_path / "d.csv", "text,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError) as err:
        load_data(DataSpec(path="csv", data_files=str(path), seed=265), TEXT_TASK)
    assert str(err.value).startswith(
        "class(es) ['rare'] have rows in the validation split but no training row left"
    )


def test_integer_labels_with_a_missing_value_can_be_skipped(tmp_path, caplog):
    # pandas reads the column as float64 (3.0, 7.0, NaN): once the row is skipped, ints again.
    rows = [f"t{i},{[3, 7][i % 2]}" for i in range(20)] + ["no label here,"]
    path = write(tmp_path / "d.csv", "text,label\n" + "\n".join(rows) + "\n")
    spec = DataSpec(path="csv", data_files=str(path), on_bad_example="skip")
    with caplog.at_level(logging.WARNING, "hfft"):
        loaded = load_data(spec, TEXT_TASK)
    assert loaded.label_names == ["3", "7"]
    assert sum(loaded.sizes().values()) == 20
    assert "train row 20: no label" in caplog.text


def test_integral_float_labels_in_another_split_match_train_names(tmp_path):
    train = write(
        tmp_path / "train.csv", "text,label\n" + "".join(f"t{i},{i % 2}\n" for i in range(8))
    )
    val = write(tmp_path / "val.csv", "text,label\na,1\nb,\nc,0\n")
    spec = DataSpec(
        path="csv",
        data_files={"train": str(train), "validation": str(val)},
        on_bad_example="skip",
    )
    loaded = load_data(spec, TEXT_TASK)
    assert loaded.label_names == ["0", "1"]
    assert list(loaded.splits["validation"]["label"]) == [1, 0]


def test_evaluated_data_with_labels_the_model_lacks_names_the_model(tmp_path):
    path = write(tmp_path / "test.csv", "text,label\ngood,positive\nmeh,neutral\n")
    spec = DataSpec(path="csv", data_files=str(path))
    with pytest.raises(DataError) as err:
        load_split(spec, TEXT_TASK, "test", ["negative", "positive"])
    message = str(err.value)
    assert message.startswith(
        "label(s) ['neutral'] in the test split are not among the model's labels "
        "(['negative', 'positive'])"
    )
    assert "not in train" not in message
