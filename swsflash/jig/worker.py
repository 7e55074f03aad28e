"""One fixture position: wait for a unit, program it, wait for it to go, again.

A worker (a thread, or a process for simulated ports) never writes to the terminal or to
files: it sends events to the main side. In a loop a position waits for a unit (it
answers), programs it, waits for it to be removed (it stops answering), and starts again;
see docs/jig.md for what that means on a fixture.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

from .. import jobs
from ..backup import BackupStore
from ..errors import PortError, SilentChip, SwsError, WiringError
from ..program import JobReport, Progress
from ..session import Session, open_transport
from ..settings import ConnectOptions
from ..transport import Transport
from .config import Position
from .records import UnitRecord, now_iso

U = TypeVar("U")

PROBE_PAUSE_S = 0.5  # between presence probes, on the device clock
SIM_PROBE_WALL_S = 0.02  # wall time a probe of a simulated unit gives up
ABSENT_PROBES = 2  # a unit is gone after this many probes in a row without an answer


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
    rec = UnitRecord(now_iso(), position=position.label, port=url, unit=n, **job.image)
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
            dev,
            job.segments,
            backup=store,
            phases=partial(_phase, say, dev, flags),
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
        rec.time_end = now_iso()
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
                    rec = UnitRecord(
                        now_iso(),
                        position=position.label,
                        port=url,
                        unit=n,
                        error=exc.message,
                        error_title=exc.title,
                        exit_code=exc.exit_code,
                        time_end=now_iso(),
                        **job.image,
                    )
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


def _position_process(index: int, position: Position, job: Job, sink: Sink, flags: Flags) -> None:
    """Entry point of a worker process: Ctrl-C is the main process's to interpret."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with _library_logs_kept():
        run_position(index, position, job, sink, flags)
