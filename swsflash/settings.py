"""How to connect (baud, pacing, reset line, power window): one set of rules for the
command line, the jig's config file and the Python API.

Every value is checked where a ``ConnectOptions`` is made, so a setting that cannot work
is a usage error before any port is opened, whichever way it came in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .errors import UsageError

# The range SWire over UART is proven in (shared/reference/swire-over-uart.md): below it
# the chip's divider cannot be set slow enough to match, above it adapters drop out.
BAUD_MIN = 340_000
BAUD_MAX = 3_000_000
BAUD_DEFAULT = 921_600
PACINGS = ("auto", "safe", "stream")
RESET_LINES = ("rts", "dtr")
POWER_WINDOW_MS = (10, 600_000)


def _where(where: str) -> str:
    return f"{where}: " if where else ""


def check_baud(baud: int, where: str = "") -> int:
    if not BAUD_MIN <= baud <= BAUD_MAX:
        raise UsageError(
            f"{_where(where)}baud {baud} is outside {BAUD_MIN}..{BAUD_MAX}, "
            "where SWire over UART works",
            f"use --baud (or 'baud' in a jig config) between {BAUD_MIN} and {BAUD_MAX}; "
            f"{BAUD_DEFAULT} is the default",
        )
    return baud


def check_pacing(pacing: str, where: str = "") -> str:
    if pacing not in PACINGS:
        raise UsageError(f"{_where(where)}pacing must be auto, safe or stream, not {pacing!r}")
    return pacing


def reset_line(text: str | None, where: str = "") -> str | None:
    """'rts' or 'dtr'; None for 'none' or nothing."""
    if text is None or text == "none":
        return None
    if text not in RESET_LINES:
        raise UsageError(f"{_where(where)}reset must be rts, dtr or none, not {text!r}")
    return text


def power_window_s(ms: int | None, where: str = "") -> float | None:
    """A power window given in milliseconds, as seconds; None (or 0) for none."""
    if ms is None or ms == 0:
        return None
    lo, hi = POWER_WINDOW_MS
    if not lo <= ms <= hi:
        raise UsageError(
            f"{_where(where)}the power window is in milliseconds: {lo} .. {hi}, not {ms}"
        )
    return ms / 1000


@dataclass(frozen=True)
class ConnectOptions:
    """How to get hold of a unit; checked when made (a bad value is a UsageError)."""

    baud: int = BAUD_DEFAULT
    pacing: str = "auto"  # auto | safe | stream
    trace: bool = False
    verbose: bool = False
    reset: str | None = None  # rts | dtr: the adapter line wired to the chip's RST pad
    power_window: float | None = None  # seconds of halt stream while power is applied
    on_wait: Callable[[float], None] | None = None  # told the seconds left in the window

    def __post_init__(self) -> None:
        check_baud(self.baud)
        check_pacing(self.pacing)
        if self.reset is not None:
            reset_line(self.reset)
        if self.power_window is not None:
            power_window_s(round(self.power_window * 1000))
