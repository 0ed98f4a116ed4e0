"""The last check before `hfft push` sends anything: no file may carry a secret or a local path.

A file is refused when, after sanitising (hfft.upload_files), it still holds the token in use, a
token-like value from recipe.yaml, the run directory's absolute path, a path under this user's
home, *any* string shaped like a Hugging Face token (someone else's token pasted into notes.txt is
no less a leak), or any absolute path under a home or root directory (/home/alice/..., /root/...,
/Users/alice/..., C:\\Users\\alice\\...), whoever's it is. The message names the file and line,
never the secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from hfft.errors import HfftError

# Binary files bigger than this are scanned only in their header (safetensors) or not at all:
# reading gigabytes of weights to look for a path string is not worth it.
BINARY_SCAN_LIMIT = 20 * 1024 * 1024
# Real tokens are `hf_` + 34 letters and digits; 30 or more (and not glued to other letters) stays
# clear of identifiers such as `hf_hub_download`. Log redaction masks from 20: a false match there
# costs three stars, here a refused push.
TOKEN_SHAPE = re.compile(rb"(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,}(?![A-Za-z0-9_])")
# An absolute path into someone's home or the root user's: the names of the user and of their
# folders are nobody else's business. Not glued to a word, so that `https://example.org/home/x`
# is no match; JSON escapes a Windows backslash as `\\`.
_NAME = rb"[A-Za-z0-9._-]+"
_SEP = rb"(?:\\\\|\\|/)"  # \\ (JSON), \ or /
HOME_PATH = re.compile(
    rb"(?<![\w.-])(?:/home/" + _NAME + rb"|/Users/" + _NAME + rb"|/root(?=/))"
    rb"|(?<![\w])[A-Za-z]:" + _SEP + rb"(?i:users)" + _SEP + _NAME
)
# Vocabularies hold the base model's tokens, not anything about this machine; a code model's
# vocabulary may well have a token such as `/home/user`, and the user could not edit it away.
VOCABULARY_FILES = {"vocab.txt", "vocab.json", "merges.txt", "tokenizer.json"}
NEWLINE = b"\n"


class LeakGuard:
    """Refuses an upload that would leak a token or a local path (see the module docstring)."""

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

    def check(self, name: str, data: bytes, *, text: bool = True) -> None:
        """Raise HfftError if `data` (the bytes about to be uploaded as `name`) leaks anything;
        the message says on which line of a `text` file."""
        found = self._find(name, data)
        if found is None:
            return
        offset, what = found
        where = f"{name} line {data.count(NEWLINE, 0, offset) + 1}" if text else name
        raise HfftError(
            f"refusing to push: {where} contains {what}; remove it from the file "
            "(the run directory is never edited by hfft) and push again"
        )

    def _find(self, name: str, data: bytes) -> tuple[int, str] | None:
        """(offset, description) of the first leak in `data`, or None."""
        for needle, what in self.needles:
            offset = data.find(needle)
            if offset >= 0:
                return offset, what
        match = TOKEN_SHAPE.search(data)
        if match:
            return match.start(), "a Hugging Face token (hf_...)"
        if Path(name).name not in VOCABULARY_FILES:
            match = HOME_PATH.search(data)
            if match:
                root = match.group(0).decode("utf-8", errors="replace").replace("\\\\", "\\")
                return match.start(), f"a local path under a home directory ({root}...)"
        return None

    def check_binary(self, name: str, path: Path) -> None:
        """Scan a binary file: whole if small, only the JSON header of a big safetensors file."""
        size = path.stat().st_size
        if size <= BINARY_SCAN_LIMIT:
            self.check(name, path.read_bytes(), text=False)
        elif path.suffix == ".safetensors":
            with path.open("rb") as f:
                header_len = int.from_bytes(f.read(8), "little")
                self.check(name, f.read(min(header_len, BINARY_SCAN_LIMIT)), text=False)
