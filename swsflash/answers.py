"""The host's hypothesis of how one SWire read slot looks on the adapter's RX, and a strict
decoder learned from known reads.

Why: how a chip answer arrives as UART characters depends on things the host cannot know in
advance (when the chip starts answering, its exact unit length, how the adapter's receiver
resynchronises after a framing error, where in a bit it samples). Instead of expecting one
fixed character shape per cell, the host fits those unknowns to reads of known bytes, builds
the character sequence every byte value must produce (a codebook) and accepts only exact
matches: a marginal setting shows as an error, never as wrong data.

Times are in UART bit-times T from the falling edge of the slot's read request. Written from
the protocol facts (swire-over-uart.md §3-§5, field-evidence.md §1), not from the bench.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import lru_cache

from .errors import ChipNotAnswering

REQUEST = 0xFE  # 2 T low: "one unit of low level" that asks for the next byte
FILLER = 0xFF  # 1 T low: the shortest character, covered by the chip's answer
CHAR_BITS = 10  # start + 8 data + stop
DATA_CELLS = 8
CELL_UNITS = 5  # a cell is 5 units: a 1 is 4 low + 1 high, a 0 is 1 low + 4 high
ANSWER_UNITS = DATA_CELLS * CELL_UNITS + 1  # eight cells and the short low end unit
IDLE = float("inf")


class Receiver(str, Enum):
    """What the adapter's UART does when the stop-bit sample is low (a framing error)."""

    WAIT_HIGH = "wait-high"  # waits for the line to go high before hunting a start bit
    RESTART = "restart"  # takes that low sample as the next frame's start bit (FT232)


class Drive(str, Enum):
    """How the chip drives SWS while it answers."""

    PUSH_PULL = "push-pull"  # chip drives both levels: TX through the resistor loses
    OPEN_DRAIN = "open-drain"  # chip only pulls low: TX's lows show through its highs


@dataclass(frozen=True)
class Hypothesis:
    """One guess of the unknowns of a read, all in bit-times T."""

    offset: float  # chip's first answer edge after the request's falling edge
    unit: float  # chip unit (clk_div / Fclk) in T
    receiver: Receiver = Receiver.RESTART
    phase: float = 0.5  # where in each bit the receiver samples (fraction of T)
    drive: Drive = Drive.PUSH_PULL

    @property
    def answer_end(self) -> float:
        """When the chip releases the line after its end unit."""
        return self.offset + ANSWER_UNITS * self.unit


def slot_tx(chars: int | None) -> bytes:
    """TX characters of one read slot: the request and fillers; None = a lone request
    (one round trip per byte: the line idles high after it)."""
    return bytes([REQUEST]) if chars is None else bytes([REQUEST] + [FILLER] * (chars - 1))


# -- line model -------------------------------------------------------------------------------

Lows = list[tuple[float, float]]


@lru_cache(maxsize=64)
def _tx_lows(tx: bytes) -> tuple[tuple[float, float], ...]:
    """Low intervals of TX sending ``tx`` back to back from t = 0 (8N1, LSB first)."""
    lows: Lows = []
    for i, c in enumerate(tx):
        bits = [0, *((c >> k) & 1 for k in range(8))]
        for k, b in enumerate(bits):
            if b == 0:
                _append(lows, i * CHAR_BITS + k, i * CHAR_BITS + k + 1)
    return tuple(lows)


def _append(lows: Lows, a: float, b: float) -> None:
    if lows and lows[-1][1] >= a:
        lows[-1] = (lows[-1][0], max(lows[-1][1], b))
    else:
        lows.append((a, b))


