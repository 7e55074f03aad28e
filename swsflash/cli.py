"""The ``swsflash`` command line: parse, connect, call one operation, report.

Every error a user can cause arrives here as an SwsError and leaves as one message, a
hint and its exit code (docs/exit-codes.md), never as a traceback.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from serial.tools import list_ports
from tqdm import tqdm

from . import handover, jobs
from .backup import DEFAULT_ROOT, BackupInfo, BackupStore, load_backup
from .errors import (
    EXIT_CODES,
    ImageError,
    Interrupted,
    PortError,
    SwsError,
    UsageError,
)
from .images import Image, describe_image, load_image
from .layout import protected_regions
from .program import JobReport
from .session import Session, connect, recover_connect
from .settings import ConnectOptions, check_lines, power_line, power_window_s, reset_line

app = typer.Typer(
    name="swsflash",
    help=(
        "Flash, back up and recover Telink TLSR825x devices (e.g. Xiaomi LYWSD03MMC) "
        "through the SWS pad with a plain USB-UART adapter.\n\n"
        "Wiring: adapter TX --1 kOhm-- SWS, adapter RX -- SWS, GND -- GND, 3.3 V -- VCC "
        "(see 'swsflash wiring' and docs/).\n\n"
        "Try it without hardware on the built-in bench: --port sim://"
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)

# Known USB-UART bridge chips by USB vendor:product id.
ADAPTERS = {
    (0x1A86, 0x7523): "CH340",
    (0x1A86, 0x5523): "CH341",
    (0x1A86, 0x7522): "CH340K",
    (0x1A86, 0x55D4): "CH9102",
    (0x067B, 0x2303): "PL2303",
    (0x067B, 0x23A3): "PL2303GC",
    (0x10C4, 0xEA60): "CP210x",
    (0x0403, 0x6001): "FT232R",
    (0x0403, 0x6015): "FT231X/FT230X",
    (0x0403, 0x6010): "FT2232",
}

PortOpt = Annotated[
    str | None,
    typer.Option(
        "--port",
        "-p",
        envvar="SWSFLASH_PORT",
        help="Serial port (/dev/ttyUSB0, COM3) or sim://SCENARIO for the built-in bench. "
        "Default: $SWSFLASH_PORT, else the only USB serial port.",
        show_default=False,
    ),
]
BaudOpt = Annotated[
    int,
    typer.Option("--baud", "-b", envvar="SWSFLASH_BAUD", help="UART speed (340000..3000000)."),
]
PacingOpt = Annotated[
    str,
    typer.Option(
        "--pacing",
        help="auto: test the adapter; safe: 60 characters at a time (adapters with gaps); "
        "stream: back to back.",
    ),
]
ResetOpt = Annotated[
    str,
    typer.Option(
        "--reset",
        help="rts|dtr|none: the adapter line wired to the chip's RST pin. The chip is reset "
        "and halted before its firmware can take the SWS pin.",
    ),
]
PowerWindowOpt = Annotated[
    int | None,
    typer.Option(
        "--power-window",
        metavar="MS",
        help="Keep streaming halt commands for MS milliseconds while you apply power "
        "(insert the battery): for units whose firmware takes the SWS pin.",
        show_default=False,
    ),
]
PowerOpt = Annotated[
    str,
    typer.Option(
        "--power",
        help="rts|dtr|none: the adapter line wired to the unit's VCC (+). swsflash switches "
        "the unit off and on itself and halts it as it boots (powered while the line is not "
        "asserted).",
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and the result.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log each transaction.")]
TraceOpt = Annotated[
    bool, typer.Option("--trace", help="Log the raw line bytes (attach this to bug reports).")
]
DeepOpt = Annotated[
    bool,
    typer.Option(
        "--deep", help="Also read each image whole: its CRC, and which old BLE build it is."
    ),
]
KeepOtherSlotOpt = Annotated[
    bool,
    typer.Option(
        "--keep-other-slot",
        help="After a complete image is written at 0: leave the boot marker of the image at "
        "0x40000 set (by default it is cleared, so the unit starts the new image).",
    ),
]
EraseNvOpt = Annotated[
    bool,
    typer.Option(
        "--erase-nv",
        help="When the firmware family changes (BLE <-> Zigbee): erase the settings the old "
        "firmware left behind, after backing them up.",
    ),
]


class Ui:
    """Progress and messages; quiet mode keeps stdout for results only."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def say(self, text: str) -> None:
        if not self.quiet:
            typer.echo(text)

    def countdown(self) -> Callable[[float], None]:
        """For the power window: the whole seconds left, each said once."""
        shown: list[int] = []

        def tick(left: float) -> None:
            n = math.ceil(left)
            if not shown or n < shown[-1]:
                shown.append(n)
                self.say(f"  {n} s left")

        return tick

    @contextmanager
    def progress(self, total: int, what: str) -> Iterator[Callable[[int], None]]:
        bar = tqdm(
            total=total,
            desc=what,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            disable=self.quiet,
            file=sys.stderr,
            leave=False,
        )
        try:
            yield bar.update
        finally:
            bar.close()


