"""Getting and keeping hold of the CPU (reference section 9): halt, watchdog, soft reset,
and firmware that takes the SWS pin shortly after reset (scenario ``bricked``)."""

from __future__ import annotations

from typing import cast

import pytest
import serial
from swire_bytes import END, REQUEST, SOURCES, Host, decode_answer, frames, read_head, write_frame

from swsflash.bench.bench import Bench, BenchConfig
from swsflash.bench.sim_port import Serial as SimSerial

PC = 0x06BC
DIV = 53

if "swsflash.bench.urlhandler" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("swsflash.bench.urlhandler")


def read_pc(host: Host) -> list[int | None]:
    return host.read(PC, 4)


def halted(watchdog_off: bool) -> Host:
    host = Host(Bench(BenchConfig()))
    host.sleep(0.005)  # the firmware has enabled its watchdog by now
    host.write_reg(0x0602, 0x05)
    if watchdog_off:
        host.write_reg(0x0622, 0x00)
    host.write_reg(0x00B2, DIV)
    return host


def test_running_pc_changes_and_halted_pc_does_not() -> None:
    host = Host(Bench(BenchConfig()))
    host.sleep(0.005)
    host.write_reg(0x00B2, DIV)  # not halted: the slave answers while the firmware runs
    first, second = read_pc(host), read_pc(host)
    assert None not in first and first != second
    host.write_reg(0x0602, 0x05)
    frozen = read_pc(host)
    host.sleep(0.1)
    assert read_pc(host) == frozen


def test_watchdog_resets_a_halted_chip_about_1_5_s_later() -> None:
    host = halted(watchdog_off=False)
    halt_done = host.t
    frozen = read_pc(host)
    host.sleep(1.45 - (host.t - halt_done) / 1e12)
    assert host.read(0x00B2) == [DIV]
    assert read_pc(host) == frozen
    host.t = halt_done + round(1.55e12)
    # Reset: the divider is back at its reset value, so the answer misframes ...
    assert host.read(0x00B2) != [DIV]
    # ... and with the divider set again, the PC runs: the firmware is back.
    host.write_reg(0x00B2, DIV)
    assert host.read(0x00B2) == [DIV]
    assert read_pc(host) != read_pc(host)


@pytest.mark.parametrize("source", SOURCES)
def test_watchdog_off_keeps_the_chip_halted(source: str) -> None:
    f = frames(source)
    host = Host(Bench(BenchConfig()))
    host.sleep(0.005)
    host.send(f["halt_cpu"])
    host.send(f["watchdog_off"])
    host.send(f["set_div_52"])
    frozen = host.read(PC, 4)
    host.sleep(3.0)
    assert host.read(0x00B2) == [52]
    assert host.read(PC, 4) == frozen


@pytest.mark.parametrize("source", SOURCES)
def test_soft_reset_and_run_restart_the_firmware(source: str) -> None:
    f = frames(source)
    for name in ("soft_reset", "run_cpu"):
        host = halted(watchdog_off=True)
        frozen = read_pc(host)
        host.send(f[name])
        host.write_reg(0x00B2, DIV)  # the reset put the divider back
        assert read_pc(host) != frozen, name
        assert read_pc(host) != read_pc(host), name


# -- bricked: through sim://, with RTS wired to the reset pad -----------------------------


class Port:
    def __init__(self, url: str) -> None:
        self.port = cast(SimSerial, serial.serial_for_url(url, baudrate=921_600, timeout=0.01))
        self.clock = self.port.virtual_clock

    def x(self, data: bytes) -> bytes:
        self.port.write(data)
        return bytes(self.port.read(len(data)))

    def read(self, addr: int, n: int) -> list[int | None]:
        self.x(read_head(addr))
        out = []
        for _ in range(n):
            self.port.write(REQUEST)
            out.append(decode_answer(self.port.read(9)))
        self.x(END)
        return out


def test_bricked_halt_after_reset_is_not_answered() -> None:
    p = Port("sim://bricked?reset=rts")
    p.port.rts = False  # release reset; the firmware boots and takes SWS 2.5 ms later
    p.clock.sleep(0.010)
    p.x(write_frame(0x0602, [0x05]))
    p.x(write_frame(0x00B2, [DIV]))
    assert p.read(0x007E, 2) == [None, None]
    p.port.close()


def test_bricked_halts_streamed_across_reset_release_take_the_cpu() -> None:
    p = Port("sim://bricked?reset=rts")
    halt = write_frame(0x0602, [0x05])
    p.port.rts = True  # hold the chip in reset
    for i in range(40):  # ~40 ms of halts with short idle gaps
        if i == 10:
            p.port.rts = False  # release reset in the middle of the stream
        p.port.write(halt)
        p.port.flush()
        p.clock.sleep(100e-6)
    p.clock.sleep(0.002)
    p.port.reset_input_buffer()
    assert p.x(END) == END
    p.clock.sleep(0.010)
    p.x(halt)
    p.x(write_frame(0x0622, [0x00]))
    p.x(write_frame(0x00B2, [DIV]))
    assert p.read(0x007E, 2) == [0x62, 0x55]
    p.clock.sleep(0.1)
    assert p.read(0x007E, 2) == [0x62, 0x55]  # still answering long after the 2.5 ms
    p.clock.sleep(2.0)
    assert p.read(0x007E, 2) == [0x62, 0x55]  # and after the watchdog time
    p.port.close()


def test_bricked_unit_answers_if_halted_before_the_takeover_without_rts() -> None:
    """Without a reset line the only chance is power-up: streaming halts before power
    arrives (battery inserted) works the same way."""
    p = Port("sim://bricked?power_on_after=0.005")
    halt = write_frame(0x0602, [0x05])
    for _ in range(30):
        p.port.write(halt)
        p.port.flush()
        p.clock.sleep(100e-6)
    p.clock.sleep(0.002)
    p.port.reset_input_buffer()
    p.x(END)
    p.clock.sleep(0.010)
    p.x(halt)
    p.x(write_frame(0x0622, [0x00]))
    p.x(write_frame(0x00B2, [DIV]))
    assert p.read(0x007E, 2) == [0x62, 0x55]
    p.port.close()
