"""
The root of every exception lethean raises.

Each layer subclasses these; the docstring of a class is the text a user
sees for it (only the CLI turns errors into messages and exit codes), and
``kind`` is the stable machine-readable name the conformance vectors use.
"""

__all__ = [
    "LetheanError",
    "MalformedError",
    "TruncatedError",
    "LimitExceededError",
    "IntegrityError",
    "describe",
]


class LetheanError(Exception):
    """Something went wrong in lethean."""

    kind = "error"
    #: Exit status the ``lethean`` command uses for this error.
    exit_code = 1
    #: A whole line worded for this situation (naming the peer and what to
    #: do next), shown instead of the class's text and detail; None for those.
    line: str | None = None


class MalformedError(LetheanError):
    """The data is malformed."""

    kind = "malformed"


class TruncatedError(MalformedError):
    """The data ends before the structure it declares."""

    kind = "truncated"


class LimitExceededError(MalformedError):
    """The data declares a size or count over a configured limit."""

    kind = "limit_exceeded"


class IntegrityError(LetheanError):
    """The data failed an integrity or authenticity check."""

    kind = "integrity"


def describe(error: BaseException) -> str:
    """
    The one line a user sees for ``error``: its class's text, then its
    detail in brackets (the CLI prints it; the node's control API sends it),
    or the error's own :attr:`LetheanError.line` when it has one.
    """
    line: str | None = getattr(error, "line", None)
    if line:
        return line
    lines = (type(error).__doc__ or "").strip().splitlines()
    summary = lines[0] if lines else type(error).__name__
    detail = str(error)
    if detail and detail != summary:
        return "{} ({})".format(summary.rstrip("."), detail)
    return summary
