"""Errors a user can hit: one line (what, where, what to do) and a distinct exit code."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    FINDINGS = 1  # the gate found something, build/ is stale, or a deploy failed
    USAGE = 2  # bad input: unknown env/region, malformed option, refused action
    SOURCE = 3  # the template source itself is invalid (environment table, wiring)
    AWS = 4  # credentials, endpoint or service trouble
    INTERRUPTED = 130


class WebstackError(Exception):
    """An error with a one-line message and the exit code it maps to."""

    exit_code: Exit = Exit.USAGE

    def __init__(self, message: str, exit_code: Exit | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(WebstackError):
    exit_code = Exit.USAGE


class SourceError(WebstackError):
    exit_code = Exit.SOURCE


def one_line(text: object) -> str:
    """Any message on one line: AWS and library texts often wrap or indent."""
    return " ".join(str(text).split())
