"""A remote file read through HTTP range requests, as a seekable binary file.

`zipfile` and the wheel reader need only `seek`, `tell` and `read`; this object answers them by
fetching just the byte ranges asked for (as pip's lazy wheel does), so reading a wheel's central
directory and a few extension members costs those bytes, not the whole file: a torch wheel's
central directory and `_C` module are kilobytes of a 700 MB file.

Fetched spans are kept, and small reads are widened (zipfile reads a 30-byte local header, then
the name, then the data), so one member costs one request. The first read near the end fetches
the whole tail at once, where the end-of-central-directory record and usually the central
directory itself live. `max_bytes` bounds what one file may cost, whatever the archive declares.
"""

from __future__ import annotations

import io
from typing import Protocol

from auditor.errors import ServiceError

TAIL_BYTES = 1 << 17          # the end-of-central-directory record, and usually the directory
MIN_FETCH = 1 << 16           # a local header plus a small member in one request
DEFAULT_MAX_BYTES = 512 << 20


class RangeReader(Protocol):
    def get_range(self, url: str, first: int, last: int) -> bytes: ...


class RangeFile(io.RawIOBase):
    def __init__(self, http: RangeReader, url: str, size: int, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if size <= 0:
            raise ServiceError(url, "file size unknown: cannot read it with range requests")
        self.http = http
        self.url = url
        self.size = size
        self.max_bytes = max_bytes
        self.bytes_fetched = 0
        self.requests = 0
        self._pos = 0
        self._spans: list[tuple[int, bytes]] = []   # (offset, bytes), in fetch order

    # -- io.RawIOBase ---------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        position = base + offset
        if position < 0:
            raise ValueError("negative seek position")
        self._pos = position
        return position

    def read(self, size: int | None = -1) -> bytes:
        end = self.size if size is None or size < 0 else min(self.size, self._pos + size)
        if end <= self._pos:
            return b""
        data = self._bytes(self._pos, end)
        self._pos += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def expect(self, offset: int, length: int) -> None:
        """The caller is about to read about `length` bytes at `offset` (a member's local header
        and data, from the central directory): fetch them in one request."""
        end = min(self.size, offset + length)
        if 0 <= offset < end:
            self._bytes(offset, end)

    # -- fetching -------------------------------------------------------------------------

    def _bytes(self, start: int, end: int) -> bytes:
        for offset, data in self._spans:
            if offset <= start and end <= offset + len(data):
                return data[start - offset:end - offset]
        if start >= self.size - TAIL_BYTES:
            first, last = max(0, self.size - TAIL_BYTES), self.size
        else:
            first, last = start, min(self.size, max(end, start + MIN_FETCH))
            # Continue a span that already holds the beginning instead of fetching it again.
            for index, (offset, data) in enumerate(self._spans):
                if offset <= start < offset + len(data):
                    more = self._fetch(offset + len(data), last)
                    self._spans[index] = (offset, data + more)
                    return self._spans[index][1][start - offset:end - offset]
        data = self._fetch(first, last)
        self._spans.append((first, data))
        return data[start - first:end - first]

    def _fetch(self, first: int, end: int) -> bytes:
        if self.bytes_fetched + (end - first) > self.max_bytes:
            raise ServiceError(self.url, f"range reads would exceed {self.max_bytes >> 20} MiB for one file")
        data = self.http.get_range(self.url, first, end - 1)
        if len(data) != end - first:
            raise ServiceError(self.url, f"range {first}-{end - 1} answered {len(data)} bytes, expected {end - first}")
        self.requests += 1
        self.bytes_fetched += len(data)
        return data
