"""The TLSR825x as seen over SWire: CPU control, watchdog, chip id, program counter, SWire
control registers, the SPI master in front of the flash, what its firmware does with the
SWS pin after power-up, and how its supply comes and goes (battery bounce, a supply fed
from a modem line, a brown-out while it is fed only through TX).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .spi_flash import SpiFlash
from .wire import HIGH, PS_PER_S, char_levels

REG_SPI_DATA = 0x000C
REG_SPI_CTRL = 0x000D
REG_RESET = 0x006F
REG_CHIP_ID = 0x007E
REG_SWIRE_DIV = 0x00B2
REG_SWIRE_CTL = 0x00B3
REG_CPU = 0x0602
REG_WATCHDOG = 0x0622
REG_PC = 0x06BC

SRAM_BASE = 0x840000
SRAM_SIZE = 0x10000
REG_SPACE = 0x10000
# SRAM per variant, from the SDK start-up files (field-evidence.md section 4).
SRAM_SIZES = {"8251": 0x8000, "8253": 0xC000, "8258": 0x10000}
# Where the bench looks for the SRAM window: a 64 KB span, whatever the variant has.
SRAM_WINDOW = 0x10000

# What the firmware drives on SWS once it has taken the pin (``sws_output``).
SWS_OUTPUT_MODES = ("high", "uart")
FIRMWARE_LOG = b"T=23.4 H=45%\r\n"  # what a firmware using SWS as a UART TX sends
_LOG_LEVELS = [level for ch in FIRMWARE_LOG for level in char_levels(ch)]

CPU_STOP = 0x05
CPU_STALL = 0x06
CPU_REBOOT = 0x88
CPU_GO = (0x08, 0x84)
WATCHDOG_ENABLE = 0x08
RESET_MCU = 0x20


@dataclass(frozen=True)
class ChipConfig:
    fclk_hz: float = 24_500_000.0  # 24 MHz RC, a few percent off (assumption)
    chip_id: int = 0x5562
    clk_div_reset: int = 0x05  # reset value of 0x00B2 (assumption)
    watchdog_s: float = 1.5  # a halted CPU is reset this long after the halt
    firmware_watchdog: bool = True  # the firmware enables the watchdog ...
    watchdog_enabled_after_ms: float = 1.0  # ... this long after boot (assumption)
    takes_sws_after_ms: float | None = None  # bricked firmware: SWS becomes a GPIO then
    asleep_period_s: float | None = None  # firmware sleeps; wakes this often ...
    awake_ms: float = 5.0  # ... for this long; SWS is dead while it sleeps
    asleep_phase_s: float = 0.0  # how far into its sleep cycle the chip boots
    spi_manual_read_clocks: bool = True  # a read of 0x0C with auto-read off clocks a byte
    sram_size: int = SRAM_SIZE  # 32/48/64 KB on TLSR8251/8253/8258
    # Supply (all assumptions, see docs/bench.md).
    bounce: int = 0  # extra off/on cycles when power arrives (battery contact bounce)
    bounce_ms: float = 20.0  # ... all within this span after the first contact
    hold_ms: float = 30.0  # a supply pin off for less than this does not reset the chip
    tx_powered: bool = False  # half-powered through TX while VCC is off: brown-out
    tx_power_rise_us: float = 1.0  # brown-out: the line rises this much after TX (mean)
    # Firmware that uses SWS as an output once it has taken the pin.
    sws_output: str | None = None  # None: an input (the line follows TX); high | uart
    sws_output_baud: int = 115_200  # uart: the firmware's log line, at this baud ...
    sws_output_period_ms: float = 100.0  # ... once every this long
    seed: int = 1  # bounce times and brown-out edge delays


class Chip:
    """Registers and CPU state; every method takes the bench time in picoseconds."""

    def __init__(self, config: ChipConfig, flash: SpiFlash) -> None:
        self.config = config
        self.flash = flash
        self.clock_ps = PS_PER_S / config.fclk_hz
        self.regs = bytearray(REG_SPACE)
        if not 0 < config.sram_size <= SRAM_WINDOW:
            raise ValueError(f"SRAM size must be 1 .. {SRAM_WINDOW} bytes")
        if config.sws_output not in (None, *SWS_OUTPUT_MODES):
            raise ValueError(f"sws_output must be one of {', '.join(SWS_OUTPUT_MODES)}")
        self.sram = bytearray(config.sram_size)
        self.powered = False
        self.in_reset = False
        self.halted = False
        self.sws_taken = False
        self.boot_count = 0
        self._boot_at = 0
        self._pc_frozen = 0
        self._takeover_at: int | None = None
        self._watchdog_at: int | None = None
        self._wd_enable_at: int | None = None
        self._spi_latch = 0xFF
        self._now = 0
        self._rng = random.Random(config.seed)
        self._power_events: list[tuple[int, bool]] = []  # bounce: (time, on), in order
        self._supply_off_at: int | None = None  # supply pin low: the chip dies then
        self._taken_at = 0
        self._uart_cache: tuple[int, int, int, int] = (0, 0, HIGH, -1)  # from, until, level, taken

    # -- power and reset ---------------------------------------------------------------------
    def power_arrives(self, t: int) -> None:
        """Power is applied from outside (battery inserted, supply switched on). With
        ``bounce`` the contact breaks and makes again that many times within ``bounce_ms``:
        every make boots the firmware again (and restarts its SWS take-over timer)."""
        self._supply_off_at = None
        if self.powered and not self._power_events:
            return
        self._power_events = []
        self.set_power(True, t)
        n = self.config.bounce
        if n <= 0:
            return
        span = max(2 * n, round(self.config.bounce_ms * PS_PER_S / 1000))
        moments = sorted(self._rng.sample(range(1, span), 2 * n))
        self._power_events = [(t + dt, i % 2 == 1) for i, dt in enumerate(moments)]

    def supply_pin(self, high: bool, t: int) -> None:
        """VCC fed from an adapter pin: the unit's capacitors carry it through a low pulse
        shorter than ``hold_ms``; a longer one powers it off."""
        if high:
            if self._supply_off_at is not None:
                self._supply_off_at = None
            elif not self.powered:
                self.power_arrives(t)
        else:
            self._power_events = []  # a bounce in progress ends with the contact open
            if self.powered and self._supply_off_at is None:
                hold = round(self.config.hold_ms * PS_PER_S / 1000)
                self._supply_off_at = t + hold

    def set_power(self, on: bool, t: int) -> None:
        if on and not self.powered:
            self.powered = True
            if not self.in_reset:
                self._boot(t)
        elif not on and self.powered:
            self.powered = False
            self._stop_everything(t)

    def set_reset_pin(self, asserted: bool, t: int) -> None:
        """RST pad held low keeps the chip in reset; releasing it boots the firmware."""
        if asserted == self.in_reset:
            return
        self.in_reset = asserted
        if asserted:
            self._stop_everything(t)
        elif self.powered:
            self._boot(t)

    def reboot(self, t: int) -> None:
        """An unasked-for reset (brown-out, watchdog): the firmware starts again."""
        if self.powered and not self.in_reset:
            self._boot(t)

    def _stop_everything(self, t: int) -> None:
        self.halted = False
        self._takeover_at = self._watchdog_at = self._wd_enable_at = None
        self._release_spi(t)

    def _release_spi(self, t: int) -> None:
        """A reset lets the SPI master's CS go high, which ends any flash command."""
        if not self.regs[REG_SPI_CTRL] & 0x01:
            self.flash.deselect(t)
        self.regs[REG_SPI_CTRL] = 0x01

    def _boot(self, t: int) -> None:
        """Registers to their reset values, the CPU runs the firmware from flash."""
        self.boot_count += 1
        self._release_spi(t)
        self.regs[:] = bytes(REG_SPACE)
        self.regs[REG_SWIRE_DIV] = self.config.clk_div_reset
        self.regs[REG_SPI_CTRL] = 0x01
        self.regs[REG_CHIP_ID] = self.config.chip_id & 0xFF
        self.regs[REG_CHIP_ID + 1] = self.config.chip_id >> 8
        self.halted = False
        self.sws_taken = False
        self._watchdog_at = None
        self._boot_at = t
        self._start_firmware(t)

    def _start_firmware(self, t: int) -> None:
        self.halted = False
        self._watchdog_at = None
        self._wd_enable_at = None
        if self.config.firmware_watchdog and not self.regs[REG_WATCHDOG] & WATCHDOG_ENABLE:
            enable_ms = self.config.watchdog_enabled_after_ms
            self._wd_enable_at = t + round(enable_ms * PS_PER_S / 1000)
        take_ms = self.config.takes_sws_after_ms
        self._takeover_at = None if take_ms is None else t + round(take_ms * PS_PER_S / 1000)

    def _halt(self, t: int) -> None:
        if not self.halted:
            self._pc_frozen = self._running_pc(t)
        self.halted = True
        self._takeover_at = self._wd_enable_at = None
        self._arm_watchdog(t)

    def _arm_watchdog(self, t: int) -> None:
        if self.halted and self.regs[REG_WATCHDOG] & WATCHDOG_ENABLE:
            self._watchdog_at = t + round(self.config.watchdog_s * PS_PER_S)
        else:
            self._watchdog_at = None

    # -- time --------------------------------------------------------------------------------
    def next_event(self) -> int | None:
        pending = [
            self._takeover_at,
            self._watchdog_at,
            self._wd_enable_at,
            self._supply_off_at,
            self._power_events[0][0] if self._power_events else None,
            self._next_output_change(),
        ]
        times = [x for x in pending if x is not None]
        period = self.config.asleep_period_s
        if period is not None and self.powered and not self.in_reset and not self.halted:
            times.append(self._next_sleep_change())
        return min(times) if times else None

    def _sleep_phase(self, t: int) -> tuple[bool, int]:
        """(awake?, time of the next change) for a firmware that sleeps and wakes."""
        assert self.config.asleep_period_s is not None
        period = round(self.config.asleep_period_s * PS_PER_S)
        awake = round(self.config.awake_ms * PS_PER_S / 1000)
        into = (t - self._boot_at + round(self.config.asleep_phase_s * PS_PER_S)) % period
        start = t - into
        return (into < awake, start + awake if into < awake else start + period)

    def _next_sleep_change(self) -> int:
        return self._sleep_phase(self._now)[1]

    def update(self, t: int) -> None:
        """Let everything that was due by ``t`` happen, in time order."""
        self._now = t
        while True:
            due = [
                (at, kind)
                for kind, at in (
                    (0, self._power_events[0][0] if self._power_events else None),
                    (1, self._supply_off_at),
                    (2, self._wd_enable_at),
                    (3, self._watchdog_at),
                    (4, self._takeover_at),
                )
                if at is not None and at <= t
            ]
            if not due:
                return
            at, kind = min(due)
            if kind == 0:
                self.set_power(self._power_events.pop(0)[1], at)
            elif kind == 1:
                self._supply_off_at = None
                self.set_power(False, at)
            elif kind == 2:
                self._wd_enable_at = None
                self.regs[REG_WATCHDOG] |= WATCHDOG_ENABLE
            elif kind == 3:
                self._boot(at)
            else:
                self._takeover_at = None
                self.sws_taken = True
                self._taken_at = at

    # -- the SWS pad -------------------------------------------------------------------------
    def _drives_sws(self) -> bool:
        return (
            self.config.sws_output is not None
            and self.sws_taken
            and self.powered
            and not self.in_reset
        )

    def pad_busy(self) -> bool:
        """Does the chip do anything to the line right now (drive it, or load it)?"""
        return self._drives_sws() or self.brown_out()

    def brown_out(self) -> bool:
        """Fed only through TX and its resistor: the pad's protection diode charges the
        supply rail, which slows every rise of the line; the chip never runs."""
        return self.config.tx_powered and not self.powered

    def rise_delay_ps(self) -> int:
        """How long after TX rises the line follows, in brown-out: the mean
        ``tx_power_rise_us``, each edge uniformly within 0.5 .. 1.5 times it (seeded)."""
        mean = self.config.tx_power_rise_us * PS_PER_S / 1_000_000
        return max(1, round(mean * self._rng.uniform(0.5, 1.5)))

    def sws_output_level(self, t: int) -> int | None:
        """The level the firmware drives on SWS (None: it does not drive the pin)."""
        if not self._drives_sws():
            return None
        if self.config.sws_output == "high":
            return HIGH
        return self._uart_level(t)[0]

    def _next_output_change(self) -> int | None:
        if not self._drives_sws() or self.config.sws_output != "uart":
            return None
        return self._uart_level(self._now)[1]

    def _uart_level(self, t: int) -> tuple[int, int]:
        """(level, time of the next change) of the firmware's log line: ``FIRMWARE_LOG``
        at ``sws_output_baud`` from the take-over, once per ``sws_output_period_ms``."""
        cached = self._uart_cache
        if cached[0] <= t < cached[1] and cached[3] == self._taken_at:
            return cached[2], cached[1]
        level, until = self._uart_level_at(t)
        self._uart_cache = (t, until, level, self._taken_at)
        return level, until

    def _uart_level_at(self, t: int) -> tuple[int, int]:
        bit = round(PS_PER_S / self.config.sws_output_baud)
        period = max(
            round(self.config.sws_output_period_ms * PS_PER_S / 1000),
            10 * bit * len(FIRMWARE_LOG) + bit,
        )
        into = (t - self._taken_at) % period
        start = t - into
        n = into // bit
        levels = _LOG_LEVELS
        if n >= len(levels):
            return HIGH, start + period
        level = levels[n]
        for k in range(n + 1, len(levels)):
            if levels[k] != level:
                return level, start + k * bit
        return level, start + period if level == HIGH else start + len(levels) * bit

    def swire_alive(self, t: int) -> bool:
        """Does the SWire slave listen right now?"""
        if not self.powered or self.in_reset or self.sws_taken:
            return False
        if self.config.asleep_period_s is not None and not self.halted:
            return self._sleep_phase(t)[0]
        return True

    # -- registers as the SWire slave sees them ----------------------------------------------
    def _running_pc(self, t: int) -> int:
        """A running CPU's PC wanders through the firmware; any changing value will do."""
        return 0x0000_1000 + ((t // 1_000_000) * 4) % 0x0002_0000

    def swire_read(self, addr: int, t: int) -> int:
        self.update(t)
        if SRAM_BASE <= addr < SRAM_BASE + len(self.sram):
            return self.sram[addr - SRAM_BASE]
        if addr >= REG_SPACE:  # beyond the SRAM of this variant, too: reads 0
            return 0
        if REG_PC <= addr < REG_PC + 4:
            pc = self._pc_frozen if self.halted else self._running_pc(t)
            return (pc >> (8 * (addr - REG_PC))) & 0xFF
        if addr == REG_SPI_DATA:
            return self._spi_read(t)
        return self.regs[addr]

    def swire_write(self, addr: int, value: int, t: int) -> None:
        self.update(t)
        if SRAM_BASE <= addr < SRAM_BASE + len(self.sram):
            self.sram[addr - SRAM_BASE] = value
            return
        if addr >= REG_SPACE or addr in (REG_CHIP_ID, REG_CHIP_ID + 1):
            return
        if addr == REG_CPU:
            self._cpu_control(value, t)
        elif addr == REG_RESET:
            if value & RESET_MCU:
                self._boot(t)
                return
        elif addr == REG_SPI_DATA:
            self._spi_latch = self.flash.exchange(value, t)
        elif addr == REG_SPI_CTRL:
            self._spi_control(value, t)
        self.regs[addr] = value
        if addr == REG_WATCHDOG:
            self._arm_watchdog(t)

    def _cpu_control(self, value: int, t: int) -> None:
        if value in (CPU_STOP, CPU_STALL):
            self._halt(t)
        elif value == CPU_REBOOT:
            self._boot(t)
        elif value in CPU_GO and self.halted:
            self._start_firmware(t)

    def _spi_control(self, value: int, t: int) -> None:
        was_selected = not self.regs[REG_SPI_CTRL] & 0x01
        selected = not value & 0x01
        if selected and not was_selected:
            self.flash.select(t)
        elif was_selected and not selected:
            self.flash.deselect(t)

    def _spi_read(self, t: int) -> int:
        if self.regs[REG_SPI_CTRL] & 0x01:  # CS high: nothing is clocked
            return self._spi_latch
        if self.regs[REG_SPI_CTRL] & 0x08:  # auto-read: hand out the latch, clock the next
            value = self._spi_latch
            self._spi_latch = self.flash.exchange(0xFF, t)
            return value
        if self.config.spi_manual_read_clocks:
            self._spi_latch = self.flash.exchange(0xFF, t)
        return self._spi_latch

    # -- SWire timing ------------------------------------------------------------------------
    def swire_unit_ps(self) -> int:
        return round(max(1, self.regs[REG_SWIRE_DIV] & 0x7F) * self.clock_ps)

    def swire_fifo_mode(self) -> bool:
        return bool(self.regs[REG_SWIRE_CTL] & 0x80)

    def swire_slave_id(self) -> int:
        return self.regs[REG_SWIRE_CTL] & 0x7F
