"""Adapter and wiring faults as a user meets them (reference sections 1, 4 and 6)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
from swire_bytes import SOURCES, SRAM, Host, frames, write_frame

from swsflash.bench.adapter import AdapterConfig
from swsflash.bench.bench import Bench, BenchConfig
from swsflash.bench.scenarios import scenario_config


def host_for(scenario: str) -> Host:
    host = Host(Bench(scenario_config(scenario)))
    host.sleep(0.002)
    return host


@pytest.mark.parametrize("scenario", ["no-wiring", "rx-led"])
@pytest.mark.parametrize("source", SOURCES)
def test_nothing_is_echoed(scenario: str, source: str) -> None:
    f = frames(source)
    host = host_for(scenario)
    assert host.xfer(f["halt_cpu"], None, timeout_s=0.01) == b""
    assert host.xfer(f["read_head_chip_id"], None, timeout_s=0.01) == b""
    assert host.xfer(f["read_start_pulse"], None, timeout_s=0.01) == b""
    assert not host.bench.chip.halted  # the halt never reached the chip


def test_gappy_adapter_corrupts_a_long_continuous_write() -> None:
    host = host_for("gappy-adapter")
    host.write_reg(0x0602, 0x05)
    host.write_reg(0x00B2, 53)
    data = [0xFF] * 40
    stream = write_frame(SRAM, data)  # 460 characters in one write: gaps land inside words
    assert host.xfer(stream, len(stream), timeout_s=0.05) == stream  # the echo looks fine
    assert host.read(SRAM, len(data)) != data


def _gappy_host(out_packet: int) -> Host:
    config = scenario_config("gappy-adapter")
    host = Host(Bench(replace(config, adapter=replace(config.adapter, out_packet=out_packet))))
    host.sleep(0.002)
    return host


def _paced_write_then_read(host: Host) -> list[int | None]:
    """The proven tool's pacing: 60 characters (6 words), drained, then the next chunk."""
    host.write_reg(0x0602, 0x05)
    host.write_reg(0x00B2, 53)
    data = [0xFF] * 40
    stream = write_frame(SRAM, data)
    for i in range(0, len(stream), 60):
        chunk = stream[i : i + 60]
        assert host.send(chunk) == chunk
    return host.read(SRAM, len(data))


def test_gappy_adapter_is_fine_when_paced_in_whole_words() -> None:
    """With 64-byte OUT packets (what §6 assumes) a 60-character chunk fits in one packet,
    so the gaps fall between chunks, i.e. between words."""
    assert _paced_write_then_read(_gappy_host(64)) == [0xFF] * 40


def test_pacing_in_60_characters_does_not_help_with_32_byte_packets() -> None:
    """With 32-byte OUT packets (CH340) a gap falls inside every 60-character chunk; a
    stretched 1 cell reads as 0. (No source says whether a CH340 leaves gaps at all.)"""
    assert _paced_write_then_read(_gappy_host(32)) != [0xFF] * 40


def test_same_long_write_is_fine_on_a_gapless_adapter() -> None:
    host = host_for("healthy")
    host.write_reg(0x0602, 0x05)
    host.write_reg(0x00B2, 53)
    data = [0xFF] * 40
    host.send(write_frame(SRAM, data))
    assert host.read(SRAM, len(data)) == data


def test_adapter_that_cannot_stream_echoes_one_packet() -> None:
    config = BenchConfig(adapter=AdapterConfig(max_write=64))
    host = Host(Bench(config))
    stream = write_frame(SRAM, range(20))
    echo = host.xfer(stream, None, timeout_s=0.02)
    assert echo == stream[:64]


@pytest.mark.parametrize("source", SOURCES)
def test_noisy_adapter_still_echoes_the_right_length(source: str) -> None:
    f = frames(source)
    config = scenario_config("noisy")
    config = replace(config, adapter=replace(config.adapter, bit_error_rate=1e-3, seed=7))
    host = Host(Bench(config))
    long = f["halt_cpu"] * 20
    echo = host.xfer(long, None, timeout_s=0.05)
    assert echo != long  # at this error rate some character is wrong
    assert abs(len(echo) - len(long)) <= len(long) // 10


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def fail(signum: int, frame: object) -> None:
        raise TimeoutError("the bench did not return")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("new_baud", [3_000_000, 460_800])
def test_baud_change_with_output_still_queued(new_baud: int) -> None:
    """Changing the baud rate before the output has drained (pyserial allows it) must not
    hang the bench; the characters not yet sent go out at the new rate."""
    bench = Bench(BenchConfig(baud=921_600))
    host = Host(bench)
    stream = write_frame(SRAM, range(30))
    with time_limit(20):
        host.write(stream)
        host.sleep(0.0005)  # some characters are on the line already
        bench.set_baud(new_baud, host.t)
        host.sleep(0.02)
        echo = host.take()
    assert len(echo) >= len(stream) - 2
    assert echo.endswith(stream[-20:])
