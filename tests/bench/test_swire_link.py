"""The SWire link as a host sees it through the bench, character by character: echoes,
register round trips, the chip id, the clock divider window and FIFO mode."""

from __future__ import annotations

from dataclasses import replace

import pytest
from swire_bytes import (
    COMPUTED_FRAMES,
    END,
    REQUEST,
    SOURCES,
    SRAM,
    VECTORS,
    Host,
    decode_answer,
    divider_for,
    frames,
    read_head,
    vector_frames,
    write_frame,
)

from swsflash.bench.bench import Bench, BenchConfig

BAUDS = [460_800, 921_600, 3_000_000]


def halted_host(baud: int = 921_600, fclk_hz: float | None = None) -> Host:
    """A healthy unit at ``baud``, CPU halted, watchdog off, divider at the centre."""
    config = BenchConfig(baud=baud)
    if fclk_hz is not None:
        config = replace(config, chip=replace(config.chip, fclk_hz=fclk_hz))
    host = Host(Bench(config))
    host.sleep(0.002)
    host.write_reg(0x0602, 0x05)
    host.write_reg(0x0622, 0x00)
    host.write_reg(0x00B2, divider_for(baud, config.chip.fclk_hz))
    return host


@pytest.mark.skipif(not VECTORS.exists(), reason="no ../shared/vectors")
def test_own_encoder_agrees_with_shared_vectors() -> None:
    loaded = vector_frames()
    for name, stream in loaded.items():
        assert COMPUTED_FRAMES[name] == stream, name


def test_word_layout() -> None:
    assert COMPUTED_FRAMES["start_word"] == bytes.fromhex("80fe80fe8080fe80fefe")
    assert len(write_frame(0x0602, [5])) == 70
    assert len(read_head(0x7E)) == 50


@pytest.mark.parametrize("source", SOURCES)
def test_every_write_character_is_echoed(source: str) -> None:
    f = frames(source)
    host = Host(Bench(BenchConfig()))
    host.sleep(0.002)
    for name in (
        "halt_cpu",
        "watchdog_off",
        "set_div_52",
        "sram_write_4",
        "fifo_on",
        "fifo_off",
        "spi_cs_low",
        "flash_wren",
        "spi_cs_high",
        "end_word",
    ):
        stream = f[name]
        assert host.xfer(stream, None, timeout_s=0.01) == stream, name
    # A long write (one USB packet is 64 bytes) comes back whole and in order too.
    long = write_frame(SRAM + 0x100, range(200))
    assert host.xfer(long, None, timeout_s=0.05) == long


@pytest.mark.parametrize("source", SOURCES)
def test_chip_id_reads_5562(source: str) -> None:
    f = frames(source)
    host = Host(Bench(BenchConfig()))
    host.sleep(0.002)
    assert host.send(f["halt_cpu"]) == f["halt_cpu"]
    host.send(f["set_div_52"])
    answers = host.read_raw(0x7E, 2, head=f["read_head_chip_id"])
    assert all(len(a) == 9 for a in answers)
    assert [decode_answer(a) for a in answers] == [0x62, 0x55]


@pytest.mark.parametrize("baud", BAUDS)
def test_register_and_sram_round_trips(baud: int) -> None:
    host = halted_host(baud)
    div = divider_for(baud)
    assert host.read(0x00B2) == [div]
    assert host.read(0x007E, 2) == [0x62, 0x55]
    pattern = [0x00, 0xFF, 0x80, 0x7F, 0x55, 0xAA, 0x01, 0xFE, 0x12, 0xED]
    host.write_reg(SRAM + 0x20, *pattern)
    assert host.read(SRAM + 0x20, len(pattern)) == pattern
    host.write_reg(SRAM + 0x21, 0x3C)
    assert host.read(SRAM + 0x20, 3) == [0x00, 0x3C, 0x80]


def test_divider_far_off_misframes() -> None:
    host = halted_host(921_600)
    for div, kind in ((35, "too fast"), (104, "too slow"), (5, "reset value")):
        host.write_reg(0x00B2, div)
        answers = host.read_raw(0x007E, 2)
        assert [decode_answer(a) for a in answers] != [0x62, 0x55], kind
    # ... and back at the centre everything reads again.
    host.write_reg(0x00B2, divider_for(921_600))
    assert host.read(0x007E, 2) == [0x62, 0x55]


