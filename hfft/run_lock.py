"""One run directory, one writer: the lock file `.hfft-lock` in a run directory being trained.

`hfft train` takes the lock before it writes anything into the run directory (`acquire`, from
`run_dir.begin`) and releases it when the run is complete (`run_dir.mark_finished`) or the process
exits. The file holds the holder's pid, host and start time, so a second `hfft train` into the same
folder is refused with a message naming that process, and `hfft eval`/`push` of it say a run is in
progress rather than "interrupted".

Two mechanisms, each covering the other's blind spot:

- `fcntl.flock` on the open lock file makes taking it atomic (two processes racing for a free
  lock cannot both win) and is released by the kernel however the holder dies, SIGKILL included.
- The recorded pid decides whether a lock is stale when flock cannot: a filesystem without
  flock support, or a lock taken before a crash. A lock whose pid no longer runs on this host (or
  runs but is a newer process that reused the pid) is taken over, with a log line. A lock from
  another host is never taken over: hfft cannot see that host's processes, so the message says
  to delete the file if that run is gone.

filelock (a transformers dependency) truncates the file whenever it *tries* the lock, which
would erase the holder's details just when a refused process needs them; hence these few lines.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from hfft.errors import HfftError

log = logging.getLogger("hfft")

LOCK_FILE = ".hfft-lock"  # hidden: `hfft push` skips dot files, and so does refuse_foreign
# Resolved run directory -> the open file descriptor holding its flock (this process's locks).
_HELD: dict[Path, int] = {}
_PID = os.getpid()  # a forked child inherits _HELD but holds nothing: see _release_all


@dataclass(frozen=True)
class Holder:
    """The process a lock file names."""

    pid: int
    host: str
    started: str  # when it took the lock, UTC, ISO 8601
    created: float | None = None  # the process's own start time (psutil), to spot a reused pid

    def describe(self) -> str:
        """'pid 123 on host, started 2026-01-01T00:00:00Z'."""
        return f"pid {self.pid} on {self.host}, started {self.started}"

    def alive(self) -> bool:
        """Whether the process may still run: True for another host (hfft cannot tell)."""
        if self.host != socket.gethostname():
            return True
        return _pid_alive(self.pid, self.created)


def _pid_alive(pid: int, created: float | None) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    if created is None:
        return True
    try:
        import psutil  # an accelerate dependency; without it a live pid is taken at its word
    except ImportError:
        return True
    try:
        # A pid reused by a process that started after the lock's holder is not the holder.
        return psutil.Process(pid).create_time() <= created + 1.0
    except psutil.Error:
        return False


def _own_created() -> float | None:
    try:
        import psutil

        return psutil.Process().create_time()
    except Exception:  # no psutil, or /proc unreadable: the pid alone decides
        return None


def lock_path(run_dir: str | Path) -> Path:
    """Where a run directory's lock file is."""
    return Path(run_dir) / LOCK_FILE


def read_holder(run_dir: str | Path) -> Holder | None:
    """The process named in the lock file, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads(lock_path(run_dir).read_text())
        return Holder(
            int(data["pid"]), str(data["host"]), str(data["started"]), data.get("created")
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def held_here(run_dir: str | Path) -> bool:
    """True when this process holds the run directory's lock."""
    return os.getpid() == _PID and Path(run_dir).resolve() in _HELD


def live_holder(run_dir: str | Path) -> Holder | None:
    """Another process that holds the lock and may still be running, else None (no lock, a stale
    one, or this process's own)."""
    if held_here(run_dir):
        return None
    holder = read_holder(run_dir)
    if holder is None or (holder.pid == os.getpid() and holder.host == socket.gethostname()):
        return None
    return holder if holder.alive() else None


def refusal(run_dir: str | Path, holder: Holder) -> HfftError:
    """The one-line error for a second writer."""
    path = lock_path(run_dir)
    hint = "wait for it to finish or stop it, or set another training.output_dir"
    if holder.host != socket.gethostname():
        hint += f"; if no hfft runs there any more, delete {path}"
    return HfftError(
        f"{Path(run_dir)} is being trained by another process ({holder.describe()}; lock "
        f"{path}): {hint}"
    )


def refuse_second_writer(run_dir: str | Path) -> None:
    """Refuse at once a folder another live `hfft train` holds the lock of (checked again,
    atomically, when `run_dir.begin` takes the lock). Under torchrun only rank 0 looks: the other
    ranks belong to the same run as the process that will hold it."""
    if os.environ.get("RANK", "0") not in ("", "0"):
        return
    holder = live_holder(run_dir) if Path(run_dir).is_dir() else None
    if holder is not None:
        raise refusal(run_dir, holder)


def acquire(run_dir: str | Path) -> None:
    """Take the run directory's lock for this process, or raise `refusal` naming the live holder.

    A stale lock (its process is gone) is taken over with a log line. Taking a lock this process
    already holds is a no-op (a run retried in the same process)."""
    run_dir = Path(run_dir)
    if held_here(run_dir):
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    path = lock_path(run_dir)
    for attempt in range(20):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            locked = _try_flock(fd)
            if locked is False:  # a live process holds it (or a checker probes it this instant)
                holder = read_holder(run_dir)
                if holder is not None and (holder.alive() or attempt == 19):
                    raise refusal(run_dir, holder)
                time.sleep(0.05)
                continue
            if not _same_file(fd, path):  # released (unlinked) between our open and flock
                continue
            previous = read_holder(run_dir)
            if previous is not None and (previous.pid, previous.host) != (
                os.getpid(),
                socket.gethostname(),
            ):
                if previous.alive():  # no flock support, or another host's lock
                    raise refusal(run_dir, previous)
                log.info(
                    "%s: taking over the lock of %s, which is no longer running",
                    path,
                    previous.describe(),
                )
            _write_holder(fd)
        except BaseException:
            os.close(fd)
            raise
        _remember(run_dir, fd)
        return
    raise HfftError(f"could not take the lock {path}: it kept changing; try again")


def _remember(run_dir: Path, fd: int) -> None:
    global _PID
    if os.getpid() != _PID:  # a forked child taking a lock of its own: its parent's are not its
        _HELD.clear()
        _PID = os.getpid()
    _HELD[run_dir.resolve()] = fd


def _try_flock(fd: int) -> bool | None:
    """True: locked; False: another open file holds it; None: flock unavailable here."""
    try:
        import fcntl
    except ImportError:  # Windows: the recorded pid alone decides
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # ENOLCK, EOPNOTSUPP: a filesystem without locks
        return None
    return True


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _write_holder(fd: int) -> None:
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "created": _own_created(),
        "note": "hfft train is writing into this folder; it deletes this file when done.",
    }
    data = (json.dumps(holder, indent=2) + "\n").encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)


def release(run_dir: str | Path) -> None:
    """Drop this process's lock on the run directory (delete the file, then unlock)."""
    if os.getpid() != _PID:  # a forked child (a DataLoader worker) must not drop its parent's
        return
    fd = _HELD.pop(Path(run_dir).resolve(), None)
    if fd is None:
        return
    path = lock_path(run_dir)
    with contextlib.suppress(OSError):
        if _same_file(fd, path):
            path.unlink()
    os.close(fd)


@atexit.register
def _release_all() -> None:
    # A process that exits without finishing its run leaves no lock file behind (a killed one
    # leaves a stale file, which the next run takes over). release() skips a forked child.
    for run_dir in list(_HELD):
        release(run_dir)
