"""A checkpoint save that fails (disk full, folder made read-only) stops the run with one clear
line; the previous complete checkpoint stays the one resume uses, and a half-written one is never
taken for complete.

The run directory lives on a small tmpfs the test mounts when it may (root): the disk really
fills up (ENOSPC) and the filesystem really turns read-only (EROFS). Elsewhere the next
checkpoint's weights file is pointed at /dev/full (the kernel's always-full device) and the
folder is made read-only with chmod."""

from __future__ import annotations

import errno
import logging
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

import hfft.run
from hfft import run_dir as run_state
from hfft import run_lock
from hfft.callbacks import write_failure
from hfft.cli import main
from tests.test_resume import (
    WeightsAtStart,
    assert_complete,
    saved_weights,
    write_recipe,
)


@dataclass
class Volume:
    """A folder the test can fill up or make read-only between two checkpoint saves."""

    path: Path
    mounted: bool  # a tmpfs of its own (else a plain folder and the fallbacks)
    binds: list[str] = field(default_factory=list)

    def unbind(self) -> None:
        while self.binds:
            # Lazily: a tensor still mapped from a checkpoint file keeps the mount busy.
            subprocess.run(["umount", "-l", self.binds.pop()], check=True)

    def fill(self, next_checkpoint: Path) -> None:
        if self.mounted:
            with open(self.path / "filler", "wb") as f:  # another job's output, say
                try:
                    while True:
                        f.write(b"\0" * (1 << 20))
                        f.flush()
                except OSError as err:
                    assert err.errno == errno.ENOSPC
        else:  # torch.save follows the link (safetensors would replace it: it writes a temp file)
            next_checkpoint.mkdir(parents=True)
            (next_checkpoint / "optimizer.pt").symlink_to("/dev/full")

    def make_read_only(self, run: Path) -> None:
        if self.mounted:
            # A read-only bind mount of the checkpoints folder onto itself: writes there fail
            # with EROFS. (Remounting the whole tmpfs read-only is refused while the run holds
            # files open for writing, its lock among them.)
            target = str(run / "checkpoints")
            subprocess.run(["mount", "--bind", target, target], check=True)
            subprocess.run(["mount", "-o", "remount,bind,ro", target], check=True)
            self.binds.append(target)
        else:
            for folder in (run, run / "checkpoints"):
                folder.chmod(0o555)

    def restore(self, run: Path) -> None:
        if self.mounted:
            self.unbind()
            (self.path / "filler").unlink(missing_ok=True)
        else:
            for folder in (run, run / "checkpoints"):
                folder.chmod(0o755)
            for link in (run / "checkpoints").glob("*/optimizer.pt"):
                if link.is_symlink():
                    link.unlink()


def can_mount() -> bool:
    return os.geteuid() == 0 and Path("/proc/self/mountinfo").is_file()


