"""The last check before `hfft push` sends anything: no file may carry the token or a local path."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from hfft.errors import HfftError

# Binary files bigger than this are scanned only in their header (safetensors) or not at all:
# reading gigabytes of weights to look for a path string is not worth it.
BINARY_SCAN_LIMIT = 20 * 1024 * 1024


class LeakGuard:
    """Refuses files that still contain the token, the run directory's absolute path or a path
    under the home directory after sanitising."""

    def __init__(self, run_dir: Path, token: str | None, secrets: Sequence[str] = ()):
        self.needles: list[tuple[bytes, str]] = []
        if token:
            self.needles.append((token.encode(), "your Hugging Face token"))
        for secret in secrets:
            self.needles.append((secret.encode(), "a token-like value from recipe.yaml"))
        for form in {str(run_dir.resolve()), os.path.abspath(run_dir)}:
            self.needles.append((form.encode(), f"the run directory's local path {form}"))
        home = os.path.expanduser("~").rstrip("/")
        if home:
            self.needles.append(((home + "/").encode(), f"a path under your home directory {home}"))

    def check(self, name: str, data: bytes) -> None:
        """Raise HfftError if `data` (the bytes about to be uploaded as `name`) leaks anything."""
        for needle, what in self.needles:
            if needle in data:
                raise HfftError(
                    f"refusing to push: {name} contains {what}; remove it from the file "
                    "(the run directory is never edited by hfft) and push again"
                )

    def check_binary(self, name: str, path: Path) -> None:
        """Scan a binary file: whole if small, only the JSON header of a big safetensors file."""
        size = path.stat().st_size
        if size <= BINARY_SCAN_LIMIT:
            self.check(name, path.read_bytes())
        elif path.suffix == ".safetensors":
            with path.open("rb") as f:
                header_len = int.from_bytes(f.read(8), "little")
                self.check(name, f.read(min(header_len, BINARY_SCAN_LIMIT)))