@contextmanager
def _stop_at_sector_boundary(dev: Session, ui: Ui) -> Iterator[None]:
    """The first Ctrl-C lets the current sector finish, so the flash is left in a known
    state; a second one stops at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def ask_to_stop(signum: int, frame: object) -> None:
        if dev.stop_requested:
            raise KeyboardInterrupt
        dev.stop_requested = True
        ui.say("\nStopping after the current sector (Ctrl-C again to stop at once)...")

    previous = signal.signal(signal.SIGINT, ask_to_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _fail(exc: SwsError) -> NoReturn:
    typer.echo(f"swsflash: {exc.title}: {exc.message}", err=True)
    if exc.hint:
        typer.echo(f"  what to do: {exc.hint}", err=True)
    raise typer.Exit(exc.exit_code)


def _setup_logging(verbose: bool, trace: bool) -> None:
    level = logging.DEBUG if trace else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr)


def resolve_port(port: str | None) -> str:
    """--port, else the only USB serial port, else a message listing the candidates."""
    if port:
        return port
    usb = [p for p in list_ports.comports() if p.vid is not None]
    if len(usb) == 1:
        return str(usb[0].device)
    if not usb:
        raise PortError(
            "no USB serial adapter found",
            "plug in the adapter, or pass --port (try --port sim:// for the built-in bench)",
        )
    names = ", ".join(str(p.device) for p in usb)
    raise PortError(f"several serial ports found ({names})", "choose one with --port")


def _options(
    baud: int,
    pacing: str,
    verbose: bool,
    trace: bool,
    reset: str = "none",
    power_window: int | None = None,
    power: str = "none",
) -> ConnectOptions:
    """The command line's connection options, checked by the rules every caller shares."""
    line = reset_line(reset, "--reset")
    feed = power_line(power, "--power")
    check_lines(line, feed, "--reset and --power")
    return ConnectOptions(
        baud=baud,
        pacing=pacing,
        trace=trace,
        verbose=verbose,
        reset=line,
        power_window=power_window_s(power_window, "--power-window"),
        power=feed,
    )


