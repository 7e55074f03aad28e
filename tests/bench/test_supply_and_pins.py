"""How the unit gets (and loses) its power, and what its firmware does to the SWS pin: battery
contact bounce, VCC fed from RTS/DTR, a unit half-powered through TX, firmware that drives
SWS as an output, the SRAM of each chip variant, and host sleeps that overshoot
(field-evidence.md sections 2 to 4; docs/bench.md "Supply and pins")."""

from __future__ import annotations

from typing import cast

import pytest
import serial
from swire_bytes import END, REQUEST, decode_answer, read_head, write_frame

from swsflash.bench.sim_port import Serial as SimSerial

if "swsflash.bench.urlhandler" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("swsflash.bench.urlhandler")

DIV = 53
HALT = write_frame(0x0602, [0x05])
CHIP_ID = [0x62, 0x55]


class Port:
    """A plain host on a ``sim://`` port: every wait is a wait of the port's clock."""

    def __init__(self, url: str, **kwargs: object) -> None:
        port = serial.serial_for_url(url, baudrate=921_600, timeout=0.01, **kwargs)
        self.port = cast(SimSerial, port)
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

    def stream_halts(self, seconds: float) -> None:
        """Halt frames with short idle gaps, as a flasher's activation window sends them."""
        end = self.clock.now() + seconds
        while self.clock.now() < end:
            self.port.write(HALT)
            self.port.flush()
            self.clock.sleep(100e-6)
        self.clock.sleep(0.002)
        self.port.reset_input_buffer()

    def take_over(self) -> list[int | None]:
        """After the stream: END, one more halt, watchdog off, divider; the chip id."""
        self.x(END)
        self.clock.sleep(0.010)
        self.x(HALT)
        self.x(write_frame(0x0622, [0x00]))
        self.x(write_frame(0x00B2, [DIV]))
        return self.read(0x007E, 2)

    def close(self) -> None:
        self.port.close()


# -- battery contact bounce ----------------------------------------------------------------


@pytest.mark.parametrize("bounce", [2, 3])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_halt_stream_started_before_a_bouncing_power_up_still_catches_the_chip(
    bounce: int, seed: int
) -> None:
    p = Port(f"sim://bricked?power_on_after=0.01&bounce={bounce}&seed={seed}")
    p.stream_halts(0.06)  # power arrives 10 ms in and bounces for up to 20 ms
    assert p.take_over() == CHIP_ID
    p.clock.sleep(0.1)
    assert p.read(0x007E, 2) == CHIP_ID  # still held long after the firmware's 2.5 ms
    p.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_halt_that_landed_before_the_last_bounce_is_undone(seed: int) -> None:
    """Without bounce, halts during the first 2 ms after contact keep the chip; with
    bounce the contact breaks again later, the firmware boots again and takes the pin."""
    for bounce, caught in ((0, True), (3, False)):
        p = Port(f"sim://bricked?power_on_after=0.01&bounce={bounce}&bounce_ms=20&seed={seed}")
        p.clock.sleep(0.0095)
        p.stream_halts(0.0025)  # covers the first 2 ms after the first contact only
        p.clock.sleep(0.03)  # the bounce is over
        assert (p.take_over() == CHIP_ID) is caught, bounce
        p.close()


# -- VCC fed from RTS -------------------------------------------------------------------------


def halted_on_rts(query: str = "") -> Port:
    p = Port(f"sim://healthy?power=rts{query}", do_not_open=True)
    p.port.rts = False  # pin high: the unit is powered
    p.port.open()
    p.clock.sleep(0.005)
    assert p.take_over() == CHIP_ID
    return p


def off_pulse(p: Port, ms: float) -> None:
    p.port.rts = True  # pin low: no supply
    p.clock.sleep(ms / 1000)
    p.port.rts = False
    p.clock.sleep(0.005)


def test_a_short_rts_off_pulse_does_not_reboot_the_chip() -> None:
    p = halted_on_rts()
    off_pulse(p, 5)  # the 5 ms some programmer boards use
    assert p.read(0x00B2, 1) == [DIV]  # still halted with our divider: no reboot
    p.close()


