"""A local HTTP server that serves model folders in the Hugging Face Hub's layout (for `pull`)."""

from __future__ import annotations

import hashlib
import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _sha(revision: str) -> str:
    """The commit id the server gives a revision."""
    return COMMIT if revision == "main" else hashlib.sha1(revision.encode()).hexdigest()


def _handler(served: dict[str, Path]):
    """`served` maps a repo id, or `repo_id@revision` for another revision, to its folder."""

    class Hub(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def _files(self, root: Path) -> list[str]:
            return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

        def _send(self, code: int, body: bytes, headers: dict[str, str], head: bool) -> None:
            self.send_response(code)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _route(self, head: bool) -> None:
            path = unquote(urlparse(self.path).path)
            revision = "main"
            parts = path.strip("/").split("/")
            for marker in ("/revision/", "/tree/"):
                if path.startswith("/api/models/") and marker in path:
                    revision = path.split(marker, 1)[1].split("/")[0]
            if len(parts) >= 5 and parts[2] == "resolve":
                revision = parts[3]
            known = ["main"] + [key.split("@")[1] for key in served if "@" in key]
            revision = next((r for r in known if revision in (r, _sha(r))), revision)
            repos = {
                key.split("@")[0]: folder
                for key, folder in served.items()
                if key.split("@")[1:] in ([], [revision])
                and ("@" in key or f"{key}@{revision}" not in served)
            }
            if path.startswith("/api/models/"):
                repo = "/".join(path[len("/api/models/") :].split("/")[:2])
                if repo not in repos:
                    return self._send(
                        404,
                        b'{"error": "Repository not found"}',
                        {"X-Error-Code": "RepositoryNotFound"},
                        head,
                    )
                if "/tree/" in path:  # the file listing, one page
                    root = repos[repo]
                    tree = [
                        {
                            "type": "file",
                            "path": f,
                            "size": (root / f).stat().st_size,
                            "oid": hashlib.sha1((root / f).read_bytes()).hexdigest(),
                        }
                        for f in self._files(repos[repo])
                    ]
                    return self._send(
                        200, json.dumps(tree).encode(), {"Content-Type": "application/json"}, head
                    )
                siblings = [{"rfilename": f} for f in self._files(repos[repo])]
                body = json.dumps(
                    {"id": repo, "sha": _sha(revision), "siblings": siblings}
                ).encode()
                return self._send(200, body, {"Content-Type": "application/json"}, head)
            if len(parts) >= 5 and parts[2] == "resolve":
                repo, filename = "/".join(parts[:2]), "/".join(parts[4:])
                file = repos.get(repo, Path("/nonexistent")) / filename
                if not file.is_file():
                    return self._send(404, b"", {"X-Error-Code": "EntryNotFound"}, head)
                data = file.read_bytes()
                etag = hashlib.sha256(data).hexdigest()
                return self._send(
                    200,
                    data,
                    {
                        "ETag": f'"{etag}"',
                        "X-Repo-Commit": _sha(revision),
                        "Content-Type": "application/octet-stream",
                    },
                    head,
                )
            return self._send(404, b"", {}, head)

        def do_GET(self):
            self._route(head=False)

        def do_HEAD(self):
            self._route(head=True)

    return Hub


@contextmanager
def serve_hub(repos: dict[str, Path]):
    """Serve `{repo_id: folder}` on 127.0.0.1; yields the endpoint URL for HF_ENDPOINT."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(repos))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
