"""The jig's settings: the TOML config file and the command line, merged and checked.

A typo in the config must not go unnoticed, so unknown keys are refused; every connection
value goes through the same rules as the command line's (swsflash/settings.py).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from serial.tools import list_ports

from ..backup import DEFAULT_ROOT
from ..errors import PortError, UsageError
from ..settings import (
    BAUD_DEFAULT,
    POWER_OFF_DEFAULT_S,
    check_baud,
    check_lines,
    check_pacing,
    power_line,
    power_off_s,
    power_window_s,
    reset_line,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


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
    "image",
    "ports",
    "all_ports",
    "baud",
    "pacing",
    "reset",
    "power_window_ms",
    "power",
    "power_off_ms",
    "log",
    "csv",
    "backup_dir",
    "backup",
    "loop",
    "count",
    "workers",
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
                if "reset" in entry
                else reset,
                power_window=power_window_s(_typed(entry, "power_window_ms", int, here), here)
                if "power_window_ms" in entry
                else window,
            )
        )
        found[-1] = _power_of(
            entry, here, replace(found[-1], power=power.power, power_off=power.power_off)
        )
    return found


def usb_ports() -> list[str]:
    """Every USB serial port, in name order: the positions of a fixture on one hub."""
    return sorted(str(p.device) for p in list_ports.comports() if p.vid is not None)


def _positions(o: Overrides, data: dict[str, Any], where: str) -> list[Position]:
    """The positions: the command line's ports (or every USB port), else the config's;
    the command line's reset line, power line and power window apply to every one."""
    reset = reset_line(_typed(data, "reset", str, where), where)
    window = power_window_s(_typed(data, "power_window_ms", int, where), where)
    power = _power_of(data, where, Position(""))
    configured = _positions_from_config(data, where, reset, window, power)
    by_port = {p.port: p for p in configured}

    def position(port: str) -> Position:
        return by_port.get(port) or replace(power, port=port, reset=reset, power_window=window)

    if o.ports:
        positions = [position(p.strip()) for item in o.ports for p in item.split(",") if p.strip()]
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
    return positions


def _loop(o: Overrides, data: dict[str, Any], where: str) -> tuple[bool, int]:
    """Loop or not, and how many units per position (0: until Ctrl-C)."""
    count = o.count if o.count is not None else _typed(data, "count", int, where) or 0
    if count < 0:
        raise UsageError("count must not be negative")
    if o.loop is False and o.count:
        raise UsageError("--once and --count contradict each other: --count means a loop")
    if o.loop is False:
        count = 0  # --once beats a count in the config
    loop = o.loop if o.loop is not None else bool(_typed(data, "loop", bool, where))
    return loop or count > 0, count


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

    positions = _positions(o, data, where)
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
    loop, count = _loop(o, data, where)
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
        loop=loop,
        count=count,
        workers=workers,
        json_out=o.json_out,
    )
