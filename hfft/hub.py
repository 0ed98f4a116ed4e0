"""Push a finished run directory to the Hugging Face Hub, and optionally a Gradio Space for it.

One commit per repo, built with `huggingface_hub`: the model, its processor/tokenizer, the card,
plots, metrics, examples and LoRA adapter go up; Trainer checkpoints and optimizer/scheduler/RNG
states never do. Nothing in the run directory is modified: files that mention local paths
(recipe.yaml, the card, ...) are sanitised in memory and uploaded as bytes, and every file is
scanned for the run directory's absolute path, home paths and the token before anything is sent.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from hfft.errors import HfftError, first_line
from hfft.resources import space_dir

# What a finished run directory must hold (the core saves the merged model with save_pretrained).
CONFIG_FILE = "config.json"
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)

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
    "recipe.yaml",  # uploaded sanitised, see _PublishedRecipe
    "examples/*",
    "adapter/*",
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
# Binary files bigger than this are scanned only in their header (safetensors) or not at all:
# reading gigabytes of weights to look for a path string is not worth it.
BINARY_SCAN_LIMIT = 20 * 1024 * 1024

# The Space: hfft's Gradio app (see hfft.resources). Tests may point this elsewhere.
SPACE_DIR = space_dir()
SPACE_MODEL_VARIABLE = "HFFT_MODEL"
# Fallback for the app when the variable is missing (e.g. a Space duplicated without its
# variables): the model id, and nothing else, in a plain text file next to app.py.
SPACE_MODEL_FILE = "hfft_model.txt"
# Packages a Space needs besides what the sdk installs, used when space/requirements.txt is absent.
DEFAULT_SPACE_REQUIREMENTS = ["transformers", "torch", "pillow"]

LOGIN_HINT = "run `hf auth login` (formerly `huggingface-cli login`) or set HF_TOKEN"


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


@dataclass
class PushResult:
    """What `push_run` pushed (or, with `dry_run`, would push) and where."""

    repo_id: str
    repo_url: str
    revision: str
    private: bool
    files: list[UploadFile]
    left_out: list[str] = field(default_factory=list)
    commit_url: str | None = None
    space_id: str | None = None
    space_url: str | None = None
    space_files: list[UploadFile] = field(default_factory=list)
    dry_run: bool = False


# --------------------------------------------------------------------------- public functions


def push_run(
    run_dir: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    space: bool = False,
    space_id: str | None = None,
    dry_run: bool = False,
    token: str | None = None,
) -> PushResult:
    """Push a finished run directory to the model repo `repo_id` in one commit; with `space`, also
    push a Gradio Space (default id: `repo_id`) that loads it. `dry_run` lists what would be
    uploaded without any network call. The run directory is never modified."""
    from huggingface_hub import constants

    run_dir = _check_run_dir(run_dir)
    revision = revision or constants.DEFAULT_REVISION
    if dry_run:
        # No token lookup that could touch the network: only what is already in the environment.
        token = token or os.environ.get("HF_TOKEN")
    else:
        _check_online()
        token = _get_token(token)
    _check_repo_id(repo_id, "--repo-id")
    if space_id is not None:
        _check_repo_id(space_id, "--space-id")

    files, left_out = collect_model_files(run_dir, repo_id, token=token)

    if dry_run:
        # Without a network call the owner of a bare name is unknown: say so rather than guess.
        shown = repo_id if "/" in repo_id else f"<your username>/{repo_id}"
        shown_space = (space_id or shown) if space else None
        if shown_space and "/" not in shown_space:
            shown_space = f"<your username>/{shown_space}"
        return PushResult(
            repo_id=shown,
            repo_url=_repo_url(shown),
            revision=revision,
            private=private,
            files=files,
            left_out=left_out,
            space_id=shown_space,
            space_url=_repo_url(shown_space, "space") if shown_space else None,
            space_files=_space_files(repo_id, run_dir, token) if space else [],
            dry_run=True,
        )

    from huggingface_hub import HfApi

    api = HfApi(token=token, library_name="hfft")
    with _hub_errors(repo_id):
        if "/" not in repo_id or (space_id and "/" not in space_id):
            # A bare name lives in the token owner's namespace, as on the Hub website.
            user = api.whoami()["name"]
            repo_id = repo_id if "/" in repo_id else f"{user}/{repo_id}"
            space_id = space_id if not space_id or "/" in space_id else f"{user}/{space_id}"
    # Built before the model commit so that a missing app.py stops the push before it starts.
    space_files = _space_files(repo_id, run_dir, token) if space else []
    with _hub_errors(repo_id):
        # private=None lets the Hub apply the namespace's default visibility (some organisations
        # make new repos private); it is ignored anyway when the repo already exists.
        repo_url = api.create_repo(repo_id, private=private or None, exist_ok=True)
        if revision != constants.DEFAULT_REVISION:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        commit = api.create_commit(
            repo_id,
            operations=[f.operation() for f in files],
            commit_message=commit_message or f"Upload {run_dir.name} with hfft",
            revision=revision,
        )
    result = PushResult(
        repo_id=repo_id,
        repo_url=str(repo_url),
        revision=revision,
        private=private,
        files=files,
        left_out=left_out,
        commit_url=commit.commit_url,
    )
    if space:
        space_id = space_id or repo_id
        try:
            with _hub_errors(space_id):
                result.space_url = _push_space(api, space_id, repo_id, space_files, private=private)
        except HfftError as err:
            # Say what did happen: the model is on the Hub, only the Space is missing.
            raise HfftError(
                f"the model was pushed to {result.repo_url}, but the Space was not: {err}"
            ) from err
        result.space_id, result.space_files = space_id, space_files
    return result


def push_command(args: argparse.Namespace) -> int:
    """`hfft push RUN_DIR --repo-id USER/NAME ...`: push and print what went where."""
    result = push_run(
        args.run_dir,
        args.repo_id,
        private=args.private,
        revision=args.revision,
        commit_message=args.commit_message,
        space=args.space or args.space_id is not None,
        space_id=args.space_id,
        dry_run=args.dry_run,
    )
    print(format_result(result))
    return 0


def format_result(result: PushResult) -> str:
    """A human-readable summary of a push (or of a dry run: every file with its size)."""
    where = f"{'private, ' if result.private else ''}revision {result.revision}"
    total = f"{len(result.files)} files ({_human(sum(f.size for f in result.files))})"
    lines = []
    if result.dry_run:
        lines.append("dry run: nothing was uploaded.")
        lines.append(
            f"would push {total} to model repo {result.repo_id} ({where}): {result.repo_url}"
        )
        lines += _file_table(result.files)
    else:
        lines.append(f"pushed {total} to {result.repo_url} ({where})")
        lines.append(f"commit: {result.commit_url}")
    if result.left_out:
        lines.append(f"left out: {', '.join(result.left_out)}")
    if result.space_id:
        space = f"Gradio Space {result.space_id} with {SPACE_MODEL_VARIABLE}={result.repo_id}"
        if result.dry_run:
            lines.append(f"would push {space}: {result.space_url}")
            lines += _file_table(result.space_files)
        else:
            lines.append(f"pushed {space}: {result.space_url}")
        if result.revision != "main":
            lines.append(f"note: the Space loads the model's main branch, not {result.revision}")
        if result.private:
            lines.append(
                "note: the model is private; give the Space a read token as the secret HF_TOKEN "
                "in its settings so that the app can load it"
            )
    return "\n".join(lines)


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

    recipe = _PublishedRecipe.read(run_dir / "recipe.yaml")
    sanitiser = _Sanitiser(run_dir, repo_id, recipe.local_paths)
    guard = _LeakGuard(run_dir, token, recipe.secrets)
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


def _space_files(repo_id: str, run_dir: Path, token: str | None) -> list[UploadFile]:
    files = collect_space_files(repo_id)
    guard = _LeakGuard(run_dir, token)
    for f in files:
        guard.check(f"Space file {f.path_in_repo}", f.content or b"")
    return files


def collect_space_files(repo_id: str, space_dir: Path | None = None) -> list[UploadFile]:
    """The Space's files: hfft's Gradio app from `space_dir` (default SPACE_DIR), its README with
    `sdk: gradio` front matter, a pinned requirements.txt, and the model id fallback file."""
    space_dir = Path(space_dir or SPACE_DIR)
    if not (space_dir / "app.py").is_file():
        raise HfftError(
            f"cannot build the Space: hfft's Gradio app {space_dir / 'app.py'} is missing; "
            "install hfft from a source checkout (it ships space/app.py) or push without --space"
        )
    files = {}
    for path in sorted(space_dir.rglob("*")):
        rel = path.relative_to(space_dir).as_posix()
        hidden = any(part.startswith(".") or part == "__pycache__" for part in Path(rel).parts)
        if path.is_file() and not hidden and not rel.endswith(".pyc"):
            files[rel] = path.read_bytes()

    readme = files.get("README.md", b"").decode("utf-8")
    files["README.md"] = space_readme(repo_id, readme or None).encode()
    reqs = files.get("requirements.txt", b"").decode("utf-8")
    files["requirements.txt"] = pin_requirements(
        reqs if reqs.strip() else "\n".join(DEFAULT_SPACE_REQUIREMENTS) + "\n"
    ).encode()
    files[SPACE_MODEL_FILE] = f"{repo_id}\n".encode()
    return [UploadFile(rel, len(data), content=data) for rel, data in sorted(files.items())]


def space_readme(repo_id: str, readme: str | None = None) -> str:
    """The Space card: `readme` (space/README.md) or a generated one, with front matter that makes
    it a Gradio Space of the installed Gradio version, linked to the model `repo_id`."""
    from huggingface_hub import SpaceCard

    name = repo_id.split("/")[-1]
    if not readme or not readme.lstrip().startswith("---"):
        body = readme or (
            f"# {name}\n\nA demo of the fine-tuned classifier "
            f"[{repo_id}](https://huggingface.co/{repo_id}), trained with hfft.\n\n"
            f"The app loads the model named by the Space variable `{SPACE_MODEL_VARIABLE}`, "
            "and its example inputs from the model repo.\n"
        )
        readme = f"---\ntitle: {name}\n---\n{body}"
    card = SpaceCard(readme)
    data = card.data
    data.title = data.title or name
    data.sdk = "gradio"  # hfft's app is a Gradio app, whatever the template said
    data.sdk_version = data.sdk_version or _installed_version("gradio")
    data.app_file = data.app_file or "app.py"
    models = list(data.models or [])
    data.models = [*models, repo_id] if repo_id not in models else models
    return str(card)


def pin_requirements(text: str) -> str:
    """Pin every unpinned requirement to the version installed here (the one the app was tested
    with); lines that already carry a version, a URL or an option are kept as they are."""
    out = []
    for line in text.splitlines():
        spec = line.split("#", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?", spec)
        version = _installed_version(match.group(1)) if match else None
        out.append(f"{spec}=={version}" if version else line)
    return "\n".join(out).strip() + "\n"


# --------------------------------------------------------------------------- sanitising


class _Sanitiser:
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
                replacements.setdefault(form, _basename(form))
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
        return self.pattern.sub(lambda m: _basename(m.group(0)), text)

    def is_local(self, value: str) -> bool:
        """Whether a card metadata value names something on this machine rather than the Hub."""
        from hfft.card import is_local_path

        forms = set(_absolute_forms(value))
        return any(old in forms for old, _ in self.replacements) or is_local_path(value)


class _LeakGuard:
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


@dataclass
class _PublishedRecipe:
    """recipe.yaml as it is published: local paths (output dir, local data, local checkpoint)
    reduced to their basename and token-like values dropped (hfft.card.sanitize_recipe, the same
    rules as the recipe shown in the card), plus what was removed, to be hunted in other files."""

    content: bytes = b""
    local_paths: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> _PublishedRecipe:
        """The published form of the recipe at `path` (empty when there is none)."""
        from hfft.card import sanitize_recipe

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


def _drop_local_card_metadata(text: str, sanitiser: _Sanitiser) -> str:
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


def _basename(value: str) -> str:
    return PurePosixPath(value.replace("\\", "/").rstrip("/")).name or value


# --------------------------------------------------------------------------- Hub calls


def _push_space(api, space_id: str, model_id: str, files: list[UploadFile], *, private: bool):
    """Create/update the Gradio Space and point it at the model; returns the Space's URL."""
    variable = {
        "key": SPACE_MODEL_VARIABLE,
        "value": model_id,
        "description": "Hub id of the model the hfft demo loads",
    }
    url = api.create_repo(
        space_id,
        repo_type="space",
        space_sdk="gradio",
        private=private,
        exist_ok=True,
        space_variables=[variable],
    )
    # create_repo ignores space_variables when the Space already exists: set it again so that
    # re-pushing to an existing Space (maybe for another model) points it at this one.
    api.add_space_variable(
        space_id, SPACE_MODEL_VARIABLE, model_id, description=variable["description"]
    )
    api.create_commit(
        space_id,
        repo_type="space",
        operations=[f.operation() for f in files],
        commit_message=f"Gradio demo for {model_id} (hfft)",
    )
    return str(url)


