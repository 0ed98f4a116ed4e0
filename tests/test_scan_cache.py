"""The bad-example scan at scale: a rerun on unchanged data reads the result back (no file is
decoded again); changed data is scanned anew; big splits are scanned on the idle cores."""

from __future__ import annotations

import os

import datasets
import pytest

from hfft import bad_examples
from hfft.tasks import TASKS
from hfft.tasks import image as image_module
from tests import tiny

IMAGE = TASKS["image-classification"].modality


@pytest.fixture
def folder(tmp_path):
    root = tiny.make_image_folder(tmp_path / "colors", per_class=4)
    (root / "train" / "red" / "broken.png").write_bytes(b"not a png")
    return root


def _split(root):
    ds = datasets.load_dataset("imagefolder", data_dir=str(root), split="train")
    return ds.rename_column("image", IMAGE.name) if IMAGE.name != "image" else ds


def _counting(monkeypatch):
    calls = []
    check = image_module.image_problem

    def counting(value):
        calls.append(1)
        return check(value)

    monkeypatch.setattr(image_module, "image_problem", counting)
    return calls


def test_a_rerun_reads_the_scan_back_and_changed_data_is_scanned(folder, monkeypatch):
    calls = _counting(monkeypatch)
    first = bad_examples.find_bad_examples(_split(folder), IMAGE, "train")
    rows = len(_split(folder))
    assert len(calls) == rows
    assert [(b.reason.split(" (")[0], os.path.basename(b.file)) for b in first] == [
        ("not a readable image", "broken.png")
    ]
    calls.clear()
    again = bad_examples.find_bad_examples(_split(folder), IMAGE, "train")
    assert calls == [] and again == first  # nothing decoded: read back
    # a file changed: another fingerprint, scanned again
    (folder / "train" / "red" / "broken.png").write_bytes(b"still not a png, but longer")
    calls.clear()
    assert len(bad_examples.find_bad_examples(_split(folder), IMAGE, "train")) == 1
    assert len(calls) == rows


def test_without_datasets_caching_nothing_is_kept(folder, monkeypatch):
    calls = _counting(monkeypatch)
    datasets.disable_caching()
    try:
        for _ in range(2):
            bad_examples.find_bad_examples(_split(folder), IMAGE, "train")
    finally:
        datasets.enable_caching()
    assert len(calls) == 2 * len(_split(folder))


def test_big_splits_are_scanned_on_the_idle_cores(monkeypatch):
    from hfft import threads

    monkeypatch.setattr(threads, "default_threads", lambda: threads.ThreadChoice(4, "idle"))
    assert bad_examples.scan_processes(100) == 1  # not worth a process
    assert bad_examples.scan_processes(12_000) == 2
    assert bad_examples.scan_processes(60_000) == 4
    monkeypatch.setattr(threads, "default_threads", lambda: threads.ThreadChoice(1, "busy"))
    assert bad_examples.scan_processes(60_000) == 1
