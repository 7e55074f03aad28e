"""Options every command shares, declared once, and the parsers that check an argument
before any port is opened.

Connection and output options may come before the command (``swsflash -p PORT write X``,
as esptool users type them) or after it (``swsflash write X --port PORT``); the command's
own value wins. Numbers take any base (``0x40000``) and sizes a K/M suffix or ``ALL``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError
from ..layout import LARGEST_FLASH, SECTOR, parse_mac

PortOpt = Annotated[
    str | None,
    typer.Option(
        "--port",
        "-p",
        help="Serial port (/dev/ttyUSB0, COM3) or sim://SCENARIO for the built-in bench. "
        "Default: $SWSFLASH_PORT, else the only USB serial port.",
        show_default=False,
    ),
]
BaudOpt = Annotated[
    int | None,
    typer.Option(
        "--baud", "-b", help="UART speed, 340000..3000000 (default 921600).", show_default=False
    ),
]
PacingOpt = Annotated[
    str | None,
    typer.Option(
        "--pacing",
        help="auto: test the adapter; safe: 60 characters at a time (adapters with gaps); "
        "stream: back to back.",
        show_default=False,
    ),
]
ResetOpt = Annotated[
    str | None,
    typer.Option(
        "--reset",
        help="rts|dtr|none: the adapter line wired to the chip's RST pin. The chip is reset "
        "and halted before its firmware can take the SWS pin.",
        show_default=False,
    ),
]
PowerWindowOpt = Annotated[
    int | None,
    typer.Option(
        "--power-window",
        metavar="MS",
        help="Keep streaming halt commands for MS milliseconds while you apply power "
        "(insert the battery): for units whose firmware takes the SWS pin.",
        show_default=False,
    ),
]
PowerOpt = Annotated[
    str | None,
    typer.Option(
        "--power",
        help="rts|dtr|none: the adapter line wired to the unit's VCC (+). swsflash switches "
        "the unit off and on itself and halts it as it boots (powered while the line is not "
        "asserted).",
        show_default=False,
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and the result.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log each transaction.")]
TraceOpt = Annotated[
    bool, typer.Option("--trace", help="Log the raw line bytes (attach this to bug reports).")
]
NoProgressOpt = Annotated[
    bool, typer.Option("--no-progress", help="No progress bars (the result is still printed).")
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON object (errors too) on stdout.")
]
BackupDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--backup-dir",
        envvar="SWSFLASH_BACKUP_DIR",
        help="Where backups of overwritten sectors go (a folder per unit MAC). Default: "
        "~/.swsflash/backups; for sim:// ports a folder in the system's temp directory.",
        show_default=False,
    ),
]
NoBackupOpt = Annotated[
    bool, typer.Option("--no-backup", help="Do not save the sectors about to change first.")
]
NoPreserveOpt = Annotated[
    bool,
    typer.Option(
        "--no-preserve",
        help="With --force: really overwrite MAC/calibration/hardware-version sectors "
        "instead of keeping them.",
    ),
]
DeepOpt = Annotated[
    bool,
    typer.Option(
        "--deep", help="Also read each image whole: its CRC, and which old BLE build it is."
    ),
]
KeepOtherSlotOpt = Annotated[
    bool,
    typer.Option(
        "--keep-other-slot",
        help="After a complete image is written at 0: leave the boot marker of the image at "
        "0x40000 set (by default it is cleared, so the unit starts the new image).",
    ),
]
EraseNvOpt = Annotated[
    bool,
    typer.Option(
        "--erase-nv",
        help="When the firmware family changes (BLE <-> Zigbee): erase the settings the old "
        "firmware left behind, after backing them up.",
    ),
]


@dataclass
class Globals:
    """The options given before the command (or by environment variables)."""

    port: str | None = None
    baud: int | None = None
    pacing: str | None = None
    reset: str | None = None
    power_window: int | None = None
    power: str | None = None
    quiet: bool = False
    verbose: bool = False
    trace: bool = False
    no_progress: bool = False


def parse_int(text: str, what: str) -> int:
    """A non-negative number in any base Python reads (0x40000, 262144, 0o17)."""
    try:
        value = int(text.replace("_", ""), 0)
    except ValueError:
        raise UsageError(
            f"{what} {text!r} is not a number", f"give {what} as e.g. 0x40000 or 262144"
        ) from None
    if value < 0:
        raise UsageError(f"{what} must not be negative, not {text}")
    return value


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KM])B?\s*$", re.I)


def parse_size(text: str, what: str) -> int | None:
    """A byte count: a number, 512K, 1M (esptool style); None for ALL (to the end)."""
    if text.strip().upper() == "ALL":
        return None
    m = _SIZE.match(text)
    if m:
        value = float(m.group(1)) * (1024 if m.group(2).upper() == "K" else 1024 * 1024)
        if value != int(value):
            raise UsageError(f"{what} {text!r} is not a whole number of bytes")
        return int(value)
    try:
        return parse_int(text, what)
    except UsageError:
        raise UsageError(
            f"{what} {text!r} is not a size", f"give {what} as e.g. 0x2000, 8192, 8K, 1M or ALL"
        ) from None


def sector_aligned(value: int, what: str) -> int:
    if value % SECTOR:
        below = value - value % SECTOR
        raise UsageError(
            f"{what} 0x{value:x} is not on a 4 KB sector boundary",
            f"use a multiple of 0x1000, e.g. 0x{below:x} or 0x{below + SECTOR:x}",
        )
    return value


def within_largest(start: int, size: int | None, what: str) -> None:
    """Before connecting the flash size is unknown: a range must fit the largest one."""
    end = start + (size or 0)
    if start >= LARGEST_FLASH or end > LARGEST_FLASH:
        raise UsageError(
            f"{what} 0x{start:x}..0x{end:x} is beyond 1 MB, the largest flash swsflash "
            "supports (checked before connecting; the unit's own size is checked once "
            "connected)",
            "check --start and --size ('swsflash layout' shows a flash's map)",
        )


def output_file(path: Path) -> Path:
    """A file a command will write: its folder must exist and be writable, and it must
    not be a folder, so that a long read is not thrown away at the end."""
    if path.is_dir():
        raise UsageError(f"{path} is a folder", "give the name of a file to write, e.g. dump.bin")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(
            f"cannot write {path}: the folder {folder} does not exist",
            "create the folder first, or give another path",
        )
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"cannot write {path}: permission denied", "give a path you can write")
    return path


def mac_argument(text: str) -> str:
    """A MAC address as typed on the command line, checked before connecting."""
    try:
        parse_mac(text)
    except ValueError as exc:
        raise UsageError(
            f"--set {exc}", "give six hex bytes, e.g. --set A4:C1:38:12:34:56"
        ) from None
    return text