@contextlib.contextmanager
def _hub_errors(repo_id: str) -> Iterator[None]:
    """Turn huggingface_hub/httpx failures into one-line HfftErrors that say what to do."""
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    try:
        yield
    except OfflineModeIsEnabled as err:
        raise HfftError(_offline_message()) from err
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else None
        if status == 401:
            message = (
                "the Hub rejected your token (401 Unauthorized): it is invalid or expired; "
                f"{LOGIN_HINT} with a valid write token"
            )
        elif status == 403:
            message = (
                f"your token may not write to {repo_id} (403 Forbidden): use a token with write "
                "access (https://huggingface.co/settings/tokens) and a namespace you own or "
                "belong to"
            )
        else:
            detail = err.server_message or first_line(err)
            message = f"the Hub refused the push to {repo_id} ({status}): {detail}"
        raise HfftError(" ".join(message.split())) from err
    except httpx2.TransportError as err:
        raise HfftError(
            f"cannot reach the Hub at {constants.ENDPOINT} ({type(err).__name__}): check your "
            "network connection, proxy and HF_ENDPOINT, then push again"
        ) from err
    except ValueError as err:  # e.g. invalid README.md metadata, found before any upload
        raise HfftError(" ".join(f"cannot push to {repo_id}: {err}".split())) from err