def line_lows(h: Hypothesis, values: Sequence[int], chars: int | None) -> Lows:
    """The SWS line's low intervals for consecutive slots: each request is answered
    ``h.offset`` after its falling edge; while the chip drives, TX shows only if it is
    open-drain (then TX's lows win over the chip's released highs)."""
    if chars is None and h.offset >= 2 and len(values) == 1:  # the common case, fast
        o, u, v = h.offset, h.unit, values[0]
        lows = [(0.0, 2.0)]  # the request's start bit and bit 0
        lows += [(s, s + (4 * u if (v >> (7 - j)) & 1 else u)) for j, s in _cells(o, u)]
        lows.append((o + 40 * u, o + 41 * u))
        return lows
    period = CHAR_BITS * (chars or 0)
    chip: Lows = []
    windows: Lows = []
    for i, value in enumerate(values):
        base = i * period + h.offset
        for j in range(DATA_CELLS):
            s = base + j * CELL_UNITS * h.unit
            chip.append((s, s + (4 if (value >> (7 - j)) & 1 else 1) * h.unit))
        s = base + DATA_CELLS * CELL_UNITS * h.unit
        chip.append((s, s + h.unit))
        windows.append((base, i * period + h.answer_end))
    tx = _tx_lows(slot_tx(chars) * len(values) if chars else slot_tx(None))
    if h.drive is Drive.PUSH_PULL:
        tx = tuple(_outside(tx, windows))
    out: Lows = []
    for a, b in sorted((*tx, *chip)):
        _append(out, a, b)
    return out


def _outside(lows: Iterable[tuple[float, float]], windows: Lows) -> Iterable[tuple[float, float]]:
    """The parts of ``lows`` outside every window (both sorted)."""
    w = 0
    for a, b in lows:
        while w < len(windows) and windows[w][1] <= a:
            w += 1
        k = w
        while k < len(windows) and windows[k][0] < b and a < b:
            if windows[k][0] > a:
                yield (a, windows[k][0])
            a = max(a, windows[k][1])
            k += 1
        if a < b:
            yield (a, b)


def _cells(o: float, u: float) -> list[tuple[int, float]]:
    return [(j, o + j * CELL_UNITS * u) for j in range(DATA_CELLS)]


def receive(
    lows: Lows, receiver: Receiver, phase: float, until: float = IDLE, expect: bytes | None = None
) -> tuple[bytes, float] | None:
    """The adapter's UART over a line: the characters of frames that start before
    ``until``, and from when it hunts for a start bit on a line that stays high until
    ``until``. With ``expect``: None as soon as a character differs (cheap rejection)."""
    starts = [a for a, _ in lows]
    ends = [b for _, b in lows]
    find = bisect.bisect_right

    def low(t: float) -> bool:
        i = find(starts, t) - 1
        return i >= 0 and t < ends[i]

    out = bytearray()
    t = 0.0
    while True:
        i = find(starts, t) - 1  # next start edge: now if low, else the next low interval
        start = t if i >= 0 and t < ends[i] else starts[i + 1] if i + 1 < len(starts) else IDLE
        if start >= until:
            break
        if not low(start + phase):  # a glitch shorter than the start-bit sample
            t = start + phase
            continue
        value = 0
        for k in range(8):
            if not low(start + (1 + k + phase)):
                value |= 1 << k
        if expect is not None and (len(out) >= len(expect) or expect[len(out)] != value):
            return None
        out.append(value)
        t = start + (9 + phase)  # the stop-bit sample
        if receiver is Receiver.WAIT_HIGH:
            i = find(starts, t) - 1
            if i >= 0 and t < ends[i]:
                t = ends[i]
        # RESTART: a low stop sample is itself the next start edge
    if expect is not None and len(out) != len(expect):
        return None
    return bytes(out), t


def burst_rx(h: Hypothesis, values: Sequence[int], chars: int | None) -> bytes:
    """RX characters of a whole read burst (or, with chars=None, of one lone request)."""
    got = receive(line_lows(h, values, chars), h.receiver, h.phase)
    assert got is not None
    return got[0]


# -- codebook ---------------------------------------------------------------------------------


class GarbledAnswer(ChipNotAnswering):
    """RX characters that are no byte's answer under what was learned at connect time."""

    title = "garbled answer from the chip"

    def __init__(self, message: str) -> None:
        super().__init__(
            message,
            "the chip's answers no longer look as they did when the connection was set up: "
            "check the 1 kOhm resistor and the GND wire, keep the wires short, try a lower --baud",
        )


def slot_fits(h: Hypothesis, chars: int, guard: float = 0.5) -> bool:
    """Does the answer cover every filler's low and end (with ``guard`` T to spare) before
    the next request? A filler low after the chip lets go would be taken as a request."""
    last_filler_low = (chars - 1) * CHAR_BITS + 1
    return last_filler_low + guard <= h.answer_end <= chars * CHAR_BITS - guard


