"""Import ``torchvision.models`` where torchvision's compiled operators do not load.

torchvision's model definitions are plain Python on top of torch; only its detection and
image-decoding operators (``torchvision::nms``, ``roi_align``, ...) live in its compiled
``_C`` library. PyPI's torchvision 0.28 wheel is built against the CUDA build of torch 2.13, so
beside the CPU build its ``_C`` fails to load (``libc10_cuda.so`` is missing); torchvision
tolerates that, but its ``_meta_registrations`` module then registers shapes for operators
that do not exist and the import fails with "operator torchvision::nms does not exist".
:func:`torchvision_models` retries the import without those registrations. The models traced
here never call the missing operators; a detection model that does fails when it calls one.
"""

from __future__ import annotations

import importlib
import sys
import types


def torchvision_models() -> types.ModuleType:
    """``torchvision.models``, imported even where torchvision's compiled operators fail to load.

    Raises:
        ModuleNotFoundError: torchvision is not installed.
    """
    try:
        return importlib.import_module("torchvision.models")
    except RuntimeError as error:
        if "torchvision::" not in str(error):
            raise
    # The failed import left its half-initialised submodules behind; start again without the
    # registrations of the operators whose library did not load.
    for name in [name for name in sys.modules if name == "torchvision" or name.startswith("torchvision.")]:
        del sys.modules[name]
    sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
    return importlib.import_module("torchvision.models")


def torchvision_version() -> str:
    """The installed torchvision's version, e.g. ``"0.28.0+cu130"``."""
    torchvision_models()
    return sys.modules["torchvision"].__version__
