"""Errors a user can hit: one line (what, where, what to do) and a distinct exit code; and
the process's own streams at its edges (``cli.run``): streams it was started without, output
that cannot be written, the last flush."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Iterable, Mapping
from enum import IntEnum
from pathlib import Path
from typing import Final

from scripts import paths


class Exit(IntEnum):
    OK = 0
    FINDINGS = 1  # the gate found something, build/ is stale, or a deploy failed
    USAGE = 2  # bad input: unknown env/region, malformed option, refused action
    SOURCE = 3  # the template source itself is invalid (environment table, wiring)
    AWS = 4  # credentials, endpoint or service trouble
    OUTPUT = 74  # the output could not be written: a full disk, a reader gone mid-command
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


def did_you_mean(value: str, valid: Iterable[str], *, limit: int = 3,
                 aliases: Mapping[str, str] | None = None) -> str:
    """``"did you mean 'prod'? "`` for the closest valid values (difflib's ratio, case
    folded), or nothing when none is close: an error puts it before the valid values.
    ``aliases`` names what each valid value stands for, so two names of one thing are one
    suggestion."""
    import difflib

    options = list(dict.fromkeys(valid))
    folded = {option.casefold(): option for option in options}
    matches = difflib.get_close_matches(value.casefold(), list(folded), n=limit * 2,
                                        cutoff=0.6)
    close = list(dict.fromkeys((aliases or {}).get(folded[m], folded[m])
                               for m in matches))[:limit]
    if not close:
        return ""
    return f"did you mean {' or '.join(repr(c) for c in close)}? "


class SourceError(WebstackError):
    exit_code = Exit.SOURCE


def one_line(text: object) -> str:
    """Any message on one line: AWS and library texts often wrap or indent."""
    return " ".join(str(text).split())


def shown(path: object) -> str:
    """A path for a one-line message: as it is, or quoted with escapes when it holds a newline
    or another character that does not print."""
    text = str(path)
    return text if text.isprintable() else repr(text)


def source_location(err: BaseException) -> str | None:
    """``templates_src/x.py:LINE`` where a template source error or a syntax error sits: the
    outermost frame in templates_src/ (the table row, the wiring call), or the bad line."""
    source = paths.REPO_ROOT / "templates_src"
    if isinstance(err, SyntaxError) and err.filename:
        where = Path(err.filename).resolve()
        return f"{where.relative_to(paths.REPO_ROOT)}:{err.lineno}" \
            if where.is_relative_to(source) else None
    found: list[tuple[Path, int, bool]] = []
    tb = err.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        where = Path(code.co_filename).resolve()
        if where.is_relative_to(source):
            # The start of the expression that failed: a table row's "Environment(" line,
            # not the first line of the statement around it.
            positions = list(code.co_positions())
            start = positions[tb.tb_lasti // 2][0] if tb.tb_lasti // 2 < len(positions) \
                else None
            found.append((where, start or tb.tb_lineno, code.co_name == "<module>"))
        tb = tb.tb_next
    modules = [entry for entry in found if entry[2]]
    if not found:
        return None
    where, line, _ = modules[-1] if modules else found[0]
    return f"{where.relative_to(paths.REPO_ROOT)}:{line}"


def source_error(err: BaseException) -> SourceError | None:
    """An error of templates_src/ itself (a wrong type in the table, a syntax error): exit 3
    naming the file and line, not an internal error."""
    from templates_src.errors import TemplateSourceError

    cause = err.__cause__ if isinstance(err, SourceError) and err.__cause__ else err
    if not isinstance(cause, TemplateSourceError | SyntaxError):
        return None
    where = source_location(cause)
    if where is None:
        return None if isinstance(cause, SyntaxError) else (
            err if isinstance(err, SourceError) else SourceError(one_line(cause)))
    text = f"{where}: {cause.msg}" if isinstance(cause, SyntaxError) else one_line(cause)
    return SourceError(f"{text} ({where})" if where not in text else text)


def _raised_parsing_an_answer(err: BaseException) -> bool:
    """botocore's parsers fail on a well-formed answer of the wrong shape (HTML, another
    service's XML) with a bare KeyError or TypeError: the innermost frame says so."""
    import botocore.parsers

    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_filename == botocore.parsers.__file__


