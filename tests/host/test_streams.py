"""Long streams against small OS buffers, and the SRAM scratch on the smallest chip."""

from __future__ import annotations

import logging

import pytest

import swsflash
from swsflash.api import ConnectOptions
from swsflash.link import Pacing

# A blocking write returns once the rest fits a 4 KB transmit buffer, and characters that
# arrive while the 4 KB receive buffer is full are lost: a host that wrote a whole 4 KB
# read (~41,000 characters) before reading would lose most of its answer.
SMALL_BUFFERS = "tx_buffer=4096&rx_buffer=4096"


def test_a_4kb_read_survives_4kb_os_buffers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="swsflash.link")
    with swsflash.connect(f"sim://?{SMALL_BUFFERS}") as dev:
        assert dev.link.pacing is Pacing.STREAM and dev.link.pipelined
        expected = bytes(dev.transport.port.bench.flash.data[0x1000:0x5000])
        start = dev.clock.now()
        assert dev.read(0x1000, 0x4000) == expected
        seconds = dev.clock.now() - start
    assert "reading byte by byte" not in caplog.text  # no fall-back to one round trip a byte
    assert seconds < 1.1 * 0x4000 * 100 / 921_600  # within 10 % of the line's floor


def test_small_buffers_do_lose_an_unbounded_stream() -> None:
    """The bench option is not a no-op: a transport that writes a whole read at once (its
    bound lifted) loses the answer and needs the slow byte-by-byte fallback."""
    with swsflash.connect(f"sim://?{SMALL_BUFFERS}") as dev:
        dev.transport.max_ahead = 1 << 20
        expected = bytes(dev.transport.port.bench.flash.data[0x1000:0x2000])
        start = dev.clock.now()
        assert dev.read(0x1000, 0x1000) == expected
        seconds = dev.clock.now() - start
    assert seconds > 3 * 0x1000 * 100 / 921_600


def test_tlsr8251_keeps_streaming_with_its_32kb_sram() -> None:
    """The adapter check writes a scratch pattern to SRAM: at an address the 8251 lacks,
    it would read back wrong and the host would fall back to slow, safe pacing."""
    with swsflash.connect("sim://?chip=8251", ConnectOptions()) as dev:
        assert dev.link.pacing is Pacing.STREAM
        assert dev.link.pipelined
