"""``swsflash jig``: the command line of the multi-unit jig (swsflash/jig/)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..jig import Overrides, resolve_settings, run_jig
from .app import app
from .connect import state_of

ImageArg = Annotated[
    Path | None,
    typer.Argument(
        help="Firmware (.bin/.zigbee/.hex); default: 'image' in --config.", show_default=False
    ),
]
PortsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--ports",
        metavar="P1,P2,...",
        help="Ports, one per fixture position (sim://... for the bench; {n} is the unit's number).",
        show_default=False,
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Jig config (TOML): ports, baud, reset, power line, "
        "power window, image, logs. Options given here override it.",
        show_default=False,
    ),
]
JigResetOpt = Annotated[
    str | None,
    typer.Option("--reset", help="rts|dtr|none for every position (overrides the config)."),
]
JigWindowOpt = Annotated[
    int | None,
    typer.Option(
        "--power-window",
        metavar="MS",
        help="Halt stream while each unit gets power, for every position (overrides the config).",
    ),
]
JigPowerOpt = Annotated[
    str | None,
    typer.Option(
        "--power",
        help="rts|dtr|none: the line feeding each unit's VCC, for "
        "every position (overrides the config).",
    ),
]
LoopOpt = Annotated[
    bool | None,
    typer.Option("--loop/--once", help="After a unit, wait for the next one (Ctrl-C stops)."),
]
CountOpt = Annotated[
    int | None,
    typer.Option(
        "--count",
        metavar="N",
        help="Stop after N units per position (implies --loop).",
        show_default=False,
    ),
]
JigBackupDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--backup-dir",
        envvar="SWSFLASH_BACKUP_DIR",
        help="Where each unit's MAC/calibration sectors are saved.",
        show_default=False,
    ),
]


@app.command()
def jig(
    ctx: typer.Context,
    image: ImageArg = None,
    ports: PortsOpt = None,
    all_ports: Annotated[
        bool, typer.Option("--all-ports", help="Every USB serial port is a position.")
    ] = False,
    config: ConfigOpt = None,
    baud: Annotated[int | None, typer.Option("--baud", "-b", help="UART speed.")] = None,
    pacing: Annotated[str | None, typer.Option("--pacing", help="auto|safe|stream.")] = None,
    reset: JigResetOpt = None,
    power_window: JigWindowOpt = None,
    power: JigPowerOpt = None,
    loop: LoopOpt = None,
    count: CountOpt = None,
    log: Annotated[
        Path | None, typer.Option("--log", help="Append a JSON line per unit here.")
    ] = None,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Append a CSV row per unit here.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="stdout: one JSON object per finished unit.")
    ] = False,
    backup_dir: JigBackupDirOpt = None,
    no_backup: Annotated[
        bool, typer.Option("--no-backup", help="Do not save the MAC/calibration sectors.")
    ] = False,
    workers: Annotated[
        str | None,
        typer.Option("--workers", help="auto|threads|processes (auto: processes for sim://)."),
    ] = None,
) -> None:
    """Program many units at once, one adapter per fixture position, with a log per unit.

    Each position: connect, halt, back up MAC and calibration, write and verify, restart;
    one failing never stops the others. Exit 0 only if every unit succeeded, else the exit
    code of the first failed unit (see docs/jig.md).

    Example:  swsflash jig z03mmc.bin --ports /dev/ttyUSB0,/dev/ttyUSB1 --log jig.jsonl
    """
    g = state_of(ctx).globals
    settings = resolve_settings(
        Overrides(
            image=image,
            ports=ports,
            all_ports=all_ports,
            config=config,
            baud=baud if baud is not None else g.baud,
            pacing=pacing or g.pacing,
            reset=reset or g.reset,
            power_window_ms=power_window if power_window is not None else g.power_window,
            power=power or g.power,
            log=log,
            csv=csv_file,
            backup_dir=backup_dir,
            no_backup=no_backup,
            loop=loop,
            count=count,
            workers=workers,
            json_out=json_out,
        )
    )
    raise typer.Exit(run_jig(settings))
