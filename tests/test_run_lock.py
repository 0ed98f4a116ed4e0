"""One run directory, one writer: a second `hfft train` into a folder another live process trains
into is refused at once, naming that process; a lock left by a killed process is taken over;
`hfft eval`/`predict`/`push` of a folder being trained say a run is in progress."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hfft import run_dir as run_state
from hfft import run_lock
from hfft.cli import main
from hfft.errors import HfftError
from hfft.recipe import load_recipe
from tests.test_resume import write_recipe

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCK = run_lock.LOCK_FILE

# A stand-in for a live `hfft train`: takes the run directory as `train` does (run_dir.begin),
# says so, then waits to be killed or told to exit.
HOLDER = """
import sys, time
from hfft import run_dir
from hfft.recipe import load_recipe
recipe = load_recipe(sys.argv[1])
run_dir.begin(recipe.output_dir, recipe, run_dir.Start())
print("holding", flush=True)
sys.stdin.readline()  # exits (normally) when the test closes its stdin
"""


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}  # fmt: skip


@pytest.fixture
def recipe(tmp_path, vit_checkpoint, image_folder) -> Path:
    extra = ["training.num_train_epochs=1"]
    return write_recipe(tmp_path / "recipe.yaml", vit_checkpoint, image_folder, tmp_path / "run", extra)  # fmt: skip


@pytest.fixture
def holder(recipe):
    """Start a process that holds the recipe's run directory; yields the Popen."""
    procs = []

    def start() -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(recipe)],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout.readline().strip() == "holding"
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def expected_refusal(run: Path, pid: int) -> str:
    lock = json.loads((run / LOCK).read_text())
    assert (lock["pid"], lock["host"]) == (pid, socket.gethostname())
    return (
        f"hfft: error: {run} is being trained by another process (pid {pid} on "
        f"{socket.gethostname()}, started {lock['started']}; lock {run / LOCK}): wait for it to "
        "finish or stop it, or set another training.output_dir"
    )


def test_a_second_train_into_a_live_run_is_refused_at_once_naming_it(recipe, holder, capsys):
    run = load_recipe(recipe).output_dir
    proc = holder()
    before = tree(run)
    began = time.perf_counter()
    assert main(["train", str(recipe)]) == 2
    assert time.perf_counter() - began < 2  # at once: before any model or data is loaded
    assert capsys.readouterr().err.strip() == expected_refusal(run, proc.pid)
    assert tree(run) == before  # nothing written, not even the manifest
    # --overwrite and --resume are refused alike: neither may touch a folder being trained.
    for flag in ("--overwrite", "--resume"):
        assert main(["train", str(recipe), flag]) == 2
        assert capsys.readouterr().err.strip() == expected_refusal(run, proc.pid)
    assert tree(run) == before


def test_eval_predict_and_push_of_a_run_in_progress_say_so(recipe, holder, image_folder, capsys):
    run = load_recipe(recipe).output_dir
    proc = holder()
    image = next((image_folder / "train" / "red").glob("*.png"))
    for action, argv in (
        ("evaluate", ["eval", str(run)]),
        ("predict with", ["predict", str(run), str(image)]),
        ("push", ["push", str(run), "--repo-id", "u/x"]),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"hfft: error: cannot {action} {run}: it is an unfinished hfft run")
        assert (
            f"a run is in progress: `hfft train` (pid {proc.pid} on {socket.gethostname()}" in err
        )
        assert err.endswith("wait for it to finish, then use the finished run directory")
    # Once the holder is gone the same folder reads as interrupted, with the resume hint.
    proc.kill()
    proc.wait(timeout=30)
    assert main(["eval", str(run)]) == 2
    err = capsys.readouterr().err
    assert "training was interrupted or is still running" in err and "in progress" not in err


