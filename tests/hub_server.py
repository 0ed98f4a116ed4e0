"""A Hub-compatible server for tests: the real `huggingface_hub` client talks to it over HTTP.

It serves what `create_repo`, `create_branch`, `create_commit` (preupload answering "regular", then
an NDJSON commit with inline base64 content), `add_space_variable`, `whoami`, `repo_info`,
`list_repo_tree` and `snapshot_download` need, keeps every repo in memory, and records every
request. Tokens: `FakeHub.tokens` maps a token to its user; an unknown token gets 401, a token in
`read_only` (or one writing outside its user's namespace) gets 403; `spaces_need_payment` makes
creating a Space answer 402.

    with FakeHub() as hub:            # serving on 127.0.0.1:<free port>
        hub.url, hub.repos, hub.requests
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

GOOD_TOKEN = "hf_fake_write_token_0123456789"
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}


@dataclass
class Repo:
    """A repo: branches point at commits, a commit is a full snapshot {path: bytes}."""

    repo_type: str
    repo_id: str
    private: bool = False
    sdk: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)

    def files(self, revision: str = "main") -> dict[str, bytes]:
        """The files at a branch or commit ({} for an empty repo)."""
        sha = self.branches.get(revision, revision)
        return self.commits.get(sha, {})

    def resolve(self, revision: str) -> str | None:
        if revision in self.branches:
            return self.branches[revision]
        return revision if revision in self.commits else None


@dataclass
class Request:
    method: str
    path: str
    token: str | None
    body: bytes


class FakeHub:
    """The in-memory Hub plus the HTTP server thread that exposes it."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {GOOD_TOKEN: "tester"}
        self.read_only: set[str] = set()
        # Like the Hub for a free account: Spaces that need compute (gradio) are paid.
        self.spaces_need_payment = False
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo:
        """The stored repo (KeyError if it was never created)."""
        return self.repos[(repo_type, repo_id)]


class _HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, **extra):
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra


