"""One exception type for every user-facing error.

The CLI prints ``GenpolicyError`` as a single line (``genpolicy: error: ...``) rather than
a traceback, so its message must name the offending thing and the fix.
"""

from __future__ import annotations

from collections.abc import Iterable


class GenpolicyError(ValueError):
    """A user-facing error with a one-line message."""


def unknown_name(kind: str, name: str, known: Iterable[str]) -> GenpolicyError:
    """The error for an unknown registry name, listing the valid choices."""
    choices = ", ".join(sorted(known))
    return GenpolicyError(f"unknown {kind} {name!r}; choose one of: {choices}")


def missing_extra(package: str, extra: str) -> GenpolicyError:
    """The error for a missing optional dependency, with the pip command that fixes it."""
    return GenpolicyError(
        f"optional package {package!r} is not installed; install it with "
        f"`pip install -c constraints.txt 'genpolicy[{extra}]'`"
    )
