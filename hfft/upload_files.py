"""Which files of a run directory go to the Hub, and in what form.

The allow/ignore lists pick the model, its processor/tokenizer, the card, plots, metrics,
examples and LoRA adapter, and never Trainer checkpoints or optimizer/scheduler/RNG states.
Files that mention local paths (recipe.yaml, the card, ...) are sanitised in memory and uploaded as
bytes: the run directory is never modified. Every file then passes `hfft.leak_guard`.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hfft.errors import HfftError
from hfft.leak_guard import LeakGuard
from hfft.redact import basename, is_local_path, sanitize_recipe

# Upload selection, matched with huggingface_hub's fnmatch rules (`*` also matches `/`).
# The allow list names what a model repo needs; the ignore list wins over it and spells out what
# must never leave the machine: resumable Trainer state and anything that records local paths.
ALLOW_PATTERNS = [
    "*.json",  # config, processor/tokenizer configs, metrics, examples.json, adapter_config
    "*.safetensors",
    "pytorch_model*.bin",
    "*.txt",  # vocab.txt, merges.txt
    "*.model",  # sentencepiece tokenizers
    "*.jinja",  # chat templates
    "*.md",  # model card (and PEFT's adapter card)
    "*.png",  # confusion matrix, training curves
    "*.jpg",
    "*.jpeg",
    "*.svg",
    "recipe.yaml",  # uploaded sanitised, see PublishedRecipe
    "examples/*",
    "adapter/*",
    # the model class of a run that started from a zero-shot head (auto_map in config.json)
    "modeling_zero_shot.py",
]
IGNORE_PATTERNS = [
    "checkpoints/*",
    "checkpoint-*",
    "*/checkpoint-*",
    "runs/*",  # TensorBoard logs: their file names carry the host name
    "*optimizer*",
    "*scheduler*.pt",
    "*rng_state*",
    "training_args.bin",
    "trainer_state.json",
    ".*",
    "*/.*",
    "*__pycache__*",
    "*.lock",
]
# Files read as text to be sanitised and scanned; everything else is scanned as bytes.
TEXT_SUFFIXES = {".json", ".md", ".yaml", ".yml", ".txt", ".jinja", ".csv", ".py", ".cfg", ".toml"}


@dataclass(frozen=True)
class UploadFile:
    """One file of a commit: read from `source` on disk, or sanitised `content` from memory."""

    path_in_repo: str
    size: int
    source: Path | None = None
    content: bytes | None = None

    def operation(self):
        """The `CommitOperationAdd` that uploads this file."""
        from huggingface_hub import CommitOperationAdd

        data = self.content if self.content is not None else str(self.source)
        return CommitOperationAdd(path_in_repo=self.path_in_repo, path_or_fileobj=data)


def collect_model_files(
    run_dir: Path, repo_id: str, *, token: str | None = None
) -> tuple[list[UploadFile], list[str]]:
    """The files of `run_dir` to upload (sanitised where needed) and the top-level names left
    out. Raises HfftError when a file would leak the token or a local path."""
    from huggingface_hub.utils import filter_repo_objects

    all_files = sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file())
    selected = list(
        filter_repo_objects(
            all_files, allow_patterns=ALLOW_PATTERNS, ignore_patterns=IGNORE_PATTERNS
        )
    )
    chosen = set(selected)
    left_out = sorted({_top_level(p) for p in all_files if p not in chosen})

    recipe = PublishedRecipe.read(run_dir / "recipe.yaml")
    sanitiser = Sanitiser(run_dir, repo_id, recipe.local_paths)
    guard = LeakGuard(run_dir, token, recipe.secrets)
    files = []
    for rel in selected:
        path = run_dir / rel
        if Path(rel).suffix.lower() in TEXT_SUFFIXES:
            original = path.read_bytes()
            if rel == "recipe.yaml":
                content = recipe.content
            else:
                text = original.decode("utf-8", errors="surrogateescape")
                if rel == "README.md":
                    text = _drop_local_card_metadata(text, sanitiser)
                content = sanitiser.text(text).encode("utf-8", errors="surrogateescape")
            guard.check(rel, content)
            if content != original:
                files.append(UploadFile(rel, len(content), content=content))
                continue
        else:
            guard.check_binary(rel, path)
        files.append(UploadFile(rel, path.stat().st_size, source=path))
    return files, left_out


class Sanitiser:
    """Rewrites local paths in text: the run directory becomes the repo id (so that a usage
    snippet in the card points at the Hub), the recipe's local paths and any path under the home
    or temp directory become their basename."""

    def __init__(self, run_dir: Path, repo_id: str, local_paths: list[str]):
        replacements: dict[str, str] = {}
        for form in {str(run_dir), os.path.abspath(run_dir)}:
            replacements[form] = repo_id
        # hfft.card writes this placeholder in the usage snippet when the recipe names no repo.
        replacements[f"path/to/{run_dir.name}"] = repo_id
        for value in local_paths:
            for form in _absolute_forms(value):
                replacements.setdefault(form, basename(form))
        # Longest first, so that a path is replaced before any of its parents.
        self.replacements = sorted(replacements.items(), key=lambda kv: -len(kv[0]))
        roots = {os.path.expanduser("~"), tempfile.gettempdir(), "/tmp"}
        roots = sorted((r.rstrip("/") for r in roots if r.rstrip("/")), key=len, reverse=True)
        # An absolute path under one of the roots, up to a character that ends a path in
        # prose, YAML or JSON.
        self.pattern = re.compile(
            r"(?<![\w/.-])(?:" + "|".join(map(re.escape, roots)) + r")/[^\s\"'`<>()\[\]{},;|]*"
        )

    def text(self, text: str) -> str:
        """`text` with local paths replaced."""
        for old, new in self.replacements:
            text = text.replace(old, new)
        return self.pattern.sub(lambda m: basename(m.group(0)), text)

    def is_local(self, value: str) -> bool:
        """Whether a card metadata value names something on this machine rather than the Hub."""
        forms = set(_absolute_forms(value))
        return any(old in forms for old, _ in self.replacements) or is_local_path(value)


@dataclass
class PublishedRecipe:
    """recipe.yaml as it is published: local paths (output dir, local data, local checkpoint)
    reduced to their basename and token-like values dropped (hfft.redact.sanitize_recipe, the same
    rules as the recipe shown in the card), plus what was removed, to be hunted in other files."""

    content: bytes = b""
    local_paths: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> PublishedRecipe:
        """The published form of the recipe at `path` (empty when there is none)."""
        if not path.is_file():
            return cls()
        data = path.read_bytes()
        try:
            recipe = yaml.safe_load(data)
        except yaml.YAMLError as err:
            detail = " ".join(str(err).split())
            raise HfftError(f"{path} is not valid YAML ({detail}); fix or delete it") from err
        if not isinstance(recipe, dict):
            return cls(content=data)
        cleaned = sanitize_recipe(recipe)
        result = cls(content=data)
        result._diff(recipe, cleaned)
        if cleaned != recipe:
            header = b"# Resolved hfft recipe; local paths are replaced by their basename.\n"
            dumped = yaml.safe_dump(cleaned, sort_keys=False, allow_unicode=True)
            result.content = header + dumped.encode()
        return result

    def _diff(self, original: Any, cleaned: Any) -> None:
        """Record each string sanitize_recipe changed: a path became its basename, a token was
        redacted or its whole key dropped."""
        if isinstance(original, dict) and isinstance(cleaned, dict):
            for key, value in original.items():
                if key in cleaned:
                    self._diff(value, cleaned[key])
                else:
                    self.secrets += [v for v in _strings(value) if len(v) >= 8]
        elif isinstance(original, list | tuple) and isinstance(cleaned, list | tuple):
            for value, clean in zip(original, cleaned, strict=False):
                self._diff(value, clean)
        elif isinstance(original, str) and original != cleaned:
            # A path keeps its last component; a redacted token keeps nothing of itself.
            is_path = isinstance(cleaned, str) and original.rstrip("/\\").endswith(cleaned)
            (self.local_paths if is_path else self.secrets).append(original)


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list | tuple):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def _drop_local_card_metadata(text: str, sanitiser: Sanitiser) -> str:
    """Remove `base_model`/`datasets` metadata entries that are local paths: the Hub rejects a
    card whose metadata names a model or dataset that is not a Hub id."""
    if not text.lstrip().startswith("---"):
        return text
    from huggingface_hub import ModelCard

    try:
        card = ModelCard(text)
    except ValueError:
        return text  # invalid metadata: left to the Hub to report
    changed = False
    for key in ("base_model", "datasets"):
        value = getattr(card.data, key, None)
        if value is None:
            continue
        values = [value] if isinstance(value, str) else list(value)
        kept = [v for v in values if not (isinstance(v, str) and sanitiser.is_local(v))]
        if kept != values:
            changed = True
            if not kept:
                kept = None
            elif isinstance(value, str):
                kept = kept[0]
            setattr(card.data, key, kept)
    return str(card) if changed else text


def _absolute_forms(value: str) -> list[str]:
    """The absolute spellings of a (possibly relative) local path, for finding it in text."""
    expanded = os.path.expanduser(value)
    forms = {os.path.abspath(expanded)}
    with contextlib.suppress(OSError):
        forms.add(str(Path(expanded).resolve()))
    return [f for f in forms if f not in ("/", "")]


def _top_level(rel: str) -> str:
    head, _, rest = rel.partition("/")
    return f"{head}/" if rest else head
