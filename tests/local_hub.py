"""A local Hugging Face Hub endpoint for tests: the unmodified ``huggingface_hub.HfApi`` talks HTTP to it.

Implements the part of the Hub's HTTP API that pushing uses (``huggingface_hub`` 2.4.0), and the reads it needs:

* ``POST /api/repos/create``: create a model/dataset repo (with a ``.gitattributes``); 409 + url if it exists
* ``POST /api/validate-yaml``: README.md metadata check (the YAML front matter must parse to a mapping)
* ``POST /api/{type}s/{repo_id}/preupload/{revision}``: every file ``uploadMode: "regular"`` (no LFS/Xet), with
  the stored file's git blob id as ``oid`` so unchanged files are skipped as on the Hub
* ``POST /api/{type}s/{repo_id}/commit/{revision}``: the NDJSON commit (header, ``file`` in base64,
  ``deletedFile``, ``deletedFolder``), checked first, then applied
* ``GET /api/{type}s/{repo_id}/tree/{revision}[/{path}]``: tree listing (``recursive``), for ``delete_patterns``
* ``GET /api/{type}s/{repo_id}[/revision/{revision}]``: repo info (id, sha, private, siblings)
* ``HEAD|GET /[{type}s/]{repo_id}/resolve/{revision}/{path}``: file download (``hf_hub_download``,
  ``ModelCard.load`` of a repo id)
* ``GET /api/agent-harnesses``: the registry the client fetches once per process to tag its user agent (empty)

Anything else answers 404 with a message naming the request, and is recorded in ``LocalHub.unhandled`` (the
``active()`` context fails on exit if a request went unanswered that way, so missing coverage is a test failure
even where the client swallows a 404). Writes need ``Authorization: Bearer <token>``; reads accept no token but
reject a wrong one, and private repos are invisible without it. Only the default branch ``main`` exists.

Each repo's files live in a plain directory, ``LocalHub.repo_dir(repo_id, repo_type)``; ``LocalHub.commits``
records every commit (repo, summary, added and deleted paths, oid).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

TOKEN = "local-test-token"
DEFAULT_BRANCH = "main"
REPO_TYPES = ("model", "dataset", "space")
_TYPE_SEGMENT = "(?P<type>models|datasets|spaces)"
_REPO = r"(?P<repo>[^/]+/[^/]+|[^/]+)"
_API_REPO_ROUTE = re.compile(
    rf"^/api/{_TYPE_SEGMENT}/{_REPO}/(?P<action>preupload|commit|tree)/(?P<revision>[^/]+)(?P<path>/.*)?$"
)
_API_INFO_ROUTE = re.compile(rf"^/api/{_TYPE_SEGMENT}/{_REPO}(?:/revision/(?P<revision>[^/]+))?$")
_RESOLVE_ROUTE = re.compile(rf"^(?:/(?P<type>datasets|spaces))?/{_REPO}/resolve/(?P<revision>[^/]+)/(?P<path>.+)$")
_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in ("*.bin", "*.h5", "*.npz", "*.onnx", "*.parquet", "*.pt", "*.pth", "*.safetensors", "*.zip")
)


def git_blob_id(content: bytes) -> str:
    """The git object id of a file (what the Hub reports as a regular file's ``oid``)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class HubError(Exception):
    def __init__(self, status: int, message: str, error_code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.error_code = status, message, error_code


class LocalHub:
    """The server and its storage. Use as a context manager (start/stop) and ``active()`` to point
    ``huggingface_hub`` at it."""

    def __init__(self, root, token: str = TOKEN):
        self.root = Path(root)
        self.token = token
        self.repos: dict[tuple[str, str], dict] = {}  # (repo_type, repo_id) -> {"private", "sha"}
        self.commits: list[dict] = []
        self.requests: list[str] = []
        self.unhandled: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------------------------------- lifecycle
    def start(self) -> LocalHub:
        hub = self

        class Handler(_Handler):
            local_hub = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ----------------------------------------------------------------------------------------- client side
    def api(self, **kwargs):
        """An unmodified ``HfApi`` for this endpoint, with the test token."""
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.endpoint, token=self.token, **kwargs)

    @contextlib.contextmanager
    def active(self):
        """Point code that builds its own ``HfApi()`` (or uses the module-level functions) at this endpoint.

        ``huggingface_hub`` 2.4.0 reads ``constants.ENDPOINT`` when an ``HfApi`` is made, ``hf_hub_url`` formats
        ``constants.HUGGINGFACE_CO_URL_TEMPLATE``, the module-level ``upload_file``/``create_repo``/... (used by
        ``ModelCard.push_to_hub``) are methods of ``hf_api.api``, made at import with the endpoint of that time,
        and every request is refused while ``constants.HF_HUB_OFFLINE`` is set (the test session sets it). The
        token comes from ``HF_TOKEN``; downloads (and the client's agent registry) go to a cache inside this hub's
        root. All undone on exit.
        """
        import pytest
        from huggingface_hub import constants, hf_api

        unhandled_before = len(self.unhandled)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(constants, "ENDPOINT", self.endpoint)
            patch.setattr(
                constants, "HUGGINGFACE_CO_URL_TEMPLATE", self.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
            )
            patch.setattr(constants, "HF_HUB_OFFLINE", False)
            patch.setattr(constants, "HF_HUB_CACHE", str(self.root / "client-cache"))
            patch.setattr(constants, "AGENT_HARNESSES_PATH", str(self.root / "client-cache" / "agent_harnesses.json"))
            patch.setattr(hf_api.api, "endpoint", self.endpoint)
            patch.setenv("HF_TOKEN", self.token)
            patch.setenv("HF_ENDPOINT", self.endpoint)  # for subprocesses
            patch.delenv("HF_HUB_OFFLINE", raising=False)
            yield self
        missed = self.unhandled[unhandled_before:]
        assert not missed, f"the local Hub got requests it does not implement: {missed}"

    # ----------------------------------------------------------------------------------------- storage
    def repo_dir(self, repo_id: str, repo_type: str = "model") -> Path:
        """Where the files of the repo (its ``main`` branch) are."""
        if repo_type not in REPO_TYPES:
            raise ValueError(f"repo_type must be one of {REPO_TYPES}, got {repo_type!r}")
        return self.root / "repos" / f"{repo_type}s" / repo_id

    def repo_url(self, repo_id: str, repo_type: str = "model") -> str:
        return f"{self.endpoint}/{'' if repo_type == 'model' else repo_type + 's/'}{repo_id}"

    def files(self, repo_id: str, repo_type: str = "model") -> list[str]:
        """The repo's file paths, sorted."""
        repo = self.repo_dir(repo_id, repo_type)
        return sorted(path.relative_to(repo).as_posix() for path in repo.rglob("*") if path.is_file())

    def _repo(self, repo_type: str, repo_id: str, authorized: bool) -> dict:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None or (repo["private"] and not authorized):
            raise HubError(404, f"Repository {repo_type}s/{repo_id} not found", "RepoNotFound")
        return repo

    @staticmethod
    def _check_revision(revision: str, head: str | None = None):
        """Writes name the branch; reads may also name its head commit (``head``), as clients that pin the
        commit of a first request do."""
        if unquote(revision) not in (DEFAULT_BRANCH, head):
            raise HubError(404, f"Invalid rev id: {unquote(revision)} (only {DEFAULT_BRANCH!r} exists here)",
                           "RevisionNotFound")  # fmt: skip

    @staticmethod
    def _check_path(path: str) -> str:
        parts = PurePosixPath(path).parts
        if not path or path.startswith("/") or any(part in ("", ".", "..") for part in parts) or "\\" in path:
            raise HubError(400, f"Invalid path in repo: {path!r}")
        return path

    # ----------------------------------------------------------------------------------------- endpoints
    def create_repo(self, body: dict) -> tuple[int, dict]:
        repo_type = body.get("type") or "model"
        if repo_type not in REPO_TYPES:
            raise HubError(400, f"Invalid repo type {repo_type!r}")
        name = body.get("name")
        if not name or "/" in name:
            raise HubError(400, f"Invalid repo name {name!r}")
        repo_id = f"{body['organization']}/{name}" if body.get("organization") else name
        url = self.repo_url(repo_id, repo_type)
        if (repo_type, repo_id) in self.repos:
            return 409, {"error": f"You already created this {repo_type} repo", "url": url}
        directory = self.repo_dir(repo_id, repo_type)
        directory.mkdir(parents=True, exist_ok=False)
        (directory / ".gitattributes").write_text(_GITATTRIBUTES)
        sha = hashlib.sha1(f"initial commit of {repo_type}s/{repo_id}".encode()).hexdigest()
        self.repos[(repo_type, repo_id)] = {"private": body.get("visibility") == "private", "sha": sha}
        self.commits.append({"repo_id": repo_id, "repo_type": repo_type, "summary": "initial commit",
                             "description": "", "added": [".gitattributes"], "deleted": [], "oid": sha})  # fmt: skip
        return 200, {"url": url, "name": repo_id, "id": hashlib.sha1(url.encode()).hexdigest()[:24]}

    @staticmethod
    def validate_yaml(body: dict) -> tuple[int, dict]:
        content = body.get("content", "")
        match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", content, flags=re.DOTALL)
        if match is None:
            return 200, {"errors": [], "warnings": [{"message": "Empty or missing yaml metadata in repo card"}]}
        try:
            metadata = yaml.safe_load(match.group(1))
        except yaml.YAMLError as error:
            return 400, {"errors": [{"message": f"Invalid YAML: {error}"}], "warnings": []}
        if metadata is not None and not isinstance(metadata, dict):
            return 400, {"errors": [{"message": "The metadata must be a YAML mapping"}], "warnings": []}
        return 200, {"errors": [], "warnings": []}

    def preupload(self, repo_type, repo_id, revision, body, authorized) -> tuple[int, dict]:
        self._repo(repo_type, repo_id, authorized)
        self._check_revision(revision)
        files = body.get("files")
        if not isinstance(files, list):
            raise HubError(400, "preupload: 'files' must be a list")
        directory = self.repo_dir(repo_id, repo_type)
        answers = []
        for file in files:
            path = self._check_path(file["path"])
            base64.b64decode(file["sample"], validate=True)
            int(file["size"])
            existing = directory / path
            oid = git_blob_id(existing.read_bytes()) if existing.is_file() else None
            answers.append({"path": path, "uploadMode": "regular", "shouldIgnore": False, "oid": oid})
        return 200, {"files": answers, "commitOid": self.repos[(repo_type, repo_id)]["sha"]}

    def commit(self, repo_type, repo_id, revision, raw: bytes, query: dict, authorized) -> tuple[int, dict]:
        repo = self._repo(repo_type, repo_id, authorized)
        self._check_revision(revision)
        if query.get("create_pr"):
            raise HubError(400, "The local Hub does not implement pull requests (create_pr)")
        try:
            lines = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise HubError(400, f"commit: the body is not NDJSON ({error})") from None
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "commit: the first NDJSON line must be the header")
        header = lines[0]["value"]
        if not header.get("summary"):
            raise HubError(400, "commit: the header needs a summary")
        if header.get("parentCommit") not in (None, repo["sha"]):
            raise HubError(412, f"commit: parent {header['parentCommit']} is not the head {repo['sha']}")
        directory = self.repo_dir(repo_id, repo_type)
        present = set(self.files(repo_id, repo_type))
        additions, deletions = {}, []
        for line in lines[1:]:
            key, value = line.get("key"), line.get("value", {})
            path = str(value.get("path", ""))
            path = self._check_path(path.rstrip("/") if key == "deletedFolder" else path)
            if key == "file":
                if value.get("encoding") != "base64":
                    raise HubError(400, f"commit: unsupported encoding {value.get('encoding')!r} for {path}")
                additions[path] = base64.b64decode(value["content"], validate=True)
            elif key == "deletedFile":
                if path not in present:
                    raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                deletions.append(path)
            elif key == "deletedFolder":
                if not any(name.startswith(path + "/") for name in present):
                    raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
                deletions.append(path + "/")
            elif key == "lfsFile":
                raise HubError(400, f"commit: LFS file {path} never preuploaded (the local Hub answers 'regular')")
            else:
                raise HubError(400, f"commit: unknown operation key {key!r}")
        for path in deletions:
            target = directory / path
            shutil.rmtree(target) if path.endswith("/") else target.unlink()
        for path, content in additions.items():
            (directory / path).parent.mkdir(parents=True, exist_ok=True)
            (directory / path).write_bytes(content)
        for folder in sorted((p for p in directory.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            if not any(folder.iterdir()):
                folder.rmdir()  # git has no empty folders
        state = json.dumps([repo["sha"], header, sorted((p, git_blob_id(c)) for p, c in additions.items()), deletions])
        repo["sha"] = hashlib.sha1(state.encode()).hexdigest()
        self.commits.append({"repo_id": repo_id, "repo_type": repo_type, "summary": header["summary"],
                             "description": header.get("description", ""), "added": sorted(additions),
                             "deleted": sorted(deletions), "oid": repo["sha"]})  # fmt: skip
        url = f"{self.repo_url(repo_id, repo_type)}/commit/{repo['sha']}"
        return 200, {"success": True, "commitOid": repo["sha"], "commitUrl": url, "hookOutput": ""}

    def tree(self, repo_type, repo_id, revision, path, query, authorized) -> tuple[int, list]:
        repo = self._repo(repo_type, repo_id, authorized)
        self._check_revision(revision, repo["sha"])
        recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
        base = self.repo_dir(repo_id, repo_type)
        start = base / self._check_path(path) if path else base
        if not start.is_dir():
            raise HubError(404, f"{path!r} is not a folder of {repo_type}s/{repo_id}", "EntryNotFound")
        entries = []
        for item in sorted(start.rglob("*") if recursive else start.iterdir()):
            name = item.relative_to(base).as_posix()
            if item.is_dir():
                entries.append({"type": "directory", "path": name, "oid": hashlib.sha1(name.encode()).hexdigest(),
                                "size": 0})  # fmt: skip
            else:
                content = item.read_bytes()
                entries.append({"type": "file", "path": name, "size": len(content), "oid": git_blob_id(content)})
        return 200, entries

    def info(self, repo_type, repo_id, revision, authorized) -> tuple[int, dict]:
        repo = self._repo(repo_type, repo_id, authorized)
        if revision is not None:
            self._check_revision(revision, repo["sha"])
        siblings = [{"rfilename": name} for name in self.files(repo_id, repo_type)]
        return 200, {"id": repo_id, "sha": repo["sha"], "private": repo["private"], "disabled": False,
                     "gated": False, "siblings": siblings, "tags": []}  # fmt: skip

    def resolve(self, repo_type, repo_id, revision, path, authorized) -> tuple[bytes, dict]:
        repo = self._repo(repo_type, repo_id, authorized)
        self._check_revision(revision, repo["sha"])
        file = self.repo_dir(repo_id, repo_type) / self._check_path(path)
        if not file.is_file():
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        content = file.read_bytes()
        headers = {"X-Repo-Commit": repo["sha"], "ETag": f'"{git_blob_id(content)}"',
                   "Content-Type": "application/octet-stream"}  # fmt: skip
        return content, headers


class _Handler(BaseHTTPRequestHandler):
    local_hub: LocalHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet; requests are recorded in LocalHub.requests
        pass

    def do_GET(self):
        self._handle("GET")

    def do_HEAD(self):
        self._handle("HEAD")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def do_PATCH(self):
        self._handle("PATCH")

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise HubError(411, "the local Hub needs a Content-Length (chunked bodies are not implemented)")
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _authorized(self, required: bool) -> bool:
        header = self.headers.get("Authorization")
        hub = self.local_hub
        if header is None:
            if required:
                raise HubError(401, "Invalid credentials in Authorization header")
            return False
        if header != f"Bearer {hub.token}":
            raise HubError(401, "Invalid credentials in Authorization header")
        return True

    def _handle(self, method: str):
        hub = self.local_hub
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        request = f"{method} {self.path}"
        try:
            body = self._body()
            with hub._lock:
                hub.requests.append(request)
                self._route(method, path, query, body)
        except HubError as error:
            headers = {"X-Error-Message": error.message}
            if error.error_code:
                headers["X-Error-Code"] = error.error_code
            self._send(error.status, {"error": error.message}, headers, head=method == "HEAD")
        except Exception as error:  # noqa: BLE001 - a bug here: answer 500 with it rather than drop the connection
            self._send(500, {"error": f"local Hub failed on {request}: {error!r}"}, head=method == "HEAD")

    def _route(self, method, path, query, body):
        hub = self.local_hub

        def json_body() -> dict:
            try:
                return json.loads(body or b"{}")
            except json.JSONDecodeError as error:
                raise HubError(400, f"the body is not JSON ({error})") from None

        if method == "POST" and path == "/api/repos/create":
            self._authorized(required=True)
            return self._send(*hub.create_repo(json_body()))
        if method == "POST" and path == "/api/validate-yaml":
            return self._send(*hub.validate_yaml(json_body()))
        if method == "GET" and path == "/api/agent-harnesses":  # fetched once per process to tag the user agent
            return self._send(200, {"standardEnvVars": [], "harnesses": {}})
        match = _API_REPO_ROUTE.match(path)
        if match:
            repo_type, repo_id, action = match["type"][:-1], match["repo"], match["action"]
            if method == "POST" and action == "preupload":
                authorized = self._authorized(required=True)
                return self._send(*hub.preupload(repo_type, repo_id, match["revision"], json_body(), authorized))
            if method == "POST" and action == "commit":
                if not self.headers.get("Content-Type", "").startswith("application/x-ndjson"):
                    raise HubError(400, "commit: Content-Type must be application/x-ndjson")
                authorized = self._authorized(required=True)
                return self._send(*hub.commit(repo_type, repo_id, match["revision"], body, query, authorized))
            if method == "GET" and action == "tree":
                authorized = self._authorized(required=False)
                tree_path = (match["path"] or "").lstrip("/")
                return self._send(*hub.tree(repo_type, repo_id, match["revision"], tree_path, query, authorized))
        match = _API_INFO_ROUTE.match(path)
        if match and method == "GET":
            authorized = self._authorized(required=False)
            return self._send(*hub.info(match["type"][:-1], match["repo"], match["revision"], authorized))
        match = _RESOLVE_ROUTE.match(path)
        if match and method in ("GET", "HEAD") and not path.startswith("/api/"):
            authorized = self._authorized(required=False)
            repo_type = match["type"][:-1] if match["type"] else "model"
            content, headers = hub.resolve(repo_type, match["repo"], match["revision"], match["path"], authorized)
            return self._send_bytes(200, content, headers, head=method == "HEAD")
        hub.unhandled.append(f"{method} {path}")
        raise HubError(404, f"the local Hub does not implement {method} {path} (add it to tests/local_hub.py)")

    def _send(self, status: int, payload, headers: dict | None = None, head: bool = False):
        data = json.dumps(payload).encode()
        self._send_bytes(status, data, {"Content-Type": "application/json", **(headers or {})}, head=head)

    def _send_bytes(self, status: int, data: bytes, headers: dict, head: bool = False):
        self.send_response(status)
        for name, value in headers.items():
            # header values are single-line latin-1
            self.send_header(name, " ".join(str(value).split()).encode("latin-1", "replace").decode("latin-1"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)
