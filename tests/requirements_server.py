"""A local PEP 691 index on 127.0.0.1 serving the recording in tests/fixtures/pypi_recorded.

Also serves broken answers for the bad-input tests: /simple/http-500/ answers 500,
/simple/garbage-json/ answers 200 with a body that is not JSON, /simple/not-a-page/ answers
JSON without a 'files' list, /simple/slow/ answers after 2 s. Every other unknown project is a 404.

`RecordedIndex(wheels={"lxml": [path, ...]})` adds projects whose page is built from local wheel
files (e.g. pinned real wheels from tests.support.wheels), served in full (no PEP 658 file): the
client then has to download the wheel to read its METADATA. With `ranges=True` those files also
answer HTTP range requests (`range_bytes` counts the bytes served that way); `ranges="short"`
answers every range one byte short.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RECORDED = Path(__file__).parent / "fixtures" / "pypi_recorded"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/octet-stream") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_file(self, body: bytes) -> None:
        """A local wheel: whole, or the asked range when the index was started with ranges=True.
        ranges="short" answers one byte less than asked (a lying server)."""
        mode = self.server.ranges  # type: ignore[attr-defined]
        wanted = self.headers.get("Range", "")
        if not mode or not wanted.startswith("bytes="):
            return self._send(200, body)
        first_text, _, last_text = wanted[len("bytes="):].partition("-")
        first, last = int(first_text), min(int(last_text), len(body) - 1)
        self.server.range_bytes += last - first + 1  # type: ignore[attr-defined]
        part = body[first:last + 1]
        if mode == "short":
            part = part[:-1]
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Range", f"bytes {first}-{last}/{len(body)}")
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        self.wfile.write(part)

    def do_GET(self) -> None:
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        if len(parts) == 2 and parts[0] == "simple":
            name = parts[1]
            if name == "http-500":
                return self._send(500, b"internal error")
            if name == "garbage-json":
                return self._send(200, b"<html>not json{", SIMPLE_JSON)
            if name == "slow":
                import time

                time.sleep(2.0)
                return self._send(200, b'{"meta": {}, "files": []}', SIMPLE_JSON)
            if name == "not-a-page":
                return self._send(200, b'{"meta": {}}', SIMPLE_JSON)
            local = self.server.wheels.get(name)  # type: ignore[attr-defined]
            if local:
                files = [{"filename": p.name, "url": f"../../files/{p.name}", "size": p.stat().st_size,
                          "hashes": {"sha256": hashlib.sha256(p.read_bytes()).hexdigest()}} for p in local]
                body = json.dumps({"meta": {"api-version": "1.1"}, "name": name, "files": files}).encode()
                return self._send(200, body, SIMPLE_JSON)
            page = RECORDED / "simple" / f"{name}.json.gz"
            if page.is_file():
                return self._send(200, gzip.decompress(page.read_bytes()), SIMPLE_JSON)
        if len(parts) == 2 and parts[0] == "files":
            for local in self.server.wheels.values():  # type: ignore[attr-defined]
                for wheel in local:
                    if wheel.name == parts[1]:
                        return self._send_file(wheel.read_bytes())
            path = RECORDED / "files" / parts[1]
            if path.is_file() and path.name.endswith(".metadata"):
                return self._send(200, path.read_bytes())
        self._send(404, b"not found")


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        # A client that gave up (the timeout test) leaves a broken pipe behind: expected.
        pass


class RecordedIndex:
    def __init__(self, wheels: dict[str, list[Path]] | None = None, *, ranges: bool | str = False) -> None:
        self.server = _QuietServer(("127.0.0.1", 0), _Handler)
        self.server.ranges = ranges  # type: ignore[attr-defined]
        self.server.range_bytes = 0  # type: ignore[attr-defined]
        self.server.requests = []  # type: ignore[attr-defined]
        self.server.wheels = wheels or {}  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/simple"

    @property
    def range_bytes(self) -> int:
        return self.server.range_bytes  # type: ignore[attr-defined]

    @property
    def requests(self) -> list[str]:
        return self.server.requests  # type: ignore[attr-defined]

    def __enter__(self) -> RecordedIndex:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
