"""Finding the SWire clock: the divider, the pipelined slot length and what answers look like.

The chip's SWire slave samples our cells with its own clock divided by REG_SWIRE_DIV; which
dividers work, and how its answers look on this adapter's receiver, is learned here from the
line (answers.learn), then the divider and the pipelined read shape are chosen.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .adapters import adapter_note
from .answers import (
    Codebook,
    Fit,
    Observation,
    Space,
    choose_pipeline,
    derive_codebook,
    slot_fits,
)
from .answers.learn import learn_cached, learn_wide_cached, predicted_lengths
from .errors import ChipNotAnswering, SilentChip, WiringError
from .halt_stream import REG_CHIP_ID
from .link import END, SwireLink, read_header, write_frame

log = logging.getLogger("swsflash.clock")

REG_SWIRE_DIV = 0x00B2
TLSR825X_ID = 0x5562
CHIP_ID_BYTES = TLSR825X_ID.to_bytes(2, "little")
# The top 512 bytes of the smallest part's SRAM (TLSR8251: 32 KB from 0x840000), so that it
# exists on every variant; only used while the CPU is halted.
SCRATCH_SRAM = 0x847E00
# Every byte value once, for learning the codebook, and again in another order (odd step: a
# permutation), for checking that a slot does not depend on the one before it.
PATTERN_A = bytes(range(256))
PATTERN_B = bytes((i * 167 + 89) % 256 for i in range(256))
MIN_SLOT_CHARS = 10  # a slot shorter than a word would not leave the answer a cell to spare
MAX_SLOT_CHARS = 13
MARGIN_STEPS = 2  # dividers tried either side of the first that pipelines (each try: 2 reads)
SURE_SLOT_CHARS = 8  # RX characters an answer of eight cells gives at the least (assumption)


@dataclass(frozen=True)
class ClockInfo:
    divider: int
    window: tuple[int, int]  # lowest and highest divider that read back correctly
    fclk_mhz: float  # the chip's system clock as the learned fit sees it
    pipeline_window: tuple[int, int] | None  # dividers that suit pipelined reads
    slot_chars: int | None = None  # TX characters per pipelined byte; None: lone requests


class SwireChip(Protocol):
    """What the clock search needs of the chip: its link, FIFO state and resync."""

    link: SwireLink
    fit: Fit | None
    clock: ClockInfo | None

    def fifo_frame(self, on: bool) -> bytes: ...

    def resync(self) -> None: ...


class ClockFinder:
    """One search for the clock; sets the chip's ``fit`` and ``clock`` as it learns them."""

    def __init__(self, chip: SwireChip) -> None:
        self.chip = chip
        self.link = chip.link
        self._answered = False  # did any divider get an answer, even a garbled one?
        self._window: tuple[int, int] | None = None
        self._learn_budget = 0  # slow learning from a pipelined read: how many more tries

    def find(self) -> ClockInfo:
        """Scan the divider range, learning from each divider's answers what reads look
        like on this adapter, then choose the divider and the pipelined slot length.

        The lowest working divider sits at the edge of the tolerance window, where long runs
        of 1 bits misframe; the centre has margin on both sides.
        """
        link = self.link
        baud = link.baud
        lo = max(1, round(2 * 16e6 / baud))
        hi = min(0x7F, round(2 * 48e6 / baud))
        link.pipe = link.lone = None
        link.use_pipeline = True
        fit, fitted = self._scan(lo, hi)
        if not self._answered:
            raise _silent_chip()
        window = self._lone_window(fit, fitted) if fit is not None else None
        if fit is None or window is None:
            link.write(REG_SWIRE_DIV, bytes([0x05]))
            raise ChipNotAnswering(
                f"no SWire clock divider between {lo} and {hi} gives a clean answer at {baud} baud",
                "the chip answers but not in step: try a lower --baud (e.g. 460800), check "
                "the 1 kOhm resistor, or the chip fell asleep: use --reset or --power-window"
                + self._adapter_note(),
            )
        self.chip.fit = fit
        self._window = window
        piped = self._choose_pipeline(fit, lo, hi)
        fclk = fit.fclk_hz(baud)
        info = self._set_divider(fit, window, piped, fclk)
        self.chip.clock = info
        log.info(
            "SWire divider %d (window %d..%d, pipelined %s, %s characters per byte), "
            "chip clock ~%.1f MHz",
            info.divider,
            *window,
            info.pipeline_window,
            info.slot_chars or "lone",
            fclk / 1e6,
        )
        if piped is None:
            self._warn_stepwise(baud)
        return info

    def _scan(self, lo: int, hi: int) -> tuple[Fit | None, list[int]]:
        """Probe the dividers from ``lo`` up, refining the fit at each that answers; stop
        early on a silent chip or once past every divider a pipelined slot could use."""
        baud = self.link.baud
        self._answered = False
        fit: Fit | None = None
        fitted: list[int] = []
        for div in range(lo, hi + 1):
            obs = self._probe(div)
            if obs is None:
                if not self._answered and div - lo >= 2:
                    break  # a live chip answers something at any divider; this one is silent
                continue
            self._answered = True
            new = learn_cached(div, tuple(obs), fit or Space.for_baud(baud))
            if new is not None:
                fit = new
                fitted.append(div)
                if len(fitted) >= 6 and div > _scan_limit(fit):
                    break  # past every divider a pipelined slot could use
        return fit, fitted

    def _set_divider(
        self,
        fit: Fit,
        window: tuple[int, int],
        piped: tuple[int, int, tuple[int, int]] | None,
        fclk: float,
    ) -> ClockInfo:
        """Put the chosen divider on the chip and give the link its lone-request codebook;
        without one and without pipelining the answers cannot be read at all."""
        link = self.link
        baud = link.baud
        if piped is not None:
            div, chars, run = piped
            info = ClockInfo(div, window, round(fclk / 1e6, 1), run, chars)
            link.write(REG_SWIRE_DIV, bytes([div]))
            book = fit.codebook(div, None)
            link.lone = book if book is not None and book.prefix_free else None
            if link.lone is None:
                link.lone = self._lone_from_pattern(div)
            return info
        lone = self._lone_divider(fit, window)
        if lone is None:
            # The guesses disagree on what lone answers look like: read them off the line,
            # nearest first to the divider whose cells each fill one character.
            for d in _lone_order(fit, window, baud)[:3]:
                link.write(REG_SWIRE_DIV, bytes([d]))
                if (book := self._lone_from_pattern(d)) is not None:
                    lone = d, book
                    break
        if lone is None:
            raise ChipNotAnswering(
                f"the chip's answers at {baud} baud cannot be told apart reliably",
                f"try --baud {921600 if baud != 921600 else 460800}" + self._adapter_note(),
            )
        link.write(REG_SWIRE_DIV, bytes([lone[0]]))
        link.lone = lone[1]
        return ClockInfo(lone[0], window, round(fclk / 1e6, 1), None, None)

    def _probe(self, div: int) -> list[Observation] | None:
        """Set the divider and read the divider itself and the chip id with lone requests;
        None when nothing but our own echo comes back (a silent chip)."""
        link = self.link
        try:
            link.write(REG_SWIRE_DIV, bytes([div]))
            link.send(read_header(REG_SWIRE_DIV))
            obs = [Observation(bytes([div]), link.lone_raw())]
            if len(obs[0].rx) <= 1:
                link.send(END)
                return None  # only our echo: no use asking for the chip id too
            # lone_raw waited for a quiet line: END and the next header echo exactly
            link.send(END + read_header(REG_CHIP_ID))
            obs += [Observation(bytes([v]), link.lone_raw()) for v in CHIP_ID_BYTES]
            link.send(END)
        except WiringError:
            link.drain_input()
            self.chip.resync()
            return None
        return obs

    def _lone_window(self, fit: Fit, fitted: list[int]) -> tuple[int, int] | None:
        """The run of dividers around the fitted centre whose lone answers the fit
        reproduces (codebooks are built only where one is needed: they cost CPU)."""
        if not fitted:
            return None
        centre = round(2 * fit.fclk_hz(self.link.baud) / self.link.baud)
        start = min(fitted, key=lambda d: abs(d - centre))
        return _run_around(fitted, start)

    def _lone_divider(self, fit: Fit, window: tuple[int, int]) -> tuple[int, Codebook] | None:
        """Of the dividers whose lone codebook all the guesses agree on (and unambiguous),
        the one nearest to answer cells of one character each (see ``_lone_order``)."""
        for d in _lone_order(fit, window, self.link.baud)[:8]:
            book = fit.codebook(d, None)
            if book is not None and book.prefix_free:
                return d, book
        return None

    def _choose_pipeline(
        self, fit: Fit, lo: int, hi: int
    ) -> tuple[int, int, tuple[int, int]] | None:
        """The divider and slot length for pipelined reads: a read of every byte value
        teaches the codebook, a second read of them in another order checks it (a slot
        must not depend on the one before), then the fewest characters per byte. An
        answer's end must fall between the last filler's low and the moment the receiver
        must be hunting again, a window about one divider step wide, so few dividers
        suit each slot length: the likeliest is tried first, then the neighbours that some
        guesses also favour, and the middle of those that work is kept. Sets the link's
        pipeline codebook."""
        link = self.link
        by_chars: dict[int, dict[int, int]] = {}  # slot length -> divider -> votes
        for d in range(lo, hi + 1):
            for n, agree in fit.slot_chars(d).items():
                if MIN_SLOT_CHARS <= n <= MAX_SLOT_CHARS:
                    by_chars.setdefault(n, {})[d] = agree
        if not by_chars:
            return None
        try:
            link.send(
                self.chip.fifo_frame(False) + write_frame(SCRATCH_SRAM, PATTERN_A + PATTERN_B)
            )
        except WiringError:
            self.chip.resync()
            return None
        self._learn_budget = 3
        for chars in sorted(by_chars):
            votes = by_chars[chars]
            books: dict[int, Codebook] = {}
            failed: set[int] = set()
            for d in sorted(votes, key=lambda d: (-votes[d], d)):
                got = self._try_pipeline(fit, d, chars)
                if got is not None:
                    books[d], fit = got  # the guesses that split these slots right
                    break
                failed.add(d)
            if not books:
                continue
            first = next(iter(books))
            for step in (-1, 1):  # margin: does the working run reach a step or two further?
                d = first + step
                while d in votes and d not in failed and abs(d - first) <= MARGIN_STEPS:
                    got = self._try_pipeline(fit, d, chars)
                    if got is None:
                        break
                    books[d], fit = got
                    d += step
            chosen = choose_pipeline({d: chars for d in books})
            if chosen is not None:
                div = chosen[0]
                run = _run_around(sorted(books), div)
                link.pipe = books[div]
                return div, chars, run
        link.pipe = None
        return None

    def _try_pipeline(self, fit: Fit, div: int, chars: int) -> tuple[Codebook, Fit] | None:
        """Read PATTERN_A in this slot shape and take its codebook from the line; when the
        guesses cannot even say where the slots split, learn from the read (slower, but
        it pins what lone requests left open, e.g. the sample phase). Then read
        PATTERN_B with that codebook: it must decode exactly."""
        link = self.link
        book: Codebook | None = None
        try:
            link.write(REG_SWIRE_DIV, bytes([div]))
            rx = link.slots_raw(SCRATCH_SRAM, chars, _predicted_chars(fit, div, chars))
            book = derive_codebook(fit, div, chars, PATTERN_A, rx)
            if book is None and self._learn_budget > 0:
                self._learn_budget -= 1
                # Only the pattern read: the line model is an approximation, and a guess
                # that splits pipelined slots right need not match every lone answer. First
                # close to the fit; then, if the fit itself is off, afresh on a wide grid.
                seen = Observation(PATTERN_A, rx, chars)
                fresh = Fit(fit.guesses, (), fit.steps)
                relearn: tuple[Callable[[], Fit | None], ...] = (
                    lambda: learn_cached(div, (seen,), fresh),
                    lambda: learn_wide_cached(div, seen, fit),
                )
                for attempt in relearn:  # the wide search only if the close one fails
                    learned = attempt()
                    if learned is not None:
                        book = derive_codebook(learned, div, chars, PATTERN_A, rx)
                        if book is not None:
                            fit = learned
                            break
            if book is None:
                return None
            link.pipe = book
            ok = link.read_pipelined(SCRATCH_SRAM + len(PATTERN_A), len(PATTERN_B)) == PATTERN_B
        except (ChipNotAnswering, WiringError):
            link.drain_input()
            self.chip.resync()
            ok = False
        finally:
            link.pipe = None
        return (book, fit) if ok and book is not None else None

    def _lone_from_pattern(self, div: int) -> Codebook | None:
        """The lone-request codebook read off the pattern when the fit alone cannot say."""
        link = self.link
        try:
            link.send(self.chip.fifo_frame(False) + write_frame(SCRATCH_SRAM, PATTERN_A))
            link.send(read_header(SCRATCH_SRAM))
            words = [b""] * 256
            for v in PATTERN_A:
                words[v] = link.lone_raw()
            link.drain_input(quiet=0.0005, limit=0.02)
            link.send(END)
        except WiringError:
            self.chip.resync()
            return None
        book = Codebook(None, tuple(words))
        return book if book.unambiguous and book.prefix_free else None

    def _warn_stepwise(self, baud: int) -> None:
        per_kb = 1024 * self.link.round_trip_s
        log.warning(
            "pipelined reads do not work with this adapter at %d baud (no divider gives "
            "answers that fit a slot and decode unambiguously); reading one byte per round "
            "trip: about %.1f s per KB instead of %.2f s (a 128 KB verify: ~%.0f s). %s%s",
            baud,
            per_kb,
            1024 * 100 / baud,
            128 * per_kb,
            "Try --baud 921600, where pipelining is most likely"
            if baud != 921600
            else "A lower or higher --baud may allow pipelining",
            self._adapter_note(),
        )

    def _adapter_note(self) -> str:
        note = adapter_note(self.link.transport.usb_id)
        return f"; {note}" if note else ""


