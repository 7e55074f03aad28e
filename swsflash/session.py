"""A connected unit: getting hold of the chip, getting it back after a fault, and what it is.

A Session halts the CPU, finds the SWire speed, checks the chip, picks the pacing and
wakes the flash; afterwards it runs each step of a job through ``retry``, which
reconnects after a line or chip fault, and remembers the unit's identity and MAC.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

from .backup import BackupStore, new_info
from .chip import KNOWN_IDS, REG_SWIRE_DIV, TLSR825X_ID, ClockInfo, Tlsr825x
from .errors import (
    ChipNotAnswering,
    DistortedEcho,
    PortError,
    SilentChip,
    VerifyError,
    WiringError,
    WrongChip,
)
from .flash import FlashId, SpiFlash
from .layout import format_mac, mac_address_at
from .link import Pacing, SwireLink
from .settings import POWER_OFF_MS, ConnectOptions
from .transport import Transport

log = logging.getLogger("swsflash")

# After a power cycle through RTS/DTR, halts are streamed this long after the pin goes
# high (less once the chip answers): the unit's supply rises and its firmware boots well
# within it.
POWER_ON_STREAM_S = 0.5
# A second power cycle, should the first fail, keeps the unit off this much longer: its
# capacitors (and current fed through TX) may have carried it through the first.
LONG_OFF_FACTOR = 5

T = TypeVar("T")
S = TypeVar("S", bound="Session")


@dataclass(frozen=True)
class Identity:
    """What a unit is, as a jig record or a backup names it."""

    chip_id: int
    flash: FlashId
    mac: str | None


class Session:
    """A halted TLSR825x with its flash identified, ready for jobs."""

    def __init__(self, transport: Transport, options: ConnectOptions) -> None:
        self.transport = transport
        self.clock = transport.clock
        self.link = SwireLink(transport)
        self.link.verbose = options.verbose
        self.chip = Tlsr825x(self.link)
        self.flash = SpiFlash(self.chip)
        self.options = options
        self.clock_info: ClockInfo | None = None
        self.flash_id: FlashId | None = None
        self.sector_attempts = 4
        self.retries = 0
        self.stop_requested = False  # set from a Ctrl-C handler: stop at a sector boundary
        self._mac_head: bytes | None = None  # the MAC sector's first bytes, once read

    # -- connecting --------------------------------------------------------------------------
    def attach(self) -> None:
        """Halt the CPU, find the SWire speed, check the chip, pick pacing, wake the flash."""
        self.transport.drain_input()  # whatever a previous session left on its way
        if not self._catching:
            # Also the first echo check: wiring faults show up here. A unit caught at boot
            # is checked after the stream instead: until it is powered, a unit fed through
            # TX alone distorts the echo, and that is no wiring fault.
            self.chip.resync()
        self._halt()
        self.clock_info = self.chip.find_clock()
        self._check_chip_id()
        # From here on the link is known to work: a garbled character (a noisy line) is
        # retried like any job step, never reported as a wiring fault.
        self.retry("connecting to the flash", self._reach_flash)

    def _reach_flash(self) -> None:
        self._choose_pacing()
        self.flash.wake()
        self.flash_id = self.flash.identify()

    @property
    def _catching(self) -> bool:
        """Is the chip caught at boot (reset, power cycle or power window)?"""
        opts = self.options
        return bool(opts.reset or opts.power or opts.power_window)

    def _halt(self) -> None:
        opts = self.options
        if opts.power:
            self.chip.catch_at_boot(
                opts.power_window or POWER_ON_STREAM_S,
                opts.reset,
                power_line=opts.power,
                off_s=opts.power_off,
            )
        elif opts.reset or opts.power_window:
            if opts.power_window:
                self.chip.catch_at_boot(opts.power_window, opts.reset, opts.on_wait)
            else:
                self.chip.catch_at_boot(0.03, opts.reset)
        else:
            self.chip.halt()
        self.chip.watchdog_off()
        # An interrupted job may have left FIFO mode on (every read would then return the
        # same byte) and a flash command open: put both back to idle first.
        self.chip.spi_idle()

    def reconnect(self) -> None:
        """Get hold of the chip again after a reset, a glitch or a garbled transaction:
        halt, watchdog off, the divider we found, SPI master and FIFO mode back to idle."""
        assert self.clock_info is not None
        log.warning("re-establishing the connection to the chip")
        self.transport.drain_input()
        self.chip.resync()
        self._halt()
        self.chip.write(REG_SWIRE_DIV, bytes([self.clock_info.divider]))
        try:
            self._check_chip_id()
        except ChipNotAnswering:
            self.clock_info = self.chip.find_clock()
            self._check_chip_id()
        self.flash.wake()
        self.flash.unprotect()

    def retry(self, what: str, action: Callable[[], T]) -> T:
        """Run one step of a job; on a line or chip fault reconnect and run it again."""
        for attempt in range(1, self.sector_attempts + 1):
            try:
                return action()
            except (ChipNotAnswering, WiringError, VerifyError) as exc:
                if attempt == self.sector_attempts:
                    raise
                self.retries += 1
                log.warning("%s failed (%s); retrying", what, exc.message)
                self._reconnect_with_retries()
        raise AssertionError("unreachable")

    def _reconnect_with_retries(self) -> None:
        """Reconnecting is itself line traffic: on a noisy line it may need a second go."""
        for attempt in range(1, self.sector_attempts + 1):
            try:
                self.reconnect()
                return
            except (ChipNotAnswering, WiringError) as exc:
                if attempt == self.sector_attempts:
                    raise
                log.warning("reconnecting failed (%s); trying again", exc.message)

    def read_flash(self, addr: int, size: int) -> bytes:
        """Flash bytes, read again after a reconnect if the line garbles them."""
        return self.retry(f"reading 0x{addr:05x}", partial(self.flash.read, addr, size))

    def _check_chip_id(self) -> None:
        chip_id = self.chip.chip_id()
        if chip_id != TLSR825X_ID:
            name = KNOWN_IDS.get(chip_id, "an unknown chip")
            raise WrongChip(
                f"chip id 0x{chip_id:04x} is {name}, not a TLSR825x",
                "swsflash supports the TLSR825x family (TLSR8250/8251/8253/8258)",
            )

    def _choose_pacing(self) -> None:
        wanted = self.options.pacing
        if wanted == "auto":
            self.link.pacing = Pacing.STREAM if self.chip.can_stream() else Pacing.SAFE
            log.info("adapter pacing: %s", self.link.pacing.value)
        else:
            self.link.pacing = Pacing(wanted)

    # -- what the unit is --------------------------------------------------------------------
    @property
    def flash_size(self) -> int:
        assert self.flash_id is not None
        return self.flash_id.size

    @property
    def simulated(self) -> bool:
        """Are this session's seconds simulated (a sim:// unit)?"""
        return self.transport.simulated

    def mac(self) -> str | None:
        """The unit's BLE MAC address from its MAC sector (None when the sector is blank)."""
        if self._mac_head is None:
            self._mac_head = self.read_flash(mac_address_at(self.flash_size), 8)
        return format_mac(self._mac_head)

    def forget_mac(self) -> None:
        """The MAC sector was written: read it again when next asked."""
        self._mac_head = None

    def identity(self) -> Identity:
        assert self.flash_id is not None
        return Identity(self.chip.chip_id(), self.flash_id, self.mac())

    def save_backup(self, store: BackupStore, start: int, data: bytes, reason: str) -> Path:
        """Save flash content under this unit's MAC, with where it came from and why."""
        assert self.flash_id is not None
        info = new_info(start, len(data), self.mac(), self.flash_id.jedec.hex(), reason)
        return store.save(info, data)

    def run(self) -> None:
        """Restart the chip into its firmware."""
        self.chip.reboot()


