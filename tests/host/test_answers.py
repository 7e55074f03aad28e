"""The host's model of a read slot on RX, checked against real captures, and the learned
strict decoder: it decodes exactly or refuses, never returns a wrong byte."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swsflash.answers import (
    ChipGuess,
    Codebook,
    Drive,
    Fit,
    GarbledAnswer,
    Hypothesis,
    Observation,
    Receiver,
    Space,
    burst_rx,
    codebook,
    derive_codebook,
    learn,
    slot_fits,
    slot_independent,
)
from swsflash.answers.learn import learn_wide

BAUD = 921600

# Field evidence §1 A: reads of 0x00B2 (value = divider) at 921,600 baud, probably CP2102.
CAPTURE_A = {
    0x23: "e6 1f fa df 10 fa", 0x24: "e6 1f fa 1f fa df", 0x25: "e6 1f f2 1f f2 90",
    0x26: "e6 3f f4 3f 04 bf", 0x27: "e6 3f e4 3f 04 a0", 0x28: "e6 3f ec a0 bf ff",
    0x29: "e6 3f ec 20 3f ec", 0x2A: "e6 3e c8 20 20 ff", 0x2B: "e6 7e d8 60 60 d8",
    0x2C: "e6 7e 98 60 d8 7e", 0x2D: "e6 7e 90 60 90 60", 0x2E: "e6 7e b0 60 30 c8 fe",
    0x2F: "e6 7e 30 40 30 18 e4", 0x30: "e6 7e 20 90 7e 3f fe", 0x31: "e6 fe 60 b0 fe 7f b0",
    0x32: "e6 fe 60 20 fe 60 fe", 0x33: "e6 fe 40 60 fe 40 60",
    0x34: "e6 fe c0 40 7f 60 fe ff", 0x35: "e6 fe c0 c0 ff 40 7f 60",
    0x36: "e6 fe 80 c0 fe c0 c0 fe ff", 0x37: "e6 fe 80 80 fe 80 80 80 fe",
}  # fmt: skip


def chip(fclk: float, delay_clocks: float, receiver: Receiver, phase: float, baud: int = BAUD):
    """A divider -> Hypothesis map for one chip and adapter (unit = divider clocks)."""
    return lambda d, drive=Drive.PUSH_PULL: Hypothesis(
        4 + delay_clocks * baud / fclk, d * baud / fclk, receiver, phase, drive
    )


def matched(row: bytes, rx: bytes) -> int:
    return sum(a == b for a, b in zip(row, rx, strict=False))


def capture_a_score(receiver: Receiver) -> int:
    at = chip(26.3e6, 11, receiver, 0.5)
    return sum(matched(bytes.fromhex(r), burst_rx(at(d), [d], None)) for d, r in CAPTURE_A.items())


def test_capture_a_reproduced_by_a_restart_receiver() -> None:
    # 142 characters in all; the fitted parameter set: 26.3 MHz, 11 clocks, phase 0.5.
    assert capture_a_score(Receiver.RESTART) >= 136
    assert capture_a_score(Receiver.WAIT_HIGH) < 100


def test_capture_b_reproduced() -> None:
    # Field evidence §1 B (FT232): 0x00B2 at divider 0x23, then a blank flash byte at 0x34.
    at = chip(24.4e6, 10, Receiver.RESTART, 0.5)
    assert burst_rx(at(0x23), [0x23], None) == bytes.fromhex("e63ff6bf30f6")
    assert burst_rx(at(0x34), [0xFF], None) == bytes.fromhex("060c0c0c1818183030")
    wait = chip(24.4e6, 10, Receiver.WAIT_HIGH, 0.5)
    assert burst_rx(wait(0x34), [0xFF], None) != bytes.fromhex("060c0c0c1818183030")


def a_codebook() -> tuple[Hypothesis, int, Codebook]:
    h = chip(24e6, 8, Receiver.RESTART, 0.5)(56)
    chars = math.ceil((h.answer_end + 0.5) / 10)
    book = codebook(h, chars)
    assert book is not None
    return h, chars, book


def test_pipelined_burst_decodes_exactly() -> None:
    h, chars, book = a_codebook()
    data = bytes(random.Random(7).randrange(256) for _ in range(300))
    assert book.decode(burst_rx(h, data, chars), len(data)) == data


def test_a_corrupted_character_is_an_error_naming_the_byte() -> None:
    h, chars, book = a_codebook()
    data = bytes(random.Random(8).randrange(256) for _ in range(40))
    rx = bytearray(burst_rx(h, data, chars))
    pos = sum(len(book.words[v]) for v in data[:20]) + 2  # a character of byte 20
    seen = {w[2] for w in book.words if len(w) > 2}
    rx[pos] = next(c for c in range(256) if c not in seen)
    with pytest.raises(GarbledAnswer, match="byte 20 of 40"):
        book.decode(bytes(rx), len(data))
    whole = burst_rx(h, data, chars)
    with pytest.raises(GarbledAnswer, match="ended after 39 of 40"):
        book.decode(whole[: -len(book.words[data[-1]])], len(data))
    with pytest.raises(GarbledAnswer, match="is no byte's answer"):
        book.decode(whole[:-3], len(data))


def test_ambiguous_codebooks_are_recognised() -> None:
    def book(*words: bytes) -> Codebook:
        return Codebook(None, words)

    assert not book(b"a", b"a").unambiguous  # two values look alike
    assert book(b"a", b"ab").unambiguous  # not prefix-free, still splits one way only
    assert not book(b"a", b"ab", b"b").unambiguous  # "ab" = "a"+"b"
    assert book(b"a", b"ab").decode(b"aab", 2) == bytes([0, 1])


def test_slot_length_grows_with_the_answer_delay() -> None:
    unit = 2.15  # divider / Fclk in bit-times: a 10-character slot at short delays
    slots = []
    for delay in [x * 0.25 for x in range(0, 41)]:
        h = Hypothesis(4 + delay, unit, Receiver.RESTART, 0.5)
        slots.append(math.ceil((h.answer_end + 0.5) / 10))
    assert slots == sorted(slots) and slots[0] == 10 and slots[-1] >= 11
    # A slot whose last filler's low would fall after the chip lets go is refused.
    assert not slot_fits(Hypothesis(4.4, 2.33, Receiver.RESTART, 0.5), 10)
    assert not slot_fits(Hypothesis(4.4, 2.33, Receiver.RESTART, 0.5), 11)
    fit = Fit((), (), (0.0, 0.0))
    assert fit.slot_chars(56) == {}  # nothing learned, nothing offered


def test_a_slot_suits_only_if_the_receiver_hunts_again_before_the_next_request() -> None:
    """An answer ending late enough to cover the last filler can still end too late for the
    receiver: it is framing the end unit when the next request falls, misses that start
    bit, and the next slot's characters depend on this one's. Only one divider suits."""
    clock = 921_600 / 23e6  # one system clock in T
    suits = []
    for divider in range(50, 58):
        h = Hypothesis(4.08, divider * clock, Receiver.WAIT_HIGH, 0.5)
        if slot_fits(h, 10) and slot_independent(h, 10):
            suits.append(divider)
    assert suits == [53]
    late = Hypothesis(4.08, 54 * clock, Receiver.WAIT_HIGH, 0.5)
    assert slot_fits(late, 10) and not slot_independent(late, 10)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fclk=st.floats(22e6, 28e6),
    delay=st.floats(2, 12),
    receiver=st.sampled_from(list(Receiver)),
    phase=st.floats(0.4, 0.6),
    drive=st.sampled_from(list(Drive)),
    baud=st.sampled_from([921600, 2000000]),
    seed=st.integers(0, 2**16),
)
def test_learning_decodes_exactly_or_refuses(
    fclk: float, delay: float, receiver: Receiver, phase: float, drive: Drive, baud: int, seed: int
) -> None:
    truth = chip(fclk, delay, receiver, phase, baud)
    centre = round(2 * fclk / baud)
    fit: Space | Fit = Space.for_baud(baud)
    for d in range(centre - 2, centre + 3):  # what the divider scan reads: div, chip id
        obs = [
            Observation(bytes([v]), burst_rx(truth(d, drive), [v], None)) for v in (d, 0x62, 0x55)
        ]
        fit = learn({d: obs}, fit) or fit
    if not isinstance(fit, Fit):
        return  # refused: nothing reproduces the observations
    pattern = bytes(range(256))
    data = bytes(random.Random(seed).randrange(256) for _ in range(200))
    for d in range(centre - 2, centre + 10):
        for chars in [n for n in fit.slot_chars(d) if n >= 10][:1]:
            seen = Observation(pattern, burst_rx(truth(d, drive), pattern, chars), chars)
            piped = learn({d: [seen]}, fit)
            book = piped.codebook(d, chars) if piped else None
            if book is None:
                continue
            try:
                got = book.decode(burst_rx(truth(d, drive), data, chars), len(data))
            except GarbledAnswer:
                return  # refused
            assert got == data
            return


def test_a_fit_settled_on_the_wrong_sample_phase_is_relearned_from_one_pattern_read() -> None:
    """Lone answers cannot pin the sample phase: a fit can settle on phase 0.5 with a clock
    0.5 % off that makes up for it (what the CP2102 preset's restart receiver at phase
    0.46 gave). It cannot split a pipelined read; learning afresh around it can."""
    clock = 921_600 / 24.5e6
    truth = ChipGuess(clock, 4 + 10 * clock, Receiver.RESTART, 0.46, Drive.PUSH_PULL)
    wrong = ChipGuess(clock * 1.0047, 4.40, Receiver.RESTART, 0.5, Drive.PUSH_PULL)
    fit = Fit((wrong,), (), (1e-5, 0.003))
    pattern = bytes(range(256))
    other = bytes((i * 167 + 89) % 256 for i in range(256))
    rx = burst_rx(truth.at(57), pattern, 10)
    assert derive_codebook(fit, 57, 10, pattern, rx) is None
    wide = learn_wide(57, Observation(pattern, rx, 10), fit)
    assert wide is not None
    book = derive_codebook(wide, 57, 10, pattern, rx)
    assert book is not None
    assert book.decode(burst_rx(truth.at(57), other, 10), 256) == other