@pytest.fixture
def volume(tmp_path, request):
    """A tmpfs of its own (kind "tmpfs", root only) or a plain folder (kind "plain")."""
    path = tmp_path / "volume"
    path.mkdir()
    mounted = request.param == "tmpfs"
    if mounted:
        mount = ["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(path)]
        if not can_mount() or subprocess.run(mount, capture_output=True).returncode != 0:
            pytest.skip("mounting a tmpfs needs root and a machine that allows mounts")
    volume = Volume(path, mounted)
    yield volume
    if mounted:
        volume.unbind()
        for held in list(run_lock._HELD):  # an open lock file would keep the mount busy
            run_lock.release(held)
        subprocess.run(["umount", "-l", str(path)], check=True)
    else:
        for folder in path.rglob("*"):
            if folder.is_dir():
                folder.chmod(0o755)


class AfterFirstSave(TrainerCallback):
    """Runs `action` once checkpoint-4 is complete (added after hfft's own callbacks)."""

    def __init__(self, action) -> None:
        self.action = action

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == 4:
            assert (Path(args.output_dir) / "checkpoint-4" / run_state.CHECKPOINT_MARKER).is_file()
            self.action()


def with_callback(monkeypatch, callback) -> None:
    build = hfft.run.build_run

    def build_run(recipe):
        built = build(recipe)
        built.trainer.add_callback(callback)
        return built

    monkeypatch.setattr(hfft.run, "build_run", build_run)


@pytest.mark.parametrize("volume", ["tmpfs", "plain"], indirect=True)
@pytest.mark.parametrize("failure", ["disk full", "read-only"])
def test_a_failed_save_stops_the_run_and_resume_uses_the_last_complete_checkpoint(
    failure, volume, tmp_path, vit_checkpoint, image_folder, monkeypatch, capsys, caplog
):
    if failure == "read-only" and not volume.mounted and os.geteuid() == 0:
        pytest.skip("root ignores chmod: the tmpfs variant makes the folder read-only instead")
    run = volume.path / "run"
    recipe = write_recipe(tmp_path / "recipe.yaml", vit_checkpoint, image_folder, run)
    checkpoints = run / "checkpoints"

    def fail_next_save():
        if failure == "disk full":
            volume.fill(checkpoints / "checkpoint-8")
        else:
            volume.make_read_only(run)

    with_callback(monkeypatch, AfterFirstSave(fail_next_save))
    assert main(["train", str(recipe)]) == 2
    err = capsys.readouterr().err
    reason = {
        # torch.save says only "iostream error" where safetensors (on the tmpfs) gives the errno.
        "disk full": (
            "the disk is full (No space left on device)"
            if volume.mounted
            else "the file could not be written (disk full?)"
        ),
        "read-only": (
            "the filesystem is read-only (Read-only file system)"
            if volume.mounted
            else "permission denied (the folder is not writable) (Permission denied)"
        ),
    }[failure]
    # The error follows the Trainer's progress bar on the same line (and the bar is redrawn).
    assert re.search("hfft: error: .*", err).group(0) == (
        f"hfft: error: saving checkpoint-8 into {checkpoints} failed: {reason}; the run stopped. "
        "checkpoint-4 (step 4) is the last complete checkpoint, which running the same `hfft "
        "train` command again resumes from once there is room (or the folder is writable again)"
    )
    assert "Traceback" not in err
    # Whatever checkpoint-8 holds (nothing, or half its files), it is not complete.
    assert [p.name for p in run_state.complete_checkpoints(run)] == ["checkpoint-4"]
    assert run_state.is_unfinished(run)
    expected = saved_weights(checkpoints / "checkpoint-4")

    volume.restore(run)
    start = WeightsAtStart()
    with_callback(monkeypatch, start)
    with caplog.at_level(logging.INFO, logger="hfft"):
        assert main(["train", str(recipe)]) == 0
    assert f"found an interrupted run in {run}: continuing from checkpoint-4 (step 4)" in (
        caplog.text
    )
    # The resumed model is checkpoint-4's, tensor for tensor.
    assert start.step == 4 and start.weights.keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.equal(start.weights[name], tensor), name
    assert_complete(run, "full")
    assert run_state.last_checkpoint(run).name == "checkpoint-12"


def test_a_half_written_marker_vouches_for_nothing(tmp_path):
    """A marker cut short (disk full while writing it) or copied from another step is not one."""
    for step, marker in ((4, "4\n"), (8, ""), (12, "4\n"), (16, "1")):
        folder = tmp_path / "checkpoints" / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "trainer_state.json").write_text("{}")
        (folder / run_state.CHECKPOINT_MARKER).write_text(marker)
    assert [p.name for p in run_state.complete_checkpoints(tmp_path)] == ["checkpoint-4"]


def test_write_failures_are_recognised_by_errno_or_by_their_library_message():
    assert write_failure(OSError(errno.ENOSPC, "No space left on device")) == (
        "the disk is full (No space left on device)"
    )
    # safetensors and torch.save do not raise OSError.
    safetensors = RuntimeError("Error while serializing: I/O error: Read-only file system (os error 30)")  # fmt: skip
    assert write_failure(safetensors) == "the filesystem is read-only (Read-only file system)"
    torch_save = RuntimeError("[enforce fail] PytorchStreamWriter failed writing file data/0: file write failed")  # fmt: skip
    assert write_failure(torch_save) == "the file could not be written (disk full?)"
    assert write_failure(RuntimeError("basic_ios::clear: iostream error")) == (
        "the file could not be written (disk full?)"
    )
    try:
        try:
            raise OSError(errno.EDQUOT, "Disk quota exceeded")
        except OSError as inner:
            raise RuntimeError("saving failed") from inner
    except RuntimeError as chained:
        assert write_failure(chained) == "the disk quota is exhausted (Disk quota exceeded)"
    assert write_failure(ValueError("bad label")) is None
    assert write_failure(OSError(errno.ENOENT, "No such file")) is None
