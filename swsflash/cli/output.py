"""What the command line prints: status lines, one progress bar per phase, the summary,
JSON, and errors.

Status and progress go to stderr, results to stdout (with --json: one JSON object there,
errors included). The bars are tqdm's; their rates are measured on the transport's clock,
so a sim:// job shows what a real adapter would take. A log warning never lands glued to
the end of a bar.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

import typer
from tqdm import tqdm

from ..errors import SwsError
from ..program import JobReport, Phases, Progress
from ..transport import Clock
from .options import Globals

# Phases in which a first Ctrl-C waits for the sector being written to finish.
SECTOR_PHASES = ("writing", "erasing")
REDRAW_S = 0.1  # wall time between redraws of a bar on a terminal
STEPS = 4  # a bar not on a terminal prints a line at every quarter

# "what to do" for errors raised without one of their own, by exit code
DEFAULT_HINTS = {
    2: "'swsflash COMMAND --help' shows the options and an example",
    3: "check the file's name and that the download is complete; 'swsflash image-info "
    "FILE' shows what a firmware file holds",
    4: "check the port with 'swsflash ports'",
}

AddressOf = Callable[[str, int], int | None]  # (phase, bytes done) -> flash address


def _kb(n: float) -> str:
    return f"{n / 1024:.1f} KB"


def rate(nbytes: int, seconds: float) -> str:
    """'12.3 KB/s', or bytes per second when that is less: never '0.0 KB/s'."""
    if seconds <= 0 or nbytes <= 0:
        return ""
    per_s = nbytes / seconds
    return f"{per_s / 1024:.1f} KB/s" if per_s >= 1024 else f"{per_s:.0f} B/s"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _columns(stream: TextIO) -> int:
    """The terminal's width, so that a redrawn line never wraps; very wide when unknown."""
    try:
        width = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        width = 0
    return width or 1000


class _PhaseTqdm(tqdm):  # type: ignore[misc]  # tqdm has no type hints
    """tqdm drawing one phase: its elapsed time and rate come from the transport's clock
    (virtual on sim://), and the line names the flash address reached."""

    monitor_interval = 0  # no monitor thread: a bar lives for one phase of one command

    def __init__(self, owner: Bar, **kwargs: Any) -> None:
        self.owner = owner
        super().__init__(**kwargs)

    @property
    def format_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = super().format_dict
        return {**d, **self.owner.fields(int(d["n"]))}


class Bar:
    """One phase's progress: its own total, the current address, a rate on ``clock``.

    tqdm renders the line. On a terminal it redraws in place (at most every REDRAW_S of
    wall time); elsewhere (a log, a pipe) the line is printed at every quarter."""

    FORMAT = "{desc:<20} {percentage:3.0f}% [{bar:20}]{where} {done_kb} of {total_kb}{speed}"

    def __init__(
        self, ui: Ui, what: str, total: int, clock: Clock, address_of: AddressOf, simulated: bool
    ) -> None:
        self.ui, self.what, self.total = ui, what, total
        self.clock, self.address_of, self.simulated = clock, address_of, simulated
        self.t0 = clock.now()
        self.step = 0
        self.tq = _PhaseTqdm(
            self,
            total=total,
            desc=what[:1].upper() + what[1:],
            file=ui.err,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            ascii=".#",
            bar_format=self.FORMAT,
            mininterval=REDRAW_S,
            ncols=_columns(ui.err),  # tqdm trims the line to it (never to nothing)
            nrows=20,  # one bar at a time, at position 0: never "(more hidden)"
            position=0,
            leave=True,
            # off a terminal tqdm never draws by itself: the quarter lines are printed here
            delay=0 if ui.live else math.inf,
        )
        self.drawn = ui.live

    @property
    def done(self) -> int:
        return int(self.tq.n)

    def fields(self, done: int) -> dict[str, Any]:
        """The line's parts tqdm does not know: address, sizes, the rate on ``clock``."""
        seconds = self.clock.now() - self.t0
        address = self.address_of(self.what, done)
        speed = rate(done, seconds)
        sim = " simulated" if self.simulated and speed else ""
        return {
            "elapsed": max(seconds, 0.0),
            "rate": done / seconds if seconds > 0 else None,
            "where": f" at 0x{address:05x}" if address is not None else "",
            "done_kb": _kb(done),
            "total_kb": _kb(self.total),
            "speed": f", {speed}{sim}" if speed else "",
        }

    def __call__(self, count: int) -> None:
        self.tq.update(count)
        if self.ui.live:
            self.drawn = True
        elif self.total and self.done * STEPS >= (self.step + 1) * self.total:
            self.step = self.done * STEPS // self.total
            if self.done < self.total:
                self.ui.err.write(self.line() + "\n")

    def line(self) -> str:
        return str(self.tq)

    def draw(self) -> None:
        self.tq.refresh()
        self.drawn = True

    def clear(self) -> None:
        if self.drawn:
            self.ui.err.write("\r\x1b[2K")
            self.ui.err.flush()
            self.drawn = False

    def close(self) -> None:
        """The phase is done: its last line stays."""
        if self.ui.live:
            self.tq.close()  # tqdm draws the final line and ends it
        else:
            self.ui.err.write(self.line() + "\n")
            self.tq.close()
        self.drawn = False
        self.ui.err.flush()

    def discard(self) -> None:
        """The phase failed: no bar left behind (the error message follows)."""
        self.clear()
        self.tq.leave = False
        self.tq.close()


