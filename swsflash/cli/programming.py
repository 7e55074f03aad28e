"""Commands that change the flash: write, erase, restore, recover.

Every argument is parsed and checked before the port is opened (files, numbers, sector
alignment, a fit against the largest supported flash); the unit's own flash size is
checked once connected. Backups taken are named before writing starts and in every
failure message (the error handler reads them from the run's report).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import handover, jobs
from ..backup import BackupInfo, load_backup
from ..errors import ImageError, UsageError
from ..images import Image, load_image
from ..layout import PAGE, SECTOR
from ..plan import check_fits_any
from .app import app
from .connect import (
    command_connection,
    device,
    job_phases,
    recovering,
    segment_addresses,
    state_of,
)
from .device import HALTED
from .options import (
    BackupDirOpt,
    BaudOpt,
    EraseNvOpt,
    JsonOpt,
    KeepOtherSlotOpt,
    NoBackupOpt,
    NoPreserveOpt,
    NoProgressOpt,
    PacingOpt,
    PortOpt,
    PowerOpt,
    PowerWindowOpt,
    QuietOpt,
    ResetOpt,
    TraceOpt,
    VerboseOpt,
    parse_int,
    parse_size,
    sector_aligned,
    within_largest,
)
from .output import AddressOf, report_json, summary

Segments = list[tuple[int, bytes]]


def load_checked(path: Path, address: int, force: bool) -> Segments:
    """The image's segments, refused (unless ``force``) when a check fails, and always
    when they cannot fit the largest flash swsflash supports."""
    image: Image = load_image(path, address)
    if image.problems and not force:
        raise ImageError(
            f"{path}: " + "; ".join(image.problems),
            "check that the download is complete and is firmware for this device; "
            "'swsflash image-info' shows the checks; --force writes it anyway",
        )
    segments = sorted((s.address, s.data) for s in image.segments)
    for at, data in segments:
        check_fits_any(at, len(data))
    return segments


def check_erase_nv(segments: Segments, erase_nv: bool, no_backup: bool) -> None:
    """--erase-nv needs a backup and a complete image at 0: refused before connecting."""
    handover.check_options(segments, erase_nv, not no_backup)


def write_addresses(segments: Segments) -> AddressOf:
    """Where a write has got to in each of its phases (None where it cannot tell)."""
    image = segment_addresses(segments)
    sectors = sorted({a - a % SECTOR for s, d in segments for a in range(s, s + len(d), PAGE)})

    def at(phase: str, done: int) -> int | None:
        if phase == "writing":
            return image(done)
        if phase == "checking" and done // PAGE < len(sectors):
            return sectors[done // PAGE]
        return None

    return at


@app.command()
def write(
    ctx: typer.Context,
    image: Annotated[Path, typer.Argument(help="Firmware: .bin, Zigbee OTA (.zigbee) or .hex.")],
    port: PortOpt = None,
    baud: BaudOpt = None,
    address: Annotated[
        str, typer.Option(help="Flash address for a raw .bin (4 KB aligned).")
    ] = "0",
    verify: Annotated[bool, typer.Option(help="Read every byte back and compare.")] = True,
    run_after: Annotated[
        bool, typer.Option("--run/--no-run", help="Restart the chip when done.")
    ] = True,
    force: Annotated[
        bool,
        typer.Option(help="Write despite a bad image check, or into protected sectors."),
    ] = False,
    no_preserve: NoPreserveOpt = False,
    keep_other_slot: KeepOtherSlotOpt = False,
    erase_nv: EraseNvOpt = False,
    no_backup: NoBackupOpt = False,
    backup_dir: BackupDirOpt = None,
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
    """Erase what the image needs, write it, verify every byte, restart the chip.

    Sectors that already hold the right bytes are left alone; the sectors about to change
    are saved to a backup first (see --backup-dir).

    Example:  swsflash write z03mmc.bin --port /dev/ttyUSB0
    """
    state = state_of(ctx)
    state.json_out = json_out
    segments = load_checked(
        image, sector_aligned(parse_int(address, "--address"), "--address"), force
    )
    check_erase_nv(segments, erase_nv, no_backup)
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
    store = conn.backup_store(backup_dir, no_backup)
    with device(conn) as dev:
        report = jobs.write(
            dev,
            segments,
            verify=verify,
            force=force,
            preserve=not no_preserve,
            backup=store,
            phases=job_phases(conn, dev, write_addresses(segments)),
            report=state.report,
            keep_other_slot=keep_other_slot,
            erase_nv=erase_nv,
        )
        for note in report.notes:
            conn.ui.say(f"Note: {note}")
        if run_after:
            dev.run()
    chip = "restarted" if run_after else HALTED
    if json_out:
        typer.echo(report_json("write", report, dev.simulated, chip, file=str(image)))
        return
    conn.ui.result(summary("Wrote", report, dev.simulated, chip))


def erase_range(
    start: str | None, size: str | None, erase_all: bool, force: bool
) -> tuple[int | None, int | None]:
    """(first, size) of an erase, checked before connecting; (None, None) for --all,
    size None for ALL (to the end of the flash)."""
    if erase_all and not force:
        raise UsageError(
            "--all erases the whole chip, including the unit's MAC address and its "
            "factory calibration, which cannot be recreated",
            "add --force: swsflash then backs up the flash and puts MAC and calibration "
            "back afterwards (add --no-preserve to really wipe them)",
        )
    if not erase_all and (start is None or size is None):
        raise UsageError(
            "give --start and --size, or --all --force",
            "e.g. swsflash erase --start 0x40000 --size 0x34000",
        )
    first = count = None
    if not erase_all:
        assert start is not None and size is not None
        first = sector_aligned(parse_int(start, "--start"), "--start")
        count = parse_size(size, "--size")
        if count is not None:
            sector_aligned(count, "--size")
            if count == 0:
                raise UsageError("--size 0 erases nothing", "give a multiple of 0x1000")
        within_largest(first, count, "--start/--size")
    return first, count


@app.command()
def erase(
    ctx: typer.Context,
    port: PortOpt = None,
    baud: BaudOpt = None,
    start: Annotated[str | None, typer.Option(help="First address (sector aligned).")] = None,
    size: Annotated[
        str | None, typer.Option(help="Bytes to erase (whole sectors): 8K, 0x2000, ALL.")
    ] = None,
    erase_all: Annotated[
        bool, typer.Option("--all", help="Erase the whole chip (needs --force).")
    ] = False,
    force: Annotated[
        bool, typer.Option(help="Allow --all, or a range over MAC/calibration sectors.")
    ] = False,
    no_preserve: NoPreserveOpt = False,
    no_backup: NoBackupOpt = False,
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
    """Erase sectors, or with --all --force the whole chip (MAC and calibration are put
    back unless --no-preserve; a full backup is saved first unless --no-backup).

    Example:  swsflash erase --start 0x40000 --size 0x34000 --port /dev/ttyUSB0
    """
    first, count = erase_range(start, size, erase_all, force)
    conn = command_connection(
        ctx, port, baud, pacing, reset, power_window, power, quiet, verbose, trace, no_progress
    )
    store = conn.backup_store(backup_dir, no_backup)
    report = state_of(ctx).report
    with device(conn) as dev:
        if first is None:
            conn.ui.say("Erasing the whole chip...")
            report = jobs.erase_all(dev, preserve=not no_preserve, backup=store)
        else:
            total = dev.flash_size - first if count is None else count
            jobs.erase(
                dev,
                first,
                total,
                force=force,
                preserve=not no_preserve,
                backup=store,
                phases=job_phases(
                    conn, dev, lambda p, done: first + done if p == "erasing" else None
                ),
                report=report,
            )
    for note in report.notes:
        conn.ui.say(f"Note: {note}")
    for path in report.backups:
        conn.ui.say(f"Backup of the previous content: {path}")
    conn.ui.result(summary("Erased", report, dev.simulated, HALTED))


def check_restorable(path: Path, info: BackupInfo, data: bytes, force: bool) -> None:
    """Only swsflash's own backups are restored without --force: a file with its
    description beside it, or a whole-flash dump that starts like one."""
    if info.reason != "full dump" or force:
        return
    whole = len(data) in (0x80000, 0x100000)
    if whole and b"KNLT" in (data[8:12], data[0x40008:0x4000C]):
        return
    raise ImageError(
        f"{path} is not a swsflash backup: there is no {path.with_suffix('.json').name} "
        "beside it, and it is not a whole-flash dump (512 KB or 1 MB holding a Telink image)",
        "restore the .bin files swsflash saved (their folder is printed when they are "
        "made), or a dump from 'swsflash read'; to write this file at address 0 anyway, add "
        "--force (or use 'swsflash write --address')",
    )


@app.command()
def restore(
    ctx: typer.Context,
    backup_file: Annotated[Path, typer.Argument(help="A .bin saved by swsflash (or a dump).")],
    port: PortOpt = None,
    baud: BaudOpt = None,
    force: Annotated[
        bool,
        typer.Option(
            help="Restore a file that is not a swsflash backup, or one that "
            "carries another unit's MAC address."
        ),
    ] = False,
    pacing: PacingOpt = None,
    reset: ResetOpt = None,
    power_window: PowerWindowOpt = None,
    power: PowerOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    trace: TraceOpt = False,
    no_progress: NoProgressOpt = False,
) -> None:
    """Write a backup back where it came from, and verify it.

    Example:  swsflash restore ~/.swsflash/backups/A4C138A1B2C3/T-before-write-0x000000-0x20000.bin
    """
    info, data = load_backup(backup_file)
    check_restorable(backup_file, info, data, force)
    check_fits_any(info.start, len(data))
    conn = command_connection(
        ctx, port, baud, pacing, reset, power_window, power, quiet, verbose, trace, no_progress
    )
    segments = [(info.start, data)]
    with device(conn) as dev:
        report = jobs.restore(
            dev, info, data, force=force, phases=job_phases(conn, dev, write_addresses(segments))
        )
    conn.ui.result(summary("Restored", report, dev.simulated, HALTED))


@app.command()
def recover(
    ctx: typer.Context,
    image: Annotated[Path, typer.Argument(help="Firmware to put on the unit (.bin/.zigbee/.hex).")],
    port: PortOpt = None,
    baud: BaudOpt = None,
    reset: ResetOpt = None,
    power_window: Annotated[
        int,
        typer.Option(
            "--power-window", metavar="MS", help="How long to wait for you to apply power."
        ),
    ] = 5_000,
    power: PowerOpt = None,
    keep_other_slot: KeepOtherSlotOpt = False,
    erase_nv: EraseNvOpt = False,
    no_backup: NoBackupOpt = False,
    backup_dir: BackupDirOpt = None,
    json_out: JsonOpt = False,
    pacing: PacingOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    trace: TraceOpt = False,
    no_progress: NoProgressOpt = False,
) -> None:
    """Bring a bricked unit back: get hold of it, back it up, write and verify the image.

    Tries a plain connection first, then a reset through RTS and DTR, and finally asks you
    to apply power (insert the battery) while it streams halt commands, counting down the
    seconds left. With --power rts (RTS wired to the unit's +) it power-cycles the unit
    itself instead. Best started with the unit's power removed and the adapter wired (see
    'swsflash wiring').

    Example:  swsflash recover z03mmc.bin --port /dev/ttyUSB0 [--power rts]
    """
    state = state_of(ctx)
    state.json_out = json_out
    segments = load_checked(image, 0, force=False)
    check_erase_nv(segments, erase_nv, no_backup)
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
    assert conn.options.power_window is not None
    store = conn.backup_store(backup_dir, no_backup)
    with recovering(conn, conn.options.power_window) as dev:
        jobs.recover(
            dev,
            segments,
            backup=store,
            report=state.report,
            phases=job_phases(conn, dev, write_addresses(segments), "Backup of the whole flash"),
            keep_other_slot=keep_other_slot,
            erase_nv=erase_nv,
        )
    report = state.report
    for note in report.notes:
        conn.ui.say(f"Note: {note}")
    if json_out:
        typer.echo(report_json("recover", report, dev.simulated, "restarted", file=str(image)))
        return
    conn.ui.result(summary("Wrote", report, dev.simulated, "restarted"))
    conn.ui.say(
        "Recovered: the image is written and verified, and the chip restarted.\n"
        "Next: disconnect the adapter's wires and power the unit as usual."
    )