@contextmanager
def _session(
    port: str | None,
    baud: int,
    pacing: str,
    quiet: bool,
    verbose: bool,
    trace: bool,
    reset: str = "none",
    power_window: int | None = None,
    power: str = "none",
) -> Iterator[tuple[Session, Ui]]:
    """Connect with one clear message for whatever goes wrong, and report the chip found."""
    _setup_logging(verbose, trace)
    ui = Ui(quiet)
    try:
        options = _options(baud, pacing, verbose, trace, reset, power_window, power)
        url = resolve_port(port)
        ui.say(f"Connecting to {url} at {baud} baud...")
        if options.power:
            ui.say(f"Power-cycling the unit through {options.power.upper()}...")
        elif options.power_window:
            options = replace(options, on_wait=ui.countdown())
            ui.say(
                f"Apply power to the unit now (insert the battery): halting it during the "
                f"next {options.power_window:g} s..."
            )
        with connect(url, options) as dev:
            assert dev.clock_info is not None and dev.flash_id is not None
            ui.say(
                f"Chip TLSR825x halted; SWire divider {dev.clock_info.divider} "
                f"(chip clock ~{dev.clock_info.fclk_mhz} MHz); flash {dev.flash_id}; "
                f"pacing {dev.link.pacing.value}"
            )
            yield dev, ui
    except SwsError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        _fail(Interrupted("stopped by Ctrl-C", "run the command again to finish the job"))


def _summary(ui: Ui, dev: Session, verb: str, report: JobReport) -> None:
    rate = report.bytes_total / report.seconds / 1024 if report.seconds else 0.0
    parts = [f"{verb} {report.bytes_total:,} bytes"]
    details = []
    if report.sectors_erased:
        details.append(f"{report.sectors_erased} sectors erased")
    if report.pages_programmed or report.pages_skipped:
        details.append(f"{report.pages_programmed} pages written, {report.pages_skipped} blank")
    if report.sectors_unchanged:
        details.append(f"{report.sectors_unchanged} sectors already right")
    if report.retries:
        details.append(f"{report.retries} retried")
    if report.bytes_verified:
        details.append("verified")
    if details:
        parts.append(f"({', '.join(details)})")
    simulated = " of simulated time" if dev.simulated else ""
    parts.append(f"in {report.seconds:.1f} s{simulated} ({rate:.1f} KB/s)")
    for note in report.notes:
        ui.say(f"Note: {note}")
    typer.echo(" ".join(parts))


