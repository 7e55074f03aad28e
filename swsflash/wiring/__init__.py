"""How to wire a USB-UART adapter to a board's SWS pad: the hook-up as data, and two renderers.

One table of connections (``hookup.connections(adapter, board)``) is the only source: the
terminal text (``swsflash wiring``, ``text.py``) and the SVG drawings in ``wiring/``
(``svg.py``) are both rendered from it, so they cannot disagree. Regenerate the drawings with::

    python -m swsflash.wiring --write-svgs wiring/

Where each fact comes from is listed in wiring/README.md.
"""

from __future__ import annotations

from .hookup import (
    ADAPTERS,
    BOARDS,
    FIXTURE,
    HOOKUP,
    JIG_ADAPTER,
    JIG_CHANNELS,
    SIGNALS,
    WARNINGS,
    Adapter,
    Board,
    Connection,
    Hookup,
    Signal,
    checklist,
    connections,
    get_adapter,
    get_board,
)
from .regenerate import main, svg_files, write_svgs
from .svg import REGENERATE, render_jig_svg, render_svg
from .text import render_text

__all__ = [
    "ADAPTERS",
    "BOARDS",
    "FIXTURE",
    "HOOKUP",
    "JIG_ADAPTER",
    "JIG_CHANNELS",
    "REGENERATE",
    "SIGNALS",
    "WARNINGS",
    "Adapter",
    "Board",
    "Connection",
    "Hookup",
    "Signal",
    "checklist",
    "connections",
    "get_adapter",
    "get_board",
    "main",
    "render_jig_svg",
    "render_svg",
    "render_text",
    "svg_files",
    "write_svgs",
]