class Ui:
    """Messages and progress of one command."""

    def __init__(self, g: Globals, json_out: bool, err: TextIO | None = None) -> None:
        self.quiet = g.quiet or json_out
        self.json_out = json_out
        self.progress = not (g.no_progress or self.quiet)
        self.err = err or sys.stderr
        self.live = self.progress and self.err.isatty()
        self.bar: Bar | None = None
        self.phase = ""

    def say(self, text: str) -> None:
        """A status line (stderr); never glued to a bar."""
        if self.quiet:
            return
        self.note(text)

    def note(self, text: str) -> None:
        bar = self.bar
        if bar is not None:
            bar.clear()
        self.err.write(text + "\n")
        self.err.flush()
        if bar is not None and self.live:
            bar.draw()

    def countdown(self) -> Callable[[float], None]:
        """For the power window: the whole seconds left, each said once."""
        shown: list[int] = []

        def tick(left: float) -> None:
            n = math.ceil(left)
            if not shown or n < shown[-1]:
                shown.append(n)
                self.say(f"  {n} s left")

        return tick

    def result(self, text: str) -> None:
        """The command's answer (stdout); with --json the JSON object replaces it."""
        if not self.json_out:
            typer.echo(text)

    def phases(
        self, clock: Clock, simulated: bool, address_of: AddressOf, on_start: Callable[[str], None]
    ) -> Phases:
        @contextmanager
        def phase(total: int, what: str) -> Iterator[Progress]:
            self.phase = what
            on_start(what)
            if not self.progress or not total:
                yield lambda _: None
                return
            bar = Bar(self, what, total, clock, address_of, simulated)
            self.bar = bar
            try:
                yield bar
                bar.close()
            finally:
                bar.discard()
                self.bar = None

        return phase


class UiLog(logging.Handler):
    """The library's warnings (retries, reconnects) on lines of their own."""

    def __init__(self, ui: Ui) -> None:
        super().__init__()
        self.ui = ui

    def emit(self, record: logging.LogRecord) -> None:
        self.ui.note(f"{record.levelname.lower()}: {record.getMessage()}")


def setup_logging(ui: Ui, verbose: bool, trace: bool) -> None:
    level = logging.DEBUG if trace else logging.INFO if verbose else logging.WARNING
    logger = logging.getLogger("swsflash")
    teardown_logging()
    logger.addHandler(UiLog(ui))
    logger.setLevel(level)
    logger.propagate = False


def teardown_logging() -> None:
    """At the end of a command: the library's warnings must not go on to a finished
    command's stream (closed, under a test runner or an embedding program)."""
    logger = logging.getLogger("swsflash")
    for old in [h for h in logger.handlers if isinstance(h, UiLog)]:
        logger.removeHandler(old)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


@dataclass
class RunState:
    """One invocation: what the error handler needs to name (JSON wanted, backups saved)."""

    globals: Globals = field(default_factory=Globals)
    json_out: bool = False
    report: JobReport = field(default_factory=JobReport)
    ui: Ui | None = None


def summary(verb: str, report: JobReport, simulated: bool, chip: str) -> str:
    """One line that adds up: sectors erased + already right = sectors touched."""
    parts = [f"{verb} {report.bytes_total:,} bytes"]
    details = []
    touched = report.sectors_erased + report.sectors_unchanged
    if touched:
        sectors = plural(touched, "sector")
        if report.sectors_unchanged:
            sectors += f": {report.sectors_erased} erased, {report.sectors_unchanged} already right"
        else:
            sectors += " erased"
        details.append(sectors)
    if report.pages_programmed or report.pages_skipped:
        details.append(
            f"{plural(report.pages_programmed, 'page')} programmed, "
            f"{report.pages_skipped} blank skipped"
        )
    if report.bytes_verified:
        details.append("verified")
    if report.retries:
        details.append(f"{report.retries} retried")
    if details:
        parts.append(f"({'; '.join(details)})")
    clock = " of simulated time" if simulated else ""
    speed = rate(report.bytes_total, report.seconds)
    parts.append(f"in {report.seconds:.1f} s{clock}" + (f" ({speed})" if speed else ""))
    return " ".join(parts) + f"; chip {chip}"


def report_json(command: str, report: JobReport, simulated: bool, chip: str, **extra: Any) -> str:
    data = {
        "command": command,
        "ok": True,
        "bytes": report.bytes_total,
        "sectors_erased": report.sectors_erased,
        "sectors_unchanged": report.sectors_unchanged,
        "pages_programmed": report.pages_programmed,
        "pages_skipped": report.pages_skipped,
        "bytes_verified": report.bytes_verified,
        "retries": report.retries,
        "seconds": round(report.seconds, 3),
        "simulated": simulated,
        "chip": chip,
        "backups": [str(p) for p in report.backups],
        "notes": report.notes,
        **extra,
    }
    return json.dumps(data, indent=2)


def show_error(exc: SwsError, state: RunState) -> None:
    """The one place an error becomes text: message, what to do, the backups taken."""
    ui = state.ui
    if ui is not None and ui.bar is not None:
        ui.bar.clear()
    backups = [str(p) for p in state.report.backups]
    hint = exc.hint or DEFAULT_HINTS.get(exc.exit_code, "see docs/troubleshooting.md")
    typer.echo(f"swsflash: {exc.title}: {exc.message}", err=True)
    typer.echo(f"  what to do: {hint}", err=True)
    for path in backups:
        typer.echo(f"  backup saved before the failure: {path}", err=True)
    if state.json_out:
        typer.echo(
            json.dumps(
                {
                    "ok": False,
                    "exit_code": exc.exit_code,
                    "error": exc.title,
                    "message": exc.message,
                    "hint": hint,
                    "backups": backups,
                },
                indent=2,
            )
        )