@dataclass(frozen=True)
class Codebook:
    """The RX characters of one slot for each byte value, and the strict parser."""

    chars: int | None  # TX characters per slot; None: one request per round trip
    words: tuple[bytes, ...]  # words[v]: what RX shows when the chip answers v
    _index: dict[bytes, int] = field(init=False, repr=False, compare=False)
    _lengths: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {w: v for v, w in enumerate(self.words)})
        object.__setattr__(self, "_lengths", tuple(sorted({len(w) for w in self.words})))

    @property
    def prefix_free(self) -> bool:
        ws = sorted(self.words)
        return all(not b.startswith(a) for a, b in itertools.pairwise(ws))

    @property
    def unambiguous(self) -> bool:
        """No two values look alike, and a run of slots splits into them one way only."""
        if len(self._index) != len(self.words) or not all(self.words):
            return False
        return self.prefix_free or _uniquely_decodable(set(self.words))

    @property
    def max_chars(self) -> int:
        return self._lengths[-1]

    def decode(self, rx: bytes, count: int) -> bytes:
        """Exactly ``count`` bytes from RX characters, or GarbledAnswer naming the slot."""
        if self.prefix_free:
            out = bytearray()
            pos = 0
            for i in range(count):
                for n in self._lengths:
                    v = self._index.get(rx[pos : pos + n])
                    if v is not None:
                        out.append(v)
                        pos += n
                        break
                else:
                    raise GarbledAnswer(self._where(rx, pos, i, count))
            if pos != len(rx):
                raise GarbledAnswer(
                    f"{len(rx) - pos} characters left over after {count} bytes: "
                    f"{rx[pos : pos + 16].hex(' ')}"
                )
            return bytes(out)
        parsed = self._parse(rx, 0, count)
        if parsed is None:
            raise GarbledAnswer(self._where(rx, 0, 0, count) + " (no way to split the answer)")
        return parsed

    def _parse(self, rx: bytes, pos: int, left: int) -> bytes | None:
        if left == 0:
            return b"" if pos == len(rx) else None
        for n in self._lengths:
            v = self._index.get(rx[pos : pos + n])
            if v is not None and (rest := self._parse(rx, pos + n, left - 1)) is not None:
                return bytes([v]) + rest
        return None

    def _where(self, rx: bytes, pos: int, i: int, count: int) -> str:
        if pos >= len(rx):
            return f"the answer ended after {i} of {count} bytes ({len(rx)} characters)"
        got = rx[pos : pos + self.max_chars].hex(" ")
        return f"byte {i} of {count} (character {pos}): {got} is no byte's answer"


def _uniquely_decodable(words: set[bytes]) -> bool:
    """Sardinas-Patterson: no sequence of words can be read as two different ones."""

    def tails(xs: Iterable[bytes], ys: Iterable[bytes]) -> set[bytes]:
        return {y[len(x) :] for x in xs for y in ys if len(y) > len(x) and y.startswith(x)}

    current = tails(words, words)
    seen: set[frozenset[bytes]] = set()
    while current:
        if current & words:
            return False
        key = frozenset(current)
        if key in seen:
            return True
        seen.add(key)
        current = tails(current, words) | tails(words, current)
    return True


@lru_cache(maxsize=256)
def codebook(h: Hypothesis, chars: int | None, guard: float = 0.5) -> Codebook | None:
    """The hypothesis' codebook for a slot shape, or None when the slot does not suit it:
    the answer overruns the slot, the receiver is still busy at the next request, or two
    values (or runs of them) would look alike."""
    if chars is not None and not slot_fits(h, chars, guard):
        return None
    until = IDLE if chars is None else chars * CHAR_BITS
    words = []
    for v in range(256):
        got = receive(line_lows(h, (v,), chars), h.receiver, h.phase, until)
        if got is None or got[1] > until:
            return None
        words.append(got[0])
    book = Codebook(chars, tuple(words))
    return book if book.unambiguous else None


