"""The bench: adapter, line, SWire slave, chip and flash wired together, simulated on
virtual time.

The line-level model is an event loop over line edges, the slave's timers and the
receiver's sampling instants. Two fast paths skip the loop where its outcome is known
exactly: a whole SWire word of 0x80/0xFE characters on a quiet line (the receiver echoes
it, the slave decodes its cells), and a single read request on an otherwise idle line (the
receiver's view of the chip's answer is computed once by the same receiver model and then
reused). ``tests/bench/test_fast_path.py`` checks that both paths give identical results.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .adapter import Adapter, AdapterConfig, TxRun
from .chip import Chip, ChipConfig
from .spi_flash import DEFAULT_PART, PARTS, SpiFlash
from .swire_slave import SlaveTiming, SwireSlave, answer_edges
from .wire import HIGH, LOW, PS_PER_S, UartReceiver, bit_time_ps, char_edges

US = PS_PER_S // 1_000_000


def _word_chars(cmd: int, data: int) -> bytes:
    bits = [cmd, *((data >> i) & 1 for i in range(7, -1, -1)), 0]
    return bytes(0x80 if b else 0xFE for b in bits)


WORD_TABLE: dict[bytes, tuple[int, int]] = {
    _word_chars(cmd, data): (cmd, data) for cmd in (0, 1) for data in range(256)
}
# The receiver's state, frame start measured back from a reference time.
RxState = tuple[int, int | None, int, int, bool]
# What the receiver made of one answer: character times and values, state after, usable?,
# settle time.
Memo = tuple[tuple[int, ...], bytes, RxState, bool, int]

# Characters that are one short low pulse (start bit plus k low data bits), then high long
# enough for the chip to call the cell a 0 before the next character can start.
SINGLE_PULSE_LOW_BITS = {(0xFF << k) & 0xFF: k + 1 for k in range(4)}


@dataclass(frozen=True)
class BenchConfig:
    baud: int = 921_600
    chip: ChipConfig = field(default_factory=ChipConfig)
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    flash_part: str = DEFAULT_PART
    flash_status: int = 0x00
    flash_status2: int = 0x00  # parts with a second status byte only (CMP = 0x40)
    one_byte_status_write: str = "keep"  # what 0x01 with one byte does to status-2
    flash_asleep: bool = False
    answer_delay_clocks: int = 2
    resync_idle_us: float = 50.0
    reset_line: str | None = None  # which modem line reaches the RST pad: rts, dtr or None
    power_line: str | None = None  # which modem line feeds the unit's VCC: rts, dtr or None
    power_on_at_s: float | None = 0.0  # None: unpowered until power_on() is called
    fast_path: bool = True


@dataclass
class BenchStats:
    events: int = 0
    fast_words: int = 0
    fast_requests: int = 0


class Bench:
    def __init__(self, config: BenchConfig, flash_data: bytes | None = None) -> None:
        self.config = config
        self.flash = SpiFlash(
            PARTS[config.flash_part],
            flash_data,
            status=config.flash_status,
            status2=config.flash_status2,
            deep_power_down=config.flash_asleep,
            one_byte_status_write=config.one_byte_status_write,
        )
        self.chip = Chip(config.chip, self.flash)
        timing = SlaveTiming(
            answer_delay_ps=round(config.answer_delay_clocks * self.chip.clock_ps),
            resync_idle_ps=round(config.resync_idle_us * US),
        )
        self.slave = SwireSlave(self.chip, timing)
        self.bit_ps = bit_time_ps(config.baud)
        self.adapter = Adapter(config.adapter, self.bit_ps)
        self.rx = UartReceiver(self.bit_ps)
        self.now = 0
        # A fast-path word or answer that started by ``now`` is finished at once; the
        # horizon says how far that went, so that later modem-line events never go back.
        self.horizon = 0
        self.stats = BenchStats()
        self.tx_level = HIGH
        self.drive_level: int | None = None
        self.line = HIGH
        self._edges: list[tuple[int, int]] = []
        self._edge_i = 0
        self._boot_seen = self.chip.boot_count
        self._power_on_at: int | None = None
        self._chip_reset_at: int | None = None
        self._lag_until: int | None = None  # brown-out: the line stays low until then
        self._memo: dict[tuple[object, ...], Memo] = {}
        if config.power_on_at_s is not None:
            self._power_on_at = round(config.power_on_at_s * PS_PER_S)
        self._line_ok = config.adapter.wired and not config.adapter.rx_led
        # Bit errors garble characters before they reach the line (and after the receiver),
        # so the line itself stays exact: garbled words simply miss the fast path.
        self._exact_line = self._line_ok
        # Nothing the host writes from now on reaches TX sooner than this.
        self._out_latency = round(config.adapter.out_latency_us * US)

    # -- what the host does ------------------------------------------------------------------
    def host_write(self, data: bytes, t: int) -> None:
        self.advance(t)
        self.adapter.host_write(data, max(t, self.now))

    def set_baud(self, baud: int, t: int) -> None:
        self.advance(t)
        self.bit_ps = bit_time_ps(baud)
        self.adapter.bit_ps = self.bit_ps
        self.rx.bit_ps = self.bit_ps

    def set_modem_line(self, name: str, asserted: bool, t: int) -> None:
        """RTS/DTR asserted drives the adapter pin low: the chip is held in reset, or the
        unit fed from that pin loses its supply."""
        self.advance(t)
        at = max(self.now, self.horizon)
        if name == self.config.reset_line:
            self.chip.set_reset_pin(asserted, at)
            self._sync_slave(at)
        if name == self.config.power_line:
            self.chip.supply_pin(not asserted, at)
            self._sync_slave(at)

    def power_on(self, t: int) -> None:
        self._power_on_at = max(t, self.now, self.horizon)

    def reset_chip_at(self, t: int) -> None:
        """Fault injection: the chip resets by itself at ``t`` (brown-out, watchdog)."""
        self._chip_reset_at = max(t, self.now, self.horizon)

    # -- simulation --------------------------------------------------------------------------
    def next_event(self) -> int | None:
        times = [
            self._next_tx_edge(),
            self.slave.drive[0][0] if self.slave.drive else None,
            self.slave.next_deadline(),
            self.rx.next_sample(),
            self.chip.next_event(),
            self._lag_until,
            self._power_on_at,
            self._chip_reset_at,
        ]
        present = [t for t in times if t is not None]
        return min(present) if present else None

    def advance(self, t_end: int) -> None:
        """Let everything happen that is due by ``t_end``."""
        while True:
            t = self.next_event()
            if t is None or t > t_end:
                break
            if t < self.now:
                t = self.now
            if self.config.fast_path and self._try_fast(t, t_end):
                continue
            self._step(t)
        self.now = max(self.now, t_end)
        self.adapter.settle(self.now)

    def _next_tx_edge(self) -> int | None:
        if self._edge_i < len(self._edges):
            return self._edges[self._edge_i][0]
        if self.adapter.tx:
            run = self.adapter.tx[0]
            return run.start + run.pos * self.adapter.char_ps
        return None

    def _step(self, t: int) -> None:
        self.stats.events += 1
        self.now = t
        if self._power_on_at is not None and t >= self._power_on_at:
            self._power_on_at = None
            self.chip.power_arrives(t)
        if self._chip_reset_at is not None and t >= self._chip_reset_at:
            self._chip_reset_at = None
            self.chip.reboot(t)
        self.chip.update(t)
        self._sync_slave(t)
        if self._edge_i >= len(self._edges) and self.adapter.tx:
            run = self.adapter.tx[0]
            if run.start + run.pos * self.adapter.char_ps == t:
                self._edges = char_edges(run.data[run.pos], t, self.bit_ps)
                self._edge_i = 0
                run.pos += 1
                if run.pos == len(run.data):
                    self.adapter.tx.popleft()
        while self._edge_i < len(self._edges) and self._edges[self._edge_i][0] <= t:
            at, self.tx_level = self._edges[self._edge_i]
            self._edge_i += 1
            if self.chip.brown_out():
                high = self.tx_level == HIGH
                self._lag_until = at + self.chip.rise_delay_ps() if high else None
        if self._lag_until is not None and t >= self._lag_until:
            self._lag_until = None
        released = False
        while self.slave.drive and self.slave.drive[0][0] <= t:
            level = self.slave.drive.popleft()[1]
            released = level is None
            self.drive_level = level
        self._update_line(t)
        if released:
            self.slave.on_release(t, self.line)
        deadline = self.slave.next_deadline()
        if deadline is not None and deadline <= t:
            self.slave.on_deadline(t)
        sample = self.rx.next_sample()
        if sample is not None and sample <= t:
            self.rx.on_sample(t, self.line)
            if self.rx.received:
                for ch in self.rx.received:
                    self.adapter.receive(ch.time, 0, bytes([ch.value]))
                self.rx.received.clear()

    def _line_level(self) -> int:
        if self.drive_level is not None:
            return self.drive_level
        if not self._line_ok:
            return HIGH
        firmware = self.chip.sws_output_level(self.now)
        if firmware is not None:
            return firmware  # push-pull: TX through its resistor cannot move the pin
        return LOW if self._lag_until is not None else self.tx_level

    def _update_line(self, t: int) -> None:
        level = self._line_level()
        if level != self.line:
            self.line = level
            self.rx.on_edge(t, level)
            self.slave.on_edge(t, level)

    def _sync_slave(self, t: int) -> None:
        """Follow the chip: a reboot restarts the slave, a dead SWS pin silences it."""
        if self.chip.boot_count != self._boot_seen:
            self._boot_seen = self.chip.boot_count
            self.slave.set_active(False, t, self.line)
        alive = self.chip.swire_alive(t)
        if alive != self.slave.active:
            self.slave.set_active(alive, t, self.line)
        if not self.slave.driving and self.drive_level is not None:
            self.drive_level = None
            self._update_line(t)

    # -- fast paths --------------------------------------------------------------------------
    def _line_idle_at(self, t: int) -> bool:
        """Nothing on the line but what the fast paths know how to continue from."""
        return (
            self._exact_line
            and self._edge_i >= len(self._edges)
            and self.drive_level is None
            and self.line == HIGH
            and (not self.slave.active or self.slave.quiet)
            and self._chip_reset_at is None
            and self._lag_until is None
            and not self.chip.pad_busy()
            and not self._slave_stale(t)
            and bool(self.adapter.tx)
        )

    def _slave_stale(self, t: int) -> bool:
        """A word just decoded rebooted the chip or woke/silenced its SWS pin: the event
        loop must restart the slave (``_sync_slave``) before anything else is decoded."""
        return self.chip.boot_count != self._boot_seen or self.chip.swire_alive(t) != (
            self.slave.active
        )

    def _skip_tx_while_driven(self, t: int, t_end: int) -> bool:
        """While the firmware drives SWS, TX changes nothing the model sees (the line, the
        receiver and the silent slave follow the firmware): whole characters that end before
        anything else happens are taken off TX without edges."""
        run = self.adapter.tx[0]
        char_ps = self.adapter.char_ps
        if self._edge_i < len(self._edges) or run.start + run.pos * char_ps != t:
            return False
        others = (
            self.slave.next_deadline(),
            self.rx.next_sample(),
            self.chip.next_event(),
            self._power_on_at,
            self._chip_reset_at,
            self._lag_until,
        )
        limit = min([t_end, *(x for x in others if x is not None)])
        n = min(len(run.data) - run.pos, (limit - t) // char_ps)
        if n <= 0:
            return False
        run.pos += n
        if run.pos == len(run.data):
            self.adapter.tx.popleft()
        self.now = t + n * char_ps
        self.stats.fast_words += 1
        return True

    def _next_chip_change(self) -> int | None:
        """The chip's next own event, or a pending power-on: a shortcut must end before it
        (so that a unit waiting for its battery still streams on the fast path)."""
        times = [x for x in (self.chip.next_event(), self._power_on_at) if x is not None]
        return min(times) if times else None

    def _try_fast(self, t: int, t_end: int) -> bool:
        if self.adapter.tx and self.chip.sws_output_level(t) is not None:
            return self._skip_tx_while_driven(t, t_end)
        if not self._line_idle_at(t):
            return False
        run = self.adapter.tx[0]
        char_ps = self.adapter.char_ps
        if run.start + run.pos * char_ps != t:
            return False
        if self.slave.active and self.slave.expects_request:
            return self._fast_request(t, t_end)
        if not self.rx.idle:
            return False
        done = False
        while True:
            t0 = run.start + run.pos * char_ps
            t_word = t0 + 10 * char_ps
            chip_next = self._next_chip_change()
            if t0 > t_end or (chip_next is not None and chip_next <= t_word):
                break
            deadline = self.slave.next_deadline()
            if deadline is not None and deadline < t0:
                break
            chunk = run.data[run.pos : run.pos + 10]
            word: tuple[int, int] | None = None
            if self.slave.active:
                word = WORD_TABLE.get(chunk)
                if word is None or not self.slave.at_word_start:
                    break
                if word[0] == 0 and self.slave.expects_request:
                    break
            elif len(chunk) < 10:
                break
            self.now = t0
            self.adapter.receive(t0 + 9 * self.bit_ps + self.bit_ps // 2, char_ps, chunk)
            if word is not None:
                self.slave.fast_word(word[0], word[1], t0, self.bit_ps)
            self.stats.fast_words += 1
            self.horizon = max(self.horizon, t_word)
            done = True
            run.pos += 10
            if run.pos == len(run.data):
                self.adapter.tx.popleft()
                break
            if self._slave_stale(t_word):
                break
        return done

    def _fast_request(self, t0: int, t_end: int) -> bool:
        """A read request and the chip's answer, with whatever the host sends meanwhile.

        The receiver's view of the answer depends only on the data byte, the timing, the
        characters the host sends until the next one the chip can see, and the receiver's
        own state; it is computed once by the receiver model and then reused.
        """
        run = self.adapter.tx[0]
        low_bits = SINGLE_PULSE_LOW_BITS.get(run.data[run.pos])
        if low_bits is None:
            return False
        bit, char_ps = self.bit_ps, self.adapter.char_ps
        low = low_bits * bit
        t_zero = t0 + 2 * low + 1
        unit = self.chip.swire_unit_ps()
        delay = self.slave.timing.answer_delay_ps
        t_release = t_zero + delay + 41 * unit
        # The request and the characters the answer covers; the first one starting after
        # the release is the next thing the chip sees.
        covered, t_next = self._covered_chars(run, t0, t_release)
        if covered is None:
            return False
        if len(covered) > 1 or t_next is not None:
            following = t0 + char_ps if len(covered) > 1 else t_next
            if following is not None and following < t_zero:
                return False  # the next character's start bit ends the cell first: a 1
        chip_next = self._next_chip_change()
        if chip_next is not None and chip_next <= (t_next or t_release) + 20 * char_ps:
            return False
        rx_key = self._rx_state_key(t0)
        self.now = t0
        value = self.slave.fast_answer(t0, t0 + low, t_zero, t_release)
        until = None if t_next is None else t_next - t0
        key = (bit, low, delay, unit, value, rx_key, until, covered)
        memo = self._memo.get(key)
        if memo is None:
            chars = [(i * char_ps, c) for i, c in enumerate(covered)]
            start = t_zero - t0 + delay
            drive = answer_edges(value, unit, start)
            memo = self._scratch_answer(chars, drive, rx_key, until)
            self._memo[key] = memo
        offsets, values, rx_after, ok, settled = memo
        if not ok or t0 + settled > t_end + self._out_latency:
            # Either the chip would hear the host again before the answer settles, or the
            # answer outlasts the earliest moment a character the host has not written yet
            # could reach the line: the event loop takes over from the request's first
            # edge, with the answer the slave has already decided on.
            self.slave.replan_answer(value, unit, t_zero + delay)
            return False
        self.adapter.receive_at(t0, offsets, values)
        self._rx_restore(rx_after, t0)
        run.pos += len(covered)
        if run.pos == len(run.data):
            self.adapter.tx.popleft()
        self.horizon = max(self.horizon, t0 + settled)
        self.stats.fast_requests += 1
        return True

    def _covered_chars(
        self, run: TxRun, t0: int, t_release: int
    ) -> tuple[bytes | None, int | None]:
        """The characters from the request up to the chip's release (all of them in the
        request's own run, which is back to back), and when the next one starts."""
        char_ps = self.adapter.char_ps
        n = -(-(t_release - t0) // char_ps)  # characters starting before the release
        if n > 16:
            return None, None
        left = len(run.data) - run.pos
        if n < left:
            return run.data[run.pos : run.pos + n], t0 + n * char_ps
        later = self.adapter.tx[1] if len(self.adapter.tx) > 1 else None
        if later is not None and later.start < t_release:
            return None, None  # a second run starts under the answer: the event loop's job
        return run.data[run.pos :], later.start if later is not None else None

    def _rx_state_key(self, t0: int) -> RxState:
        """The receiver's state with its frame start measured back from ``t0``."""
        rx = self.rx
        if rx._start is None:
            return (rx.level, None, 0, 0, rx._wait_high)
        return (rx.level, t0 - rx._start, rx._bit, rx._value, rx._wait_high)

    def _rx_restore(self, state: RxState, t0: int) -> None:
        rx = self.rx
        rx.level, start, rx._bit, rx._value, rx._wait_high = state
        rx._start = None if start is None else t0 - start

    def _scratch_answer(
        self,
        chars: list[tuple[int, int]],
        drive: list[tuple[int, int | None]],
        rx_state: RxState,
        until: int | None,
    ) -> Memo:
        """Run the receiver over the line of one request and its answer (times relative to
        the request): the host's characters, masked while the chip drives."""
        bit = self.bit_ps
        tx = [e for rel, c in chars for e in char_edges(c, rel, bit)]
        rx = UartReceiver(bit)
        rx.level, start, rx._bit, rx._value, rx._wait_high = rx_state
        rx._start = None if start is None else -start
        events = sorted({t for t, _ in tx} | {t for t, _ in drive})
        release = drive[-1][0]
        tx_level, drive_level, line = HIGH, None, HIGH
        ti = di = ei = 0
        ok = True
        last = 0
        while True:
            t_edge = events[ei] if ei < len(events) else None
            t_sample = rx.next_sample()
            if t_edge is None and t_sample is None:
                break
            t = min(x for x in (t_edge, t_sample) if x is not None)
            if until is not None and t >= until:
                break
            last = t
            if t_edge == t:
                ei += 1
                while ti < len(tx) and tx[ti][0] <= t:
                    tx_level = tx[ti][1]
                    ti += 1
                while di < len(drive) and drive[di][0] <= t:
                    drive_level = drive[di][1]
                    di += 1
                new = drive_level if drive_level is not None else tx_level
                if new != line:
                    line = new
                    rx.on_edge(t, line)
                if t >= release and line == LOW:
                    ok = False  # the chip listens again and would see this: no shortcut
            if t_sample == t:
                rx.on_sample(t, line)
        if until is None:
            until = max(last, release) + 1
        ok = ok and line == HIGH
        offsets = tuple(ch.time for ch in rx.received)
        values = bytes(ch.value for ch in rx.received)
        if rx._start is None:
            state: RxState = (rx.level, None, 0, 0, rx._wait_high)
        else:
            state = (rx.level, -rx._start, rx._bit, rx._value, rx._wait_high)
        return offsets, values, state, ok, until
