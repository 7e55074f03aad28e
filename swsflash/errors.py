"""Everything a user can cause ends as one of these: a plain message, a hint, an exit code.

The exit codes are part of the interface (docs/exit-codes.md); scripts and jigs rely on them.
"""

from __future__ import annotations


class SwsError(Exception):
    """Base of all errors swsflash reports to a person."""

    exit_code = 1
    title = "error"

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(SwsError):
    exit_code = 2
    title = "usage error"


class ImageError(SwsError):
    exit_code = 3
    title = "image error"


class PortError(SwsError):
    exit_code = 4
    title = "serial port error"


class WiringError(SwsError):
    """No echo, a distorted echo, or an adapter that stops mid-stream."""

    exit_code = 5
    title = "wiring or adapter problem"


class DistortedEcho(WiringError):
    """Characters came back, but not as sent (a bad resistor, noise, or a unit that is
    half-powered through TX)."""


class ChipNotAnswering(SwsError):
    exit_code = 6
    title = "the chip does not answer"


class SilentChip(ChipNotAnswering):
    """Clean echo, never an answer: asleep, unpowered, or its firmware holds the pin."""


class NoAnswer(ChipNotAnswering):
    """Our request was echoed, and nothing else came back."""


class GarbledAnswer(ChipNotAnswering):
    """RX characters that are no byte's answer under what was learned at connect time."""

    title = "garbled answer from the chip"

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(
            message,
            hint
            or "the chip's answers no longer look as they did when the connection was set "
            "up: check the 1 kOhm resistor and the GND wire, keep the wires short, try a "
            "lower --baud",
        )


class AnswerError(GarbledAnswer):
    """The chip answered, but not in a shape that decodes (wrong divider, noise)."""


class WrongChip(ChipNotAnswering):
    """The chip answers, but it is not one swsflash can program."""

    title = "not a TLSR825x"


class FlashError(SwsError):
    exit_code = 7
    title = "flash error"


class VerifyError(SwsError):
    exit_code = 8
    title = "verify failed"


class ProtectedDataError(SwsError):
    """Refused: the job would destroy the unit's MAC, calibration or hardware version."""

    exit_code = 9
    title = "refused to touch protected data"


class Interrupted(SwsError):
    exit_code = 130
    title = "interrupted"


EXIT_CODES: list[tuple[int, str, str]] = [
    (0, "ok", "the job finished and was verified"),
    (1, "error", "an unexpected internal error (please report it with --trace)"),
    (UsageError.exit_code, UsageError.title, "bad command line: option, address or size"),
    (ImageError.exit_code, ImageError.title, "the image file is missing, unreadable or invalid"),
    (PortError.exit_code, PortError.title, "the serial port cannot be found or opened"),
    (WiringError.exit_code, WiringError.title, "no echo / distorted echo: check TX, RX, 1 kOhm"),
    (ChipNotAnswering.exit_code, ChipNotAnswering.title, "echo fine but no answer from SWS"),
    (FlashError.exit_code, FlashError.title, "the flash did not identify, erase or program"),
    (VerifyError.exit_code, VerifyError.title, "read-back differs from what was written"),
    (ProtectedDataError.exit_code, ProtectedDataError.title, "MAC/calibration would be lost"),
    (Interrupted.exit_code, Interrupted.title, "stopped by Ctrl-C"),
]
