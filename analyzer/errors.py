"""One small error family. Each error knows the exit code the CLI should use.

Recoverable problems are not errors: they become `Diagnostic` records that travel with the
data. An exception outside this family is a bug (exit code 3).
"""

from __future__ import annotations


class SioscopeError(Exception):
    """Base of every error sioscope raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, where: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.where = where

    def one_line(self) -> str:
        """The single line the CLI prints: file, place, message."""
        parts = [p for p in (self.path, self.where) if p]
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class InputError(SioscopeError):
    """The input cannot be used at all (unknown format, unreadable, empty)."""


class UsageError(SioscopeError):
    """The command line asks for something impossible."""


class ResourceError(SioscopeError):
    """The machine refused something the analysis needs, such as temporary file space."""


class DecodeError(SioscopeError):
    """A parser met bytes it cannot decode. Layers turn it into a Diagnostic."""
