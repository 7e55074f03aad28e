"""The adapter presets as a host meets them through ``sim://?adapter=...``: packet sizes,
latency, the CP2102's baud table, the rates an adapter refuses, and single parameters
overriding a preset (field-evidence §2)."""

from __future__ import annotations

from typing import cast

import pytest
import serial
from swire_bytes import SRAM, write_frame

from swsflash.bench.adapter import line_baud
from swsflash.bench.adapter_presets import CP2102_BAUD_TABLE, adapter_preset
from swsflash.bench.sim_port import Serial as SimSerial

serial.protocol_handler_packages.append("swsflash.bench.urlhandler")

STREAM = write_frame(SRAM, range(40))  # 470 characters, echoed back


def open_port(url: str, baud: int = 921_600) -> SimSerial:
    return cast(SimSerial, serial.serial_for_url(url, baudrate=baud, timeout=0.1))


def arrivals(port: SimSerial, data: bytes, until_s: float) -> list[tuple[float, int]]:
    """Write ``data`` and note, every 50 us of virtual time, how many bytes have arrived."""
    t0 = port.virtual_clock.now()
    port.write(data)
    seen: list[tuple[float, int]] = []
    total = 0
    while port.virtual_clock.now() - t0 < until_s:
        port.virtual_clock.sleep(50e-6)
        n = port.in_waiting
        if n:
            total += len(port.read(n))
            seen.append((port.virtual_clock.now() - t0, total))
    return seen


def test_unknown_adapter_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(serial.SerialException) as err:
        open_port("sim://?adapter=ch9999")
    for name in ("ch9999", "ch340", "cp2102", "ft232", "pl2303"):
        assert name in str(err.value)


@pytest.mark.parametrize(("adapter", "packet"), [("ch340", 32), ("pl2303", 64), ("cp2102", 64)])
def test_a_stream_arrives_in_whole_usb_packets(adapter: str, packet: int) -> None:
    port = open_port(f"sim://?adapter={adapter}")
    seen = arrivals(port, STREAM, 0.02)
    assert seen[-1][1] == len(STREAM)
    assert all(total % packet == 0 for _, total in seen[:-1])
    assert any(total == packet for _, total in seen)


def test_default_adapter_is_ch340_like() -> None:
    assert open_port("sim://").bench.config.adapter == adapter_preset("ch340")


def test_ft232_holds_a_short_answer_for_its_16_ms_latency_timer() -> None:
    port = open_port("sim://?adapter=ft232")
    frame = write_frame(0x0602, [0x05])  # 70 characters: one full 62-byte packet, then 8
    seen = arrivals(port, frame, 0.03)
    first, last = seen[0], seen[-1]
    assert first[1] == 62 and first[0] < 0.002  # a full buffer goes at once
    assert last[1] == 70 and 0.016 <= last[0] < 0.018  # the rest when the timer runs out


def test_a_single_parameter_overrides_the_preset() -> None:
    port = open_port("sim://?adapter=ft232&latency_us=1000&packet=16")
    cfg = port.bench.config.adapter
    assert (cfg.in_latency_us, cfg.usb_packet, cfg.receiver) == (1000.0, 16, "restart")
    seen = arrivals(port, write_frame(0x0602, [0x05]), 0.01)
    assert seen[-1][1] == 70 and seen[-1][0] < 0.003


@pytest.mark.parametrize(
    ("requested", "served"),
    [
        (3_000_000, 921_600),
        (2_000_000, 921_600),
        (700_000, 921_600),
        (600_000, 576_000),
        (460_800, 460_800),
        (115_200, 115_200),
        (9_600, 9_600),
    ],
)
def test_cp2102_serves_the_an205_rate(requested: int, served: int) -> None:
    """A request is served as its AN205 table rate: the line runs at ``served``, so a write
    takes that long to come back as an echo."""
    port = open_port("sim://?adapter=cp2102", baud=requested)
    port.timeout = 2.0
    data = STREAM[:200]
    t0 = port.virtual_clock.now()
    port.write(data)
    assert port.read(len(data)) == data
    line_s = len(data) * 10 / served
    assert line_s <= port.virtual_clock.now() - t0 <= line_s + 0.0025


def test_cp2102_table_is_ascending_and_tops_out_at_921600() -> None:
    highest = [h for h, _ in CP2102_BAUD_TABLE]
    assert highest == sorted(highest)
    assert all(served <= h for h, served in CP2102_BAUD_TABLE[:-1])
    assert line_baud(adapter_preset("cp2102"), 670_254) == 576_000
    assert line_baud(adapter_preset("cp2102"), 670_255) == 921_600


@pytest.mark.parametrize(("adapter", "baud"), [("ch340", 3_500_000), ("cp2102", 100)])
def test_a_rate_the_adapter_refuses_fails_at_open(adapter: str, baud: int) -> None:
    with pytest.raises(serial.SerialException, match="baud"):
        open_port(f"sim://?adapter={adapter}", baud=baud)


def test_a_rate_the_adapter_refuses_fails_when_set() -> None:
    port = open_port("sim://?adapter=ch340")
    with pytest.raises(serial.SerialException, match="baud"):
        port.baudrate = 4_000_000
