"""A fault-injecting PEP 691 index on 127.0.0.1, scripted per path.

`FaultyIndex()` serves projects added with `add_project(name, version, requires)`: a small pure
wheel built here, its page (with PEP 658 `core-metadata`) and its `.metadata`. A test then
replaces any answer with a fault: `index.script(path, Answer(...), Answer(...))` answers the
paths's requests in order (the last one repeats), so "500, then the page" or "the page lists a
file, then the file is gone" are one line each.

An `Answer` is a status, a body and the ways a server misbehaves: `delay` before the headers,
`drip` seconds between single bytes of the body, `declared` a Content-Length that is not the
body's, `encoding` a Content-Encoding header for a body given already encoded, `hang` (never
answer, until the index stops).
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import threading
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
HTML_PAGE = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><p>Please log in.</p></body></html>\n"


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/octet-stream"
    delay: float = 0.0                 # seconds before the status line
    drip: float = 0.0                  # seconds between single bytes of the body
    declared: int | None = None        # Content-Length to announce (None: the body's length)
    encoding: str | None = None        # Content-Encoding of an already encoded body
    hang: bool = False                 # never answer (until the index stops)
    headers: dict = field(default_factory=dict)


def wheel_bytes(name: str, version: str, requires: list[str] = ()) -> tuple[bytes, bytes]:
    """(wheel, METADATA) of a small pure-Python wheel."""
    dist_info = f"{name}-{version}.dist-info"
    metadata = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                + "".join(f"Requires-Dist: {r}\n" for r in requires)).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}/__init__.py", "")
        archive.writestr(f"{dist_info}/METADATA", metadata)
        archive.writestr(f"{dist_info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{dist_info}/RECORD", "")
    return buffer.getvalue(), metadata


def gzip_bomb(size: int = 3 << 29, chunk: int = 1 << 22) -> bytes:
    """One valid gzip member of `size` zero bytes (1.5 GiB -> about 1.5 MB). Each chunk is
    compressed once and ends with a full flush (which resets the compressor), so the same
    bytes stand for every chunk: built in a second instead of compressing 1.5 GiB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(bytes(chunk)) + packer.flush(zlib.Z_FULL_FLUSH)
    count = size // chunk
    crc, zeros = 0, bytes(chunk)
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = b"\x03\x00" + struct.pack("<II", crc, (count * chunk) & 0xFFFFFFFF)   # empty final block
    return header + block * count + trailer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        index: FaultyIndex = self.server.owner  # type: ignore[attr-defined]
        path = self.path.split("?")[0]
        answer = index.next_answer(path)
        if answer.hang:
            index.stopping.wait()
            return
        if answer.delay and index.stopping.wait(answer.delay):
            return
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body) if answer.declared is None else answer.declared))
        if answer.encoding:
            self.send_header("Content-Encoding", answer.encoding)
        for key, value in answer.headers.items():
            self.send_header(key, value)
        if answer.declared is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        try:
            if not answer.drip:
                self.wfile.write(answer.body)
                return
            for i in range(len(answer.body)):
                self.wfile.write(answer.body[i:i + 1])
                self.wfile.flush()
                if index.stopping.wait(answer.drip):
                    return
        except OSError:   # the client gave up: expected in the timeout and size tests
            self.close_connection = True


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass


class FaultyIndex:
    def __init__(self) -> None:
        self.server = _QuietServer(("127.0.0.1", 0), _Handler)
        self.server.owner = self  # type: ignore[attr-defined]
        self.stopping = threading.Event()
        self.requests: list[str] = []
        self._scripts: dict[str, list[Answer]] = {}
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.root}/simple"

    def script(self, path: str, *answers: Answer) -> None:
        with self._lock:
            self._scripts[path] = list(answers)

    def next_answer(self, path: str) -> Answer:
        with self._lock:
            self.requests.append(path)
            queue = self._scripts.get(path)
            if not queue:
                return Answer(404, b"not found", "text/plain")
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def add_project(self, name: str, version: str, requires: list[str] = (), *, metadata: bool = True) -> dict:
        """Serve `name` `version` as a pure wheel; returns the page document (for tests to alter)."""
        wheel, meta = wheel_bytes(name, version, list(requires))
        filename = f"{name}-{version}-py3-none-any.whl"
        entry = {"filename": filename, "url": f"/files/{filename}", "size": len(wheel),
                 "hashes": {"sha256": hashlib.sha256(wheel).hexdigest()}}
        if metadata:
            entry["core-metadata"] = {"sha256": hashlib.sha256(meta).hexdigest()}
        page = {"meta": {"api-version": "1.1"}, "name": name, "versions": [version], "files": [entry]}
        self.script(f"/simple/{name}/", self.page(page))
        self.script(f"/files/{filename}", Answer(body=wheel))
        self.script(f"/files/{filename}.metadata", Answer(body=meta))
        return page

    @staticmethod
    def page(doc: dict) -> Answer:
        return Answer(body=json.dumps(doc).encode(), content_type=SIMPLE_JSON)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def wait_for(predicate, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False
