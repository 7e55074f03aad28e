"""``swsflash jig``: reprogram many units at once, one USB-UART adapter per fixture position.

Every position is independent: its own port, its own device clock, its own worker (a thread,
or a process for simulated ports, whose model is CPU-bound). Workers never write to the
terminal or to files: they send events to the main thread, which alone draws the live
display, prints the summary lines and appends the per-unit records to the logs, so that a
plant can trace every unit without lines from two positions ever mixing.

In a loop a position waits for a unit (it answers), programs it, waits for it to be removed
(it stops answering), and starts again; see docs/jig.md for what that means on a fixture.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import multiprocessing
import os
import queue
import shutil
import signal
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import IO, Any, Protocol, TextIO, TypeVar

from serial.tools import list_ports

from . import jobs
from .backup import DEFAULT_ROOT, BackupStore
from .errors import (
    ImageError,
    Interrupted,
    PortError,
    SilentChip,
    SwsError,
    UsageError,
    WiringError,
)
from .images import Image, load_image
from .program import JobReport, Progress
from .session import Session, open_transport
from .settings import (
    BAUD_DEFAULT,
    POWER_OFF_DEFAULT_S,
    ConnectOptions,
    check_baud,
    check_lines,
    check_pacing,
    power_line,
    power_off_s,
    power_window_s,
    reset_line,
)
from .transport import Transport

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

U = TypeVar("U")

PROBE_PAUSE_S = 0.5  # between presence probes, on the device clock
SIM_PROBE_WALL_S = 0.02  # wall time a probe of a simulated unit gives up
ABSENT_PROBES = 2  # a unit is gone after this many probes in a row without an answer


# -- settings ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Position:
    """One place on the fixture: an adapter and how its unit is caught at boot."""

    port: str  # may hold {n}: the unit's number at this position (one sim unit per number)
    name: str = ""
    reset: str | None = None  # rts | dtr wired to a real RST pin
    power_window: float | None = None  # seconds of halt stream while the unit gets power
    power: str | None = None  # rts | dtr feeding the unit's VCC: power-cycled at each catch
    power_off: float = POWER_OFF_DEFAULT_S  # seconds off in that power cycle

    @property
    def label(self) -> str:
        return self.name or self.port

    def url(self, n: int) -> str:
        return self.port.replace("{n}", str(n))


@dataclass
class Settings:
    """Everything a jig run needs, after the config file and the command line are merged."""

    image: Path
    positions: list[Position]
    baud: int = 921_600
    pacing: str = "auto"
    log: Path | None = None
    csv: Path | None = None
    backup_dir: Path | None = DEFAULT_ROOT  # None: no backup of the unique sectors
    loop: bool = False
    count: int = 0  # units per position in a loop; 0: until Ctrl-C
    workers: str = "auto"  # auto | threads | processes
    json_out: bool = False


@dataclass
class Overrides:
    """What the command line says; None means "not given" (the config file decides)."""

    image: Path | None = None
    ports: list[str] | None = None
    all_ports: bool = False
    config: Path | None = None
    baud: int | None = None
    pacing: str | None = None
    reset: str | None = None
    power_window_ms: int | None = None
    power: str | None = None
    log: Path | None = None
    csv: Path | None = None
    backup_dir: Path | None = None
    no_backup: bool = False
    loop: bool | None = None
    count: int | None = None
    workers: str | None = None
    json_out: bool = False


_TOP_KEYS = {
    "image", "ports", "all_ports", "baud", "pacing", "reset", "power_window_ms", "power",
    "power_off_ms", "log", "csv",
    "backup_dir", "backup", "loop", "count", "workers",
}
_PORT_KEYS = {"port", "name", "reset", "power_window_ms", "power", "power_off_ms"}


def read_config(path: Path) -> dict[str, Any]:
    """The jig's TOML file, with unknown keys refused: a typo must not go unnoticed."""
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read the jig config {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from exc
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise UsageError(
            f"{path}: unknown key(s) {', '.join(sorted(unknown))}",
            f"known keys: {', '.join(sorted(_TOP_KEYS))} (see docs/jig.md)",
        )
    return data


def _typed(data: dict[str, Any], key: str, kind: type, where: str) -> Any:
    """A config value of the expected type, or None when absent (TOML bools are not ints)."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise UsageError(f"{where}: '{key}' must be a {kind.__name__}, not {value!r}")
    return value


def _power_of(entry: dict[str, Any], where: str, default: Position) -> Position:
    """``default`` with the power line and off time that ``entry`` gives, if any."""
    power = default.power
    if "power" in entry:
        power = power_line(_typed(entry, "power", str, where), where)
    off = default.power_off
    if "power_off_ms" in entry:
        off = power_off_s(_typed(entry, "power_off_ms", int, where), where)
    return replace(default, power=power, power_off=off)


def _positions_from_config(
    data: dict[str, Any],
    where: str,
    reset: str | None,
    window: float | None,
    power: Position | None = None,
) -> list[Position]:
    """Ports as plain strings or as tables with their own reset line, power line and power
    window; ``reset``, ``window`` and ``power`` (its power fields) are the file's defaults
    for those that say nothing."""
    power = power or Position("")
    entries = data.get("ports", [])
    if not isinstance(entries, list):
        raise UsageError(f"{where}: 'ports' must be a list")
    found = []
    for n, entry in enumerate(entries, 1):
        if isinstance(entry, str):
            entry = {"port": entry}
        if not isinstance(entry, dict) or "port" not in entry:
            raise UsageError(f"{where}: ports entry {n} needs a 'port'")
        unknown = set(entry) - _PORT_KEYS
        if unknown:
            raise UsageError(f"{where}: ports entry {n}: unknown key(s) {sorted(unknown)}")
        here = f"{where}, port {entry['port']}"
        found.append(
            Position(
                port=str(_typed(entry, "port", str, here)),
                name=_typed(entry, "name", str, here) or "",
                reset=reset_line(_typed(entry, "reset", str, here), here)
                if "reset" in entry else reset,
                power_window=power_window_s(_typed(entry, "power_window_ms", int, here), here)
                if "power_window_ms" in entry else window,
            )
        )
        found[-1] = _power_of(
            entry, here, replace(found[-1], power=power.power, power_off=power.power_off)
        )
    return found


def usb_ports() -> list[str]:
    """Every USB serial port, in name order: the positions of a fixture on one hub."""
    return sorted(str(p.device) for p in list_ports.comports() if p.vid is not None)


def resolve_settings(o: Overrides) -> Settings:
    """Merge the config file (if any) with the command line; the command line wins."""
    data: dict[str, Any] = {}
    where = "command line"
    base = Path.cwd()
    if o.config is not None:
        data = read_config(o.config)
        where = str(o.config)
        base = o.config.resolve().parent

    def path(key: str) -> Path | None:
        value = _typed(data, key, str, where)
        return None if value is None else base / value

    reset = reset_line(_typed(data, "reset", str, where), where)
    window = power_window_s(_typed(data, "power_window_ms", int, where), where)
    power = _power_of(data, where, Position(""))
    configured = _positions_from_config(data, where, reset, window, power)
    by_port = {p.port: p for p in configured}

    def position(port: str) -> Position:
        return by_port.get(port) or replace(power, port=port, reset=reset, power_window=window)

    if o.ports:
        positions = [position(p.strip()) for item in o.ports for p in item.split(",")
                     if p.strip()]
    elif o.all_ports or _typed(data, "all_ports", bool, where):
        positions = [position(port) for port in usb_ports()]
        if not positions:
            raise PortError("--all-ports: no USB serial adapter found", "plug in the fixture")
    else:
        positions = configured
    if not positions:
        raise UsageError("no ports: give --ports P1,P2,..., --all-ports, or 'ports' in --config")
    if len({p.port for p in positions}) != len(positions):
        raise UsageError("a port is listed twice: each position needs its own adapter")
    # the command line's reset line and power window are for every position
    if o.reset is not None:
        line = reset_line(o.reset, "--reset")
        positions = [replace(p, reset=line) for p in positions]
    if o.power_window_ms is not None:
        ms = power_window_s(o.power_window_ms, "--power-window")
        positions = [replace(p, power_window=ms) for p in positions]
    if o.power is not None:
        feed = power_line(o.power, "--power")
        positions = [replace(p, power=feed) for p in positions]
    for p in positions:
        check_lines(p.reset, p.power, f"{where}, port {p.port}")

    image = o.image or path("image")
    if image is None:
        raise UsageError("no image: give IMAGE, or 'image' in --config")
    # the same rules as the command line's and the Python API's (swsflash/settings.py)
    baud = o.baud if o.baud is not None else _typed(data, "baud", int, where) or BAUD_DEFAULT
    check_baud(baud, where)
    pacing = check_pacing(o.pacing or _typed(data, "pacing", str, where) or "auto", where)
    workers = o.workers or _typed(data, "workers", str, where) or "auto"
    if workers not in ("auto", "threads", "processes"):
        raise UsageError(f"workers must be auto, threads or processes, not {workers!r}")
    count = o.count if o.count is not None else _typed(data, "count", int, where) or 0
    if count < 0:
        raise UsageError("count must not be negative")
    if o.loop is False and o.count:
        raise UsageError("--once and --count contradict each other: --count means a loop")
    if o.loop is False:
        count = 0  # --once beats a count in the config
    loop = o.loop if o.loop is not None else bool(_typed(data, "loop", bool, where))
    keep_backup = not o.no_backup and _typed(data, "backup", bool, where) is not False
    backup_dir = o.backup_dir or path("backup_dir") or DEFAULT_ROOT
    return Settings(
        image=image,
        positions=positions,
        baud=baud,
        pacing=pacing,
        log=o.log or path("log"),
        csv=o.csv or path("csv"),
        backup_dir=backup_dir if keep_backup else None,
        loop=loop or count > 0,
        count=count,
        workers=workers,
        json_out=o.json_out,
    )


# -- what a worker is given and sends back -----------------------------------------------------
@dataclass(frozen=True)
class Job:
    """The same job for every position: picklable, so a worker process gets its own copy."""

    segments: tuple[tuple[int, bytes], ...]
    image: dict[str, Any]  # file, crc32, version, size: copied into every record
    baud: int
    pacing: str
    backup_dir: str | None
    loop: bool
    count: int
    probe_pause: float = PROBE_PAUSE_S

    def options(self, position: Position) -> ConnectOptions:
        return ConnectOptions(
            baud=self.baud,
            pacing=self.pacing,
            reset=position.reset,
            power_window=position.power_window,
            power=position.power,
            power_off=position.power_off,
        )


@dataclass
class UnitRecord:
    """One line of the plant's log: enough to trace a unit back to the image and the run."""

    time_start: str
    time_end: str = ""
    position: str = ""
    port: str = ""
    unit: int = 0  # the unit's number at this position in this run
    result: str = "failed"  # ok | failed
    exit_code: int = 1
    error: str | None = None
    error_title: str | None = None
    mac: str | None = None
    chip_id: str | None = None
    flash_jedec_id: str | None = None
    flash_size: int | None = None
    image_file: str = ""
    image_crc32: str = ""
    image_sha256: str = ""
    image_version: str | None = None
    image_size: int = 0
    seconds: float = 0.0  # on the device clock: simulated time on sim://
    clock: str = "real"  # real | virtual
    wall_seconds: float = 0.0
    retries: int = 0
    sectors_erased: int = 0
    sectors_unchanged: int = 0
    bytes_verified: int = 0
    backups: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


RECORD_FIELDS = [f.name for f in fields(UnitRecord)]


@dataclass(frozen=True)
class StateEvent:
    position: int
    state: str
    progress: float | None = None  # 0..1 while writing


@dataclass(frozen=True)
class RecordEvent:
    position: int
    record: UnitRecord


@dataclass(frozen=True)
class DoneEvent:
    position: int


Event = StateEvent | RecordEvent | DoneEvent


class Flag(Protocol):
    """threading.Event or multiprocessing.Event."""

    def is_set(self) -> bool: ...
    def set(self) -> None: ...


class Sink(Protocol):
    """queue.Queue or multiprocessing.Queue: where a worker sends its events."""

    def put(self, item: Any, /) -> None: ...
    def get(self, block: bool = ..., timeout: float | None = ...) -> Any: ...


@dataclass(frozen=True)
class Flags:
    stop: Flag  # first Ctrl-C: finish the units being programmed, take no new ones
    abort: Flag  # second Ctrl-C: stop jobs at the next sector boundary


# -- one unit ----------------------------------------------------------------------------------
@dataclass
class _Attached:
    """An open port, its device and when it was opened on the device clock."""

    transport: Transport
    device: Session
    t0: float
    error: SwsError | None = None  # the unit is there but attaching failed

    def seconds(self) -> float:
        return self.transport.clock.now() - self.t0


def _open(url: str, options: ConnectOptions) -> _Attached:
    transport = open_transport(url, options)
    return _Attached(transport, Session(transport, options), transport.clock.now())


def _pause(at: _Attached, seconds: float) -> None:
    """Wait between probes on the device clock. A simulated unit's clock costs no wall
    time, so a waiting position would spin a CPU the other simulated ones need: it also
    gives up a little wall time."""
    at.transport.clock.sleep(seconds)
    if _clock_kind(at) == "virtual":
        time.sleep(SIM_PROBE_WALL_S)


def _quiet(_: str) -> None:
    pass


def catch_unit(
    url: str, options: ConnectOptions, pause: float, note: Callable[[str], None] = _quiet
) -> _Attached | None:
    """One placement probe: the attached unit, or None when nothing answers yet.

    A unit that answers but cannot be attached (a wrong chip, garbled answers) is there:
    it is returned with the error, for its record. No echo is no unit either (pogo pins
    not touching yet), but the position says so: it may be the fixture's wiring.
    """
    at = _open(url, options)
    try:
        at.device.attach()
        return at
    except SilentChip:
        note("waiting for a unit")
    except WiringError as exc:
        note(f"waiting for a unit; {exc.message}: check the adapter and the pogo pins")
    except SwsError as exc:
        at.error = exc
        return at
    except BaseException:
        at.transport.close()
        raise
    _pause(at, pause)
    at.transport.close()
    return None


def unit_present(url: str, options: ConnectOptions, pause: float) -> bool:
    """One removal probe: does a chip answer at this position? Paced by ``pause``."""
    at = _open(url, options)
    try:
        at.device.attach()
        present = True
    except (SilentChip, WiringError):
        present = False
    except SwsError:
        present = True  # something answers, if garbled
    finally:
        _pause(at, pause)
        at.transport.close()
    return present


def wait_until_present(catch: Callable[[], U | None], stop: Flag) -> U | None:
    """Probe until a unit answers; None if told to stop first."""
    while not stop.is_set():
        found = catch()
        if found is not None:
            return found
    return None


def wait_until_absent(present: Callable[[], bool], stop: Flag, settle: int = ABSENT_PROBES) -> bool:
    """Probe until the unit has not answered ``settle`` times in a row (pogo pins bounce
    while a unit is pulled out); False if told to stop first."""
    misses = 0
    while not stop.is_set():
        if present():
            misses = 0
            continue
        misses += 1
        if misses >= settle:
            return True
    return False


class _UnitLog(logging.Handler):
    """The library's warnings (retries, reconnects) of one worker, kept for its record."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(record.getMessage())


@contextmanager
def _library_logs_kept() -> Iterator[None]:
    """The library's log lines go into unit records, not over the live display."""
    logger = logging.getLogger("swsflash")
    null = logging.NullHandler()
    was = logger.propagate
    logger.propagate = False
    logger.addHandler(null)
    try:
        yield
    finally:
        logger.removeHandler(null)
        logger.propagate = was


def _now_iso() -> str:
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


def run_unit(
    index: int,
    position: Position,
    n: int,
    job: Job,
    sink: Sink,
    flags: Flags,
    attached: _Attached | None = None,
) -> UnitRecord:
    """Connect (unless already attached), back up the unique sectors, write with verify,
    restart: one record whatever happens, never an exception."""
    url = position.url(n)
    rec = UnitRecord(_now_iso(), position=position.label, port=url, unit=n, **job.image)
    wall0 = time.monotonic()
    log = _UnitLog()
    report = JobReport()  # filled as the job goes: a failed unit still lists its backups
    logging.getLogger("swsflash").addHandler(log)

    def say(state: str, progress: float | None = None) -> None:
        sink.put(StateEvent(index, state, progress))

    try:
        if attached is None:
            say("connecting")
            attached = _open(url, job.options(position))
            rec.clock = _clock_kind(attached)
            attached.device.attach()
        elif attached.error is not None:
            raise attached.error
        dev = attached.device
        rec.clock = _clock_kind(attached)
        _identify(dev, rec)
        store = None if job.backup_dir is None else BackupStore(Path(job.backup_dir))
        jobs.program_unit(
            dev, job.segments, backup=store, phases=partial(_phase, say, dev, flags),
            report=report,
        )
        rec.sectors_erased = report.sectors_erased
        rec.sectors_unchanged = report.sectors_unchanged
        rec.bytes_verified = report.bytes_verified
        rec.notes += report.notes
        rec.result, rec.exit_code = "ok", 0
    except SwsError as exc:
        rec.error, rec.error_title, rec.exit_code = exc.message, exc.title, exc.exit_code
    except Exception as exc:  # a bug must cost one unit, not the whole fixture
        rec.error, rec.error_title = f"{type(exc).__name__}: {exc}", "internal error"
        rec.exit_code = 1
    finally:
        logging.getLogger("swsflash").removeHandler(log)
        rec.backups = [str(path) for path in report.backups]
        rec.notes += log.lines
        if attached is not None:
            rec.retries = attached.device.retries
            rec.seconds = round(attached.seconds(), 3)
            attached.transport.close()
        else:
            rec.seconds = round(time.monotonic() - wall0, 3)
        rec.wall_seconds = round(time.monotonic() - wall0, 3)
        rec.time_end = _now_iso()
    return rec


@contextmanager
def _phase(
    say: Callable[[str, float | None], None], dev: Session, flags: Flags, total: int, what: str
) -> Iterator[Progress]:
    """A phase of the unit's job as the position's state; a second Ctrl-C (abort) stops
    the job at its next sector boundary."""
    done = 0

    def bump(count: int) -> None:
        nonlocal done
        done += count
        if flags.abort.is_set():
            dev.stop_requested = True
        say(what, done / total if total else 1.0)

    say(what, 0.0 if total else None)
    yield bump


def _clock_kind(attached: _Attached) -> str:
    return "virtual" if attached.transport.simulated else "real"


def _identify(dev: Session, rec: UnitRecord) -> None:
    unit = dev.identity()
    rec.chip_id = f"0x{unit.chip_id:04x}"
    rec.flash_jedec_id = unit.flash.jedec.hex()
    rec.flash_size = unit.flash.size
    rec.mac = unit.mac


def _say(sink: Sink, index: int, state: str) -> None:
    sink.put(StateEvent(index, state))


def run_position(index: int, position: Position, job: Job, sink: Sink, flags: Flags) -> None:
    """All units of one position: one, or in a loop until the count or Ctrl-C."""
    options = job.options(position)
    # Removal is probed without the power window: a window would wait for a power-up
    # that a unit still sitting on the pins never gives. A reset line is used, so a unit
    # whose new firmware sleeps or takes the SWS pin still counts as present.
    removal = replace(options, power_window=None)
    placement = options
    # Between two power windows the port is closed for a moment; no pause there.
    place_pause = 0.0 if options.power_window else job.probe_pause
    n = 0
    try:
        while not flags.stop.is_set():
            n += 1
            url = position.url(n)
            attached = None
            if job.loop:
                note = partial(_say, sink, index)
                note("waiting for a unit")
                try:
                    attached = wait_until_present(
                        partial(catch_unit, url, placement, place_pause, note), flags.stop
                    )
                except PortError as exc:
                    rec = UnitRecord(_now_iso(), position=position.label, port=url, unit=n,
                                     error=exc.message, error_title=exc.title,
                                     exit_code=exc.exit_code, time_end=_now_iso(), **job.image)
                    sink.put(RecordEvent(index, rec))
                    break
                if attached is None:
                    break
            rec = run_unit(index, position, n, job, sink, flags, attached)
            sink.put(RecordEvent(index, rec))
            if not job.loop or (job.count and n >= job.count):
                break
            sink.put(StateEvent(index, f"{rec.result}: remove the unit"))
            try:
                if not wait_until_absent(
                    partial(unit_present, url, removal, job.probe_pause), flags.stop
                ):
                    break
            except PortError:
                pass  # the adapter is gone: the next placement probe records it
    finally:
        sink.put(DoneEvent(index))


def _position_process(
    index: int, position: Position, job: Job, sink: Sink, flags: Flags
) -> None:
    """Entry point of a worker process: Ctrl-C is the main process's to interpret."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with _library_logs_kept():
        run_position(index, position, job, sink, flags)


# -- the main side: start workers, draw, log -----------------------------------------------------
class Board:
    """One line per position: redrawn in place on a terminal, plain lines otherwise."""

    def __init__(self, stream: TextIO, labels: list[str], live: bool) -> None:
        self.stream = stream
        self.labels = labels
        self.live = live
        self.states = ["starting"] * len(labels)
        self.progress: list[float | None] = [None] * len(labels)
        self.drawn = 0
        self.dirty = False
        self.last_draw = 0.0

    def update(self, event: StateEvent) -> None:
        i = event.position
        changed = self.states[i] != event.state
        self.states[i], self.progress[i] = event.state, event.progress
        if self.live:
            self.dirty = True
        elif changed:
            self.stream.write(f"[{self.labels[i]}] {event.state}\n")
            self.stream.flush()

    def line(self, i: int, width: int) -> str:
        label = self.labels[i]
        label = label if len(label) <= 28 else label[:25] + "..."
        text = self.states[i]
        p = self.progress[i]
        if p is not None:
            filled = round(20 * p)
            text += f" [{'#' * filled}{'.' * (20 - filled)}] {100 * p:3.0f}%"
        return f"{i + 1:>2} {label:<28} {text}"[: width - 1]

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.live or not (self.dirty or force):
            return
        if not force and now - self.last_draw < 0.1:
            return  # ten redraws a second are plenty, and cheap on a slow terminal
        width = shutil.get_terminal_size((100, 24)).columns
        out = [f"\x1b[{self.drawn}F"] if self.drawn else []
        out += [f"\x1b[2K{self.line(i, width)}\n" for i in range(len(self.labels))]
        self.stream.write("".join(out))
        self.stream.flush()
        self.drawn = len(self.labels)
        self.dirty, self.last_draw = False, now

    def print(self, text: str, stream: TextIO) -> None:
        """A line that stays (a unit's summary) above the live block."""
        if self.live and self.drawn:
            self.stream.write(f"\x1b[{self.drawn}F\x1b[J")
            self.stream.flush()
            self.drawn = 0
        stream.write(text + "\n")
        stream.flush()
        self.tick(force=True)


def summary_line(rec: UnitRecord) -> str:
    """The one line a person reads per unit."""
    ids = f"chip {rec.chip_id or '-'} flash {rec.flash_jedec_id or '-'}"
    line = (f"{rec.position} #{rec.unit}  {rec.mac or 'MAC ?':<17}  {ids}  "
            f"{rec.result:<6} {rec.seconds:6.1f} s")
    if rec.result != "ok":
        line += f"  exit {rec.exit_code}: {rec.error_title}: {rec.error}"
    return line


class RecordWriter:
    """Appends every record to the JSON-lines log and the CSV file as it arrives.

    The files are opened before the first unit is touched, so a log that cannot be written
    stops the run before it starts rather than losing the trace of a programmed unit.
    """

    def __init__(self, log: Path | None, csv_path: Path | None) -> None:
        self.files: list[IO[str]] = []
        self.log = self._open(log) if log is not None else None
        self.csv: csv.DictWriter[str] | None = None
        if csv_path is not None:
            f = self._open(csv_path)
            self.csv = csv.DictWriter(f, fieldnames=RECORD_FIELDS)
            if f.tell() == 0:
                self.csv.writeheader()

    def _open(self, path: Path) -> IO[str]:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            f = path.open("a", encoding="utf-8", newline="")
        except OSError as exc:
            self.close()
            raise UsageError(f"cannot append to {path}: {exc.strerror or exc}") from exc
        self.files.append(f)
        return f

    def write(self, rec: UnitRecord) -> None:
        data = asdict(rec)
        if self.log is not None:
            self.log.write(json.dumps(data) + "\n")
        if self.csv is not None:
            self.csv.writerow({k: " | ".join(v) if isinstance(v, list) else v
                               for k, v in data.items()})
        for f in self.files:
            f.flush()

    def close(self) -> None:
        for f in self.files:
            f.close()


def image_fields(image: Image, raw: bytes) -> dict[str, Any]:
    """What identifies the image in every record.

    A Telink image ends with the complement of its own CRC32, so the CRC32 of the whole
    file is always ffffffff: the CRC given is the one over all but those last four bytes
    (the one the image carries), and the file's SHA-256 pins the exact file.
    """
    data = b"".join(s.data for s in image.segments)
    telink = image.telink
    crc = zlib.crc32(data[:-4] if telink is not None and telink.crc_ok else data)
    return {
        "image_file": image.path,
        "image_crc32": f"{crc:08x}",
        "image_sha256": hashlib.sha256(raw).hexdigest(),
        "image_version": None if telink is None else f"0x{telink.version:08x}",
        "image_size": image.size,
    }


def make_job(settings: Settings) -> Job:
    image = load_image(settings.image)
    if image.problems:
        raise ImageError(
            f"{settings.image}: " + "; ".join(image.problems),
            "a jig writes only images that pass every check",
        )
    raw = Path(settings.image).read_bytes()
    return Job(
        segments=tuple((s.address, s.data) for s in image.segments),
        image=image_fields(image, raw),
        baud=settings.baud,
        pacing=settings.pacing,
        backup_dir=None if settings.backup_dir is None else str(settings.backup_dir),
        loop=settings.loop,
        count=settings.count,
    )


def use_processes(settings: Settings) -> bool:
    """Simulated units are CPU-bound (the GIL would serialise them); real ports wait on
    the line, which threads do well."""
    if settings.workers != "auto":
        return settings.workers == "processes"
    sims = sum(p.port.startswith("sim://") for p in settings.positions)
    return len(settings.positions) > 1 and sims > 0 and (os.cpu_count() or 1) > 1


@dataclass
class Outcome:
    records: list[tuple[int, UnitRecord]]
    wall_s: float
    crashed: list[int]  # positions whose worker ended without saying so

    @property
    def exit_code(self) -> int:
        """0 when every unit succeeded; else the exit code of the first failed unit (ports
        in the order given, units in the order they came); 1 when a worker died."""
        failed = sorted(((i, r.unit), r.exit_code) for i, r in self.records if r.result != "ok")
        if failed:
            return failed[0][1] or 1
        return 1 if self.crashed else 0


def run_jig(settings: Settings, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the job on every position at once; the exit code (see Outcome.exit_code)."""
    out = out or sys.stdout
    err = err or sys.stderr
    job = make_job(settings)
    writer = RecordWriter(settings.log, settings.csv)
    board = Board(err, [p.label for p in settings.positions], live=err.isatty())
    processes = use_processes(settings)
    mode = "one unit per position"
    if settings.loop:
        mode = f"loop, {settings.count} units per position" if settings.count else "loop"
    err.write(
        f"jig: {len(settings.positions)} position(s), image {settings.image} "
        f"(crc32 {job.image['image_crc32']}), {mode}, "
        f"{'processes' if processes else 'threads'}\n"
    )
    try:
        outcome = _supervise(settings, job, processes, board, writer, out, err)
    finally:
        writer.close()
    _final_line(outcome, err)
    return outcome.exit_code


def _supervise(
    settings: Settings,
    job: Job,
    processes: bool,
    board: Board,
    writer: RecordWriter,
    out: TextIO,
    err: TextIO,
) -> Outcome:
    wall0 = time.monotonic()
    ctx = multiprocessing.get_context("spawn")
    sink: Sink
    workers: list[threading.Thread | multiprocessing.process.BaseProcess]
    if processes:
        sink = ctx.Queue()
        flags = Flags(ctx.Event(), ctx.Event())
        workers = [
            ctx.Process(target=_position_process, args=(i, p, job, sink, flags), daemon=True)
            for i, p in enumerate(settings.positions)
        ]
    else:
        sink = queue.Queue()
        flags = Flags(threading.Event(), threading.Event())
        workers = [
            threading.Thread(target=run_position, args=(i, p, job, sink, flags), daemon=True)
            for i, p in enumerate(settings.positions)
        ]
    records: list[tuple[int, UnitRecord]] = []
    running = set(range(len(workers)))
    silent: dict[int, int] = {}
    crashed: list[int] = []
    interrupts = 0
    with _library_logs_kept():
        for w in workers:
            w.start()
        while running:
            try:
                try:
                    event = sink.get(timeout=0.1)
                except queue.Empty:
                    for i in list(running):
                        if workers[i].is_alive():
                            continue
                        # ended: its last events may still be in the queue for a moment
                        silent[i] = silent.get(i, 0) + 1
                        if silent[i] > 20:
                            running.discard(i)
                            crashed.append(i)
                            board.print(f"[{settings.positions[i].label}] worker died", err)
                    board.tick()
                    continue
                if isinstance(event, StateEvent):
                    board.update(event)
                elif isinstance(event, RecordEvent):
                    records.append((event.position, event.record))
                    writer.write(event.record)
                    if settings.json_out:
                        board.print(summary_line(event.record), err)
                        out.write(json.dumps(asdict(event.record)) + "\n")
                        out.flush()
                    else:
                        board.print(summary_line(event.record), out)
                else:
                    running.discard(event.position)
                    if board.live:
                        board.update(StateEvent(event.position, "done"))
                board.tick()
            except KeyboardInterrupt:
                interrupts += 1
                if interrupts == 1:
                    flags.stop.set()
                    board.print("jig: stopping: units being programmed are finished first "
                                "(Ctrl-C again to stop them at the next sector)", err)
                elif interrupts == 2:
                    flags.abort.set()
                    board.print("jig: stopping jobs at the next sector boundary", err)
                else:
                    for w in workers:
                        if isinstance(w, multiprocessing.process.BaseProcess):
                            w.terminate()
                    raise Interrupted("stopped by Ctrl-C", "units being written were left "
                                      "half-written: run them again") from None
        board.tick(force=True)
    for w in workers:
        w.join(timeout=5)
    return Outcome(records, time.monotonic() - wall0, crashed)


def _final_line(outcome: Outcome, err: TextIO) -> None:
    recs = [r for _, r in outcome.records]
    ok = sum(r.result == "ok" for r in recs)
    busiest: dict[int, float] = {}
    for i, r in outcome.records:
        busiest[i] = busiest.get(i, 0.0) + r.seconds
    simulated = any(r.clock == "virtual" for r in recs)
    err.write(
        f"jig: {ok} of {len(recs)} unit(s) ok, {len(recs) - ok} failed; "
        f"{outcome.wall_s:.1f} s wall; busiest position "
        f"{max(busiest.values(), default=0.0):.1f} s on the device clock"
        f"{' (simulated)' if simulated else ''}; exit {outcome.exit_code}\n"
    )
    err.flush()
