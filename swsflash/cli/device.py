"""Commands that look at a connected unit without changing its firmware: info, read,
verify, mac, run.

Each parses and checks every argument first, then connects, calls one job, reports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .. import jobs
from ..errors import UsageError
from ..images import load_image
from ..plan import check_fits_any
from .app import app
from .connect import (
    command_connection,
    device,
    job_phases,
    segment_addresses,
    state_of,
)
from .info_text import info_lines
from .options import (
    BackupDirOpt,
    BaudOpt,
    DeepOpt,
    JsonOpt,
    NoProgressOpt,
    PacingOpt,
    PortOpt,
    PowerOpt,
    PowerWindowOpt,
    QuietOpt,
    ResetOpt,
    TraceOpt,
    VerboseOpt,
    mac_argument,
    output_file,
    parse_int,
    parse_size,
    within_largest,
)
from .output import report_json, summary

HALTED = "left halted ('swsflash run' restarts it)"


@app.command()
def info(
    ctx: typer.Context,
    port: PortOpt = None,
    baud: BaudOpt = None,
    json_out: JsonOpt = False,
    deep: DeepOpt = False,
    pacing: PacingOpt = None,
    reset: ResetOpt = None,
    power_window: PowerWindowOpt = None,
    power: PowerOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    trace: TraceOpt = False,
    no_progress: NoProgressOpt = False,
) -> None:
    """Show chip id, SWire clock, PC, flash id/size/protection, MAC and calibration, and
    the firmware in each image slot with the one the boot ROM starts.

    Example:  swsflash info --port /dev/ttyUSB0
    """
    conn = command_connection(
        ctx,
        port,
        baud,
        pacing,
        reset,
        power_window,
        power,
        quiet,
        verbose,
        trace,
        no_progress,
        json_out,
    )
    with device(conn) as dev:
        data = jobs.info(dev, deep)
    if json_out:
        typer.echo(json.dumps(data, indent=2))
        return
    for line in info_lines(data):
        typer.echo(line)
    conn.ui.say(f"The chip is {HALTED}.")


@app.command()
def read(
    ctx: typer.Context,
    out: Annotated[Path, typer.Argument(help="File to write the flash content to.")],
    port: PortOpt = None,
    baud: BaudOpt = None,
    start: Annotated[str, typer.Option(help="First flash address.")] = "0",
    size: Annotated[
        str, typer.Option(help="Bytes to read: a number, 512K, 1M, or ALL (to the end).")
    ] = "ALL",
    json_out: JsonOpt = False,
    pacing: PacingOpt = None,
    reset: ResetOpt = None,
    power_window: PowerWindowOpt = None,
    power: PowerOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    trace: TraceOpt = False,
    no_progress: NoProgressOpt = False,
) -> None:
    """Read flash into a file: a full backup by default.

    Example:  swsflash read backup.bin --port /dev/ttyUSB0 --start 0x76000 --size 8K
    """
    state_of(ctx).json_out = json_out
    output_file(out)
    first = parse_int(start, "--start")
    count = parse_size(size, "--size")
    within_largest(first, count, "--start/--size")
    conn = command_connection(
        ctx,
        port,
        baud,
        pacing,
        reset,
        power_window,
        power,
        quiet,
        verbose,
        trace,
        no_progress,
        json_out,
    )
    with device(conn) as dev:
        total = dev.flash_size - first if count is None else count
        phases = job_phases(conn, dev, lambda _, done: first + done)
        with phases(total, "reading") as bump:
            data, report = jobs.read(dev, first, total, bump)
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise UsageError(
            f"cannot write {out}: {exc.strerror or exc}", "give a path you can write"
        ) from exc
    if json_out:
        typer.echo(report_json("read", report, dev.simulated, "halted", file=str(out), start=first))
        return
    conn.ui.result(summary("Read", report, dev.simulated, HALTED))
    conn.ui.say(f"Saved 0x{first:05x}-0x{first + total - 1:05x} to {out}")


@app.command("verify")
def verify_cmd(
    ctx: typer.Context,
    image: Annotated[Path, typer.Argument(help="Firmware file to compare the flash with.")],
    port: PortOpt = None,
    baud: BaudOpt = None,
    address: Annotated[str, typer.Option(help="Flash address for a raw .bin.")] = "0",
    json_out: JsonOpt = False,
    pacing: PacingOpt = None,
    reset: ResetOpt = None,
    power_window: PowerWindowOpt = None,
    power: PowerOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    trace: TraceOpt = False,
    no_progress: NoProgressOpt = False,
) -> None:
    """Compare the flash with an image, byte for byte.

    Example:  swsflash verify z03mmc.bin --port /dev/ttyUSB0
    """
    state_of(ctx).json_out = json_out
    img = load_image(image, parse_int(address, "--address"))
    segments = sorted((s.address, s.data) for s in img.segments)
    for at, data in segments:
        check_fits_any(at, len(data))
    conn = command_connection(
        ctx,
        port,
        baud,
        pacing,
        reset,
        power_window,
        power,
        quiet,
        verbose,
        trace,
        no_progress,
        json_out,
    )
    where = segment_addresses(segments)
    with device(conn) as dev:
        phases = job_phases(conn, dev, lambda _, done: where(done))
        with phases(img.size, "verifying") as bump:
            report = jobs.verify(dev, segments, bump)
    if json_out:
        typer.echo(report_json("verify", report, dev.simulated, "halted", file=str(image)))
        return
    conn.ui.result(summary("Compared", report, dev.simulated, HALTED) + ": identical")


@app.command()
def mac(
    ctx: typer.Context,
    port: PortOpt = None,
    baud: BaudOpt = None,
    set_to: Annotated[
        str | None, typer.Option("--set", help="New MAC, e.g. A4:C1:38:12:34:56.")
    ] = None,
    backup_dir: BackupDirOpt = None,
    pacing: PacingOpt = None,
    reset: ResetOpt = None,
    power_window: PowerWindowOpt = None,
    power: PowerOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    trace: TraceOpt = False,
    no_progress: NoProgressOpt = False,
) -> None:
    """Show the unit's MAC address, or change it (the MAC sector is backed up first).

    Example:  swsflash mac --port /dev/ttyUSB0 --set A4:C1:38:12:34:56
    """
    new = mac_argument(set_to) if set_to is not None else None
    conn = command_connection(
        ctx, port, baud, pacing, reset, power_window, power, quiet, verbose, trace, no_progress
    )
    store = conn.backup_store(backup_dir)
    with device(conn) as dev:
        if new is None:
            conn.ui.result(dev.mac() or "not set (the firmware makes up a random MAC)")
            return
        report = jobs.set_mac(dev, new, store)
        for path in report.backups:
            conn.ui.say(f"Backup of the previous MAC sector: {path}")
        conn.ui.result(f"MAC address is now {dev.mac()}; chip {HALTED}")


@app.command()
def run(
    ctx: typer.Context,
    port: PortOpt = None,
    baud: BaudOpt = None,
    pacing: PacingOpt = None,
    reset: ResetOpt = None,
    power_window: PowerWindowOpt = None,
    power: PowerOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    trace: TraceOpt = False,
) -> None:
    """Restart the chip into the firmware in its flash.

    Example:  swsflash run --port /dev/ttyUSB0
    """
    conn = command_connection(
        ctx,
        port,
        baud,
        pacing,
        reset,
        power_window,
        power,
        quiet,
        verbose,
        trace,
        False,
        default_pacing="safe",
    )
    with device(conn) as dev:
        dev.run()
    conn.ui.result("Chip restarted into the firmware in its flash.")
