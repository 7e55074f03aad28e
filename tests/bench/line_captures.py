"""The two raw line captures of field-evidence §1, the parameter set fitted to each, and the
proven COM flasher's way of producing a row, driven on the bench at the line level.

A row is what the adapter's RX returned for one read of one byte: the host's 0xFE request
(its echo merged with the answer's first cell) and the answer's characters. The flasher
reads up to 9 characters with a timeout, so:

* a row of fewer than 9 characters is everything that arrived: the bench must give
  exactly that row;
* a row of 9 may have been cut short: the bench must start with it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from swire_bytes import END, REQUEST, Host, read_head

from swsflash.bench.bench import Bench
from swsflash.bench.sim_port import parse_url

# The proven decoder asks for 9 characters per byte.
ROW_LIMIT = 9

# A: pvvx/BZdevice #5, TLSR8250, Linux, "probably CP2102"; register 0x00B2 read back right
# after writing the divider, so the value read equals the divider.
CAPTURE_A: dict[int, bytes] = {
    div: bytes.fromhex(row)
    for div, row in {
        0x23: "e6 1f fa df 10 fa",
        0x24: "e6 1f fa 1f fa df",
        0x25: "e6 1f f2 1f f2 90",
        0x26: "e6 3f f4 3f 04 bf",
        0x27: "e6 3f e4 3f 04 a0",
        0x28: "e6 3f ec a0 bf ff",
        0x29: "e6 3f ec 20 3f ec",
        0x2A: "e6 3e c8 20 20 ff",
        0x2B: "e6 7e d8 60 60 d8",
        0x2C: "e6 7e 98 60 d8 7e",
        0x2D: "e6 7e 90 60 90 60",
        0x2E: "e6 7e b0 60 30 c8 fe",
        0x2F: "e6 7e 30 40 30 18 e4",
        0x30: "e6 7e 20 90 7e 3f fe",
        0x31: "e6 fe 60 b0 fe 7f b0",
        0x32: "e6 fe 60 20 fe 60 fe",
        0x33: "e6 fe 40 60 fe 40 60",
        0x34: "e6 fe c0 40 7f 60 fe ff",
        0x35: "e6 fe c0 c0 ff 40 7f 60",
        0x36: "e6 fe 80 c0 fe c0 c0 fe ff",
        0x37: "e6 fe 80 80 fe 80 80 80 fe",
    }.items()
}

# B: pvvx/TlsrComSwireWriter #13, TLSR8250, FT232, Windows, 1.2 kOhm series resistor.
CAPTURE_B_DIVIDER = bytes.fromhex("e6 3f f6 bf 30 f6")  # 0x00B2 read at divider 0x23
# A flash data read at divider 0x34: only 0xFF (erased flash) gives this row.
CAPTURE_B_FLASH = bytes.fromhex("06 0c 0c 0c 18 18 18 30 30")
CAPTURE_B_FLASH_DIVIDER = 0x34
CAPTURE_B_FLASH_ADDR = 0x0000C4


@dataclass(frozen=True)
class Fit:
    """One documented parameter set, as the ``sim://`` URL that selects it."""

    name: str
    url: str


# Both fits share the chip's side (answer 10 clocks after "high outlasted low", open drain
# with the line back up 30 ns after a release, end pulse 4 clocks short of a unit) and the
# receiver (restart after a framing error, sampling at 0.46 of a bit). They differ in the
# chip clock (each unit's own RC oscillator) and the adapter preset.
FIT_A = Fit(
    "capture A (CP2102)",
    "sim://?adapter=cp2102&fclk_mhz=26.44&answer_delay=10&drive=open-drain&rise_ns=30"
    "&end_trim=4&receiver=restart&sample_phase=0.46",
)
FIT_B = Fit(
    "capture B (FT232)",
    "sim://?adapter=ft232&fclk_mhz=24.5&answer_delay=10&drive=open-drain&rise_ns=30"
    "&end_trim=4&receiver=restart&sample_phase=0.46",
)


def flasher_host(url: str, flash: bytes | None = None, baud: int = 921_600) -> Host:
    """A unit behind the adapter of ``url``, its CPU halted and watchdog off, as the proven
    flasher leaves it before it scans the divider."""
    config, _ = parse_url(url)
    host = Host(Bench(replace(config, baud=baud), flash))
    host.sleep(0.002)
    host.write_reg(0x0602, 0x05)
    host.write_reg(0x0622, 0x00)
    return host


def read_row(host: Host, addr: int) -> bytes:
    """One byte read as the proven flasher does it: START, address, RW_ID 0x80 (echo
    awaited), one 0xFE, then whatever RX returns before the timeout (the adapter's IN
    latency and 3 ms); END closes it."""
    timeout_s = host.bench.config.adapter.in_latency_us / 1e6 + 0.003
    head = read_head(addr)
    assert host.xfer(head, len(head)) == head
    row = host.xfer(REQUEST, None, timeout_s=timeout_s)
    host.xfer(END, None, timeout_s=timeout_s)
    return row


def divider_row(host: Host, div: int) -> bytes:
    """Write the divider to 0x00B2, then read 0x00B2 back: the row of one scan step."""
    host.write_reg(0x00B2, div)
    return read_row(host, 0x00B2)


def flash_row(host: Host, addr: int) -> bytes:
    """The first byte of a flash read at ``addr`` (CS low, 03 + address + dummy in FIFO
    mode, auto-read, read 0x000C)."""
    host.write_reg(0x00B3, 0x80)
    host.write_reg(0x000D, 0x00)
    host.write_reg(0x000C, 0x03, (addr >> 16) & 0xFF, (addr >> 8) & 0xFF, addr & 0xFF, 0x00)
    host.write_reg(0x000D, 0x0A)
    row = read_row(host, 0x000C)
    host.write_reg(0x000D, 0x01)
    host.write_reg(0x00B3, 0x00)
    return row


def matches(captured: bytes, got: bytes) -> bool:
    """The row as the flasher saw it: the same prefix, and no more characters when the
    captured row is shorter than the flasher's limit."""
    if len(captured) < ROW_LIMIT:
        return got == captured
    return got[: len(captured)] == captured


def matching_chars(captured: bytes, got: bytes) -> int:
    return sum(a == b for a, b in zip(captured, got, strict=False))