def _parse_int(text: str, what: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise UsageError(
            f"{what} {text!r} is not a number (use e.g. 0x40000 or 262144)"
        ) from None
    if value < 0:
        raise UsageError(f"{what} must not be negative")
    return value


def _guarded(fn: Callable[[], None]) -> None:
    """Run code outside a device session with the same error reporting."""
    try:
        fn()
    except SwsError as exc:
        _fail(exc)


# -- commands ----------------------------------------------------------------------------------
@app.command()
def info(
    port: PortOpt = None,
    baud: BaudOpt = 921_600,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    deep: DeepOpt = False,
    pacing: PacingOpt = "auto",
    reset: ResetOpt = "none",
    power_window: PowerWindowOpt = None,
    power: PowerOpt = "none",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    trace: TraceOpt = False,
) -> None:
    """Show chip id, SWire clock, PC, flash id/size/protection, the MAC address, and the
    firmware in each image slot with the one the boot ROM starts.

    Example:  swsflash info --port /dev/ttyUSB0
    """
    quiet = quiet or json_out
    with _session(
        port, baud, pacing, quiet, verbose, trace, reset, power_window, power
    ) as (dev, _):
        data = jobs.info(dev, deep)
        if json_out:
            typer.echo(json.dumps(data, indent=2))
            return
        _print_info(data)


@app.command()
def read(
    out: Annotated[Path, typer.Argument(help="File to write the flash content to.")],
    port: PortOpt = None,
    baud: BaudOpt = 921_600,
    start: Annotated[str, typer.Option(help="First flash address.")] = "0",
    size: Annotated[str | None, typer.Option(help="Bytes to read (default: to the end).")] = None,
    pacing: PacingOpt = "auto",
    reset: ResetOpt = "none",
    power_window: PowerWindowOpt = None,
    power: PowerOpt = "none",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    trace: TraceOpt = False,
) -> None:
    """Read flash into a file: a full backup by default.

    Example:  swsflash read backup.bin --port /dev/ttyUSB0
    """
    with _session(
        port, baud, pacing, quiet, verbose, trace, reset, power_window, power
    ) as (dev, ui):
        first = _parse_int(start, "--start")
        count = _parse_int(size, "--size") if size is not None else dev.flash_size - first
        with ui.progress(count, "Reading") as bump:
            data, report = jobs.read(dev, first, count, bump)
        try:
            out.write_bytes(data)
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from exc
        _summary(ui, dev, "Read", report)
        ui.say(f"Saved to {out}")


def _load(image_path: Path, address: str, force: bool) -> Image:
    image = load_image(image_path, _parse_int(address, "--address"))
    if image.problems and not force:
        raise ImageError(
            f"{image_path}: " + "; ".join(image.problems),
            "check that the download is complete and is firmware for this device; "
            "--force writes it anyway",
        )
    return image


BackupDirOpt = Annotated[
    Path,
    typer.Option(
        "--backup-dir",
        envvar="SWSFLASH_BACKUP_DIR",
        help="Where backups of overwritten sectors go (a folder per unit MAC).",
    ),
]
NoBackupOpt = Annotated[
    bool, typer.Option("--no-backup", help="Do not save the sectors about to change first.")
]
NoPreserveOpt = Annotated[
    bool,
    typer.Option(
        "--no-preserve",
        help="With --force: really overwrite MAC/calibration/hardware-version sectors "
        "instead of keeping them.",
    ),
]


def _store(no_backup: bool, backup_dir: Path) -> BackupStore | None:
    return None if no_backup else BackupStore(backup_dir)


def _report_backups(ui: Ui, report: JobReport) -> None:
    for path in report.backups:
        ui.say(f"Backup of the previous content: {path}")


@app.command()
def write(
    image: Annotated[Path, typer.Argument(help="Firmware: .bin, Zigbee OTA (.zigbee) or .hex.")],
    port: PortOpt = None,
    baud: BaudOpt = 921_600,
    address: Annotated[str, typer.Option(help="Flash address for a raw .bin.")] = "0",
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
    backup_dir: BackupDirOpt = DEFAULT_ROOT,
    pacing: PacingOpt = "auto",
    reset: ResetOpt = "none",
    power_window: PowerWindowOpt = None,
    power: PowerOpt = "none",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    trace: TraceOpt = False,
) -> None:
    """Erase what the image needs, write it, verify every byte, restart the chip.

    Sectors that already hold the right bytes are left alone; the sectors about to change
    are saved to a backup first (see --backup-dir).

    Example:  swsflash write z03mmc.bin --port /dev/ttyUSB0
    """
    _setup_logging(verbose, trace)
    img: Image | None = None

    def load() -> None:
        nonlocal img
        img = _load(image, address, force)
        _check_erase_nv(img, erase_nv, no_backup)

    _guarded(load)
    assert img is not None
    with _session(
        port, baud, pacing, quiet, verbose, trace, reset, power_window, power
    ) as (dev, ui):
        segments = [(seg.address, seg.data) for seg in img.segments]
        total = img.size * (2 if verify else 1)
        with ui.progress(total, "Writing") as bump, _stop_at_sector_boundary(dev, ui):
            report = jobs.write(
                dev,
                segments,
                verify=verify,
                force=force,
                preserve=not no_preserve,
                backup=_store(no_backup, backup_dir),
                progress=bump,
                keep_other_slot=keep_other_slot,
                erase_nv=erase_nv,
            )
        _report_backups(ui, report)
        _summary(ui, dev, "Wrote", report)
        if run_after:
            dev.run()
            ui.say("Chip restarted.")


@app.command()
def recover(
    image: Annotated[Path, typer.Argument(help="Firmware to put on the unit (.bin/.zigbee/.hex).")],
    port: PortOpt = None,
    baud: BaudOpt = 921_600,
    reset: ResetOpt = "none",
    power_window: Annotated[
        int,
        typer.Option(
            "--power-window", metavar="MS", help="How long to wait for you to apply power."
        ),
    ] = 5_000,
    power: PowerOpt = "none",
    keep_other_slot: KeepOtherSlotOpt = False,
    erase_nv: EraseNvOpt = False,
    no_backup: NoBackupOpt = False,
    backup_dir: BackupDirOpt = DEFAULT_ROOT,
    pacing: PacingOpt = "auto",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    trace: TraceOpt = False,
) -> None:
    """Bring a bricked unit back: get hold of it, back it up, write and verify the image.

    Tries a plain connection first, then a reset through RTS and DTR, and finally asks you
    to apply power (insert the battery) while it streams halt commands, counting down the
    seconds left. With --power rts (RTS wired to the unit's +) it power-cycles the unit
    itself instead. Best started with the unit's power removed and the adapter wired (see
    'swsflash wiring').

    Example:  swsflash recover z03mmc.bin --port /dev/ttyUSB0 [--power rts]
    """
    _setup_logging(verbose, trace)
    ui = Ui(quiet)
    try:
        img = _load(image, "0", force=False)
        _check_erase_nv(img, erase_nv, no_backup)
        options = _options(baud, pacing, verbose, trace, reset, power_window, power)
        options = replace(options, on_wait=ui.countdown())
        url = resolve_port(port)
        with recover_connect(url, options, power_window / 1000, ui.say) as dev:
            assert dev.clock_info is not None and dev.flash_id is not None
            ui.say(
                f"Found a TLSR825x (chip clock ~{dev.clock_info.fclk_mhz} MHz), flash "
                f"{dev.flash_id}, MAC {dev.mac() or 'not set'}"
            )
            report = JobReport()  # names the backup even when the write fails
            try:
                with _stop_at_sector_boundary(dev, ui):
                    jobs.recover(
                        dev,
                        [(seg.address, seg.data) for seg in img.segments],
                        backup=_store(no_backup, backup_dir),
                        phases=lambda total, what: ui.progress(total, what.capitalize()),
                        report=report,
                        keep_other_slot=keep_other_slot,
                        erase_nv=erase_nv,
                    )
            finally:
                for path in report.backups:
                    ui.say(f"Backup of the whole flash: {path}")
            _summary(ui, dev, "Wrote", report)
            ui.say(
                "Recovered: the image is written and verified, and the chip restarted.\n"
                "Next: disconnect the adapter's wires and power the unit as usual."
            )
    except SwsError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        _fail(Interrupted("stopped by Ctrl-C", "run 'swsflash recover' again"))


@app.command()
def jig(
    image: Annotated[
        Path | None,
        typer.Argument(help="Firmware (.bin/.zigbee/.hex); default: 'image' in --config.",
                       show_default=False),
    ] = None,
    ports: Annotated[
        list[str] | None,
        typer.Option("--ports", metavar="P1,P2,...", help="Ports, one per fixture position "
                     "(sim://... for the bench; {n} is the unit's number).", show_default=False),
    ] = None,
    all_ports: Annotated[
        bool, typer.Option("--all-ports", help="Every USB serial port is a position.")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Jig config (TOML): ports, baud, reset, power window, "
                     "image, logs. Options given here override it.", show_default=False),
    ] = None,
    baud: Annotated[int | None, typer.Option("--baud", "-b", help="UART speed.")] = None,
    pacing: Annotated[str | None, typer.Option("--pacing", help="auto|safe|stream.")] = None,
    reset: Annotated[
        str | None,
        typer.Option("--reset", help="rts|dtr|none for every position (overrides the config)."),
    ] = None,
    power_window: Annotated[
        int | None,
        typer.Option("--power-window", metavar="MS", help="Halt stream while each unit gets "
                     "power, for every position (overrides the config)."),
    ] = None,
    power: Annotated[
        str | None,
        typer.Option("--power", help="rts|dtr|none: the line feeding each unit's VCC, for "
                     "every position (overrides the config)."),
    ] = None,
    loop: Annotated[
        bool | None,
        typer.Option("--loop/--once", help="After a unit, wait for the next one (Ctrl-C stops)."),
    ] = None,
    count: Annotated[
        int | None,
        typer.Option("--count", metavar="N", help="Stop after N units per position "
                     "(implies --loop).", show_default=False),
    ] = None,
    log: Annotated[
        Path | None, typer.Option("--log", help="Append a JSON line per unit here.")
    ] = None,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Append a CSV row per unit here.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="stdout: one JSON object per finished unit.")
    ] = False,
    backup_dir: Annotated[
        Path | None,
        typer.Option("--backup-dir", envvar="SWSFLASH_BACKUP_DIR",
                     help="Where each unit's MAC/calibration sectors are saved.",
                     show_default=False),
    ] = None,
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
    from .jig import Overrides, resolve_settings, run_jig

    try:
        settings = resolve_settings(
            Overrides(
                image=image, ports=ports, all_ports=all_ports, config=config, baud=baud,
                pacing=pacing, reset=reset, power_window_ms=power_window, power=power, log=log,
                csv=csv_file, backup_dir=backup_dir, no_backup=no_backup, loop=loop,
                count=count, workers=workers, json_out=json_out,
            )
        )
        code = run_jig(settings)
    except SwsError as exc:
        _fail(exc)
    raise typer.Exit(code)


