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


def _handler(repos: dict[str, Path]):
    class Hub(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def _files(self, repo: str) -> list[str]:
            root = repos[repo]
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
                        for f in self._files(repo)
                    ]
                    return self._send(
                        200, json.dumps(tree).encode(), {"Content-Type": "application/json"}, head
                    )
                siblings = [{"rfilename": f} for f in self._files(repo)]
                body = json.dumps({"id": repo, "sha": COMMIT, "siblings": siblings}).encode()
                return self._send(200, body, {"Content-Type": "application/json"}, head)
            parts = path.strip("/").split("/")
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
                        "X-Repo-Commit": COMMIT,
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
