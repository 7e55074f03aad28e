"""Reads through every adapter the bench can be: the learned codebook gives the flash's
exact bytes, pipelined at (close to) the line rate where the answers allow it."""

from __future__ import annotations

import pytest

import swsflash
from swsflash.adapters import adapter_note, no_echo_hint
from swsflash.api import ConnectOptions
from swsflash.bench.scenarios import factory_flash

FLASH = factory_flash("ZB25WD40B")
CHAR_S = 10 / 921600


@pytest.mark.parametrize(
    "query",
    [
        "answer_delay=10",  # the captures' fit, the default
        "answer_delay=2&fclk_mhz=26.4",
        "answer_delay=12&fclk_mhz=23",
        "answer_delay=2&fclk_mhz=23",  # the one divider that suits sits below the middle
        "adapter=pl2303",
        "adapter=cp2102&answer_delay=12",  # the lone fit's sample phase is wrong there
    ],
)
def test_pipelined_read_is_exact_and_near_the_line_rate(query: str) -> None:
    with swsflash.connect(f"sim://?{query}", ConnectOptions(baud=921600)) as dev:
        assert dev.clock_info is not None and dev.clock_info.slot_chars == 10
        start = dev.clock.now()
        data = dev.read(0x1000, 4096)
        took = dev.clock.now() - start
    assert data == FLASH[0x1000:0x2000]
    assert took < 1.1 * 4096 * 10 * CHAR_S  # ten characters per byte, plus the commands


@pytest.mark.parametrize("adapter", ["cp2102", "ft232"])
def test_restart_receivers_read_exactly(adapter: str) -> None:
    # their first answer character of a byte >= 0x80 carries a framing error (FE §1)
    with swsflash.connect(f"sim://?adapter={adapter}", ConnectOptions(baud=921600)) as dev:
        assert dev.clock_info is not None and dev.clock_info.slot_chars is not None
        assert dev.read(0x7F000, 512) == FLASH[0x7F000:0x7F200]


@pytest.mark.parametrize("fclk", [23.0, 26.4])
def test_chip_clock_comes_from_the_fit(fclk: float) -> None:
    url = f"sim://?fclk_mhz={fclk}&answer_delay=10"
    with swsflash.connect(url, ConnectOptions(baud=921600)) as dev:
        assert dev.clock_info is not None
        assert abs(dev.clock_info.fclk_mhz - fclk) <= 0.3


@pytest.mark.parametrize(
    ("query", "baud"),
    [
        ("", 3_000_000),
        ("drive=open-drain", 921600),
        ("drive=open-drain&answer_delay=12", 460800),
        ("adapter=pl2303&drive=open-drain&fclk_mhz=26.4&answer_delay=2", 460800),
    ],
)
def test_without_a_pipeline_lone_reads_are_exact(query: str, baud: int) -> None:
    # 3 Mbaud: the fixed-mask decoder found no divider at all here. Open drain: the fillers'
    # lows show through the answer. Lone requests decoded with the learned codebook. At
    # 460800 the guesses disagree on the lone answers' look; they are read off the line at
    # the divider whose cells fill a character each (the window's middle merged them).
    with swsflash.connect(f"sim://?{query}", ConnectOptions(baud=baud)) as dev:
        dev.link.pipelined = False
        assert dev.read(0x55000, 64) == FLASH[0x55000:0x55040]


def test_adapters_are_named_with_the_fix() -> None:
    hint = no_echo_hint((0x1A86, 0x7523))
    assert "CH340" in hint and "LED" in hint and "another adapter" in hint
    assert "an adapter with an LED" in no_echo_hint(None)
    assert "FT232R" in adapter_note((0x0403, 0x6001)) and "CH340" in adapter_note((0x0403, 0x6001))
    assert adapter_note((0x1A86, 0x7523)) == "" and adapter_note(None) == ""


def test_without_a_pipeline_the_warning_gives_the_measured_cost_and_the_way_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # FT232 at 3 Mbaud, 24.5 MHz: no divider suits a slot (each step moves the answer's end
    # by ~5 bit-times), and every lone request waits for the 16 ms latency timer.
    url, options = "sim://?adapter=ft232", ConnectOptions(baud=3_000_000)
    with caplog.at_level("WARNING", logger="swsflash.clock"), swsflash.connect(url, options) as dev:
        assert dev.clock_info is not None and dev.clock_info.slot_chars is None
    (warning,) = [r.getMessage() for r in caplog.records if "pipelined" in r.getMessage()]
    per_kb = float(warning.split("about ")[1].split(" s per KB")[0])
    assert 16 < per_kb < 20  # 1024 x (16 ms + the answer), measured, not assumed
    assert "--baud 921600" in warning
