"""Typed errors, one family per seam, turned into one-line messages at the CLI edge.

Every error carries the thing it is about (a file, a URL, a requirements line) so the
message can name it: "numpy-2.4.whl: bad zip: File is not a zip file".
"""

from __future__ import annotations


class AuditError(Exception):
    """Base class: `where` names the input (path, URL, 'file:line'), `reason` says what is wrong."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason

    def one_line(self) -> str:
        return f"{self.where}: {self.reason}".replace("\n", " ")

    def __reduce__(self):
        # Raised in a worker process and re-raised here (auditor.project_index.pack_page): the
        # default pickles only the message, which __init__ cannot take back.
        return (type(self), (self.where, self.reason))


class BinaryFormatError(AuditError):
    """A file could not be read as an ELF / Mach-O / PE extension module (truncated, corrupt, not a binary)."""


class ArchiveError(AuditError):
    """A wheel or sdist could not be read safely (bad zip, zip bomb, unsafe member names)."""


class ServiceError(AuditError):
    """A remote service (PyPI, a community data source) failed: HTTP error, timeout, garbage JSON."""


class InputError(AuditError):
    """A user-supplied input is malformed: requirements line, lock file, config, interpreter path."""
