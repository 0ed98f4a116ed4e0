"""Push a finished run directory to the Hugging Face Hub, and optionally a Gradio Space for it.

One commit per repo, built with `huggingface_hub`. What goes up is chosen and sanitised by
hfft.upload_files and checked by hfft.leak_guard before anything is sent; the Space's files come
from hfft.space_files. This module makes the Hub calls and turns their failures into one-line
errors that say what to do.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hfft.errors import HfftError, first_line
from hfft.leak_guard import LeakGuard
from hfft.run_files import open_finished
from hfft.space_files import SPACE_MODEL_VARIABLE, collect_space_files
from hfft.upload_files import UploadFile, collect_model_files

LOGIN_HINT = "run `hf auth login` (formerly `huggingface-cli login`) or set HF_TOKEN"


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

    run_dir = open_finished(run_dir, "push", need_weights=True).path
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


def _space_files(repo_id: str, run_dir: Path, token: str | None) -> list[UploadFile]:
    files = collect_space_files(repo_id)
    guard = LeakGuard(run_dir, token)
    for f in files:
        guard.check(f"Space file {f.path_in_repo}", f.content or b"")
    return files


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
