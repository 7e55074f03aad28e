"""How to connect (baud, pacing, reset line, power line, power window): one set of rules for the
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
POWER_LINES = ("rts", "dtr")
# How long a unit fed from RTS/DTR is kept off in a power cycle. The proven flasher holds
# RTS 50 ms, a programmer board at least 5 ms, and the unit's capacitors plus current fed
# back through TX can carry the chip through "tens of milliseconds" (field-evidence
# section 3): 300 ms covers that with margin (the bench sweeps the unit's hold time up to
# 200 ms). Range: at least the board's 5 ms; beyond a few seconds one would use a battery.
POWER_OFF_MS = (5, 5_000)
POWER_OFF_DEFAULT_S = 0.3


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


def power_line(text: str | None, where: str = "") -> str | None:
    """'rts' or 'dtr': the adapter pin that feeds the unit's VCC; None for 'none'."""
    if text is None or text == "none":
        return None
    if text not in POWER_LINES:
        raise UsageError(
            f"{_where(where)}power must be rts, dtr or none, not {text!r}",
            "--power rts: the adapter's RTS pin is wired to the unit's VCC (3V) pad",
        )
    return text


def power_off_s(ms: int, where: str = "") -> float:
    """The off time of a power cycle, given in milliseconds, as seconds."""
    lo, hi = POWER_OFF_MS
    if not lo <= ms <= hi:
        raise UsageError(
            f"{_where(where)}the power-off time is in milliseconds: {lo} .. {hi}, not {ms}",
            f"the default, {POWER_OFF_DEFAULT_S * 1000:g} ms, drains a LYWSD03MMC's capacitors",
        )
    return ms / 1000


def check_lines(reset: str | None, power: str | None, where: str = "") -> None:
    """One adapter pin cannot both hold RST and feed VCC."""
    if reset is not None and reset == power:
        raise UsageError(
            f"{_where(where)}{reset.upper()} cannot be both the reset line and the power line",
            "wire RTS to VCC and use --power rts (and --reset dtr only if DTR reaches RST)",
        )


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
    # rts | dtr: the adapter pin wired to the unit's VCC. Powered while the line is NOT
    # asserted (pyserial rts=False: TTL pin high); asserting it switches the unit off.
    power: str | None = None
    power_off: float = POWER_OFF_DEFAULT_S  # seconds off in a power cycle through ``power``

    def __post_init__(self) -> None:
        check_baud(self.baud)
        check_pacing(self.pacing)
        if self.reset is not None:
            reset_line(self.reset)
        if self.power_window is not None:
            power_window_s(round(self.power_window * 1000))
        if self.power is not None:
            power_line(self.power)
        power_off_s(round(self.power_off * 1000))
        check_lines(self.reset, self.power)