def test_a_long_rts_off_pulse_reboots_the_chip() -> None:
    p = halted_on_rts()
    off_pulse(p, 100)
    assert p.read(0x00B2, 1) != [DIV]  # the divider is back at its reset value
    assert p.take_over() == CHIP_ID  # and the firmware runs again: catch it again
    p.close()


def test_hold_time_is_a_parameter() -> None:
    p = halted_on_rts("&hold_ms=200")
    off_pulse(p, 100)
    assert p.read(0x00B2, 1) == [DIV]
    p.close()


def test_power_cycle_through_rts_with_a_halt_stream_catches_a_bricked_unit() -> None:
    p = Port("sim://bricked?power=rts", do_not_open=True)
    p.port.rts = False
    p.port.open()
    p.clock.sleep(0.01)
    assert p.take_over() == [None, None]  # the firmware has the pin
    p.port.rts = True
    p.clock.sleep(0.05)  # longer than the 30 ms the capacitors hold
    p.port.rts = False  # power returns: stream halts right away
    p.stream_halts(0.03)
    assert p.take_over() == CHIP_ID
    p.close()


def test_power_and_reset_on_the_same_line_is_refused() -> None:
    with pytest.raises(serial.SerialException, match="cannot feed VCC and hold RST"):
        serial.serial_for_url("sim://?power=rts&reset=rts")


# -- half-powered through TX ------------------------------------------------------------------


def test_unit_half_powered_through_tx_distorts_the_echo_and_never_answers() -> None:
    p = Port("sim://healthy?power_on_after=0.5&tx_power=1")
    frame = write_frame(0x00B2, [DIV])
    echo = p.x(frame)
    assert echo and echo != frame  # something comes back, but not what was sent
    assert p.read(0x007E, 2) == [None, None]
    p.clock.sleep(0.5)  # VCC arrives: a clean power-on
    assert p.x(frame) == frame
    assert p.read(0x007E, 2) == CHIP_ID
    p.close()


def test_echo_distortion_is_deterministic_under_the_seed() -> None:
    def echo(seed: int) -> bytes:
        p = Port(f"sim://healthy?power_on_after=1&tx_power=1&seed={seed}")
        got = p.x(write_frame(0x007E, [0x12, 0x34]))
        p.close()
        return got

    assert echo(4) == echo(4)
    assert echo(4) != echo(5)


def test_without_tx_power_an_unpowered_unit_echoes_cleanly() -> None:
    p = Port("sim://healthy?power_on_after=1")
    frame = write_frame(0x00B2, [DIV])
    assert p.x(frame) == frame
    assert p.read(0x007E, 2) == [None, None]
    p.close()


# -- firmware driving SWS ---------------------------------------------------------------------


def test_firmware_driving_sws_high_swallows_the_echo() -> None:
    p = Port("sim://bricked?sws_output=high")
    assert p.x(HALT) == b""  # TX through 1 kOhm cannot pull a push-pull output low
    p.close()
    p = Port("sim://bricked")  # the same firmware leaving the pin an input: clean echo
    assert p.x(HALT) == HALT
    p.close()


def test_firmware_using_sws_as_uart_tx_fills_rx_with_its_own_characters() -> None:
    p = Port("sim://bricked-output")
    p.clock.sleep(0.05)
    p.port.reset_input_buffer()
    p.clock.sleep(0.15)  # the host sends nothing (the log comes every 100 ms) ...
    assert len(p.port.read(4096)) > 0  # ... and still receives
    assert p.x(HALT) != HALT
    p.close()


@pytest.mark.parametrize("mode", ["high", "uart"])
def test_halts_before_the_take_over_still_catch_a_unit_that_drives_sws(mode: str) -> None:
    p = Port(f"sim://bricked?sws_output={mode}&power_on_after=0.005")
    p.stream_halts(0.03)
    assert p.take_over() == CHIP_ID
    p.close()


# -- SRAM per chip variant --------------------------------------------------------------------