def test_reset_divider_gives_wrong_character_count() -> None:
    host = Host(Bench(BenchConfig()))
    host.sleep(0.002)
    host.write_reg(0x0602, 0x05)
    answers = host.read_raw(0x007E, 1)  # clk_div still 5: the answer is far too fast
    assert len(answers[0]) != 9


def scan(host: Host, baud: int) -> list[int]:
    """The dividers in the proven scan range that read themselves back."""
    lo, hi = divider_for(baud, 16e6), min(0x7F, divider_for(baud, 48e6))
    good = []
    for div in range(lo, hi + 1):
        host.write_reg(0x00B2, div)
        if host.read(0x00B2) == [div]:
            good.append(div)
    return good


@pytest.mark.parametrize(
    ("baud", "fclk_hz"),
    [(921_600, 24.5e6), (460_800, 24.5e6), (3_000_000, 24.5e6), (921_600, 31e6)],
)
def test_divider_scan_finds_one_window_around_the_centre(baud: int, fclk_hz: float) -> None:
    host = halted_host(baud, fclk_hz)
    good = scan(host, baud)
    centre = divider_for(baud, fclk_hz)
    assert good, "no divider works"
    assert good == list(range(good[0], good[-1] + 1)), f"window not contiguous: {good}"
    assert good[0] <= centre <= good[-1]
    assert good[0] > divider_for(baud, 16e6), "the lowest divider of the scan cannot work"
    if divider_for(baud, 48e6) <= 0x7F:
        assert good[-1] < divider_for(baud, 48e6)


def test_window_follows_the_chip_clock() -> None:
    slow = scan(halted_host(921_600, 24.5e6), 921_600)
    fast = scan(halted_host(921_600, 31e6), 921_600)
    assert divider_for(921_600, 31e6) not in slow
    assert divider_for(921_600, 24.5e6) not in fast


@pytest.mark.parametrize("source", SOURCES)
def test_fifo_mode_writes_every_byte_to_one_address(source: str) -> None:
    f = frames(source)
    host = halted_host()
    host.send(f["sram_write_4"])  # FIFO off: DE AD BE EF at 0x840000..3
    assert host.read(SRAM, 4) == [0xDE, 0xAD, 0xBE, 0xEF]

    host.write_reg(SRAM + 0x10, 0, 0, 0, 0)
    host.send(f["fifo_on"])
    host.write_reg(SRAM + 0x10, 0x11, 0x22, 0x33, 0x44)
    host.send(f["fifo_off"])
    assert host.read(SRAM + 0x10, 4) == [0x44, 0, 0, 0]


def test_fifo_mode_also_applies_to_reads() -> None:
    host = halted_host()
    host.write_reg(SRAM + 0x40, 0xA1, 0xB2, 0xC3)
    host.write_reg(0x00B3, 0x80)
    assert host.read(SRAM + 0x40, 3) == [0xA1, 0xA1, 0xA1]
    host.write_reg(0x00B3, 0x00)
    assert host.read(SRAM + 0x40, 3) == [0xA1, 0xB2, 0xC3]


def test_read_transaction_echo_and_answer_shape() -> None:
    host = halted_host()
    head = read_head(0x007E)
    assert host.send(head) == head
    answer = host.xfer(REQUEST, None, timeout_s=0.003)
    assert len(answer) == 9 and answer[8] == 0xFE
    # The host's own 0xFE merges with the first data cell: no separate echo of it.
    assert decode_answer(answer) == 0x62
    assert host.send(END) == END


def test_wrong_slave_id_is_not_answered() -> None:
    host = halted_host()
    host.write_reg(SRAM, 0x5A)
    host.write_reg(0x00B3, 0x05)  # slave id 5: RW_ID 0x00/0x80 no longer addresses us
    host.write_reg(SRAM, 0x00)  # ignored
    answers = host.read_raw(SRAM, 1)
    assert answers == [bytes([0xFE])]  # only the echo of the request