# -- learning ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """What RX returned for reads of known bytes (the divider just written, the chip id,
    a pattern written to SRAM)."""

    values: bytes
    rx: bytes
    chars: int | None = None  # TX characters per slot; None: one lone request (one value)


@dataclass(frozen=True)
class ChipGuess:
    """The unknowns that stay the same across dividers: the chip's clock period (in T),
    its answer offset, and the adapter's receiver."""

    clock: float  # one system clock in T (baud / Fclk); a unit is ``divider`` clocks
    offset: float
    receiver: Receiver
    phase: float
    drive: Drive

    def at(self, divider: int) -> Hypothesis:
        return Hypothesis(self.offset, divider * self.clock, self.receiver, self.phase, self.drive)


@lru_cache(maxsize=1 << 16)
def _word(h: Hypothesis, value: int, chars: int | None) -> bytes | None:
    """One slot's RX characters, or None when the receiver is still busy at the next
    request (then slots would not read independently)."""
    until = IDLE if chars is None else chars * CHAR_BITS
    got = receive(line_lows(h, (value,), chars), h.receiver, h.phase, until)
    return None if got is None or got[1] > until else got[0]


def reproduces(h: Hypothesis, obs: Observation, guard: float = 0.5) -> bool:
    if obs.chars is None:
        if len(obs.values) != 1:
            raise ValueError("a lone-request observation holds exactly one byte")
        lows = line_lows(h, obs.values, None)
        return receive(lows, h.receiver, h.phase, expect=obs.rx) is not None
    if not slot_fits(h, obs.chars, guard):
        return False
    pos = 0
    for v in obs.values:
        w = _word(h, v, obs.chars)
        if w is None or obs.rx[pos : pos + len(w)] != w:
            return False
        pos += len(w)
    return pos == len(obs.rx)


Observations = dict[int, list[Observation]]  # by the divider they were made at


@dataclass(frozen=True)
class Space:
    """The grid learning starts from; learning refines it where guesses run out."""

    clocks: tuple[float, ...]
    offsets: tuple[float, ...]
    phases: tuple[float, ...] = (0.4, 0.45, 0.5, 0.55, 0.6)
    receivers: tuple[Receiver, ...] = (Receiver.RESTART, Receiver.WAIT_HIGH)
    drives: tuple[Drive, ...] = (Drive.PUSH_PULL, Drive.OPEN_DRAIN)

    @classmethod
    def for_baud(
        cls,
        baud: int,
        fclk_hz: tuple[float, float] = (21e6, 29e6),
        delay_clocks: tuple[float, float] = (0.0, 16.0),
        clock_steps: int = 48,
        offset_step: float = 0.1,
    ) -> Space:
        """Everything plausible: the chip answers once the line has been high as long as
        the request's 2 T low ("high longer than low"), plus a few system clocks."""
        lo_c, hi_c = baud / fclk_hz[1], baud / fclk_hz[0]
        lo_o, hi_o = 4 + delay_clocks[0] * lo_c, 4 + delay_clocks[1] * hi_c
        offsets = _grid(lo_o, hi_o, offset_step)
        return cls(_grid(lo_c, hi_c, (hi_c - lo_c) / clock_steps), offsets)

    def guesses(self, drives: tuple[Drive, ...]) -> Iterable[ChipGuess]:
        for rec, phase, off, drive, clock in itertools.product(
            self.receivers, self.phases, self.offsets, drives, self.clocks
        ):
            yield ChipGuess(clock, off, rec, phase, drive)


def _grid(lo: float, hi: float, step: float) -> tuple[float, ...]:
    n = max(1, round((hi - lo) / step))
    return tuple(lo + (hi - lo) * i / n for i in range(n + 1))


@dataclass(frozen=True)
class Fit:
    """The guesses that reproduce every observation so far exactly, and the grid steps
    they were found at (so that learning can look between them)."""

    guesses: tuple[ChipGuess, ...]
    observations: tuple[tuple[int, Observation], ...]
    steps: tuple[float, float]  # clock, offset

    def representatives(self, k: int = 6) -> tuple[ChipGuess, ...]:
        gs = self.guesses
        if len(gs) <= k:
            return gs
        return tuple(gs[round(i * (len(gs) - 1) / (k - 1))] for i in range(k))

    def codebook(self, divider: int, chars: int | None, guard: float = 0.5) -> Codebook | None:
        """The codebook every representative agrees on, or None: then read the 0x00..0xFF
        pattern in this slot shape first and learn from it."""
        books = [codebook(g.at(divider), chars, guard) for g in self.representatives()]
        first = books[0]
        if first is None or any(b is None or b.words != first.words for b in books):
            return None
        return first

    def slot_chars(self, divider: int, guard: float = 0.5) -> list[int]:
        """TX characters per pipelined slot that suit some guesses at this divider, the
        likeliest first: a slot is whole characters, so the answer's end decides it."""
        votes: dict[int, int] = {}
        for g in self.guesses:
            h = g.at(divider)
            n = math.ceil((h.answer_end + guard) / CHAR_BITS)
            if slot_fits(h, n, guard):
                votes[n] = votes.get(n, 0) + 1
        return sorted(votes, key=lambda n: -votes[n])


