"""From the command line's options to a connected unit.

Everything is checked before a port is opened: the options (by the core's one set of
rules, swsflash/settings.py), the port's name, where backups go. Then one context
manager connects, reports the chip, and lets Ctrl-C act at once, except while a sector
is being written, which a first Ctrl-C lets finish.
"""

from __future__ import annotations

import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import typer
from serial.tools import list_ports

from ..backup import DEFAULT_ROOT, BackupStore
from ..errors import PortError
from ..program import Phases
from ..session import Session, connect, recover_connect
from ..settings import (
    BAUD_DEFAULT,
    ConnectOptions,
    check_lines,
    power_line,
    power_window_s,
    reset_line,
)
from .options import Globals
from .output import SECTOR_PHASES, AddressOf, RunState, Ui, setup_logging

# Backups of bench units go here unless --backup-dir says otherwise: trying swsflash on
# sim:// must not fill the user's real backup folder.
SIM_BACKUP_ROOT = Path(tempfile.gettempdir()) / "swsflash-sim" / "backups"


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


@dataclass(frozen=True)
class Connection:
    """A checked way to reach the unit, made before anything is opened."""

    url: str
    options: ConnectOptions
    state: RunState
    ui: Ui

    @property
    def simulated(self) -> bool:
        return self.url.startswith("sim://")

    def backup_store(self, backup_dir: Path | None, no_backup: bool = False) -> BackupStore | None:
        if no_backup:
            return None
        if backup_dir is None:
            backup_dir = SIM_BACKUP_ROOT if self.simulated else DEFAULT_ROOT
        return BackupStore(backup_dir)


def state_of(ctx: typer.Context) -> RunState:
    if not isinstance(ctx.obj, RunState):
        ctx.obj = RunState()
    return ctx.obj


def connection(
    ctx: typer.Context,
    *,
    port: str | None,
    baud: int | None,
    pacing: str | None,
    reset: str | None,
    power_window: int | None,
    flags: Globals,
    power: str | None = None,
    json_out: bool = False,
    default_pacing: str = "auto",
) -> Connection:
    """Merge the command's options over the global ones and check them all."""
    state = state_of(ctx)
    g = state.globals
    merged = Globals(
        quiet=flags.quiet or g.quiet,
        verbose=flags.verbose or g.verbose,
        trace=flags.trace or g.trace,
        no_progress=flags.no_progress or g.no_progress,
    )
    ui = Ui(merged, json_out)
    state.ui = ui
    setup_logging(ui, merged.verbose, merged.trace)
    line = reset_line(_first(reset, g.reset, "none"), "--reset")
    feed = power_line(_first(power, g.power, "none"), "--power")
    check_lines(line, feed, "--reset and --power")
    options = ConnectOptions(
        baud=_first(baud, g.baud, BAUD_DEFAULT),
        pacing=_first(pacing, g.pacing, default_pacing),
        trace=merged.trace,
        verbose=merged.verbose,
        reset=line,
        power_window=power_window_s(_first(power_window, g.power_window, None), "--power-window"),
        power=feed,
    )
    return Connection(resolve_port(port or g.port), options, state, ui)


def command_connection(
    ctx: typer.Context,
    port: str | None,
    baud: int | None,
    pacing: str | None,
    reset: str | None,
    power_window: int | None,
    power: str | None,
    quiet: bool,
    verbose: bool,
    trace: bool,
    no_progress: bool,
    json_out: bool = False,
    default_pacing: str = "auto",
) -> Connection:
    """``connection`` for a command's usual options, in the order commands declare them."""
    state_of(ctx).json_out = json_out
    return connection(
        ctx,
        port=port,
        baud=baud,
        pacing=pacing,
        reset=reset,
        power_window=power_window,
        power=power,
        flags=Globals(quiet=quiet, verbose=verbose, trace=trace, no_progress=no_progress),
        json_out=json_out,
        default_pacing=default_pacing,
    )


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


@contextmanager
def device(conn: Connection) -> Iterator[Session]:
    """Connect, say what was found, and stop cleanly on Ctrl-C."""
    ui, options = conn.ui, conn.options
    ui.say(f"Connecting to {conn.url} at {options.baud} baud...")
    if options.power:
        ui.say(f"Power-cycling the unit through {options.power.upper()}...")
    elif options.power_window:
        options = replace(options, on_wait=ui.countdown())
        ui.say(
            f"Apply power to the unit now (insert the battery): halting it during the "
            f"next {options.power_window:g} s..."
        )
    with connect(conn.url, options) as dev, ctrl_c(dev, ui):
        found(ui, dev)
        yield dev


@contextmanager
def recovering(conn: Connection, window_s: float) -> Iterator[Session]:
    """Get hold of a bricked unit by every means there is (see session.recover_connect),
    counting down the seconds left of a power window."""
    options = replace(conn.options, power_window=None, on_wait=conn.ui.countdown())
    with recover_connect(conn.url, options, window_s, conn.ui.say) as dev, ctrl_c(dev, conn.ui):
        assert dev.clock_info is not None and dev.flash_id is not None
        conn.ui.say(
            f"Found a TLSR825x (chip clock ~{dev.clock_info.fclk_mhz} MHz), flash "
            f"{dev.flash_id}, MAC {dev.mac() or 'not set'}"
        )
        yield dev


def found(ui: Ui, dev: Session) -> None:
    assert dev.clock_info is not None and dev.flash_id is not None
    ui.say(
        f"Chip TLSR825x halted; SWire divider {dev.clock_info.divider} "
        f"(chip clock ~{dev.clock_info.fclk_mhz} MHz); flash {dev.flash_id}; "
        f"pacing {dev.link.pacing.value}"
    )


@contextmanager
def ctrl_c(dev: Session, ui: Ui) -> Iterator[None]:
    """Ctrl-C stops at once, except while writing or erasing: the first one there lets
    the current sector finish (the flash is left in a known state), a second stops at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def ask_to_stop(signum: int, frame: object) -> None:
        if ui.phase in SECTOR_PHASES and not dev.stop_requested:
            dev.stop_requested = True
            ui.note("Stopping after the current sector (Ctrl-C again to stop at once)...")
            return
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, ask_to_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def job_phases(
    conn: Connection,
    dev: Session,
    address_of: AddressOf,
    label: str = "Backup of the previous content",
) -> Phases:
    """Progress bars for a job's phases; the backups are named before writing starts."""
    report = conn.state.report
    named: set[Path] = set()

    def on_start(what: str) -> None:
        for path in report.backups:
            if path not in named:
                named.add(path)
                conn.ui.say(f"{label}: {path}")

    return conn.ui.phases(dev.clock, dev.simulated, address_of, on_start)


def segment_addresses(segments: list[tuple[int, bytes]]) -> Callable[[int], int | None]:
    """Bytes of the image done -> the flash address the job has reached."""

    def address(done: int) -> int | None:
        for start, data in segments:
            if done < len(data):
                return start + done
            done -= len(data)
        return None

    return address