@pytest.mark.parametrize(("chip", "size"), [("8251", 0x8000), ("8253", 0xC000), ("8258", 0x10000)])
def test_sram_ends_where_the_variant_ends(chip: str, size: int) -> None:
    p = Port(f"sim://healthy?chip={chip}")
    p.take_over()
    last, beyond = 0x840000 + size - 2, 0x840000 + size
    p.x(write_frame(last, [0xA5, 0x5A]))
    assert p.read(last, 2) == [0xA5, 0x5A]
    if size < 0x10000:
        p.x(write_frame(beyond, [0xA5, 0x5A]))
        assert p.read(beyond, 2) == [0x00, 0x00]  # no memory there: the write is lost
        p.x(write_frame(0x84FF00, [0x11]))  # a scratch address "near the top of 64 KB"
        assert p.read(0x84FF00, 1) == [0x00]
    p.close()


def test_unknown_chip_variant_is_refused() -> None:
    with pytest.raises(serial.SerialException, match="chip must be one of"):
        serial.serial_for_url("sim://?chip=8250")


# -- host sleeps that overshoot ---------------------------------------------------------------


def sleeps(url: str, asked: float, n: int = 20) -> list[float]:
    port = cast(SimSerial, serial.serial_for_url(url))
    clock = port.virtual_clock
    took = []
    for _ in range(n):
        t0 = clock.now()
        clock.sleep(asked)
        took.append(clock.now() - t0)
    port.close()
    return took


def test_sleep_overshoot_is_bounded_varied_and_seeded() -> None:
    took = sleeps("sim://?sleep_overshoot_ms=16&seed=7", 0.002)
    assert all(0.002 <= t <= 0.018 + 1e-12 for t in took)
    assert max(took) - min(took) > 0.005
    assert took == sleeps("sim://?sleep_overshoot_ms=16&seed=7", 0.002)
    assert took != sleeps("sim://?sleep_overshoot_ms=16&seed=8", 0.002)


def test_windows_timer_step_rounds_every_sleep_up() -> None:
    assert sleeps("sim://?sleep_step_ms=15.625", 0.002, 3) == pytest.approx([0.015625] * 3)
    assert sleeps("sim://?sleep_step_ms=15.625", 0.02, 1) == pytest.approx([0.03125])
    assert sleeps("sim://", 0.002, 1) == pytest.approx([0.002])


# -- the shortcuts give the same answers --------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "bricked?power_on_after=0.01&bounce=3&seed=2",
        "bricked?power_on_after=0.004",
        "bricked?sws_output=high&power_on_after=0.005",
        "bricked-output?power_on_after=0.003",
        "bricked-output?reset=rts",
        "bricked?sws_output=high&power=rts&hold_ms=5",
    ],
)
def test_same_session_with_and_without_the_fast_path(query: str) -> None:
    """The fast path skips TX while the firmware drives SWS and streams on while power is
    still to come; neither may change what the host receives or what the chip does."""

    def session(fast: int) -> tuple[bytes, int, int, bool, bytes]:
        p = Port(f"sim://{query}&fast={fast}", do_not_open=True)
        p.port.rts = False  # RST released / VCC on, as the host opens ports
        p.port.open()
        got = bytearray()
        for i in range(300):  # halts across power-up (or a reset / power cycle), echoes kept
            p.port.write(HALT)
            if i == 100 and "rts" in query:
                p.clock.sleep(300e-6)  # in the middle of a frame, while the firmware drives
                p.port.rts = True  # RST held, or VCC off, for 20 halts
            p.port.flush()
            if i == 120 and "rts" in query:
                p.port.rts = False  # between frames: the fast path's known RTS lag aside
            p.clock.sleep(100e-6)
            got += p.port.read(p.port.in_waiting)
        got += bytes(str(p.take_over()), "ascii")
        chip = p.port.bench.chip
        booted = chip._boot_at  # when the last boot happened, to the picosecond
        state = (bytes(got), chip.boot_count, booted, chip.halted, bytes(chip.regs))
        p.close()
        return state

    assert session(1) == session(0)
