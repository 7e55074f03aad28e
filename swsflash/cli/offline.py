"""Commands that need no unit: image-info, ports, layout, wiring, simulate, exit-codes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from serial.tools import list_ports

from ..adapters import ADAPTERS
from ..errors import EXIT_CODES, ImageError, UsageError
from ..images import describe_image, load_image
from ..layout import protected_regions
from .app import app
from .connect import state_of
from .options import JsonOpt, parse_int, parse_size


@app.command("image-info")
def image_info(
    ctx: typer.Context,
    image: Annotated[Path, typer.Argument(help="Firmware file: .bin, .zigbee/.ota or .hex.")],
    address: Annotated[str, typer.Option(help="Flash address for a raw .bin.")] = "0",
    json_out: JsonOpt = False,
) -> None:
    """Describe a firmware file and what writing it would overwrite. Needs no device.
    Exits 3 when the file fails a check (as 'write' would refuse it).

    Example:  swsflash image-info 1141-0203-99993001-ATC_v46.zigbee
    """
    state_of(ctx).json_out = json_out
    found = load_image(image, parse_int(address, "--address"))
    data = describe_image(found)
    if json_out:
        typer.echo(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            if isinstance(value, dict):
                typer.echo(f"{key.replace('_', ' ')}:")
                for k, v in value.items():
                    typer.echo(f"  {k}: {v}")
            else:
                typer.echo(f"{key.replace('_', ' ')}: {value}")
    if found.problems:
        if json_out:
            raise typer.Exit(ImageError.exit_code)
        raise ImageError(
            f"{image}: " + "; ".join(found.problems),
            "'swsflash write' refuses this file; check the download, or that it is "
            "firmware for this device",
        )


@app.command()
def ports() -> None:
    """List serial ports and name the known USB-UART adapter chips.

    Example:  swsflash ports
    """
    found = sorted(list_ports.comports(), key=lambda p: str(p.device))
    for p in found:
        ids = f"{p.vid:04x}:{p.pid:04x}" if p.vid is not None else "    -    "
        chip = ADAPTERS.get((p.vid, p.pid), "") if p.vid is not None else ""
        typer.echo(f"{p.device:<20} {ids}  {chip:<14} {p.description}")
    if not found:
        typer.echo("No serial ports found. Plug in the adapter, or use --port sim:// (bench).")
    typer.echo("sim://SCENARIO       the built-in bench (see 'swsflash simulate --help')", err=True)


@app.command()
def layout(
    size: Annotated[str, typer.Option(help="Flash size: 512K or 1M.")] = "512K",
) -> None:
    """Show the sectors swsflash protects (MAC, calibration, hardware version).

    Example:  swsflash layout --size 1M
    """
    value = parse_size(size, "--size")
    if value not in (0x80000, 0x100000):
        raise UsageError(
            f"--size must be 512K or 1M, not {size!r}",
            "the supported units have 512 KB or 1 MB of flash",
        )
    for region in protected_regions(value):
        typer.echo(str(region))


@app.command()
def wiring(
    adapter: Annotated[
        str, typer.Option(help="USB-UART adapter: ch340, cp2102, pl2303 or ft232.")
    ] = "ch340",
    board: Annotated[str, typer.Option(help="Device: lywsd03mmc.")] = "lywsd03mmc",
) -> None:
    """Show how to wire the adapter to the board's SWS pad, with a checklist (SVGs: wiring/).

    Example:  swsflash wiring --adapter cp2102
    """
    from ..wiring import render_text

    typer.echo(render_text(adapter, board), nl=False)


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def simulate(ctx: typer.Context) -> None:
    """Serve the virtual bench on a pseudo-terminal for any serial program (Linux/macOS).

    Example:  swsflash simulate --scenario bricked --save-flash unit.bin
    (options: see 'swsflash simulate --help')
    """
    # The bench is a separate program: the flasher itself never imports it.
    args = [sys.executable, "-m", "swsflash.bench", *ctx.args]
    sys.stdout.flush()
    os.execv(sys.executable, args)


@app.command("exit-codes")
def exit_codes() -> None:
    """List the exit codes swsflash uses, for scripts and jigs.

    Example:  swsflash exit-codes
    """
    for code, title, meaning in EXIT_CODES:
        typer.echo(f"{code:>4}  {title:<34} {meaning}")
