"""The host's SWire encoding against the shared byte vectors, and its answer decoding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swsflash.errors import ChipNotAnswering
from swsflash.link import (
    END,
    READ_REQUEST,
    START,
    AnswerError,
    NoAnswer,
    decode_answer,
    encode_word,
    read_header,
    write_frame,
)

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "swire-frames.json"

# What each named vector is, in terms of our own API.
OURS = {
    "start_word": START,
    "end_word": END,
    "halt_cpu": write_frame(0x0602, b"\x05"),
    "run_cpu": write_frame(0x0602, b"\x88"),
    "soft_reset": write_frame(0x006F, b"\x20"),
    "watchdog_off": write_frame(0x0622, b"\x00"),
    "set_div_52": write_frame(0x00B2, b"\x34"),
    "fifo_on": write_frame(0x00B3, b"\x80"),
    "fifo_off": write_frame(0x00B3, b"\x00"),
    "spi_cs_low": write_frame(0x000D, b"\x00"),
    "spi_cs_high": write_frame(0x000D, b"\x01"),
    "spi_auto_read": write_frame(0x000D, b"\x0a"),
    "flash_wren": write_frame(0x000C, b"\x06"),
    "flash_read_cmd_0x1000": write_frame(0x000C, bytes([0x03, 0x00, 0x10, 0x00, 0x00])),
    "sram_write_4": write_frame(0x840000, bytes.fromhex("deadbeef")),
    "read_head_div": read_header(0x00B2),
    "read_head_chip_id": read_header(0x007E),
    "read_start_pulse": READ_REQUEST,
}


def _vectors() -> list[tuple[str, bytes]]:
    if not VECTORS.is_file():
        return []
    cases = json.loads(VECTORS.read_text())["cases"]
    return [(c["name"], bytes.fromhex(c["uart_hex"])) for c in cases]


@pytest.mark.skipif(not VECTORS.is_file(), reason="../shared/vectors not present")
@pytest.mark.parametrize(("name", "expected"), _vectors())
def test_frames_match_shared_vectors(name: str, expected: bytes) -> None:
    assert OURS[name] == expected


def test_start_word_as_the_reference_spells_it() -> None:
    # reference section 3: START word (cmd=1, 0x5A)
    assert START == bytes.fromhex("80fe80fe8080fe80fefe")


def test_every_word_is_ten_cells_with_a_zero_end_cell() -> None:
    for value in range(256):
        word = encode_word(value)
        assert len(word) == 10 and word[0] == 0xFE and word[-1] == 0xFE
        bits = [1 if c == 0x80 else 0 for c in word[1:9]]
        assert int("".join(map(str, bits)), 2) == value


def _cells(value: int) -> bytes:
    """Nine clean answer characters for a byte, as a chip with a well-chosen divider gives."""
    chars = [0x00 if (value >> i) & 1 else 0xFE for i in range(7, -1, -1)]
    chars[0] = 0x06 if value & 0x80 else 0xE6  # merged with the request's echo
    return bytes([*chars, 0xFE])


@pytest.mark.parametrize("value", [0x00, 0xFF, 0x55, 0xAA, 0x62, 0x80, 0x01])
def test_decode_answer(value: int) -> None:
    assert decode_answer(_cells(value)) == value


def test_decode_rejects_only_an_echo_as_no_answer() -> None:
    with pytest.raises(NoAnswer):
        decode_answer(b"\xfe")


@pytest.mark.parametrize(
    "chars",
    [b"\xe6\x00\x00", bytes.fromhex("e60000fefe38fe00fe"), bytes.fromhex("e60000fefefe00fe01")],
)
def test_decode_rejects_malformed_answers(chars: bytes) -> None:
    with pytest.raises(AnswerError):
        decode_answer(chars)
    assert issubclass(AnswerError, ChipNotAnswering)