def aws_error_line(err: Exception) -> str | None:
    """An AWS or endpoint error no step turned into a sentence: AWS trouble (exit 4) with
    what the service said, not an internal error."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    used = sys.modules.get("scripts.deploy.aws")
    endpoints = ", ".join(getattr(used, "ENDPOINTS_USED", ())) or "the endpoint"
    if isinstance(err, ResponseParserError) or _raised_parsing_an_answer(err):
        return (f"{endpoints} answered something that is not an AWS response "
                f"({one_line(str(err).splitlines()[0] if str(err) else err)[:120]}); check "
                "--endpoint-url / AWS_ENDPOINT_URL points at an AWS API (or a running "
                "'webstack local up')")
    if isinstance(err, ClientError):
        operation = getattr(err, "operation_name", "") or "a call"
        error = err.response.get("Error", {})
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(status, int) and status >= 500:  # the service failed, not the request
            return (f"{endpoints} failed {operation} (HTTP {status}, "
                    f"{error.get('Code', 'no code')}: {one_line(error.get('Message', err))}"
                    "); the service broke, not the request: retry, and if it goes on, check "
                    "the endpoint (for a local one, its log: 'webstack local status')")
        return (f"AWS refused {operation} ({error.get('Code', status)}): "
                f"{one_line(error.get('Message', err))}; check the stack's events with "
                "'webstack watch', then retry")
    if isinstance(err, BotoCoreError):
        return f"AWS call failed: {one_line(err)}; retry, or check the endpoint"
    return None


# -- the process's streams ---------------------------------------------------------------------

# A full disk or quota, a file too large, an I/O error: output that cannot be written.
_LOST_OUTPUT: Final = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})
# Commands that act on an account: one cut short must not pass for one that finished.
_ACTING: Final = frozenset({"deploy", "destroy", "plan"})


def ensure_streams() -> None:
    """A stream the process was started without (``<&-``, ``>&-``) reads or writes /dev/null:
    without stdin there is no terminal to confirm at, without stdout nothing to print to."""
    for name, mode in (("stdin", "r"), ("stdout", "w"), ("stderr", "w")):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, mode, encoding="utf-8"))  # noqa: SIM115


def say_on_stderr(line: str | None) -> None:
    """``line`` on stderr, flushed; stderr itself failing leaves nobody to tell."""
    with contextlib.suppress(OSError, ValueError):
        if line is not None:
            print(line, file=sys.stderr)
        sys.stderr.flush()


def output_failed(err: OSError, command: str | None) -> int | None:
    """The exit code of a command whose output could not be written (``output_lost``), or
    None when ``err`` is not that (a file named, another errno)."""
    broken = isinstance(err, BrokenPipeError)
    if (broken or err.errno in _LOST_OUTPUT) and err.filename is None:
        return output_lost(err, command)
    return None


def output_lost(err: OSError, command: str | None) -> int:
    """The exit code once writing the output failed with ``err``; stdout then goes to
    /dev/null, so no later write or flush fails again.

    - Its reader left (a broken pipe): a command that only prints (``show | head -1``) gave
      it what it wanted, exit 0; a deploy, destroy or plan was cut short: one line, exit 74.
    - A full disk, an I/O error: the output is lost: one line, exit 74 (``Exit.OUTPUT``).
    """
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    named = f"webstack{' ' + command if command else ''}"
    if not isinstance(err, BrokenPipeError):
        say_on_stderr(f"{named}: could not write the output: {one_line(err)}")
    elif command in _ACTING:
        started = "" if command == "plan" else \
            "; what it started goes on: 'webstack watch' follows it"
        say_on_stderr(f"{named}: the output was closed before the command finished (broken pipe)"
                      f"{started}")
    else:
        return int(Exit.OK)
    return int(Exit.OUTPUT)


def flushed(code: int) -> int:
    """``code`` once stdout and stderr are flushed. A reader that left once the command had
    finished (``| head -1``) took what it wanted; output that could not be written (a full
    disk, an I/O error) is said on stderr and is exit 74 (``Exit.OUTPUT``)."""
    try:
        sys.stdout.flush()
    except OSError as err:  # the command has finished: no command is cut short here
        code = code or output_lost(err, None)
    say_on_stderr(None)
    return code
