"""``sim://`` — the bench behind a real pyserial ``SerialBase``, on virtual time.

    sim://[SCENARIO][?option=value&...]

Waiting on this port (a read with a timeout, ``flush()``, or ``virtual_clock.sleep()``)
advances the simulation instead of sleeping, so a job takes only as long as the model needs
to compute it, and ``virtual_clock.now()`` tells how long a real adapter would have taken.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlparse

import serial

from .adapter import AdapterConfig, line_baud
from .adapter_presets import ADAPTER_PRESETS, DEFAULT_ADAPTER, with_preset
from .bench import DRIVES, Bench, BenchConfig
from .chip import SRAM_SIZES, SWS_OUTPUT_MODES, ChipConfig
from .scenarios import SCENARIOS, factory_flash, scenario_config
from .spi_flash import ONE_BYTE_STATUS_WRITES, PARTS
from .wire import PS_PER_S, UartReceiver

_C = TypeVar("_C", BenchConfig, AdapterConfig)

URL_FORM = (
    "sim://[SCENARIO][?scenario=S&state=FILE&name=N&fclk_mhz=F&flash=PART&reset=rts|dtr|none"
    "&power_on_after=SECONDS&latency_us=US&gap_us=US&ber=P&seed=N&answer_delay=CLOCKS"
    "&resync_us=US&watchdog_s=S&max_write=N&mac=AA:BB:..&fast=0|1"
    "&reset_after=SECONDS&unplug_after=SECONDS&bounce=N&bounce_ms=MS&tx_power=0|1"
    "&tx_rise_us=US&sws_output=0|1|high|uart&power=rts|dtr|none&hold_ms=MS"
    "&sleep_overshoot_ms=MS&sleep_step_ms=MS&chip=8251|8253|8258&status=0xNN&status2=0xNN"
    "&status1_write=keep|clear&tx_buffer=N&rx_buffer=N&opened=FILE"
    "&adapter=ch340|cp2102|ft232|pl2303"
    "&receiver=wait-high|restart&packet=N&sample_phase=F&drive=push-pull|open-drain"
    "&rise_ns=NS&end_trim=CLOCKS]"
)

_OPTIONS = {
    "scenario",
    "state",
    "name",
    "fclk_mhz",
    "flash",
    "reset",
    "power_on_after",
    "latency_us",
    "gap_us",
    "ber",
    "seed",
    "answer_delay",
    "resync_us",
    "watchdog_s",
    "fast",
    "mac",
    "max_write",
    "reset_after",
    "unplug_after",
    "opened",
    "bounce",
    "bounce_ms",
    "tx_power",
    "tx_rise_us",
    "sws_output",
    "power",
    "hold_ms",
    "sleep_overshoot_ms",
    "sleep_step_ms",
    "chip",
    "status",
    "status2",
    "status1_write",
    "tx_buffer",
    "rx_buffer",
    "adapter",
    "receiver",
    "packet",
    "sample_phase",
    "drive",
    "rise_ns",
    "end_trim",
}
_SECONDS = ("power_on_after", "reset_after", "unplug_after")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

POWERED_BEFORE_OPEN_S = 1.0

# Benches by name, so that several opens within one process talk to the same unit.
_BENCHES: dict[str, Bench] = {}
_LOCK = threading.Lock()


class VirtualClock:
    """The port's clock: host waits go through it, so they cost no wall time.

    Like an operating system's sleep, ``sleep`` may take longer than asked: rounded up to
    whole ``step`` (a 15.6 ms timer tick on Windows with Python <= 3.10), plus up to
    ``overshoot`` more (uniform, seeded)."""

    def __init__(self) -> None:
        self.t_ps = 0
        self.step_ps = 0
        self.overshoot_ps = 0
        self._rng = random.Random(1)

    def configure(self, step_s: float, overshoot_s: float, seed: int) -> None:
        self.step_ps = round(step_s * PS_PER_S)
        self.overshoot_ps = round(overshoot_s * PS_PER_S)
        self._rng = random.Random(seed)

    def now(self) -> float:
        return self.t_ps / PS_PER_S

    def sleep(self, seconds: float) -> None:
        wait = max(0, round(seconds * PS_PER_S))
        if wait and self.step_ps:
            wait = -(-wait // self.step_ps) * self.step_ps
        if wait and self.overshoot_ps:
            wait += self._rng.randint(0, self.overshoot_ps)
        self.t_ps += wait


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
    preset = query.get("adapter", DEFAULT_ADAPTER)
    if preset not in ADAPTER_PRESETS:
        raise serial.SerialException(
            f"unknown adapter {preset!r} in {url!r}; known: {', '.join(ADAPTER_PRESETS)}"
        )
    try:
        chip, adapter = config.chip, with_preset(config.adapter, preset)
        if "fclk_mhz" in query:
            chip = replace(chip, fclk_hz=float(query["fclk_mhz"]) * 1e6)
        if "watchdog_s" in query:
            chip = replace(chip, watchdog_s=float(query["watchdog_s"]))
        adapter = _adapter_options(adapter, query)
        if "seed" in query:
            adapter = replace(adapter, seed=int(query["seed"]))
            chip = replace(chip, seed=int(query["seed"]))
        chip = _chip_options(chip, query)
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
        config = _plain(config, query, _ANSWER_FIELDS)
        if "drive" in query:
            if query["drive"] not in DRIVES:
                raise ValueError(f"drive must be {' or '.join(DRIVES)}")
            config = replace(config, answer_drive=query["drive"])
        if "fast" in query:
            config = replace(config, fast_path=query["fast"] not in ("0", "false", "no"))
        for key in _SECONDS:
            if key in query:
                _seconds(key, query[key])
        if "mac" in query:
            _mac(query["mac"])
        config = _supply_and_flash_options(config, query)
        _check(config)
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


def _adapter_options(adapter: AdapterConfig, query: dict[str, str]) -> AdapterConfig:
    """The adapter's latency, gaps, bit errors and buffers (docs/bench.md, "What is modelled")."""
    adapter = _plain(adapter, query, _ADAPTER_FIELDS)
    if "tx_buffer" in query:
        _positive(query, "tx_buffer")  # the host side's, kept by the port (see write)
    if "rx_buffer" in query:
        adapter = replace(adapter, rx_buffer=_positive(query, "rx_buffer"))
    return adapter