def open_transport(port: str, options: ConnectOptions) -> Transport:
    return Transport.open(port, options.baud, trace=options.trace)


@contextmanager
def attached(
    port: str, options: ConnectOptions, make: Callable[[Transport, ConnectOptions], S]
) -> Iterator[S]:
    """Open the port, get hold of the chip as ``make`` builds it, close the port after."""
    transport = open_transport(port, options)
    try:
        session = make(transport, options)
        session.attach()
        yield session
    finally:
        transport.close()


@contextmanager
def connect(port: str, options: ConnectOptions | None = None) -> Iterator[Session]:
    """Open the port, get hold of the chip, and close the port again afterwards."""
    with attached(port, options or ConnectOptions(), Session) as session:
        yield session


def _reset_lines(options: ConnectOptions) -> list[str]:
    """The lines a reset is tried through: the one given, else RTS and DTR (but not the
    line that feeds VCC)."""
    if options.reset:
        return [options.reset]
    return [line for line in ("rts", "dtr") if line != options.power]


def _recover_attempts(options: ConnectOptions, window_s: float) -> list[tuple[str, ConnectOptions]]:
    """A plain connection, a reset through each line that may be wired, then a power cycle
    through the power line if there is one (twice: the second one off longer), else a
    power window for the user."""
    plain = replace(options, reset=None, power_window=None, power=None)
    attempts = [("plain connection", plain)]
    for line in _reset_lines(options):
        attempts.append((f"reset through {line.upper()}", replace(plain, reset=line)))
    if options.power:
        cycle = replace(plain, power=options.power)
        longer = min(options.power_off * LONG_OFF_FACTOR, POWER_OFF_MS[1] / 1000)
        attempts.append(("power cycle", cycle))
        attempts.append(("longer power cycle", replace(cycle, power_off=longer)))
    else:
        attempts.append(("power window", replace(plain, power_window=window_s)))
    return attempts


