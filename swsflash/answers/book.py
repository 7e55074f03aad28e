"""The codebook of one slot shape (the RX characters of every byte value) and its strict
parser: RX decodes exactly or is refused, never read as a wrong byte.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from ..errors import GarbledAnswer
from .line import CHAR_BITS, IDLE, Hypothesis, line_lows, receive

# T to spare between an answer's end and the TX lows around it. Small on purpose: the window
# an answer's end must fall in is only about one divider step wide (the last filler's low
# before it, the receiver hunting again after it), and the model is an approximation: what
# is chosen is checked on the line with a full pattern read before it is used.
GUARD = 0.1


def slot_fits(h: Hypothesis, chars: int, guard: float = GUARD) -> bool:
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
    _prefixes: frozenset[bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {w: v for v, w in enumerate(self.words)})
        object.__setattr__(self, "_lengths", tuple(sorted({len(w) for w in self.words})))
        prefixes = {w[:k] for w in self.words for k in range(len(w))}
        object.__setattr__(self, "_prefixes", frozenset(prefixes))

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

    @property
    def min_chars(self) -> int:
        return self._lengths[0]

    def next_word(self, rx: bytes | bytearray, pos: int) -> tuple[int, int] | int:
        """For reading as characters arrive (prefix-free books only): (value, length) of
        the word at ``pos``, or how many more characters are needed before one can end
        there; GarbledAnswer when what has arrived starts no word."""
        have = len(rx) - pos
        for n in self._lengths:
            if n > have:
                break
            v = self._index.get(bytes(rx[pos : pos + n]))
            if v is not None:
                return v, n
        if bytes(rx[pos:]) in self._prefixes:
            return next(n for n in self._lengths if n > have) - have
        got = bytes(rx[pos : pos + self.max_chars]).hex(" ")
        raise GarbledAnswer(f"{got} (character {pos}) is no byte's answer")

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
def codebook(h: Hypothesis, chars: int | None, guard: float = GUARD) -> Codebook | None:
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