@app.command("verify")
def verify_cmd(
    image: Annotated[Path, typer.Argument(help="Firmware file to compare the flash with.")],
    port: PortOpt = None,
    baud: BaudOpt = 921_600,
    address: Annotated[str, typer.Option(help="Flash address for a raw .bin.")] = "0",
    pacing: PacingOpt = "auto",
    reset: ResetOpt = "none",
    power_window: PowerWindowOpt = None,
    power: PowerOpt = "none",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    trace: TraceOpt = False,
) -> None:
    """Compare the flash with an image, byte for byte.

    Example:  swsflash verify z03mmc.bin --port /dev/ttyUSB0
    """
    img: Image | None = None

    def load() -> None:
        nonlocal img
        img = _load(image, address, force=True)

    _guarded(load)
    assert img is not None
    with _session(
        port, baud, pacing, quiet, verbose, trace, reset, power_window, power
    ) as (dev, ui):
        with ui.progress(img.size, "Verifying") as bump:
            report = jobs.verify(dev, [(seg.address, seg.data) for seg in img.segments], bump)
        _summary(ui, dev, "Compared", report)


@app.command()
def erase(
    port: PortOpt = None,
    baud: BaudOpt = 921_600,
    start: Annotated[str | None, typer.Option(help="First address (sector aligned).")] = None,
    size: Annotated[str | None, typer.Option(help="Bytes to erase (whole sectors).")] = None,
    erase_all: Annotated[
        bool, typer.Option("--all", help="Erase the whole chip (needs --force).")
    ] = False,
    force: Annotated[
        bool, typer.Option(help="Allow --all, or a range over MAC/calibration sectors.")
    ] = False,
    no_preserve: NoPreserveOpt = False,
    no_backup: NoBackupOpt = False,
    backup_dir: BackupDirOpt = DEFAULT_ROOT,
    pacing: PacingOpt = "auto",
    reset: ResetOpt = "none",
    power_window: PowerWindowOpt = None,
    power: PowerOpt = "none",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    trace: TraceOpt = False,
) -> None:
    """Erase sectors, or with --all --force the whole chip (MAC and calibration are put
    back unless --no-preserve; a full backup is saved first unless --no-backup).

    Example:  swsflash erase --start 0x40000 --size 0x34000 --port /dev/ttyUSB0
    """

    def check() -> None:
        if erase_all and not force:
            raise UsageError(
                "--all erases the whole chip, including the unit's MAC address and its "
                "factory calibration, which cannot be recreated",
                "add --force: swsflash then backs up the flash and puts MAC and calibration "
                "back afterwards (add --no-preserve to really wipe them)",
            )
        if not erase_all and (start is None or size is None):
            raise UsageError("give --start and --size, or --all --force")

    _guarded(check)
    with _session(
        port, baud, pacing, quiet, verbose, trace, reset, power_window, power
    ) as (dev, ui):
        store = _store(no_backup, backup_dir)
        if erase_all:
            ui.say("Erasing the whole chip...")
            report = jobs.erase_all(dev, preserve=not no_preserve, backup=store)
        else:
            assert start is not None and size is not None
            first, count = _parse_int(start, "--start"), _parse_int(size, "--size")
            with ui.progress(count, "Erasing") as bump:
                report = jobs.erase(
                    dev, first, count, force=force, preserve=not no_preserve, backup=store,
                    progress=bump,
                )
        _report_backups(ui, report)
        _summary(ui, dev, "Erased", report)


