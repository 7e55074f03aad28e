"""The jig's live panel: one line per position, redrawn in place on a terminal."""

from __future__ import annotations

import shutil
import time
from typing import TextIO

from .worker import StateEvent


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