def _silent_chip() -> SilentChip:
    return SilentChip(
        "our commands come back as a clean echo, but nothing else ever follows",
        "the firmware sleeps or has taken the SWS pin (a bricked unit): run "
        "'swsflash recover', or use --power-window MS and apply power when asked; "
        "--reset rts helps only where RTS is wired to the chip's real reset pin "
        "(on a LYWSD03MMC the pad marked 'Reset' is a GPIO: there only the power "
        "window works)",
    )


def _scan_limit(fit: Fit) -> int:
    """The highest divider at which some guess's answer still fits the longest slot."""
    unit = (MAX_SLOT_CHARS * 10 - 0.5 - max(g.offset for g in fit.guesses)) / 41
    return math.ceil(unit / min(g.clock for g in fit.guesses)) + 1


def _lone_order(fit: Fit, window: tuple[int, int], baud: int) -> list[int]:
    """The window's dividers, nearest first to the one that makes an answer cell 11 T long:
    each cell is then a character of its own, with a bit-time to spare (shorter cells
    merge into fewer characters, and then different bytes can look alike)."""
    clock = baud / fit.fclk_hz(baud)
    nominal = 11 / (5 * clock)
    return sorted(range(window[0], window[1] + 1), key=lambda d: abs(d - nominal))


def _run_around(values: list[int], v: int) -> tuple[int, int]:
    """The run of consecutive values (sorted) that contains ``v``."""
    lo = hi = v
    while lo - 1 in values:
        lo -= 1
    while hi + 1 in values:
        hi += 1
    return lo, hi


def _predicted_chars(fit: Fit, div: int, chars: int) -> list[int]:
    """The RX characters each slot of PATTERN_A gives at the least, as far as the guesses
    and the answer's shape can say."""
    per_guess = [
        lengths
        for g in fit.representatives(16)
        if slot_fits(g.at(div), chars)
        and (lengths := predicted_lengths(g.at(div), PATTERN_A, chars)) is not None
    ]
    if not per_guess:
        return [SURE_SLOT_CHARS] * len(PATTERN_A)
    return [min(SURE_SLOT_CHARS, *ns) for ns in zip(*per_guess, strict=True)]
