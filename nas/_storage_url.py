"""Where a study is stored, as a user writes it: a journal file path or a database URL.

A URL with an unknown scheme is refused rather than taken for a file name (``postgres://``,
a common spelling that SQLAlchemy does not accept, would otherwise become a local journal
file named after the URL, password and all). Passwords never leave the user's own input:
:func:`mask_credentials` is applied wherever a storage URL is stored or shown.

Example:
    >>> mask_credentials("postgresql://nas:secret@db.lab:5432/studies")
    'postgresql://nas:***@db.lab:5432/studies'
    >>> check_storage("results/quickstart.journal")
    'results/quickstart.journal'
"""

from __future__ import annotations

import re

RDB_SCHEMES = ("sqlite", "postgresql", "mysql")
"""Database schemes Optuna's RDB storage takes, each optionally with a driver (``postgresql+psycopg``)."""

_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@]*):(?P<password>[^@/]*)@")


def is_database_url(storage: str) -> bool:
    """Whether ``storage`` names a database (an RDB URL) rather than a journal file."""
    match = _URL.match(storage)
    return match is not None and match["scheme"].split("+")[0].lower() in RDB_SCHEMES


def check_storage(storage: str) -> str:
    """Return ``storage`` if it is a journal path or a supported database URL; else raise.

    Raises:
        ValueError: One line naming the problem and the spelling to use.
    """
    if not storage.strip():
        raise ValueError("storage is empty; give a journal file path or a database URL "
                         "(sqlite:///PATH, postgresql://USER@HOST/DB)")
    match = _URL.match(storage)
    if match is None or is_database_url(storage):
        return storage
    scheme = match["scheme"]
    shown = mask_credentials(storage)
    if scheme.lower() == "postgres":
        raise ValueError(f"storage {shown}: write 'postgresql://' (SQLAlchemy does not know 'postgres://')")
    raise ValueError(f"storage {shown}: scheme {scheme!r} is not supported; use a journal file path, "
                     f"sqlite:///PATH, postgresql://... or mysql://...")


def mask_credentials(storage: str) -> str:
    """``storage`` with the password of a ``scheme://user:password@host`` URL replaced by ``***``."""
    return _PASSWORD.sub(r"\g<head>:***@", storage)
