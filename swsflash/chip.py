"""The TLSR825x as reached over SWire: halting it, its registers, its clock, its SPI master."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

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
from .answers.learn import learn_cached, predicted_lengths
from .errors import ChipNotAnswering, SilentChip, WiringError
from .halt_stream import (
    HALT_FRAME,
    PROBE,
    PROBE_REQUEST_AT,
    PROBE_UNIT,
    EchoWatch,
    probe_answered,
)
from .link import END, SwireLink, read_header, write_frame
from .settings import POWER_OFF_DEFAULT_S

log = logging.getLogger("swsflash.chip")

REG_SPI_DATA = 0x000C
REG_SPI_CTRL = 0x000D
REG_RESET = 0x006F
REG_CHIP_ID = 0x007E
REG_SWIRE_DIV = 0x00B2
REG_SWIRE_CTL = 0x00B3
REG_CPU = 0x0602
REG_WATCHDOG = 0x0622
REG_PC = 0x06BC

CPU_STOP = 0x05
RESET_MCU = 0x20
SPI_CS_LOW = 0x00
SPI_CS_HIGH = 0x01
SPI_AUTO_READ = 0x0A
FIFO_MODE = 0x80

TLSR825X_ID = 0x5562
KNOWN_IDS = {0x5562: "TLSR825x", 0x5325: "TLSR826x (not supported: 16-bit SWire addresses)"}

# The power window (see catch_at_boot).
PROBE_EVERY = 5  # every fifth halt of the stream carries a chip id request
ALIVE_MARGIN_S = 0.02  # stream on this long after the echo shows an answer
WINDOW_TAIL_S = 0.03  # the stream outlasts the window: power applied at its last moment

# The SPI master as frames, so that a whole flash command travels in one stream.
SPI_CS_LOW_FRAME = write_frame(REG_SPI_CTRL, bytes([SPI_CS_LOW]))
SPI_CS_HIGH_FRAME = write_frame(REG_SPI_CTRL, bytes([SPI_CS_HIGH]))
SPI_AUTO_READ_FRAME = write_frame(REG_SPI_CTRL, bytes([SPI_AUTO_READ]))
FIFO_ON_FRAME = write_frame(REG_SWIRE_CTL, bytes([FIFO_MODE]))
FIFO_OFF_FRAME = write_frame(REG_SWIRE_CTL, b"\x00")


def spi_out_frame(data: bytes) -> bytes:
    """Bytes clocked out to the flash (several need FIFO mode on)."""
    return write_frame(REG_SPI_DATA, data)


# The top 512 bytes of the smallest part's SRAM (TLSR8251: 32 KB from 0x840000), so that it
# exists on every variant; only used while the CPU is halted.
SCRATCH_SRAM = 0x847E00
CHIP_ID_BYTES = TLSR825X_ID.to_bytes(2, "little")
# Every byte value once, for learning the codebook, and again in another order (odd step: a
# permutation), for checking that a slot does not depend on the one before it.
PATTERN_A = bytes(range(256))
PATTERN_B = bytes((i * 167 + 89) % 256 for i in range(256))
MIN_SLOT_CHARS = 10  # a slot shorter than a word would not leave the answer a cell to spare
MAX_SLOT_CHARS = 13
SURE_SLOT_CHARS = 8  # RX characters an answer of eight cells gives at the least (assumption)


@dataclass(frozen=True)
class ClockInfo:
    divider: int
    window: tuple[int, int]  # lowest and highest divider that read back correctly
    fclk_mhz: float  # the chip's system clock as the learned fit sees it
    pipeline_window: tuple[int, int] | None  # dividers that suit pipelined reads
    slot_chars: int | None = None  # TX characters per pipelined byte; None: lone requests


class Tlsr825x:
    def __init__(self, link: SwireLink) -> None:
        self.link = link
        self.clock: ClockInfo | None = None
        self.fifo: bool | None = None  # FIFO mode as we last set it; None: unknown
        self._answered = False  # did any divider get an answer, even a garbled one?
        self.fit: Fit | None = None  # what reads look like, learned by find_clock
        self._window: tuple[int, int] | None = None
        self._learn_budget = 0  # slow learning from a pipelined read: how many more tries

    # -- getting hold of the CPU -------------------------------------------------------------
    def halt(self) -> None:
        self.link.send(HALT_FRAME)

    def catch_at_boot(
        self,
        window_s: float,
        reset_line: str | None = None,
        on_progress: Callable[[float], None] | None = None,
        *,
        power_line: str | None = None,
        off_s: float = POWER_OFF_DEFAULT_S,
    ) -> bool:
        """Stream halt commands across a reset or power-up, so one lands before the firmware
        takes the SWS pin (2-3 ms after boot); True when the chip was seen answering.

        The stream never pauses for a round trip: its echo is read as it arrives and
        matched by position (halt_stream.EchoWatch), so a chip that comes alive is noticed
        without a deaf moment, and nothing that happens to the echo during the window is a
        wiring fault. Once the chip answered, a little more stream, then END, one more halt
        and one probe on a quiet line: only an answer there ends the window early; a false
        alarm goes back to streaming. With ``power_line`` (an adapter pin feeding VCC) the
        unit is first switched off for ``off_s``; with ``reset_line`` it is held in reset
        and released 5 ms into the stream; with neither the user applies power.
        """
        t = self.link
        clock = t.clock
        if reset_line:
            t.set_line(reset_line, True)
        if power_line:
            self._power_off(power_line, off_s)
        start = clock.now()
        end = start + window_s + WINDOW_TAIL_S
        release_at = start + 0.005
        released = reset_line is None
        power_on = power_line
        while True:
            watch = EchoWatch()
            released = self._stream(
                watch, end, on_progress, reset_line, released, release_at, power_on
            )
            power_on = None
            if not released:
                t.set_line(reset_line or "rts", False)
                released = True
            self._settle(watch)
            if watch.alive:
                log.info("the chip answered a request inside the halt stream")
            elif watch.disturbed:
                log.info("the echo was disturbed %d times, no answer in it", watch.disturbed)
            t.send_unchecked(END + HALT_FRAME)
            if not watch.alive:
                return False
            if self._answers():
                return True
            log.info("no answer on a quiet line: a false alarm, streaming on")
            if clock.now() >= end:
                return False

    def _power_off(self, line: str, off_s: float) -> None:
        """Assert the line (pin low: the unit loses VCC) for ``off_s``, holding TX low
        meanwhile: a unit fed through TX and its resistor would stay half-powered."""
        t = self.link
        t.set_line(line, True)
        until = t.clock.now() + off_s
        n = max(1, round(off_s / t.char_time))
        t.send_blind(bytes(n))  # 0x00: nine of ten bit-times low; a live slave sees ENDs
        # the transport may already have waited for the line while sending: off means off_s
        t.clock.sleep(max(0.0, until - t.clock.now()))
        t.discard_input()

    def _stream(
        self,
        watch: EchoWatch,
        end: float,
        on_progress: Callable[[float], None] | None,
        reset_line: str | None,
        released: bool,
        release_at: float,
        power_on: str | None = None,
    ) -> bool:
        """Halts (every PROBE_EVERY-th with a chip id request) back to back until ``end``,
        or until a little after the echo shows an answer; returns whether RST is released.

        Each unit is followed by a short idle gap: a chip that wakes up in the middle of
        the stream restarts its word count on an idle line and takes the next halt whole."""
        t = self.link
        clock = t.clock
        gap = max(0.0002, 20 * t.char_time)
        t.discard_input()
        last_report = clock.now() - 1.0
        window_end = end - WINDOW_TAIL_S  # what the user is told is left
        n = 0
        while clock.now() < end:
            unit = PROBE_UNIT if n % PROBE_EVERY == 0 else HALT_FRAME
            t.send_blind(unit)
            watch.add(unit, PROBE_REQUEST_AT if unit is PROBE_UNIT else None)
            n += 1
            if power_on:
                t.set_line(power_on, False)  # the pin goes high: the unit gets its power
                power_on = None
            clock.sleep(len(unit) * t.char_time + gap)
            if not released and clock.now() >= release_at:
                t.set_line(reset_line or "rts", False)
                released = True
            alive = watch.alive
            watch.feed(t.transport.read_available())
            if watch.alive and not alive:
                # Whether a halt landed was decided in the chip's first milliseconds; a
                # little more stream covers a chip that answered just before it halted.
                end = min(end, clock.now() + ALIVE_MARGIN_S)
            if on_progress is not None and not watch.alive and clock.now() - last_report >= 0.05:
                last_report = clock.now()
                on_progress(max(0.0, window_end - clock.now()))
        return released

    def _settle(self, watch: EchoWatch) -> None:
        """Take in the rest of the stream's echo by count, so that what comes next on the
        line is ours alone; its last requests may still show an answer."""
        t = self.link
        t.clock.sleep(0.01)  # as the proven tool does before its END
        left = watch.outstanding
        if left:
            watch.feed(t.transport.read(left, timeout=t.transport.echo_timeout(left)))
        t.drain_input()

    def _answers(self) -> bool:
        """One chip id request on a quiet line: does the chip answer it at all (at whatever
        divider it has)? Asked again when noise spoils the echo before the request."""
        t = self.link
        request_at = len(PROBE) - len(END) - 1
        for _ in range(3):
            back = t.send_unchecked(PROBE, extra=16, slack=0.05)
            t.drain_input()
            verdict = probe_answered(PROBE, back, request_at)
            if verdict is not None:
                return verdict
        return False

    def watchdog_off(self) -> None:
        """A halted CPU is reset by its watchdog a second or two later unless this is done."""
        self.link.write(REG_WATCHDOG, b"\x00")

    def resync(self) -> None:
        """END closes any half-received transaction; the chip then takes the next START."""
        self.link.end()

    def find_clock(self) -> ClockInfo:
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
        if not self._answered:
            raise SilentChip(
                "our commands come back as a clean echo, but nothing else ever follows",
                "the firmware sleeps or has taken the SWS pin (a bricked unit): run "
                "'swsflash recover', or use --power-window MS and apply power when asked; "
                "--reset rts helps only where RTS is wired to the chip's real reset pin "
                "(on a LYWSD03MMC the pad marked 'Reset' is a GPIO: there only the power "
                "window works)",
            )
        window = self._lone_window(fit, fitted) if fit is not None else None
        if fit is None or window is None:
            link.write(REG_SWIRE_DIV, bytes([0x05]))
            raise ChipNotAnswering(
                f"no SWire clock divider between {lo} and {hi} gives a clean answer at {baud} baud",
                "the chip answers but not in step: try a lower --baud (e.g. 460800), check "
                "the 1 kOhm resistor, or the chip fell asleep: use --reset or --power-window"
                + self._adapter_note(),
            )
        self.fit = fit
        self._window = window
        piped = self._choose_pipeline(fit, lo, hi)
        fclk = fit.fclk_hz(baud)
        if piped is not None:
            div, chars, run = piped
            info = ClockInfo(div, window, round(fclk / 1e6, 1), run, chars)
        else:
            lone = self._lone_divider(fit, window)
            div = lone[0] if lone else (window[0] + window[1] + 1) // 2
            info = ClockInfo(div, window, round(fclk / 1e6, 1), None, None)
        link.write(REG_SWIRE_DIV, bytes([div]))
        book = fit.codebook(div, None)
        link.lone = book if book is not None and book.prefix_free else None
        if link.lone is None:
            link.lone = self._lone_from_pattern(div)
        if link.lone is None and piped is None:
            raise ChipNotAnswering(
                f"the chip's answers at {baud} baud cannot be told apart reliably",
                f"try --baud {921600 if baud != 921600 else 460800}" + self._adapter_note(),
            )
        self.clock = info
        log.info(
            "SWire divider %d (window %d..%d, pipelined %s, %s characters per byte), "
            "chip clock ~%.1f MHz",
            div,
            *window,
            info.pipeline_window,
            info.slot_chars or "lone",
            fclk / 1e6,
        )
        if piped is None:
            self._warn_stepwise(baud)
        return info

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
            self.resync()
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
        """The divider nearest the window's centre with an unambiguous lone codebook."""
        centre = (window[0] + window[1] + 1) // 2
        for d in sorted(range(window[0], window[1] + 1), key=lambda d: abs(d - centre))[:8]:
            book = fit.codebook(d, None)
            if book is not None and book.prefix_free:
                return d, book
        return None

    def _choose_pipeline(
        self, fit: Fit, lo: int, hi: int
    ) -> tuple[int, int, tuple[int, int]] | None:
        """The divider and slot length for pipelined reads: a read of every byte value
        teaches the codebook, a second read of them in another order checks it (a slot
        must not depend on the one before), then the fewest characters per byte with the
        most margin on both sides. Sets the link's pipeline codebook."""
        link = self.link
        by_chars: dict[int, list[int]] = {}
        for d in range(lo, hi + 1):
            ns = [n for n in fit.slot_chars(d) if MIN_SLOT_CHARS <= n <= MAX_SLOT_CHARS]
            if ns:
                by_chars.setdefault(min(ns), []).append(d)
        if not by_chars:
            return None
        try:
            link.send(self.fifo_frame(False) + write_frame(SCRATCH_SRAM, PATTERN_A + PATTERN_B))
        except WiringError:
            self.resync()
            return None
        self._learn_budget = 2
        for chars in sorted(by_chars):
            books: dict[int, Codebook] = {}
            divs = by_chars[chars]
            # From the middle outwards; a side is done at its first failure past a success.
            order = sorted(divs, key=lambda d: abs(d - divs[len(divs) // 2]))
            done: set[int] = set()
            for d in order:
                side = 1 if d >= divs[len(divs) // 2] else -1
                if side in done:
                    continue
                got = self._try_pipeline(fit, d, chars)
                if got is not None:
                    books[d], fit = got  # the guesses that split these slots right
                elif any((b - d) * side < 0 for b in books):
                    done.add(side)
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
                # that splits pipelined slots right need not match every lone answer.
                fresh = Fit(fit.guesses, (), fit.steps)
                learned = learn_cached(div, (Observation(PATTERN_A, rx, chars),), fresh)
                if learned is not None:
                    fit = learned
                    book = derive_codebook(fit, div, chars, PATTERN_A, rx)
            if book is None:
                return None
            link.pipe = book
            ok = link.read_pipelined(SCRATCH_SRAM + len(PATTERN_A), len(PATTERN_B)) == PATTERN_B
        except (ChipNotAnswering, WiringError):
            link.drain_input()
            self.resync()
            ok = False
        finally:
            link.pipe = None
        return (book, fit) if ok and book is not None else None

    def _lone_from_pattern(self, div: int) -> Codebook | None:
        """The lone-request codebook read off the pattern when the fit alone cannot say."""
        link = self.link
        try:
            link.send(self.fifo_frame(False) + write_frame(SCRATCH_SRAM, PATTERN_A))
            link.send(read_header(SCRATCH_SRAM))
            words = [b""] * 256
            for v in PATTERN_A:
                words[v] = link.lone_raw()
            link.drain_input(quiet=0.0005, limit=0.02)
            link.send(END)
        except WiringError:
            self.resync()
            return None
        book = Codebook(None, tuple(words))
        return book if book.unambiguous and book.prefix_free else None

    def _warn_stepwise(self, baud: int) -> None:
        log.warning(
            "pipelined reads do not work with this adapter at %d baud (no divider gives "
            "answers that fit a slot and decode unambiguously); reading one byte per round "
            "trip: about %.0f ms per KB instead of %.0f ms. A lower or higher --baud may "
            "allow pipelining%s",
            baud,
            1024 * 0.003 * 1000,
            1024 * 100 / baud * 1000,
            self._adapter_note(),
        )

    def _adapter_note(self) -> str:
        note = adapter_note(self.link.transport.usb_id)
        return f"; {note}" if note else ""

    # -- registers ---------------------------------------------------------------------------
    def chip_id(self) -> int:
        return int.from_bytes(self.read(REG_CHIP_ID, 2), "little")

    def pc(self) -> int:
        return int.from_bytes(self.read(REG_PC, 4), "little")

    def fifo_frame(self, on: bool) -> bytes:
        """The frame that sets FIFO mode as wanted, or nothing when it already is: flash
        commands keep it on from one page to the next, register accesses need it off."""
        if self.fifo is on:
            return b""
        self.fifo = on
        return FIFO_ON_FRAME if on else FIFO_OFF_FRAME

    def read(self, addr: int, size: int, attempts: int = 3) -> bytes:
        """A register read, retried after a resync when the answer is malformed."""
        for attempt in range(attempts):
            try:
                return self.link.read(addr, size, before=self.fifo_frame(False))
            except ChipNotAnswering as exc:
                if attempt == attempts - 1:
                    raise
                log.info("read %06x failed (%s); retrying", addr, exc.message)
                self.resync()
        raise AssertionError("unreachable")

    def write(self, addr: int, data: bytes) -> None:
        self.link.send(self.fifo_frame(False) + write_frame(addr, data))

    def reboot(self) -> None:
        """Soft reset: the CPU starts the firmware in flash. No echo check: the chip resets
        while the END word is still on the line."""
        self.link.send_unchecked(write_frame(REG_RESET, bytes([RESET_MCU])))

    # -- SPI master --------------------------------------------------------------------------
    def spi_idle(self) -> None:
        """CS high and FIFO mode off: whatever an interrupted job left open is closed."""
        self.fifo = None
        self.link.send(SPI_CS_HIGH_FRAME + FIFO_OFF_FRAME)
        self.fifo = False

    # -- adapter check -----------------------------------------------------------------------
    def can_stream(self) -> bool:
        """Write a long run of 1 cells to SRAM in one go and read it back: an adapter that
        leaves gaps between USB packets stretches some of them into 0 cells."""
        pattern = bytes([0xFF] * 48 + [0x00] * 16)
        frame = self.fifo_frame(False) + write_frame(SCRATCH_SRAM, pattern)
        if self.link.send_unchecked(frame) != frame:
            self.resync()
            return False
        try:
            return self.read(SCRATCH_SRAM, len(pattern)) == pattern
        except (ChipNotAnswering, WiringError):
            return False


def _longest_run(values: list[int]) -> tuple[int, int]:
    best = (values[0], values[0])
    start = prev = values[0]
    for v in values[1:]:
        if v != prev + 1:
            start = v
        prev = v
        if prev - start > best[1] - best[0]:
            best = (start, prev)
    return best


def _scan_limit(fit: Fit) -> int:
    """The highest divider at which some guess's answer still fits the longest slot."""
    unit = (MAX_SLOT_CHARS * 10 - 0.5 - max(g.offset for g in fit.guesses)) / 41
    return math.ceil(unit / min(g.clock for g in fit.guesses)) + 1


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