# URL options that set one config field through one conversion: option -> (field, type).
_Fields = dict[str, tuple[str, Callable[[str], Any]]]
_ANSWER_FIELDS: _Fields = {
    "answer_delay": ("answer_delay_clocks", int),
    "rise_ns": ("release_rise_ns", float),
    "end_trim": ("end_trim_clocks", int),
    "resync_us": ("resync_idle_us", float),
}
_ADAPTER_FIELDS: _Fields = {
    "latency_us": ("in_latency_us", float),
    "receiver": ("receiver", str),
    "packet": ("usb_packet", int),
    "sample_phase": ("sample_phase", float),
    "gap_us": ("gap_us", float),
    "ber": ("bit_error_rate", float),
    "max_write": ("max_write", int),
}


def _plain(config: _C, query: dict[str, str], fields: _Fields) -> _C:
    """``config`` with the plain options of ``fields`` that the query gives."""
    changes = {field: kind(query[key]) for key, (field, kind) in fields.items() if key in query}
    return replace(config, **changes)


def _positive(query: dict[str, str], name: str) -> int:
    value = int(query[name])
    if value <= 0:
        raise ValueError(f"{name} must be a positive number of bytes")
    return value


def _flag(query: dict[str, str], name: str) -> bool:
    value = query[name].lower()
    if value not in _TRUE + _FALSE:
        raise ValueError(f"{name} must be 0 or 1")
    return value in _TRUE


def _chip_options(chip: ChipConfig, query: dict[str, str]) -> ChipConfig:
    """The chip's variant, supply and SWS-pin options (docs/bench.md, "Supply")."""
    if "chip" in query:
        if query["chip"] not in SRAM_SIZES:
            raise ValueError(f"chip must be one of {', '.join(SRAM_SIZES)}")
        chip = replace(chip, sram_size=SRAM_SIZES[query["chip"]])
    if "bounce" in query:
        bounce = int(query["bounce"])
        if not 0 <= bounce <= 10:
            raise ValueError("bounce must be 0 .. 10 extra power cycles")
        chip = replace(chip, bounce=bounce)
    if "bounce_ms" in query:
        if float(query["bounce_ms"]) <= 0:
            raise ValueError("bounce_ms must be positive")
        chip = replace(chip, bounce_ms=float(query["bounce_ms"]))
    if "hold_ms" in query:
        if float(query["hold_ms"]) < 0:
            raise ValueError("hold_ms must not be negative")
        chip = replace(chip, hold_ms=float(query["hold_ms"]))
    if "tx_power" in query:
        chip = replace(chip, tx_powered=_flag(query, "tx_power"))
    if "tx_rise_us" in query:
        if float(query["tx_rise_us"]) <= 0:
            raise ValueError("tx_rise_us must be positive")
        chip = replace(chip, tx_power_rise_us=float(query["tx_rise_us"]))
    if "sws_output" in query:
        mode = query["sws_output"].lower()
        output = "high" if mode in _TRUE else None if mode in _FALSE else mode
        if output is not None and output not in SWS_OUTPUT_MODES:
            raise ValueError(f"sws_output must be 0, 1 or one of {', '.join(SWS_OUTPUT_MODES)}")
        chip = replace(chip, sws_output=output)
        if output is not None and chip.takes_sws_after_ms is None:
            chip = replace(chip, takes_sws_after_ms=2.5)  # firmware that takes the pin
    return chip


