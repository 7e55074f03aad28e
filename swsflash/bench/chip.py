"""The TLSR825x as seen over SWire: CPU control, watchdog, chip id, program counter, SWire
control registers, the SPI master in front of the flash, and what its firmware does with
the SWS pin after power-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from .spi_flash import SpiFlash
from .wire import PS_PER_S

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


class Chip:
    """Registers and CPU state; every method takes the bench time in picoseconds."""

    def __init__(self, config: ChipConfig, flash: SpiFlash) -> None:
        self.config = config
        self.flash = flash
        self.clock_ps = PS_PER_S / config.fclk_hz
        self.regs = bytearray(REG_SPACE)
        self.sram = bytearray(SRAM_SIZE)
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

    # -- power and reset ---------------------------------------------------------------------
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
        pending = (self._takeover_at, self._watchdog_at, self._wd_enable_at)
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
        """Let everything that was due by ``t`` happen."""
        self._now = t
        if self._wd_enable_at is not None and t >= self._wd_enable_at:
            self._wd_enable_at = None
            self.regs[REG_WATCHDOG] |= WATCHDOG_ENABLE
        if self._watchdog_at is not None and t >= self._watchdog_at:
            self._boot(self._watchdog_at)
        if self._takeover_at is not None and t >= self._takeover_at:
            self._takeover_at = None
            self.sws_taken = True

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
        if SRAM_BASE <= addr < SRAM_BASE + SRAM_SIZE:
            return self.sram[addr - SRAM_BASE]
        if addr >= REG_SPACE:
            return 0
        if REG_PC <= addr < REG_PC + 4:
            pc = self._pc_frozen if self.halted else self._running_pc(t)
            return (pc >> (8 * (addr - REG_PC))) & 0xFF
        if addr == REG_SPI_DATA:
            return self._spi_read(t)
        return self.regs[addr]

    def swire_write(self, addr: int, value: int, t: int) -> None:
        self.update(t)
        if SRAM_BASE <= addr < SRAM_BASE + SRAM_SIZE:
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
