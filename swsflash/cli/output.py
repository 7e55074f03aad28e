"""What the command line prints: status lines, one progress bar per phase, the summary,
JSON, and errors.

Status and progress go to stderr, results to stdout (with --json: one JSON object there,
errors included). Rates are measured on the transport's clock, so a sim:// job shows what
a real adapter would take. A log warning never lands glued to the end of a bar.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

import typer

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


class Bar:
    """One phase's progress: its own total, the current address, a rate on ``clock``."""

    def __init__(
        self, ui: Ui, what: str, total: int, clock: Clock, address_of: AddressOf, simulated: bool
    ) -> None:
        self.ui, self.what, self.total = ui, what, total
        self.clock, self.address_of, self.simulated = clock, address_of, simulated
        self.done = 0
        self.t0 = clock.now()
        self.drawn = False
        self.last_draw = 0.0
        self.step = 0

    def __call__(self, count: int) -> None:
        self.done += count
        if self.ui.live:
            if time.monotonic() - self.last_draw >= REDRAW_S or self.done >= self.total:
                self.draw()
        elif self.total and self.done * STEPS >= (self.step + 1) * self.total:
            self.step = self.done * STEPS // self.total
            if self.done < self.total:
                self.ui.err.write(self.line() + "\n")

    def line(self) -> str:
        pct = 100 * self.done / self.total if self.total else 100.0
        filled = round(20 * pct / 100)
        address = self.address_of(self.what, self.done)
        where = f" at 0x{address:05x}" if address is not None else ""
        speed = rate(self.done, self.clock.now() - self.t0)
        sim = " simulated" if self.simulated and speed else ""
        title = self.what[:1].upper() + self.what[1:]
        return (
            f"{title:<20} {pct:3.0f}% [{'#' * filled}{'.' * (20 - filled)}]"
            f"{where} {_kb(self.done)} of {_kb(self.total)}"
            + (f", {speed}{sim}" if speed else "")
        )

    def draw(self) -> None:
        self.ui.err.write("\r\x1b[2K" + self.line())
        self.ui.err.flush()
        self.drawn = True
        self.last_draw = time.monotonic()

    def clear(self) -> None:
        if self.drawn:
            self.ui.err.write("\r\x1b[2K")
            self.drawn = False

    def close(self) -> None:
        self.clear()
        self.ui.err.write(self.line() + "\n")
        self.ui.err.flush()


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
                bar.clear()
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
    for old in [h for h in logger.handlers if isinstance(h, UiLog)]:
        logger.removeHandler(old)
    logger.addHandler(UiLog(ui))
    logger.setLevel(level)
    logger.propagate = False


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
        details.append(f"{plural(report.pages_programmed, 'page')} programmed, "
                       f"{report.pages_skipped} blank skipped")
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


def report_json(command: str, report: JobReport, simulated: bool, chip: str,
                **extra: Any) -> str:
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
        typer.echo(json.dumps({
            "ok": False,
            "exit_code": exc.exit_code,
            "error": exc.title,
            "message": exc.message,
            "hint": hint,
            "backups": backups,
        }, indent=2))