def test_a_lock_left_by_a_killed_process_is_taken_over(recipe, holder, caplog, capsys):
    run = load_recipe(recipe).output_dir
    proc = holder()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    stale = json.loads((run / LOCK).read_text())
    assert stale["pid"] == proc.pid  # a SIGKILL leaves the file; the kernel dropped the flock
    with caplog.at_level(logging.INFO, logger="hfft"):
        assert main(["train", str(recipe)]) == 0, capsys.readouterr().err
    assert (
        f"{run / LOCK}: taking over the lock of pid {proc.pid} on {socket.gethostname()}, started "
        f"{stale['started']}, which is no longer running"
    ) in caplog.messages
    # The finished run released the lock, and the manifest lists it (a wipe may remove it).
    assert not (run / LOCK).exists() and run_state.is_finished(run)
    assert LOCK in run_state.written(run)
    assert not run_lock.held_here(run)


def test_a_holder_that_exits_without_finishing_leaves_no_lock(recipe, holder):
    run = load_recipe(recipe).output_dir
    proc = holder()
    assert (run / LOCK).is_file()
    proc.stdin.close()  # the holder returns from main and exits normally, run unfinished
    assert proc.wait(timeout=30) == 0
    assert not (run / LOCK).exists() and run_state.is_unfinished(run)
    run_state.begin(run, load_recipe(recipe), run_state.Start())  # no takeover needed
    assert run_lock.held_here(run)
    run_lock.release(run)


def test_two_processes_racing_for_one_lock_cannot_both_win(tmp_path):
    race = f"""
import sys, time
from hfft import run_lock
from hfft.errors import HfftError
while time.time() < {time.time() + 5}: pass  # all try at the same moment
try:
    run_lock.acquire({str(tmp_path / "run")!r})
except HfftError:
    print("refused", flush=True)
else:
    print("won", flush=True)
    sys.stdin.read()  # the winner holds the lock until every process has tried
"""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", race],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outcomes = sorted(p.stdout.readline().strip() for p in procs)
    for p in procs:
        p.communicate(timeout=60)
    assert outcomes == ["refused", "refused", "refused", "won"]


def _write_lock(run: Path, **fields) -> None:
    run.mkdir(parents=True, exist_ok=True)
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": "2026-01-01T00:00:00Z"}
    (run / LOCK).write_text(json.dumps({**holder, **fields}))


def test_a_reused_pid_does_not_keep_a_stale_lock(tmp_path):
    """The lock records its process's start time: a live pid that started later is another
    process that reused the number (after a reboot, say), so the lock is stale."""
    parent = os.getppid()  # alive, and not this process
    _write_lock(tmp_path, pid=parent, created=0.0)  # "started in 1970"
    assert run_lock.live_holder(tmp_path) is None
    import psutil

    _write_lock(tmp_path, pid=parent, created=psutil.Process(parent).create_time())
    assert run_lock.live_holder(tmp_path).pid == parent
    with pytest.raises(HfftError, match=f"being trained by another process \\(pid {parent} "):
        run_lock.acquire(tmp_path)


def test_a_lock_from_another_host_is_never_taken_over(tmp_path):
    _write_lock(tmp_path / "run", pid=1, host="gpu-node-7")
    with pytest.raises(HfftError) as err:
        run_lock.acquire(tmp_path / "run")
    assert str(err.value) == (
        f"{tmp_path / 'run'} is being trained by another process (pid 1 on gpu-node-7, started "
        f"2026-01-01T00:00:00Z; lock {tmp_path / 'run' / LOCK}): wait for it to finish or stop "
        f"it, or set another training.output_dir; if no hfft runs there any more, delete "
        f"{tmp_path / 'run' / LOCK}"
    )


def test_own_lock_is_reentrant_kept_by_a_wipe_and_released_when_finished(recipe):
    recipe = load_recipe(recipe)
    run = recipe.output_dir
    run_state.begin(run, recipe, run_state.Start())
    assert run_lock.held_here(run) and LOCK in run_state.written(run)
    assert run_lock.live_holder(run) is None  # this process's own lock blocks nothing here
    run_state.plan_start(recipe, None, False)  # a retry in the same process goes ahead
    run_state.begin(run, recipe, run_state.Start(wipe=True))
    assert (run / LOCK).is_file()  # the wipe removed what hfft wrote, but not the live lock
    run_state.mark_finished(run)
    assert not (run / LOCK).exists() and not run_lock.held_here(run)