@app.command()
def restore(
    backup_file: Annotated[Path, typer.Argument(help="A .bin saved by swsflash (or a dump).")],
    port: PortOpt = None,
    baud: BaudOpt = 921_600,
    force: Annotated[
        bool, typer.Option(help="Restore even if it carries another unit's MAC address.")
    ] = False,
    pacing: PacingOpt = "auto",
    reset: ResetOpt = "none",
    power_window: PowerWindowOpt = None,
    power: PowerOpt = "none",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    trace: TraceOpt = False,
) -> None:
    """Write a backup back where it came from, and verify it.

    Example:  swsflash restore ~/.swsflash/backups/A4C138A1B2C3/T-before-write-0x000000-0x20000.bin
    """
    loaded: list[tuple[BackupInfo, bytes]] = []
    _guarded(lambda: loaded.append(load_backup(backup_file)))
    info, data = loaded[0]
    with _session(
        port, baud, pacing, quiet, verbose, trace, reset, power_window, power
    ) as (dev, ui):
        with ui.progress(len(data) * 2, "Restoring") as bump:
            report = jobs.restore(dev, info, data, force=force, progress=bump)
        _summary(ui, dev, "Restored", report)


@app.command()
def mac(
    port: PortOpt = None,
    baud: BaudOpt = 921_600,
    set_to: Annotated[
        str | None, typer.Option("--set", help="New MAC, e.g. A4:C1:38:12:34:56.")
    ] = None,
    backup_dir: BackupDirOpt = DEFAULT_ROOT,
    pacing: PacingOpt = "auto",
    reset: ResetOpt = "none",
    power_window: PowerWindowOpt = None,
    power: PowerOpt = "none",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    trace: TraceOpt = False,
) -> None:
    """Show the unit's MAC address, or change it (the MAC sector is backed up first).

    Example:  swsflash mac --port /dev/ttyUSB0 --set A4:C1:38:12:34:56
    """
    with _session(
        port, baud, pacing, quiet, verbose, trace, reset, power_window, power
    ) as (dev, ui):
        if set_to is None:
            typer.echo(dev.mac() or "not set (the firmware makes up a random MAC)")
            return
        report = jobs.set_mac(dev, set_to, BackupStore(backup_dir))
        _report_backups(ui, report)
        typer.echo(f"MAC address is now {dev.mac()}")


