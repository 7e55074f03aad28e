"""Regenerate the drawings in wiring/ (``python -m swsflash.wiring --write-svgs wiring/``).

The committed SVGs are build output of ``svg.py``; tests/host/test_wiring.py fails when
they are stale, and this is the command that brings them up to date.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from .hookup import ADAPTERS, BOARDS
from .svg import render_jig_svg, render_svg
from .text import render_text


def svg_files() -> dict[str, str]:
    """File name -> content of every drawing in wiring/."""
    files = {
        f"{board}-{adapter}.svg": render_svg(adapter, board)
        for board in BOARDS
        for adapter in ADAPTERS
    }
    files["jig.svg"] = render_jig_svg()
    return files


def write_svgs(directory: Path) -> list[Path]:
    """(Re)write every drawing into ``directory``; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in svg_files().items():
        path = directory / name
        path.write_text(content, encoding="utf-8", newline="\n")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m swsflash.wiring",
        description="Print the wiring, or regenerate the SVG drawings in wiring/.",
    )
    parser.add_argument("--write-svgs", metavar="DIR", type=Path, help="write the SVGs here")
    parser.add_argument("--adapter", default="ch340", choices=list(ADAPTERS))
    parser.add_argument("--board", default="lywsd03mmc", choices=list(BOARDS))
    args = parser.parse_args(argv)
    if args.write_svgs is not None:
        for path in write_svgs(args.write_svgs):
            print(path)
    else:
        print(render_text(args.adapter, args.board), end="")
    return 0
