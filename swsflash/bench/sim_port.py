"""``sim://`` — the bench behind a real pyserial ``SerialBase``, on virtual time.

    sim://[SCENARIO][?option=value&...]

Waiting on this port (a read with a timeout, ``flush()``, or ``virtual_clock.sleep()``)
advances the simulation instead of sleeping, so a job takes only as long as the model needs
to compute it, and ``virtual_clock.now()`` tells how long a real adapter would have taken.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import serial

from .bench import Bench, BenchConfig
from .scenarios import SCENARIOS, factory_flash, scenario_config
from .spi_flash import PARTS
from .wire import PS_PER_S

URL_FORM = (
    "sim://[SCENARIO][?scenario=S&state=FILE&name=N&fclk_mhz=F&flash=PART&reset=rts|dtr|none"
    "&power_on_after=SECONDS&latency_us=US&gap_us=US&ber=P&seed=N&answer_delay=CLOCKS"
    "&resync_us=US&watchdog_s=S&max_write=N&mac=AA:BB:..&fast=0|1"
    "&reset_after=SECONDS&unplug_after=SECONDS&opened=FILE]"
)

_OPTIONS = {
    "scenario", "state", "name", "fclk_mhz", "flash", "reset", "power_on_after", "latency_us",
    "gap_us", "ber", "seed", "answer_delay", "resync_us", "watchdog_s", "fast", "mac",
    "max_write", "reset_after", "unplug_after", "opened",
}
_SECONDS = ("power_on_after", "reset_after", "unplug_after")

POWERED_BEFORE_OPEN_S = 1.0

# Benches by name, so that several opens within one process talk to the same unit.
_BENCHES: dict[str, Bench] = {}
_LOCK = threading.Lock()


class VirtualClock:
    """The port's clock: host waits go through it, so they cost no wall time."""

    def __init__(self) -> None:
        self.t_ps = 0

    def now(self) -> float:
        return self.t_ps / PS_PER_S

    def sleep(self, seconds: float) -> None:
        self.t_ps += max(0, round(seconds * PS_PER_S))


def parse_url(url: str) -> tuple[BenchConfig, dict[str, str]]:
    """Bench parameters from a ``sim://`` URL; unknown options are errors."""
    parts = urlparse(url)
    if parts.scheme != "sim":
        raise serial.SerialException(f"expected a sim:// URL, got {url!r}")
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = set(query) - _OPTIONS
    if unknown:
        raise serial.SerialException(
            f"unknown option(s) {', '.join(sorted(unknown))} in {url!r}; expected {URL_FORM}"
        )
    scenario = query.get("scenario") or (parts.netloc + parts.path).strip("/") or "healthy"
    if scenario not in SCENARIOS:
        raise serial.SerialException(
            f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}"
        )
    config = scenario_config(scenario)
    try:
        chip, adapter = config.chip, config.adapter
        if "fclk_mhz" in query:
            chip = replace(chip, fclk_hz=float(query["fclk_mhz"]) * 1e6)
        if "watchdog_s" in query:
            chip = replace(chip, watchdog_s=float(query["watchdog_s"]))
        if "latency_us" in query:
            adapter = replace(adapter, in_latency_us=float(query["latency_us"]))
        if "gap_us" in query:
            adapter = replace(adapter, gap_us=float(query["gap_us"]))
        if "ber" in query:
            adapter = replace(adapter, bit_error_rate=float(query["ber"]))
        if "max_write" in query:
            adapter = replace(adapter, max_write=int(query["max_write"]))
        if "seed" in query:
            adapter = replace(adapter, seed=int(query["seed"]))
        config = replace(config, chip=chip, adapter=adapter)
        if "flash" in query:
            config = replace(config, flash_part=_part_name(query["flash"]))
        if "reset" in query:
            line = query["reset"]
            if line not in ("rts", "dtr", "none"):
                raise ValueError("reset must be rts, dtr or none")
            config = replace(config, reset_line=None if line == "none" else line)
        if "power_on_after" in query:
            config = replace(config, power_on_at_s=None)
        if "answer_delay" in query:
            config = replace(config, answer_delay_clocks=int(query["answer_delay"]))
        if "resync_us" in query:
            config = replace(config, resync_idle_us=float(query["resync_us"]))
        if "fast" in query:
            config = replace(config, fast_path=query["fast"] not in ("0", "false", "no"))
        for key in _SECONDS:
            if key in query:
                _seconds(key, query[key])
        if "mac" in query:
            _mac(query["mac"])
    except (ValueError, KeyError) as exc:
        raise serial.SerialException(f"bad option in {url!r}: {exc}") from exc
    for key in ("state", "opened"):
        _check_folder(key, query.get(key))
    return config, query


