"""The one base class of the errors nas raises on purpose, so a caller (the CLI) can catch them all and nothing else.

Every such error carries a one-line message that names the field or parameter, the bad
value and what is allowed. Errors that are not :class:`NasError` are bugs: the CLI shows
their traceback.
"""

from __future__ import annotations


class NasError(Exception):
    """Base of every error nas raises for bad input or a search that cannot go on.

    Example:
        >>> from nas import NasError
        >>> from nas.study import StudySpecError
        >>> issubclass(StudySpecError, NasError)
        True
    """


class InputError(NasError, ValueError):
    """A value given to a nas function is outside what it accepts (the message says what is allowed).

    A :class:`ValueError` too, so code that validated with ``ValueError`` still catches it.
    """


NasError.__module__ = InputError.__module__ = "nas"  # their public home, shown in tracebacks