def _blob_oid(data: bytes) -> str:
    """The git blob id of `data`, as the Hub reports it."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _make_handler(hub: FakeHub):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        # ---------------------------------------------------------------- plumbing
        def _dispatch(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            auth = self.headers.get("Authorization") or ""
            token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
            path = unquote(urlsplit(self.path).path)
            query = parse_qs(urlsplit(self.path).query)
            with hub.lock:
                hub.requests.append(Request(method, self.path, token, body))
                try:
                    status, payload, headers = self._route(method, path, query, token, body)
                except _HubError as err:
                    headers = {"X-Error-Message": err.message}
                    if err.code:
                        headers["X-Error-Code"] = err.code
                    status, payload = err.status, {"error": err.message, **err.extra}
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            if not isinstance(payload, bytes):
                self.send_header("Content-Type", "application/json")
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(data)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_HEAD(self) -> None:
            self._dispatch("HEAD")

        def do_POST(self) -> None:
            self._dispatch("POST")

        # ---------------------------------------------------------------- auth
        def _user(self, token: str | None, *, required: bool) -> str | None:
            if token is None:
                if required:
                    raise _HubError(401, "Invalid credentials in Authorization header")
                return None
            if token not in hub.tokens:
                raise _HubError(401, "Invalid credentials in Authorization header")
            return hub.tokens[token]

        def _check_write(self, token: str | None, namespace: str) -> None:
            user = self._user(token, required=True)
            if token in hub.read_only or namespace != user:
                raise _HubError(403, f"You don't have the rights to write to {namespace}")

        def _get_repo(self, repo_type: str, repo_id: str, token: str | None) -> Repo:
            user = self._user(token, required=False)
            repo = hub.repos.get((repo_type, repo_id))
            if repo is None or (repo.private and repo_id.split("/")[0] != user):
                raise _HubError(404, "Repository not found", "RepoNotFound")
            return repo

        # ---------------------------------------------------------------- routes
        def _route(self, method, path, query, token, body):
            if path == "/api/whoami-v2" and method == "GET":
                user = self._user(token, required=True)
                return 200, {"type": "user", "name": user, "auth": {"type": "access_token"}}, {}
            if path == "/api/repos/create" and method == "POST":
                return self._create(token, json.loads(body))
            if path == "/api/validate-yaml" and method == "POST":
                return 200, {"errors": [], "warnings": []}, {}

            api = re.fullmatch(r"/api/(models|datasets|spaces)/([^/]+/[^/]+)(/.*)?", path)
            if api:
                repo_type, repo_id, rest = REPO_TYPES[api[1]], api[2], api[3] or ""
                return self._repo_api(method, repo_type, repo_id, rest, token, body)

            resolve = re.fullmatch(r"/(datasets/|spaces/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            if resolve and method in ("GET", "HEAD"):
                repo_type = {"datasets/": "dataset", "spaces/": "space"}.get(resolve[1], "model")
                return self._resolve(repo_type, resolve[2], resolve[3], resolve[4], token)
            raise _HubError(404, f"no route for {method} {path}")

        def _create(self, token, payload):
            namespace = payload.get("organization") or self._user(token, required=True)
            self._check_write(token, namespace)
            repo_type = payload.get("type") or "model"
            if repo_type == "space" and hub.spaces_need_payment:
                raise _HubError(402, "A subscription is required to create a gradio Space")
            repo_id = f"{namespace}/{payload['name']}"
            url = f"{hub.url}/{URL_PREFIX[repo_type]}{repo_id}"
            if (repo_type, repo_id) in hub.repos:
                # The Hub answers a conflict with the existing repo's url (create_repo reads it).
                raise _HubError(409, "You already created this repo", url=url)
            hub.repos[(repo_type, repo_id)] = Repo(
                repo_type=repo_type,
                repo_id=repo_id,
                private=payload.get("visibility") == "private",
                sdk=payload.get("sdk"),
                variables={v["key"]: v["value"] for v in payload.get("variables") or []},
            )
            repo = hub.repos[(repo_type, repo_id)]
            repo.branches["main"] = _empty_commit(repo)  # like the Hub's "initial commit"
            return 200, {"url": url, "name": repo_id}, {}

        def _repo_api(self, method, repo_type, repo_id, rest, token, body):
            namespace = repo_id.split("/")[0]
            if method == "POST":
                self._check_write(token, namespace)
            repo = self._get_repo(repo_type, repo_id, token)

            if method == "GET" and (rest == "" or rest.startswith("/revision/")):
                revision = rest[len("/revision/") :] or "main"
                sha = repo.resolve(revision)
                if sha is None:
                    raise _HubError(404, "Invalid rev id", "RevisionNotFound")
                files = repo.files(sha)
                info = {
                    "id": repo_id,
                    "sha": sha,
                    "private": repo.private,
                    "siblings": [{"rfilename": p} for p in sorted(files)],
                }
                if repo_type == "space":
                    info["sdk"] = repo.sdk
                return 200, info, {}
            tree = re.fullmatch(r"/tree/([^/]+)(/.*)?", rest)
            if method == "GET" and tree:
                if repo.resolve(tree[1]) is None:
                    raise _HubError(404, "Invalid rev id", "RevisionNotFound")
                prefix = (tree[2] or "/").lstrip("/")
                entries = [
                    {"type": "file", "path": p, "size": len(data), "oid": _blob_oid(data)}
                    for p, data in sorted(repo.files(tree[1]).items())
                    if p.startswith(prefix)
                ]
                return 200, entries, {}
            if method == "POST" and rest.startswith("/preupload/"):
                files = json.loads(body)["files"]
                answer = [
                    {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                    for f in files
                ]
                return 200, {"files": answer}, {}
            if method == "POST" and rest.startswith("/commit/"):
                return self._commit(repo, rest[len("/commit/") :], body)
            if method == "POST" and rest.startswith("/branch/"):
                branch = rest[len("/branch/") :]
                if branch in repo.branches:
                    raise _HubError(409, "Reference already exists")
                repo.branches[branch] = repo.branches.get("main") or _empty_commit(repo)
                return 200, {}, {}
            if method == "POST" and rest == "/variables" and repo_type == "space":
                variable = json.loads(body)
                repo.variables[variable["key"]] = variable["value"]
                return 200, {k: {"value": v} for k, v in repo.variables.items()}, {}
            raise _HubError(404, f"no route for {method} {rest}")

        def _commit(self, repo: Repo, revision: str, body: bytes):
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            header = lines[0]
            assert header["key"] == "header", header
            if revision not in repo.branches:
                raise _HubError(404, "Invalid rev id", "RevisionNotFound")
            files = dict(repo.files(revision))
            for line in lines[1:]:
                value = line["value"]
                if line["key"] == "file":
                    assert value["encoding"] == "base64"
                    files[value["path"]] = base64.b64decode(value["content"])
                elif line["key"] in ("deletedFile", "deletedFolder"):
                    prefix = value["path"]
                    files = {
                        p: d
                        for p, d in files.items()
                        if p != prefix and not p.startswith(prefix.rstrip("/") + "/")
                    }
                else:  # this Hub only answers "regular" upload modes: no LFS
                    raise _HubError(400, f"unsupported commit operation {line['key']}")
            sha = hashlib.sha1(
                json.dumps([header, sorted(files), len(repo.commits)]).encode()
            ).hexdigest()
            repo.commits[sha] = files
            repo.branches[revision] = sha
            repo.messages.append(header["value"]["summary"])
            url = f"{hub.url}/{URL_PREFIX[repo.repo_type]}{repo.repo_id}/commit/{sha}"
            return 200, {"commitUrl": url, "commitOid": sha, "pullRequestUrl": None}, {}

        def _resolve(self, repo_type, repo_id, revision, filename, token):
            repo = self._get_repo(repo_type, repo_id, token)
            sha = repo.resolve(revision)
            if sha is None:
                raise _HubError(404, "Invalid rev id", "RevisionNotFound")
            files = repo.files(sha)
            if filename not in files:
                raise _HubError(404, "Entry not found", "EntryNotFound")
            data = files[filename]
            headers = {"X-Repo-Commit": sha, "ETag": f'"{_blob_oid(data)}"'}
            return 200, data, headers

    return Handler


def _empty_commit(repo: Repo) -> str:
    sha = hashlib.sha1(f"empty {repo.repo_id}".encode()).hexdigest()
    repo.commits.setdefault(sha, {})
    return sha