def _part_name(text: str) -> str:
    """A flash part by name, in any letter case."""
    by_upper = {name.upper(): name for name in PARTS}
    if text.upper() not in by_upper:
        raise ValueError(f"flash={text!r} is not a part the bench knows ({', '.join(PARTS)})")
    return by_upper[text.upper()]


def _seconds(key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{key}={text!r} is not a number of seconds") from None
    if not value >= 0:  # also refuses nan
        raise ValueError(f"{key}={text!r} must be zero or more seconds")
    return value


def _mac(text: str) -> bytes:
    """mac=A4:C1:38:12:34:56 (colons or dashes optional): six bytes, as people write them."""
    digits = text.replace(":", "").replace("-", "")
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        raw = b""
    if len(raw) != 6:
        raise ValueError(f"mac={text!r} is not six hex bytes like A4:C1:38:12:34:56")
    return raw


def _check_folder(key: str, value: str | None) -> None:
    """A file option whose folder is missing fails when the port opens, not at close."""
    if value and not Path(value).parent.is_dir():
        raise serial.SerialException(
            f"{key}={value!r}: the folder {str(Path(value).parent)!r} does not exist"
        )


def _make_bench(config: BenchConfig, query: dict[str, str]) -> Bench:
    state = query.get("state")
    flash: bytes | None = None
    if state and Path(state).is_file():
        flash = Path(state).read_bytes()
    if flash is None:
        mac = _mac(query["mac"]) if "mac" in query else None
        flash = factory_flash(config.flash_part, mac) if mac else factory_flash(config.flash_part)
    return Bench(config, flash)


class Serial(serial.SerialBase):
    """A serial port whose other end is the bench."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.virtual_clock = VirtualClock()
        self.bench: Bench | None = None
        self._query: dict[str, str] = {}
        self._unplug_at: int | None = None
        super().__init__(*args, **kwargs)

    # -- pyserial plumbing -------------------------------------------------------------------
    def open(self) -> None:
        if self.port is None:
            raise serial.SerialException("Port must be configured before it can be used.")
        if self.is_open:
            raise serial.SerialException("Port is already open.")
        config, query = parse_url(self.portstr or "")
        if query.get("opened"):
            Path(query["opened"]).touch()  # tests: proof that a command opened the port
        config = replace(config, baud=int(self.baudrate))
        self._query = query
        name = query.get("name") or query.get("state")
        with _LOCK:
            bench = _BENCHES.get(name) if name else None
            if bench is not None and bench.config != config:
                bench = None  # same unit, other bench parameters: rebuilt from its state file
            if bench is None:
                bench = _make_bench(config, query)
                # The unit has been powered for a while when someone opens the port: its
                # firmware has long since booted (and, if bricked, taken the SWS pin).
                bench.advance(round(POWERED_BEFORE_OPEN_S * PS_PER_S))
                if name:
                    _BENCHES[name] = bench
        # A new session on a unit that stays powered: the adapter starts with empty
        # buffers (it may have been unplugged in the middle of a transfer).
        bench.advance(bench.now)
        bench.adapter.discard_output(max(bench.now, bench.horizon))
        bench.adapter.discard_input(max(bench.now, bench.horizon))
        self.bench = bench
        self.virtual_clock.t_ps = bench.now
        if "reset_after" in query:
            after = _seconds("reset_after", query["reset_after"])
            bench.reset_chip_at(bench.now + round(after * PS_PER_S))
        self._unplug_at = None
        if "unplug_after" in query:
            after = _seconds("unplug_after", query["unplug_after"])
            self._unplug_at = bench.now + round(after * PS_PER_S)
        if "power_on_after" in query:
            after = _seconds("power_on_after", query["power_on_after"])
            bench.power_on(bench.now + round(after * PS_PER_S))
        self.is_open = True
        self._reconfigure_port()
        self._update_rts_state()
        self._update_dtr_state()

    def close(self) -> None:
        if self.is_open and self.bench is not None:
            self.bench.advance(max(self.virtual_clock.t_ps, self.bench.now))
            state = self._query.get("state")
            if state:
                Path(state).write_bytes(bytes(self.bench.flash.data))
        self.is_open = False

    def from_url(self, url: str) -> str:
        parse_url(url)
        return url

    def _reconfigure_port(self) -> None:
        if self.is_open and self.bench is not None:
            self.bench.set_baud(int(self.baudrate), self._now())

    def _now(self) -> int:
        assert self.bench is not None
        return max(self.virtual_clock.t_ps, self.bench.now)

    def _bench(self) -> Bench:
        if not self.is_open or self.bench is None:
            raise serial.PortNotOpenError()
        if self._unplug_at is not None and self.virtual_clock.t_ps >= self._unplug_at:
            raise serial.SerialException("device reports readiness to read but returned no "
                                         "data (device disconnected or multiple access on port?)")
        return self.bench

    # -- data --------------------------------------------------------------------------------
    @property
    def in_waiting(self) -> int:
        bench = self._bench()
        bench.advance(self.virtual_clock.t_ps)
        return bench.adapter.available(self.virtual_clock.t_ps)

    @property
    def out_waiting(self) -> int:
        return self._bench().adapter.pending_tx(self.virtual_clock.t_ps)

    def read(self, size: int = 1) -> bytes:
        bench = self._bench()
        clock = self.virtual_clock
        deadline = None if self.timeout is None else clock.t_ps + round(self.timeout * PS_PER_S)
        adapter = bench.adapter
        step = min(
            round(adapter.config.in_latency_us * PS_PER_S / 1_000_000),
            adapter.config.usb_packet * adapter.char_ps,
        )
        data = bytearray()
        while True:
            bench.advance(clock.t_ps)
            data += adapter.take(clock.t_ps, size - len(data))
            if len(data) >= size or (deadline is not None and clock.t_ps >= deadline):
                break
            ready = adapter.next_ready()
            if ready is not None and ready > clock.t_ps:
                target = ready
            elif bench.next_event() is not None:
                target = clock.t_ps + step
            elif deadline is not None:
                target = deadline
            else:
                break  # nothing will ever arrive; do not hang a blocking read
            clock.t_ps = target if deadline is None else min(target, deadline)
        return bytes(data)

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        bench = self._bench()
        payload = bytes(data)
        bench.host_write(payload, self.virtual_clock.t_ps)
        return len(payload)

    def flush(self) -> None:
        """Wait (virtually) until everything written has left TX."""
        bench = self._bench()
        self.virtual_clock.t_ps = max(self.virtual_clock.t_ps, bench.adapter.tx_end)

    def reset_input_buffer(self) -> None:
        bench = self._bench()
        bench.advance(self.virtual_clock.t_ps)
        bench.adapter.discard_input(self.virtual_clock.t_ps)

    def reset_output_buffer(self) -> None:
        bench = self._bench()
        bench.advance(self.virtual_clock.t_ps)
        bench.adapter.discard_output(self._now())

    def send_break(self, duration: float = 0.25) -> None:
        self.virtual_clock.sleep(duration)

    def _update_break_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        if self.is_open:
            self._bench().set_modem_line("rts", bool(self.rts), self.virtual_clock.t_ps)

    def _update_dtr_state(self) -> None:
        if self.is_open:
            self._bench().set_modem_line("dtr", bool(self.dtr), self.virtual_clock.t_ps)

    @property
    def cts(self) -> bool:
        return True

    @property
    def dsr(self) -> bool:
        return True

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return True
