"""Read and validate the keys of a hardware table, failing with one line that names the key."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import NoReturn

from cost_models._cost import HardwareSpecError
from cost_models._technology import node_scaling

_REQUIRED = object()


def _is_integer(value: object) -> bool:
    # TOML booleans are never numbers.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (_is_integer(value) or isinstance(value, float)) and math.isfinite(value)


class SpecFields:
    """Typed access to a parsed TOML table; every error is a one-line :class:`HardwareSpecError`.

    Args:
        data: The table (``family`` already removed).
        origin: Where it came from, prefixed to every message.
        allowed: Every key the family knows; any other key is an error (catches typos).

    Example:
        >>> fields = SpecFields({"rows": 8}, origin="demo.toml", allowed={"rows"})
        >>> fields.integer("rows")
        8
    """

    def __init__(self, data: dict, *, origin: str, allowed: Collection[str]) -> None:
        self.data = data
        self.origin = origin
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            self.fail(unknown[0], f"is not a known key; allowed: {', '.join(sorted(allowed))}")

    def fail(self, key: str, message: str) -> NoReturn:
        """Raise the one-line error for ``key``."""
        raise HardwareSpecError(f"{self.origin}: key {key!r} {message}")

    def _get(self, key: str, default: object) -> object:
        if key in self.data:
            return self.data[key]
        if default is _REQUIRED:
            self.fail(key, "is missing")
        return default

    def string(self, key: str, default: object = _REQUIRED) -> str:
        value = self._get(key, default)
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"is {value!r}; give a non-empty string")
        return value

    def choice(self, key: str, choices: Collection[str], default: object = _REQUIRED) -> str:
        value = self._get(key, default)
        if value not in choices:
            self.fail(key, f"is {value!r}; choose from {', '.join(choices)}")
        return value

    def boolean(self, key: str, default: object = _REQUIRED) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            self.fail(key, f"is {value!r}; give true or false")
        return value

    def integer(self, key: str, *, minimum: int = 1, maximum: int | None = None,
                default: object = _REQUIRED) -> int:
        value = self._get(key, default)
        if not _is_integer(value) or value < minimum or (maximum is not None and value > maximum):
            bounds = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
            self.fail(key, f"is {value!r}; give an integer {bounds}")
        return value

    def power_of_two(self, key: str, *, minimum: int = 1, default: object = _REQUIRED) -> int:
        """An integer power of two >= ``minimum`` (a tile side, a bank count)."""
        value = self._get(key, default)
        if not _is_integer(value) or value < max(minimum, 1) or value & (value - 1):
            self.fail(key, f"is {value!r}; give a power of two >= {minimum}")
        return value

    def number(self, key: str, *, positive: bool = True, default: object = _REQUIRED) -> float:
        """A finite number, > 0 (or >= 0 when not ``positive``)."""
        return self._number(key, self._get(key, default), positive=positive)

    def _number(self, key: str, value: object, *, positive: bool = True) -> float:
        if not _is_number(value) or value < 0 or (positive and value == 0):
            self.fail(key, f"is {value!r}; give a number {'> 0' if positive else '>= 0'}")
        return float(value)

    def fraction(self, key: str, default: object = _REQUIRED) -> float:
        """A share of a whole (an efficiency, a utilisation): a number in (0, 1]."""
        value = self._get(key, default)
        if not _is_number(value) or not 0 < value <= 1:
            self.fail(key, f"is {value!r}; give a number in (0, 1]")
        return float(value)

    def number_table(self, key: str, names: Collection[str], *, required: Collection[str] = (),
                     default: object = _REQUIRED) -> dict[str, float]:
        """A table ``{name = number > 0}`` keyed by some of ``names``, each of ``required`` present.

        An entry's errors name it as ``key.name`` (``'peak_tflops.fp4'``); the table keeps its order.
        """
        value = self._get(key, default)
        if not isinstance(value, Mapping):
            self.fail(key, f"is {value!r}; give a table {{name = number > 0}} keyed by {', '.join(names)}")
        unknown = [name for name in value if name not in names]
        if unknown:
            self.fail(f"{key}.{unknown[0]}", f"is not a known key; allowed: {', '.join(names)}")
        table = {name: self._number(f"{key}.{name}", number) for name, number in value.items()}
        missing = [name for name in required if name not in table]
        if missing:
            self.fail(f"{key}.{missing[0]}", "is missing")
        return table

    def integer_list(self, key: str, *, minimum: int = 1, maximum: int = 64,
                     default: object = _REQUIRED) -> tuple[int, ...]:
        value = self._get(key, default)
        if not isinstance(value, list) or not value or any(
                not _is_integer(v) or not minimum <= v <= maximum for v in value):
            self.fail(key, f"is {value!r}; give a non-empty list of integers in [{minimum}, {maximum}]")
        return tuple(sorted(set(value)))

    def choice_list(self, key: str, choices: Collection[str], default: object = _REQUIRED) -> tuple[str, ...]:
        value = self._get(key, default)
        if not isinstance(value, list) or any(v not in choices for v in value):
            self.fail(key, f"is {value!r}; give a list drawn from {', '.join(choices)}")
        return tuple(value)

    def process_node(self, key: str = "process_node_nm") -> float:
        """A process node the technology tables can scale to."""
        value = self.number(key)
        try:
            node_scaling(value)
        except ValueError as error:
            self.fail(key, f"is {value:g}: {error}")
        return value
