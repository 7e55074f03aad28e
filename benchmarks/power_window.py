"""How often a bricked unit powered at a random moment of the power window is caught.

    python benchmarks/power_window.py [--trials 100] [--latency 1 3 16] [--window-ms 5000]
                                      [--power rts] [--seed N] [--query OPTS]

Each trial runs the host's recover connection (plain, reset lines, then the power window)
against ``sim://bricked`` at the given adapter latency; the unit gets its power at a
seeded random moment of the window (battery), or through RTS (``--power rts``, needs the
bench's ``power=rts``). A trial counts only when the session ends attached to a halted
TLSR825x whose chip id reads back. Runs on the bench's virtual clock.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import replace

import swsflash.session as session_mod
from swsflash.errors import SwsError
from swsflash.settings import ConnectOptions
from swsflash.transport import Transport


def trial(url: str, options: ConnectOptions, window_s: float) -> tuple[bool, str, float]:
    """(caught, what went wrong, seconds from the window's prompt to the end)."""
    opened: list[Transport] = []
    prompt: list[float] = []
    real_open = session_mod.open_transport

    def open_and_note(port: str, opts: ConnectOptions) -> Transport:
        opened.append(real_open(port, opts))
        return opened[-1]

    def say(text: str) -> None:
        if "apply power" in text or "power-cycling" in text.lower():
            prompt.append(opened[0].clock.now())

    session_mod.open_transport = open_and_note
    try:
        with session_mod.recover_connect(url, options, window_s, say) as dev:
            ok = dev.chip.chip_id() == 0x5562
            end = dev.clock.now()
            return ok, "" if ok else "wrong chip id", end - (prompt[0] if prompt else end)
    except SwsError as exc:
        end = opened[0].clock.now() if opened else 0.0
        return (
            False,
            f"exit {exc.exit_code}: {exc.message[:90]}",
            end - (prompt[0] if prompt else end),
        )
    finally:
        session_mod.open_transport = real_open


def window_start(query: str, options: ConnectOptions, window_s: float) -> float:
    """Seconds from opening the port to the power-window prompt (a never-powered run)."""
    opened: list[Transport] = []
    start: list[float] = []
    real_open = session_mod.open_transport

    def open_and_note(port: str, opts: ConnectOptions) -> Transport:
        opened.append(real_open(port, opts))
        start.append(opened[-1].clock.now())
        return opened[-1]

    prompt: list[float] = []

    def say(text: str) -> None:
        if "apply power" in text:
            prompt.append(opened[0].clock.now() - start[0])

    session_mod.open_transport = open_and_note
    try:
        with session_mod.recover_connect(
            f"sim://bricked?power_on_after=1000&{query}", options, window_s, say
        ):
            pass
    except SwsError:
        pass
    finally:
        session_mod.open_transport = real_open
    return prompt[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--latency", type=int, nargs="+", default=[1, 3, 16], help="ms")
    ap.add_argument("--window-ms", type=int, default=5000)
    ap.add_argument("--power", choices=["rts", "dtr"], default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--query", default="", help="more sim:// options, e.g. bounce=2&tx_power=1")
    args = ap.parse_args()
    window_s = args.window_ms / 1000
    rng = random.Random(args.seed)
    options = ConnectOptions()
    for lat in args.latency:
        query = f"latency_us={lat * 1000}" + (f"&{args.query}" if args.query else "")
        wall = time.perf_counter()
        failures: dict[str, int] = {}
        caught = 0
        overrun = 0.0
        if args.power:
            opts = replace(options, power=args.power)
            urls = [
                f"sim://bricked?power={args.power}&{query}&seed={rng.randrange(1 << 30)}"
                for _ in range(args.trials)
            ]
        else:
            opts = options
            start = window_start(query, options, window_s)
            urls = [
                f"sim://bricked?power_on_after={start + rng.uniform(0, window_s):.6f}&{query}"
                for _ in range(args.trials)
            ]
        for url in urls:
            ok, why, took = trial(url, opts, window_s)
            caught += ok
            overrun = max(overrun, took)
            if not ok:
                failures[why] = failures.get(why, 0) + 1
        print(
            f"latency {lat:>2} ms: {caught}/{args.trials} caught "
            f"(longest prompt-to-end {overrun:.2f} s; wall {time.perf_counter() - wall:.0f} s)"
        )
        for why, n in sorted(failures.items(), key=lambda kv: -kv[1]):
            print(f"    {n:>3} x {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
