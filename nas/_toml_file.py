"""Study and sweep files: TOML read and validated against a pydantic model, every error one line.

A malformed file never gives a traceback or pydantic's multi-line report: the error
names the file, the field (dotted, ``hardware.presets``) and what to do, and is of the
file kind's own class (:class:`~nas.study.StudySpecError`, :class:`~nas.sweep.SweepSpecError`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict

from cost_models import read_toml

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
    data = read_toml(path, what=what, error=error)
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
