"""Learning the unknowns of a read from reads of known bytes: the guesses that reproduce
every observation exactly, refined between grid points when few survive.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from .book import GUARD, Codebook, codebook, slot_fits
from .line import CHAR_BITS, IDLE, Drive, Hypothesis, Receiver, line_lows, receive


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


def predicted_lengths(h: Hypothesis, values: bytes, chars: int) -> list[int] | None:
    """How many RX characters each slot of a pipelined read of ``values`` gives under
    ``h``; None when the receiver would still be busy at a next request."""
    lengths = []
    for v in values:
        w = _word(h, v, chars)
        if w is None:
            return None
        lengths.append(len(w))
    return lengths


def reproduces(h: Hypothesis, obs: Observation, guard: float = GUARD) -> bool:
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

    def codebook(self, divider: int, chars: int | None, guard: float = GUARD) -> Codebook | None:
        """The codebook every representative agrees on, or None: then read the 0x00..0xFF
        pattern in this slot shape first and learn from it."""
        books = [codebook(g.at(divider), chars, guard) for g in self.representatives()]
        first = books[0]
        if first is None or any(b is None or b.words != first.words for b in books):
            return None
        return first

    def fclk_hz(self, baud: int) -> float:
        """The chip's system clock as the fit sees it (the median guess)."""
        clocks = sorted(g.clock for g in self.guesses)
        return baud / clocks[len(clocks) // 2]

    def slot_chars(self, divider: int, guard: float = GUARD) -> dict[int, int]:
        """TX characters per pipelined slot that suit some guesses at this divider, with how
        many of the representative guesses agree (the likeliest first). A slot is whole
        characters, so the answer's end decides its length; it suits only if the answer
        also covers the last filler and the receiver is hunting again when the next
        request falls (else a slot's characters would depend on the one before)."""
        votes: dict[int, int] = {}
        for g in self.representatives(8):
            h = g.at(divider)
            n = math.ceil((h.answer_end + guard) / CHAR_BITS)
            if slot_fits(h, n, guard) and slot_independent(h, n):
                votes[n] = votes.get(n, 0) + 1
        return dict(sorted(votes.items(), key=lambda kv: -kv[1]))


# Values whose answers end in every pattern of their last four cells (and begin with both
# extremes): where a receiver is still busy at the next request, these show it.
_ENDINGS = bytes(range(16)) + bytes(range(0xF0, 0x100))


def slot_independent(h: Hypothesis, chars: int, guard: float = GUARD) -> bool:
    """Is the receiver hunting for a start bit ``guard`` T before the next request, whatever
    the answer? Then the next slot's characters do not depend on this one's value."""
    until = chars * CHAR_BITS
    for v in _ENDINGS:
        got = receive(line_lows(h, (v,), chars), h.receiver, h.phase, until)
        if got is None or got[1] > until - guard:
            return False
    return True


def _survives(g: ChipGuess, obs: Sequence[tuple[int, Observation]], guard: float) -> bool:
    return all(reproduces(g.at(d), o, guard) for d, o in obs)


def _ordered(observations: Observations) -> list[tuple[int, Observation]]:
    """Cheapest and most telling first: lone requests, short reads."""
    flat = [(d, o) for d, obs in observations.items() for o in obs]
    return sorted(flat, key=lambda x: (x[1].chars is not None, len(x[1].values)))


def learn(
    observations: Observations,
    start: Space | Fit,
    guard: float = GUARD,
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
            phases = (-0.04, -0.02, 0.0, 0.02, 0.04) if piped else (0.0,)
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


def learn_wide(divider: int, obs: Observation, around: Fit, spread: float = 0.015) -> Fit | None:
    """The guesses that reproduce one pipelined pattern read, searched afresh on a wide grid
    around the fit's median: clock within ``spread``, offset within half a bit-time, every
    sample phase from 0.40 to 0.60, both receivers and drives.

    Why: lone requests cannot pin the sample phase, and a fit refined on them alone can
    settle on a wrong phase with a clock that makes up for it; such a fit still reads
    lone answers right but splits pipelined slots wrongly, and refining around it never
    gets back to the truth. One pattern read of 256 slots shows far more; a few thousand
    guesses, most rejected at their first slot, cost about a second, once per connect.
    """
    if obs.chars is None:
        raise ValueError("wide learning takes a pipelined read")
    clocks = sorted(g.clock for g in around.guesses)
    offsets = sorted(g.offset for g in around.guesses)
    c0, o0 = clocks[len(clocks) // 2], offsets[len(offsets) // 2]
    grid = Space(
        clocks=tuple(c0 * (1 + spread * i / 6) for i in range(-6, 7)),
        offsets=tuple(o0 + 0.05 * j for j in range(-10, 11)),
        phases=tuple(0.40 + 0.02 * k for k in range(11)),
    )
    kept = [g for g in grid.guesses(grid.drives) if reproduces(g.at(divider), obs)]
    steps = (c0 * spread / 6, 0.05)
    return Fit(tuple(kept), ((divider, obs),), steps) if kept else None


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


def derive_codebook(
    fit: Fit, divider: int, chars: int, pattern: bytes, rx: bytes, guard: float = GUARD
) -> Codebook | None:
    """The codebook read off a pipelined read of a pattern that holds every value once.

    The words come from the line itself; where one slot's characters end and the next
    one's begin is either the same for every slot or what the guesses predict. Far
    cheaper than fitting the pattern: a few guesses' lengths, no search between grid
    points. None
    when no guess's lengths split the read, or the words would be ambiguous.
    """
    if sorted(pattern) != list(range(256)):
        raise ValueError("the pattern must hold every byte value exactly once")
    tried: set[tuple[int, ...]] = set()
    splits: list[tuple[int, ...]] = []
    if len(rx) % len(pattern) == 0:  # every slot alike in length: no model needed
        splits.append((len(rx) // len(pattern),) * len(pattern))
    for g in fit.representatives(16):
        h = g.at(divider)
        if slot_fits(h, chars, guard):
            words = [_word(h, v, chars) for v in pattern]
            splits.append(tuple(len(w) if w is not None else 0 for w in words))
    for lengths in splits:
        if 0 in lengths or lengths in tried or sum(lengths) != len(rx):
            continue
        tried.add(lengths)
        seen = [b""] * 256
        pos = 0
        for v, n in zip(pattern, lengths, strict=True):
            seen[v] = rx[pos : pos + n]
            pos += n
        book = Codebook(chars, tuple(seen))
        if book.unambiguous and book.prefix_free:
            return book
    return None


@lru_cache(maxsize=4096)
def learn_cached(
    divider: int, observations: tuple[Observation, ...], start: Space | Fit
) -> Fit | None:
    """``learn`` from one divider's observations, remembered: every connect to the same
    unit and adapter makes the same observations, and learning is the costly part."""
    return learn({divider: list(observations)}, start)


@lru_cache(maxsize=64)
def learn_wide_cached(divider: int, obs: Observation, around: Fit) -> Fit | None:
    """``learn_wide``, remembered (the same unit and adapter give the same pattern read)."""
    return learn_wide(divider, obs, around)