@app.command("image-info")
def image_info(
    image: Annotated[Path, typer.Argument(help="Firmware file: .bin, .zigbee/.ota or .hex.")],
    address: Annotated[str, typer.Option(help="Flash address for a raw .bin.")] = "0",
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Describe a firmware file and what writing it would overwrite. Needs no device.

    Example:  swsflash image-info 1141-0203-99993001-ATC_v46.zigbee
    """
    found: list[Image] = []
    _guarded(lambda: found.append(load_image(image, _parse_int(address, "--address"))))
    data = describe_image(found[0])
    if json_out:
        typer.echo(json.dumps(data, indent=2))
        return
    for key, value in data.items():
        if isinstance(value, dict):
            typer.echo(f"{key.replace('_', ' ')}:")
            for k, v in value.items():
                typer.echo(f"  {k}: {v}")
        else:
            typer.echo(f"{key.replace('_', ' ')}: {value}")


@app.command()
def run(
    port: PortOpt = None,
    baud: BaudOpt = 921_600,
    pacing: PacingOpt = "safe",
    reset: ResetOpt = "none",
    power_window: PowerWindowOpt = None,
    power: PowerOpt = "none",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    trace: TraceOpt = False,
) -> None:
    """Restart the chip into the firmware in its flash.

    Example:  swsflash run --port /dev/ttyUSB0
    """
    with _session(
        port, baud, pacing, quiet, verbose, trace, reset, power_window, power
    ) as (dev, ui):
        dev.run()
        ui.say("Chip restarted.")


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
    sizes = {"512K": 0x80000, "1M": 0x100000}
    if size.upper() not in sizes:
        _fail(UsageError(f"--size must be 512K or 1M, not {size!r}"))
    for region in protected_regions(sizes[size.upper()]):
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
    from .wiring import render_text

    _guarded(lambda: typer.echo(render_text(adapter, board), nl=False))


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


def main() -> Any:
    return app()


# -- info as text (issue #16) ------------------------------------------------------------------
def _text(value: object) -> str:
    """A value of the info dict as a person reads it: no Python lists or dicts."""
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value) or "none"
    return "not set" if value is None else str(value)


def _print_info(data: dict[str, Any]) -> None:
    """The chip and flash lines, then the firmware report of jobs.info."""
    for key, value in data.items():
        if key != "firmware":
            typer.echo(f"{key.replace('_', ' '):>22}: {_text(value)}")
    fw = data.get("firmware")
    if isinstance(fw, dict):
        for line in _firmware_lines(fw):
            typer.echo(line)


def _firmware_lines(fw: dict[str, Any]) -> list[str]:
    """FirmwareReport.to_dict() as lines: boot slot, one line per slot, hardware version,
    settings areas holding data, warnings."""
    boot = fw["boot"]
    sure = "" if boot["certain"] else " (not certain)"
    out = [f"{'boots':>22}: {boot['slot'] or 'nothing'}{sure}: {boot['rule']}"]
    for slot in fw["slots"]:
        text = slot["state"]
        if slot["marker"] != "absent":
            text += f", marker {slot['marker']}"
        if slot["firmware"]:
            text += f": {slot['firmware']}, {slot['declared_size']:,} bytes"
        if slot["crc"]:
            text += f", CRC {slot['crc']}"
        out.append(f"{'slot ' + slot['address']:>22}: {text}")
        out += [f"{'':>24}{note}" for note in slot["notes"]]
    labels = {"hardware_version": "hardware version", "hardware_version_copy": "its pvvx copy"}
    for key, label in labels.items():
        hw = fw[key]
        if hw is None:
            continue
        what = hw["state"] if hw["state"] != "ok" else f"{hw['revision']} {hw['board'] or ''}"
        out.append(f"{label:>22}: {what.strip()} at {hw['address']}")
    used = [n["area"] for n in fw["nv_areas"] if n["holds_data"]]
    out.append(f"{'settings with data':>22}: {_text(used)}")
    out += [f"{'warning':>22}: {w}" for w in fw["warnings"]]
    return out


def _check_erase_nv(img: Image, erase_nv: bool, no_backup: bool) -> None:
    """--erase-nv needs a backup and a complete image at 0: refused before connecting."""
    segments = [(seg.address, seg.data) for seg in img.segments]
    handover.check_options(segments, erase_nv, not no_backup)
