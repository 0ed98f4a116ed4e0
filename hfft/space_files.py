"""The files of the Gradio Space `hfft push --space` creates: hfft's app, its card, pinned
requirements and the model id fallback file. Built in memory; nothing here talks to the Hub."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from hfft.errors import HfftError
from hfft.resources import space_dir
from hfft.upload_files import UploadFile

# The Space: hfft's Gradio app (see hfft.resources). Tests may point this elsewhere.
SPACE_DIR = space_dir()
SPACE_MODEL_VARIABLE = "HFFT_MODEL"
# Fallback for the app when the variable is missing (e.g. a Space duplicated without its
# variables): the model id, and nothing else, in a plain text file next to app.py.
SPACE_MODEL_FILE = "hfft_model.txt"
# Packages a Space needs besides what the sdk installs, used when space/requirements.txt is absent.
DEFAULT_SPACE_REQUIREMENTS = ["transformers", "torch", "pillow"]


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
    data.sdk_version = data.sdk_version or installed_version("gradio")
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
        version = installed_version(match.group(1)) if match else None
        out.append(f"{spec}=={version}" if version else line)
    return "\n".join(out).strip() + "\n"


def installed_version(package: str) -> str | None:
    """The public version of an installed package (None when it is not installed)."""
    try:
        version = metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
    # A local build tag (torch 2.x+cu128) does not exist on PyPI: pin the public version.
    return version.split("+", 1)[0]
