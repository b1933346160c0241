"""Study and sweep files: TOML read and validated against a pydantic model, every error one line.

A malformed file never gives a traceback or pydantic's multi-line report: the error
names the file, the field (dotted, ``hardware.presets``) and what to do, and is of the
file kind's own class (:class:`~nas.StudySpecError`, :class:`~nas.SweepSpecError`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict

Model = TypeVar("Model", bound=BaseModel)


class StrictModel(BaseModel):
    """A section of a file: unknown fields are errors, values are frozen once validated, and
    types are strict (``n_trials = "2"`` or ``true`` is a typo to report, not a value to coerce)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def load_toml_model(path: str | Path, model: type[Model], *, what: str, error: type[ValueError]) -> Model:
    """Read the TOML file ``path`` and validate it as ``model``.

    Args:
        path: The file.
        model: The pydantic model of the whole file.
        what: What the file is, for the "no such ..." message (``"study file"``).
        error: The exception class raised, with a one-line message.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
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
    return validate_model(data, model, origin=str(path), error=error)


def validate_model(data: dict, model: type[Model], *, origin: str, error: type[ValueError]) -> Model:
    """Validate an already parsed table as ``model``; the first problem becomes one ``error`` line."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as validation_error:
        raise error(f"{origin}: {first_error(validation_error)}") from None


def first_error(error: pydantic.ValidationError) -> str:
    """The first problem of a validation error as ``field.path: message`` (one line)."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown field; remove it or check its spelling"
    elif first["type"] == "missing":
        message = "required field is missing"
    elif "input" in first and first["type"] not in ("value_error",):
        message = f"{message} (got {first['input']!r})"
    return f"{where}: {message}" if where else message