def _check_run_dir(run_dir: str | os.PathLike) -> Path:
    path = Path(run_dir).expanduser()
    if not path.is_dir():
        raise HfftError(f"run directory {path} does not exist; pass the output_dir of `hfft train`")
    from hfft.run_dir import require_finished

    require_finished(path, "push")
    missing = []
    if not (path / CONFIG_FILE).is_file():
        missing.append(CONFIG_FILE)
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        missing.append("model weights (model.safetensors)")
    if missing:
        raise HfftError(
            f"{path} is not a finished run: no {' and no '.join(missing)}; push the output_dir "
            "of a completed `hfft train` (interrupted runs only have checkpoints/)"
        )
    return path


def _check_repo_id(repo_id: str, option: str) -> None:
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise HfftError(f"{option} {repo_id!r} is not a valid repo id (USER/NAME): {err}") from err


def _check_online() -> None:
    from huggingface_hub import constants

    if constants.is_offline_mode():
        raise HfftError(_offline_message())


def _offline_message() -> str:
    # huggingface_hub goes offline on either variable.
    names = [n for n in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") if os.environ.get(n)]
    names = names or ["HF_HUB_OFFLINE"]
    return (
        f"offline mode is on ({' and '.join(names)} set), so hfft may not reach the Hub: "
        f"unset {' and '.join(names)} to push (--dry-run works offline)"
    )


def _get_token(token: str | None) -> str:
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise HfftError(f"no Hugging Face token found: {LOGIN_HINT}")
    return token


def _repo_url(repo_id: str, repo_type: str = "model") -> str:
    from huggingface_hub import constants

    prefix = "" if repo_type == "model" else f"{repo_type}s/"
    return f"{constants.ENDPOINT}/{prefix}{repo_id}"


def _installed_version(package: str) -> str | None:
    try:
        version = metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
    # A local build tag (torch 2.x+cu128) does not exist on PyPI: pin the public version.
    return version.split("+", 1)[0]


def _top_level(rel: str) -> str:
    head, _, rest = rel.partition("/")
    return f"{head}/" if rest else head


def _file_table(files: list[UploadFile]) -> list[str]:
    width = max((len(f.path_in_repo) for f in files), default=0)
    return [f"  {f.path_in_repo:<{width}}  {_human(f.size):>9}" for f in files]


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")