def _survives(g: ChipGuess, obs: Sequence[tuple[int, Observation]], guard: float) -> bool:
    return all(reproduces(g.at(d), o, guard) for d, o in obs)


def _ordered(observations: Observations) -> list[tuple[int, Observation]]:
    """Cheapest and most telling first: lone requests, short reads."""
    flat = [(d, o) for d, obs in observations.items() for o in obs]
    return sorted(flat, key=lambda x: (x[1].chars is not None, len(x[1].values)))


def learn(
    observations: Observations,
    start: Space | Fit,
    guard: float = 0.5,
    refine_below: int = 24,
    max_parents: int = 120,
) -> Fit | None:
    """Every guess (from a grid, or an earlier fit) that reproduces all observations
    exactly, or None. When few survive, the grid is halved around the earlier guesses
    and tried against everything observed so far, so the truth is not lost between
    grid points as observations pile up."""
    new = _ordered(observations)
    if isinstance(start, Fit):
        piped = any(o.chars is not None for _, o in new)
        # A pipelined read of the 0x00..0xFF pattern is its own codebook: a few guesses
        # that reproduce it are enough, and checking each costs 256 slots.
        pool = start.representatives(24) if piped else start.guesses
        kept = [g for g in pool if _survives(g, new, guard)]
        history = (*start.observations, *new)
        steps = start.steps
        if len(kept) < (1 if piped else refine_below):
            # A pipelined read shows far more than lone requests: look closer for it.
            div = 4 if piped else 2
            steps = (steps[0] / div, steps[1] / div)
            around = range(-div // 2, div // 2 + 1)
            phases = (-0.025, 0.0, 0.025) if piped else (0.0,)
            seen = set(kept)
            for g in Fit(start.guesses, (), steps).representatives(max_parents):
                for dc, do, dp in itertools.product(around, around, phases):
                    c = ChipGuess(
                        g.clock + dc * steps[0],
                        g.offset + do * steps[1],
                        g.receiver,
                        g.phase + dp,
                        g.drive,
                    )
                    if c not in seen:
                        seen.add(c)
                        if _survives(c, new, guard) and _survives(c, history, guard):
                            kept.append(c)
        return Fit(tuple(kept), history, steps) if kept else None
    # Lone requests are answered after TX went quiet, so they cannot show how the chip
    # drives: such guesses are tried with one drive and kept with every drive.
    blind = all(o.chars is None for _, o in new)
    drives = start.drives[:1] if blind else start.drives
    kept = [g for g in start.guesses(drives) if _survives(g, new, guard)]
    if blind:
        kept = [replace(g, drive=d) for g in kept for d in start.drives]
    steps = (_step(start.clocks), _step(start.offsets))
    return Fit(tuple(kept), tuple(new), steps) if kept else None


def _step(grid: tuple[float, ...]) -> float:
    return (grid[-1] - grid[0]) / max(1, len(grid) - 1)


def choose_pipeline(candidates: dict[int, int]) -> tuple[int, int] | None:
    """From working (divider -> slot characters) pairs: the fewest characters per byte,
    then the middle of the longest run of dividers giving it (margin on both sides)."""
    if not candidates:
        return None
    best = min(candidates.values())
    run: list[int] = []
    longest: list[int] = []
    for d in sorted(d for d, n in candidates.items() if n == best):
        run = [*run, d] if run and d == run[-1] + 1 else [d]
        if len(run) > len(longest):
            longest = run
    return longest[len(longest) // 2], best
