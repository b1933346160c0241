"""A Workload as comparable rows, so that two ways of building a network can be checked layer by layer."""

import dataclasses
import math

from cost_models import Workload


def workload_rows(workload: Workload) -> list[tuple]:
    """Every layer as (name, then each other Workload column), in execution order; a NaN (an unmeasured
    joint density) is written "nan" so that equal rows compare equal."""
    columns = [field.name for field in dataclasses.fields(Workload) if field.name != "name"]
    return [(str(name), *(_comparable(getattr(workload, column)[i].item()) for column in columns))
            for i, name in enumerate(workload.name)]


def _comparable(value):
    return "nan" if isinstance(value, float) and math.isnan(value) else value
