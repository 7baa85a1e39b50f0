"""ft-audit: a C-extension compatibility auditor for free-threaded CPython and sub-interpreters."""

__version__ = "0.1.0"
