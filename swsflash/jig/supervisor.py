"""The main side of a jig run: start a worker per position, draw, log, decide the exit code."""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from ..errors import ImageError, Interrupted
from ..images import load_image
from .config import Settings
from .display import Board
from .records import RecordWriter, UnitRecord, image_fields, summary_line
from .worker import (
    Flags,
    Job,
    RecordEvent,
    Sink,
    StateEvent,
    _library_logs_kept,
    _position_process,
    run_position,
)


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
        outcome = _Supervisor(settings, job, processes, board, writer, (out, err)).run()
    finally:
        writer.close()
    _final_line(outcome, err)
    return outcome.exit_code


def _start(
    settings: Settings, job: Job, processes: bool
) -> tuple[Sink, Flags, list[threading.Thread | multiprocessing.process.BaseProcess]]:
    """A worker per position, with the queue they report to and the flags they obey."""
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
    return sink, flags, workers


class _Supervisor:
    """Reads the workers' events until every position is done; Ctrl-C stops them in steps."""

    def __init__(
        self,
        settings: Settings,
        job: Job,
        processes: bool,
        board: Board,
        writer: RecordWriter,
        streams: tuple[TextIO, TextIO],
    ) -> None:
        self.settings, self.board, self.writer = settings, board, writer
        self.out, self.err = streams
        self.sink, self.flags, self.workers = _start(settings, job, processes)
        self.records: list[tuple[int, UnitRecord]] = []
        self.running = set(range(len(self.workers)))
        self.silent: dict[int, int] = {}
        self.crashed: list[int] = []
        self.last_result: dict[int, UnitRecord] = {}
        self.interrupts = 0

    def run(self) -> Outcome:
        wall0 = time.monotonic()
        with _library_logs_kept():
            for w in self.workers:
                w.start()
            while self.running:
                try:
                    self._step()
                except KeyboardInterrupt:
                    self._interrupted()
            self.board.tick(force=True)
        for w in self.workers:
            w.join(timeout=5)
        return Outcome(self.records, time.monotonic() - wall0, self.crashed)

    def _step(self) -> None:
        try:
            event = self.sink.get(timeout=0.1)
        except queue.Empty:
            self._check_alive()
            self.board.tick()
            return
        if isinstance(event, StateEvent):
            self.board.update(event)
        elif isinstance(event, RecordEvent):
            self._record(event)
        else:
            self.running.discard(event.position)
            if self.board.live:
                self.board.update(StateEvent(event.position, self._final_state(event.position)))
        self.board.tick()

    def _final_state(self, position: int) -> str:
        """What the panel keeps showing for a finished position: never 'done' for a failure."""
        rec = self.last_result.get(position)
        if rec is None:
            return "finished, no unit"
        if rec.result == "ok":
            return "done: ok"
        return f"FAILED: exit {rec.exit_code}: {rec.error_title}"

    def _record(self, event: RecordEvent) -> None:
        self.records.append((event.position, event.record))
        self.last_result[event.position] = event.record
        self.writer.write(event.record)
        if self.settings.json_out:
            self.board.print(summary_line(event.record), self.err)
            self.out.write(json.dumps(asdict(event.record)) + "\n")
            self.out.flush()
        else:
            self.board.print(summary_line(event.record), self.out)

    def _check_alive(self) -> None:
        for i in list(self.running):
            if self.workers[i].is_alive():
                continue
            # ended: its last events may still be in the queue for a moment
            self.silent[i] = self.silent.get(i, 0) + 1
            if self.silent[i] > 20:
                self.running.discard(i)
                self.crashed.append(i)
                self.board.print(f"[{self.settings.positions[i].label}] worker died", self.err)

    def _interrupted(self) -> None:
        self.interrupts += 1
        if self.interrupts == 1:
            self.flags.stop.set()
            self.board.print(
                "jig: stopping: units being programmed are finished first "
                "(Ctrl-C again to stop them at the next sector)",
                self.err,
            )
        elif self.interrupts == 2:
            self.flags.abort.set()
            self.board.print("jig: stopping jobs at the next sector boundary", self.err)
        else:
            for w in self.workers:
                if isinstance(w, multiprocessing.process.BaseProcess):
                    w.terminate()
            raise Interrupted(
                "stopped by Ctrl-C", "units being written were left half-written: run them again"
            ) from None


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