def _supply_and_flash_options(config: BenchConfig, query: dict[str, str]) -> BenchConfig:
    if "power" in query:
        line = query["power"]
        if line not in ("rts", "dtr", "none"):
            raise ValueError("power must be rts, dtr or none")
        config = replace(config, power_line=None if line == "none" else line)
    if config.power_line is not None and config.power_line == config.reset_line:
        raise ValueError(f"{config.power_line} cannot feed VCC and hold RST at once")
    if config.flash_part not in PARTS:
        raise ValueError(f"unknown flash part {config.flash_part!r}; known: {', '.join(PARTS)}")
    if "status" in query:
        config = replace(config, flash_status=int(query["status"], 0) & 0xFF)
    if "status2" in query:
        config = replace(config, flash_status2=int(query["status2"], 0) & 0xFF)
    if config.flash_status2 and not PARTS[config.flash_part].status2:
        names = ", ".join(n for n, p in PARTS.items() if p.status2)
        raise ValueError(f"{config.flash_part} has no second status byte (parts that do: {names})")
    for name in ("sleep_step_ms", "sleep_overshoot_ms"):
        if name in query and not float(query[name]) >= 0:
            raise ValueError(f"{name} must not be negative")
    if "status1_write" in query:
        if query["status1_write"] not in ONE_BYTE_STATUS_WRITES:
            raise ValueError(f"status1_write must be {' or '.join(ONE_BYTE_STATUS_WRITES)}")
        config = replace(config, one_byte_status_write=query["status1_write"])
    return config


def _check(config: BenchConfig) -> None:
    """Refuse values no adapter or chip could have, before anything is built."""
    adapter = config.adapter
    UartReceiver(1000, adapter.receiver, adapter.sample_phase)
    if adapter.usb_packet < 1:
        raise ValueError("packet must be at least 1 byte")
    if adapter.in_latency_us < 0 or config.release_rise_ns < 0:
        raise ValueError("latency_us and rise_ns must not be negative")
    if config.answer_delay_clocks < 0 or config.end_trim_clocks < 0:
        raise ValueError("answer_delay and end_trim must not be negative")
    if config.chip.fclk_hz <= 0:
        raise ValueError("fclk_mhz must be positive")


def _check_baud(adapter: AdapterConfig, baud: int) -> None:
    """A rate the adapter's driver refuses fails as it does on a real port."""
    try:
        line_baud(adapter, baud)
    except ValueError as exc:
        raise serial.SerialException(f"cannot set {baud} baud: {exc}") from exc


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
        self._tx_buffer: int | None = None
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
        _check_baud(config.adapter, config.baud)
        self._query = query
        self._tx_buffer = int(query["tx_buffer"]) if "tx_buffer" in query else None
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
        seed = int(query.get("seed", "1"))
        self.virtual_clock.configure(
            float(query.get("sleep_step_ms", "0")) / 1000,
            float(query.get("sleep_overshoot_ms", "0")) / 1000,
            seed,
        )
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
            _check_baud(self.bench.config.adapter, int(self.baudrate))
            self.bench.set_baud(int(self.baudrate), self._now())

    def _now(self) -> int:
        assert self.bench is not None
        return max(self.virtual_clock.t_ps, self.bench.now)

    def _bench(self) -> Bench:
        if not self.is_open or self.bench is None:
            raise serial.PortNotOpenError()
        if self._unplug_at is not None and self.virtual_clock.t_ps >= self._unplug_at:
            raise serial.SerialException(
                "device reports readiness to read but returned no "
                "data (device disconnected or multiple access on port?)"
            )
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
            pending = bench.next_event() is not None
            if ready is not None and ready > clock.t_ps:
                # An open packet is due at ``ready``, but characters still on the line may
                # fill it sooner: never step past them.
                target = min(ready, clock.t_ps + step) if pending else ready
            elif pending:
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
        if self._tx_buffer is not None:
            # A blocking write returns once the rest fits the OS's transmit buffer.
            adapter = bench.adapter
            done = adapter.tx_end - self._tx_buffer * adapter.char_ps
            self.virtual_clock.t_ps = max(self.virtual_clock.t_ps, done)
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