def _no_answer(options: ConnectOptions, window_s: float, why: str) -> SilentChip:
    """The diagnosis once every attempt stayed silent."""
    resets = " or ".join(x.upper() for x in _reset_lines(options))
    tried = f"a plain connection, a reset through {resets}" if resets else "a plain connection"
    if options.power:
        line = options.power.upper()
        offs = [options.power_off, min(options.power_off * LONG_OFF_FACTOR, POWER_OFF_MS[1] / 1000)]
        return SilentChip(
            f"no answer to {tried}, nor after power-cycling the unit through {line} "
            f"(off {offs[0]:g} s, then {offs[1]:g} s) ({why})",
            f"check that {line} reaches the unit's VCC (3V) pad and that GND is shared: the "
            f"unit is powered while {line} is not asserted (pin high) and switched off while "
            f"it is; or leave out --power and apply power by hand during the window",
        )
    return SilentChip(
        f"no answer to {tried}, nor during the {window_s:g} s power window ({why})",
        "remove the unit's power, start 'swsflash recover' again and apply power while it "
        "listens (the countdown shows the seconds left); check that RX and TX (through "
        "1 kOhm) both reach the SWS pad; on a LYWSD03MMC the pad marked 'Reset' is not the "
        "chip's reset pin, so only the power window (or --power rts) works there",
    )


@contextmanager
def recover_connect(
    port: str, options: ConnectOptions, window_s: float, say: Callable[[str], None]
) -> Iterator[Session]:
    """Get hold of a unit by every means there is: a plain connection, a reset through
    RTS or DTR (whichever may be wired to RST), then a power cycle through the power line,
    or a power window for the user."""
    attempts = _recover_attempts(options, window_s)
    transport = open_transport(port, options)
    try:
        for n, (what, opts) in enumerate(attempts):
            last = n == len(attempts) - 1
            if opts.power_window:
                say(
                    f"Now apply power to the unit (insert the battery, or connect 3.3 V): "
                    f"listening for {window_s:g} s. If it was powered already, remove the "
                    "power and apply it again."
                )
            elif opts.power:
                say(
                    f"Power-cycling the unit through {opts.power.upper()} "
                    f"(off {opts.power_off:g} s)..."
                )
            else:
                say(f"Trying a {what}...")
            session = Session(transport, opts)
            try:
                session.attach()
            except PortError:
                line = opts.reset or opts.power
                if line is None or line in (options.reset, options.power):
                    raise
                say(f"(this port has no {line.upper()} line)")
                continue
            except DistortedEcho as exc:
                # A unit without power but fed through TX distorts the echo; powering it
                # is still to come, so this is no verdict yet.
                if last:
                    raise
                say(f"(distorted echo: {exc.message}; going on)")
                continue
            except SilentChip as exc:
                if last:
                    raise _no_answer(options, window_s, exc.message) from exc
                continue
            yield session
            return
    finally:
        transport.close()
