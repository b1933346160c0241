"""Writing figures: self-contained HTML always, PNG when kaleido finds a Chromium browser."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go

from nas._errors import NasError


class PlotExportError(NasError, ValueError):
    """A PNG cannot be written on this machine; the message says what to install."""


def write_html(figure: go.Figure, path: str | Path) -> Path:
    """Write a figure as a self-contained HTML page (plotly.js embedded, so it renders offline)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.write_html(path, include_plotlyjs=True, full_html=True)
    return path


def write_png(figure: go.Figure, path: str | Path, *, scale: float = 2.0) -> Path:
    """Write a figure as a PNG through kaleido, which drives a Chromium browser.

    Kaleido finds Debian's ``chromium`` (``apt-get install -y chromium``) by itself, or the
    browser named by ``BROWSER_PATH``.

    Raises:
        PlotExportError: kaleido is not installed, or it finds no browser to render with.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import kaleido  # noqa: F401  (checked here to name the package in the error)
    except ImportError:
        raise PlotExportError("PNG export needs kaleido: pip install 'nas-codesign[plots]' (or pip install "
                              "kaleido); the HTML output needs nothing") from None
    try:
        figure.write_image(path, format="png", scale=scale)
    except RuntimeError as error:
        if "chrome" not in str(error).lower():
            raise
        raise PlotExportError("PNG export needs a Chromium browser for kaleido: apt-get install -y chromium "
                              "(Debian), or set BROWSER_PATH to one; the HTML output needs nothing") from None
    return path
