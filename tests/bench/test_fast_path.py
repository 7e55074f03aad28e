"""The fast paths of the bench change nothing a host can see: random host traffic through two
benches that differ only in ``fast_path`` gives identical bytes at identical times and leaves
identical chip and flash state."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from swire_bytes import END, MS, REQUEST, SRAM, US, divider_for, read_head, write_frame

from swsflash.bench.adapter import line_baud
from swsflash.bench.adapter_presets import ADAPTER_PRESETS, with_preset
from swsflash.bench.bench import DRIVES, Bench, BenchConfig
from swsflash.bench.scenarios import factory_flash, scenario_config
from swsflash.bench.wire import RECEIVERS

# RTS and baud changes come when the host has flushed and the line has gone quiet, as
# hosts do them; see the xfail tests at the end for changes in the middle of a stream.
HOST_EVENTS = ("rts", "baud")
QUIET_PS = MS

SCENARIOS = ["healthy", "gappy-adapter", "bricked", "protected", "flash-asleep", "noisy"]
BAUDS = [460_800, 921_600, 3_000_000]
FCLKS = [22e6, 24.5e6, 26.44e6, 28e6, 31e6]
PHASES = [7 / 16, 0.46, 0.5, 9 / 16]


@dataclass(frozen=True)
class Op:
    kind: str  # write | read | garbage | pause | rts | baud
    gap_ps: int  # host idle before this op (after draining, in valid traffic)
    data: bytes = b""  # write: the whole frame; garbage: the characters
    requests: tuple[int, ...] = ()  # read: idle before each request ...
    end_gap_ps: int = 0  # ... and before the END word
    flag: bool = False  # rts: asserted?
    baud: int = 0


class Pair:
    """Two benches, line-level and fast, driven by the same host at the same times."""

    def __init__(self, config: BenchConfig) -> None:
        flash = factory_flash(config.flash_part)
        self.slow = Bench(replace(config, fast_path=False), flash)
        self.fast = Bench(replace(config, fast_path=True), flash)
        self.t = 0

    @property
    def both(self) -> tuple[Bench, Bench]:
        return self.slow, self.fast

    def check(self) -> None:
        """What the host could read by now is the same, byte for byte and time for time."""
        t = self.t
        for b in self.both:
            b.advance(t)
        avail = [b.adapter.available(t) for b in self.both]
        assert avail[0] == avail[1], f"at {t}: {avail}"
        ready = [[p for p in b.adapter._ready if p[0] <= t] for b in self.both]
        assert ready[0] == ready[1], f"at {t}"

    def write(self, data: bytes) -> None:
        for b in self.both:
            b.host_write(data, self.t)

    def drain(self) -> None:
        self.t = max(self.t, *(b.adapter.tx_end for b in self.both))

    def run(self, ops: list[Op], valid: bool) -> None:
        for op in ops:
            if valid or op.kind in HOST_EVENTS:
                self.drain()
            if op.kind in HOST_EVENTS:
                self.t += QUIET_PS
            self.t += op.gap_ps
            if op.kind in ("write", "garbage"):
                self.write(op.data)
            elif op.kind == "read":
                self.write(op.data)
                steps = [(gap, REQUEST) for gap in op.requests] + [(op.end_gap_ps, END)]
                for gap, chars in steps:
                    if valid:
                        self.drain()
                    self.t += gap
                    self.check()
                    self.write(chars)
            elif op.kind == "rts":
                for b in self.both:
                    b.set_modem_line("rts", op.flag, self.t)
            elif op.kind == "baud":
                for b in self.both:
                    b.set_baud(op.baud, self.t)
            self.check()
        self.t += 50 * MS
        self.check()

    def assert_same_end_state(self) -> None:
        slow, fast = self.both
        assert list(slow.adapter._ready) == list(fast.adapter._ready)
        assert bytes(slow.adapter._open) == bytes(fast.adapter._open)
        assert slow.chip.regs == fast.chip.regs
        assert slow.chip.sram == fast.chip.sram
        assert (slow.chip.halted, slow.chip.boot_count, slow.chip.sws_taken) == (
            fast.chip.halted,
            fast.chip.boot_count,
            fast.chip.sws_taken,
        )
        assert slow.flash.data == fast.flash.data
        assert slow.flash.status(self.t) == fast.flash.status(self.t)
        assert slow.flash.in_deep_power_down == fast.flash.in_deep_power_down
        assert slow.stats.fast_words == slow.stats.fast_requests == 0


# -- traffic -------------------------------------------------------------------------------

# Idle times around the interesting thresholds: back to back, inside a character, the
# slave's 50 us resync, an answer's length, a USB frame.
GAPS_US = [0, 0, 1, 7, 11, 30, 49, 50, 51, 80, 150, 400, 1000, 2500]


@st.composite
def gaps(draw: st.DrawFn, lo_us: int = 0) -> int:
    if draw(st.booleans()):
        us = draw(st.sampled_from([g for g in GAPS_US if g >= lo_us] or [lo_us]))
        return int(us * US)
    return int(draw(st.integers(lo_us * US, 3000 * US)))


@st.composite
def write_ops(draw: st.DrawFn, centre: int, valid: bool) -> Op:
    kind = draw(st.sampled_from(["sram", "div", "fifo", "spi", "cpu", "wd", "chipid"]))
    if kind == "sram":
        addr = SRAM + draw(st.integers(0, 15))
        data = draw(st.lists(st.integers(0, 255), min_size=0, max_size=8))
    elif kind == "div":
        addr = 0x00B2
        lo, hi = (centre - 1, centre + 1) if valid else (1, 127)
        data = [draw(st.integers(lo, hi))]
    elif kind == "fifo":
        addr, data = 0x00B3, [draw(st.sampled_from([0x00, 0x80]))]
    elif kind == "spi":
        addr = draw(st.sampled_from([0x000C, 0x000D]))
        if addr == 0x000D:
            data = [draw(st.sampled_from([0x00, 0x01, 0x0A]))]
        else:
            data = draw(
                st.lists(
                    st.sampled_from([0x06, 0x05, 0x9F, 0xAB, 0x02, 0x20, 0x00, 0x01, 0x03, 0xFF]),
                    min_size=1,
                    max_size=6,
                )
            )
    elif kind == "cpu":
        addr, data = 0x0602, [draw(st.sampled_from([0x05, 0x05, 0x88, 0x08]))]
    elif kind == "wd":
        addr, data = 0x0622, [draw(st.sampled_from([0x00, 0x08]))]
    else:
        addr, data = 0x007E, [draw(st.integers(0, 255))]
    return Op("write", draw(gaps()), write_frame(addr, data))


@st.composite
def read_ops(draw: st.DrawFn, valid: bool) -> Op:
    addr = draw(st.sampled_from([0x007E, 0x00B2, 0x000C, 0x06BC, SRAM, SRAM + 7]))
    n = draw(st.integers(0, 4))
    # A request must wait for the previous answer in valid traffic; random traffic may not.
    lo = 300 if valid else 0
    requests = tuple(draw(st.lists(gaps(lo), min_size=n, max_size=n)))
    end_gap = draw(gaps(lo))
    return Op("read", draw(gaps()), read_head(addr), requests=requests, end_gap_ps=end_gap)


CHARS = st.one_of(
    st.sampled_from([0x80, 0xFE, 0xFC, 0xF8, 0xF0, 0xC0, 0x00, 0xFF, 0xE6, 0x7F]),
    st.integers(0, 255),
)


@st.composite
def traffic(draw: st.DrawFn, valid: bool) -> tuple[BenchConfig, list[Op]]:
    scenario = draw(st.sampled_from(SCENARIOS))
    baud = draw(st.sampled_from(BAUDS))
    fclk = draw(st.sampled_from(FCLKS))
    base = scenario_config(scenario)
    # The adapter and the chip's side of the line: every preset, receiver and drive.
    adapter = with_preset(base.adapter, draw(st.sampled_from(list(ADAPTER_PRESETS))))
    adapter = replace(
        adapter,
        receiver=draw(st.sampled_from(RECEIVERS)),
        sample_phase=draw(st.sampled_from(PHASES)),
    )
    config = replace(
        base,
        baud=baud,
        reset_line="rts",
        chip=replace(base.chip, fclk_hz=fclk),
        adapter=adapter,
        answer_drive=draw(st.sampled_from(DRIVES)),
        release_rise_ns=draw(st.sampled_from([0.0, 30.0, 250.0])),
        end_trim_clocks=draw(st.sampled_from([0, 4])),
        answer_delay_clocks=draw(st.integers(2, 12)),
    )
    centre = min(0x7F, divider_for(line_baud(adapter, baud), fclk))
    preamble = [
        Op("pause", draw(st.integers(0, 3000)) * US),
        Op("write", 0, write_frame(0x0602, [0x05])),
        Op("write", 0, write_frame(0x00B2, [centre])),
    ]
    choices = [write_ops(centre, valid), read_ops(valid), gaps().map(lambda g: Op("pause", g))]
    if not valid:
        choices += [
            st.builds(Op, st.just("garbage"), gaps(), st.binary(min_size=1, max_size=24)),
            st.builds(
                Op, st.just("garbage"), gaps(), st.lists(CHARS, min_size=1, max_size=30).map(bytes)
            ),
            st.builds(Op, st.just("rts"), gaps(), flag=st.booleans()),
            st.builds(Op, st.just("baud"), gaps(), baud=st.sampled_from(BAUDS)),
        ]
    ops = draw(st.lists(st.one_of(*choices), min_size=1, max_size=16))
    return config, preamble + ops


SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SETTINGS
@given(traffic(valid=True))
def test_valid_traffic_same_with_and_without_fast_path(
    case: tuple[BenchConfig, list[Op]],
) -> None:
    config, ops = case
    pair = Pair(config)
    pair.run(ops, valid=True)
    pair.assert_same_end_state()
    assert pair.fast.stats.fast_words > 0


@SETTINGS
@given(traffic(valid=False))
def test_random_traffic_same_with_and_without_fast_path(
    case: tuple[BenchConfig, list[Op]],
) -> None:
    config, ops = case
    pair = Pair(config)
    pair.run(ops, valid=False)
    pair.assert_same_end_state()


def test_fast_path_is_used_and_equal_on_a_flasher_like_session() -> None:
    """Halt, divider, chip id, SRAM writes and reads, a flash read: the fast path carries
    nearly all of it, and nothing differs."""
    config = BenchConfig()
    ops = [
        Op("pause", 2 * MS),
        Op("write", 0, write_frame(0x0602, [0x05])),
        Op("write", 0, write_frame(0x0622, [0x00])),
        Op("write", 0, write_frame(0x00B2, [53])),
        Op("read", 0, read_head(0x007E), requests=(2 * MS, 2 * MS), end_gap_ps=2 * MS),
        Op("write", 0, write_frame(SRAM, range(64))),
        Op("read", 0, read_head(SRAM + 60), requests=(2 * MS,) * 4, end_gap_ps=2 * MS),
        Op("write", 0, write_frame(0x00B3, [0x80])),
        Op("write", 0, write_frame(0x000D, [0x00])),
        Op("write", 0, write_frame(0x000C, [0x03, 0x00, 0x00, 0x00, 0x00])),
        Op("write", 0, write_frame(0x000D, [0x0A])),
        Op("read", 0, read_head(0x000C), requests=(2 * MS,) * 8, end_gap_ps=2 * MS),
        Op("write", 0, write_frame(0x000D, [0x01])),
    ]
    pair = Pair(config)
    pair.run(ops, valid=True)
    pair.assert_same_end_state()
    stats = pair.fast.stats
    assert stats.fast_words >= 100
    assert stats.fast_requests >= 14
    assert stats.events < pair.slow.stats.events / 20
    # ... and the session did what it should.
    assert pair.fast.chip.sram[60:64] == bytes(range(60, 64))
    got = pair.fast.adapter._ready
    assert sum(len(p[1]) for p in got) > 0


# -- host events in the middle of a stream ---------------------------------------------------
# The fast path finishes a word (or a read answer) that has started by the time it is asked
# to reach (``Bench.horizon``). A modem-line change that comes meanwhile takes effect at the
# end of that word, a baud change and a discard of the output only reach the characters
# after it; the line-level path applies all three at once. These tests pin the difference
# down; they are expected to fail until the bench handles it, and will then report XPASS
# (strict) so that the marker is removed.

HALT = write_frame(0x0602, [0x05])


def _char_ps(baud: int) -> int:
    return 10 * round(1e12 / baud)


@pytest.mark.xfail(strict=True, reason="fast path defers an RTS change to the end of a word")
def test_reset_release_at_a_word_start_in_a_halt_stream() -> None:
    base = scenario_config("bricked")
    outcome = []
    for fast in (False, True):
        bench = Bench(replace(base, baud=460_800, reset_line="rts", fast_path=fast))
        bench.set_modem_line("rts", True, 0)
        for _ in range(6):
            bench.host_write(HALT, 0)
        # Release exactly when the third halt's START word begins.
        bench.set_modem_line("rts", False, 125 * US + 140 * _char_ps(460_800))
        bench.advance(50 * MS)
        outcome.append((bench.chip.halted, bench.chip.sws_taken, list(bench.adapter._ready)))
    assert outcome[0] == outcome[1]


@pytest.mark.xfail(strict=True, reason="fast path sends a started word at the old baud rate")
def test_baud_change_while_a_word_is_on_the_line() -> None:
    received = []
    for fast in (False, True):
        bench = Bench(BenchConfig(baud=921_600, fast_path=fast))
        bench.host_write(HALT + write_frame(SRAM, range(8)), 2 * MS)
        bench.set_baud(3_000_000, 2 * MS + 125 * US + 23 * _char_ps(921_600))
        bench.advance(50 * MS)
        received.append(list(bench.adapter._ready))
    assert received[0] == received[1]


def test_reboot_written_in_a_stream_restarts_the_slave_on_both_paths() -> None:
    """Found by the random test: a write that reboots the chip (0x0602 <- 0x88) followed at
    once by more writes. The fast path used to go on decoding with the slave's old state,
    so the next write (here the divider) was lost on that path only."""
    frames = [
        HALT,
        write_frame(0x00B2, [106]),
        write_frame(0x0602, [0x88]),
        write_frame(0x00B2, [12]),
        read_head(0x007E) + REQUEST + END,
    ]
    outcome = []
    for fast in (False, True):
        bench = Bench(BenchConfig(baud=460_800, fast_path=fast))
        for f in frames:
            bench.host_write(f, 0)
        bench.advance(50 * MS)
        outcome.append((bench.chip.regs[0x00B2], bench.chip.boot_count, list(bench.adapter._ready)))
    assert outcome[0] == outcome[1]
    assert outcome[0][0] == 12


def test_host_write_during_a_slow_answer_is_seen_on_both_paths() -> None:
    """Found by the random test: at 3 Mbaud with the divider left at its 460800 value, the
    chip's answer lasts longer than the adapter's OUT latency. The END word the host writes
    after the request has started lands inside that answer; the fast path used to have
    replayed the whole answer already and then received the END echo on top of it."""
    ops = [
        Op("write", 0, HALT),
        Op("write", 0, write_frame(0x00B2, [106])),
        Op("baud", 0, baud=3_000_000),
        Op("read", 0, read_head(0x007E), requests=(150 * US,), end_gap_ps=150 * US),
        Op("write", 0, write_frame(SRAM, [])),
    ]
    pair = Pair(BenchConfig(baud=460_800))
    pair.run(ops, valid=False)
    pair.assert_same_end_state()


@pytest.mark.xfail(strict=True, reason="fast path has already sent a started word")
def test_output_discarded_while_a_word_is_on_the_line() -> None:
    """pyserial's reset_output_buffer in the middle of a write, as sim:// does it."""
    echoed = []
    for fast in (False, True):
        bench = Bench(BenchConfig(fast_path=fast))
        bench.host_write(write_frame(SRAM, range(20)), 2 * MS)
        t = 2 * MS + 125 * US + 23 * _char_ps(921_600)
        bench.advance(t)
        bench.adapter.discard_output(t)
        bench.advance(50 * MS)
        echoed.append(list(bench.adapter._ready))
    assert echoed[0] == echoed[1]


def test_bit_errors_do_not_depend_on_when_the_host_writes() -> None:
    """Found by the random test on the noisy adapter: with one random generator for TX and
    RX bit errors, a path that receives some characters before the host's next write (the
    fast path) drew different errors from the line-level path. ``Adapter`` now keeps one
    generator per direction."""
    ops = [
        Op("write", 0, HALT),
        Op("write", 0, write_frame(0x00B2, [106])),
        Op("baud", 0, baud=3_000_000),
        Op("write", 0, write_frame(0x00B2, [1])),
        Op("read", 0, read_head(0x007E), end_gap_ps=400 * US),
    ]
    base = scenario_config("noisy")
    adapter = replace(base.adapter, bit_error_rate=1e-3)
    pair = Pair(replace(base, baud=460_800, reset_line="rts", adapter=adapter))
    pair.run(ops, valid=False)
    pair.assert_same_end_state()
