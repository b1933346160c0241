"""Reading a TOML file a user wrote, with every way it can fail turned into one line.

Hardware files here, and study and sweep files in :mod:`nas`, all read through
:func:`read_toml`, so they fail alike: the message names the file and what to do.

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.toml"
    >>> _ = path.write_text("rows = 8")
    >>> read_toml(path, what="hardware file", error=ValueError)
    {'rows': 8}
"""

from __future__ import annotations

import tomllib
from pathlib import Path


def read_toml(path: str | Path, *, what: str, error: type[Exception]) -> dict:
    """The table of the TOML file ``path``.

    Args:
        path: The file.
        what: What the file is, for the messages (``"study file"``).
        error: The exception class raised, with a one-line message.
    """
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory; give the {what} itself") from None
    except OSError as os_error:
        raise error(f"{path}: cannot read the {what} ({os_error.strerror})") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not a text file; a {what} is UTF-8 TOML") from None
    except tomllib.TOMLDecodeError as decode_error:
        raise error(f"{path}: not valid TOML ({decode_error})") from None
    except RecursionError:
        raise error(f"{path}: arrays or tables nested too deep to read; flatten them") from None
