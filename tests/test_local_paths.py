"""A path on this machine vs a Hub id, decided from the string alone."""

from __future__ import annotations

import pytest

from hfft.local_paths import looks_like_local_path


@pytest.mark.parametrize(
    ("value", "local"),
    [
        ("/data/models/vit", True),
        ("./runs/x", True),
        ("../ckpt", True),
        ("~/models/bert", True),
        ("C:\\models\\vit", True),
        ("runs/vit/checkpoint-10", True),  # Hub ids have one slash
        ("google/vit-base-patch16-224-in21k", False),
        ("beans", False),
        ("imagefolder", False),
        ("hf://datasets/owner/name/data", False),
    ],
)
def test_looks_like_local_path(value, local):
    assert looks_like_local_path(value) is local


def test_absent_path_is_absolute_and_only_for_what_is_not_there(tmp_path, monkeypatch):
    from hfft.local_paths import absent_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    assert absent_path("runs/nope") == tmp_path / "runs" / "nope"
    assert absent_path("runs") is None
