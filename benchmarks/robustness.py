"""Robustness runners: the real ``swsflash`` command line against many bench configurations.

    python benchmarks/robustness.py matrix [--quick] [--jobs 2] [--only-existing] [--markdown]
    python benchmarks/robustness.py power-window [--trials 100] [--seed N] [--latency MS]
                                                 [--row TEXT] [--jobs 2] [--markdown]

``matrix`` writes an image (``swsflash write IMAGE --port 'sim://...&state=FILE'``) on every
combination of adapter preset, chip answer delay, chip clock, answer drive and baud rate,
then reads the bench's flash file back and compares the image and the unit's own
MAC/calibration bytes. ``power-window`` runs ``swsflash recover`` on a bricked unit that
gets its power at a random moment of the host's power window, and counts the units caught
and recovered with a verified flash. See docs/robustness.md.

Each row (trial) runs in a process of its own with a wall-clock timeout, so every row
finishes even if the host hangs; a row that reports success while the flash is wrong is
flagged ``WRONG DATA``. Measures only; asserts nothing (tests/test_robustness_quick.py
runs a few rows in CI).
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import multiprocessing
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import serial

from swsflash.bench import sim_port
from swsflash.bench.scenarios import factory_flash
from swsflash.bench.spi_flash import DEFAULT_PART, PAGE_PROGRAM_S, PARTS, SECTOR_SIZE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from fault_matrix import run_cli, unique_data
from make_demo_image import make_demo_image

if "swsflash.bench.urlhandler" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("swsflash.bench.urlhandler")

ROOT = Path(__file__).resolve().parents[1]
DEMO_SIZE = 129_236  # a z03mmc release
QUICK_SIZE = 16 * 1024

# The matrix's axes. Option names and values as the bench's URL takes them (adapter presets
# and answer drive come from the other bench branch; rows that need them are marked when
# this bench does not know them).
ADAPTERS = ("ch340", "cp2102", "ft232", "pl2303")
# The highest baud each preset's adapter is documented to reach, capped at the host's 3 M
# (field-evidence.md section 2; PL2303: assumption).
ADAPTER_MAX_BAUD = {"ch340": 2_000_000, "cp2102": 921_600, "ft232": 3_000_000, "pl2303": 3_000_000}
ANSWER_DELAYS = (2, 6, 10, 12)
CLOCKS_MHZ = (23.0, 24.5, 26.4)
DRIVES = ("push-pull", "open-drain")
BAUDS: tuple[int | str, ...] = (460_800, 921_600, "max")

QUICK_ADAPTERS = ("cp2102", "ft232")
QUICK_DELAYS = (2, 10)
QUICK_CLOCKS = (24.5,)
QUICK_DRIVES = ("push-pull",)
QUICK_BAUDS: tuple[int | str, ...] = (921_600,)

LATENCIES_MS = (1, 3, 16)
WINDOW_MS = 3000
POWER_WINDOW_IMAGE = 8 * 1024


# -- running the CLI (fault_matrix.run_cli) ----------------------------------------------------


def bench_time_s(state: Path) -> float | None:
    """Virtual seconds the unit's bench ran since its port first opened."""
    bench = sim_port._BENCHES.get(str(state))
    return None if bench is None else bench.now / 1e12 - sim_port.POWERED_BEFORE_OPEN_S


def unknown_options(query: str) -> list[str]:
    """Options of a sim:// query that this bench does not know."""
    missing = []
    for part in query.split("&"):
        name = part.partition("=")[0]
        if not name:
            continue
        try:
            sim_port.parse_url(f"sim://?{part}")
        except serial.SerialException as exc:
            if "unknown option" in str(exc):
                missing.append(name)
    return missing


def first_error(output: str) -> str:
    for line in output.splitlines():
        if line.startswith(("swsflash:", "TRACEBACK", "Error", "Usage")):
            return line.strip()
    return ""


def retries_in(output: str) -> int:
    found = re.search(r"(\d+) retried", output)
    return int(found.group(1)) if found else 0


# -- one process per row, with a timeout ------------------------------------------------------


def _child(fn: Callable[[Any], dict[str, Any]], task: Any, conn: Connection) -> None:
    try:
        conn.send(fn(task))
    finally:
        conn.close()


def run_all(
    fn: Callable[[Any], dict[str, Any]],
    tasks: Sequence[Any],
    jobs: int,
    timeout_s: float,
    on_done: Callable[[int, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """``fn(task)`` for every task, at most ``jobs`` at once, each in a forked process that
    is killed after ``timeout_s`` wall seconds (its result is then ``{"timeout": True}``)."""
    ctx = multiprocessing.get_context("fork")
    results: list[dict[str, Any] | None] = [None] * len(tasks)
    pending = list(enumerate(tasks))
    running: dict[int, tuple[Any, Connection, float]] = {}
    while pending or running:
        while pending and len(running) < max(1, jobs):
            i, task = pending.pop(0)
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child, args=(fn, task, child), daemon=True)
            proc.start()
            child.close()
            running[i] = (proc, parent, time.monotonic())
        for i, (proc, conn, started) in list(running.items()):
            result: dict[str, Any] | None = None
            if conn.poll(0.02):
                try:
                    result = conn.recv()
                except EOFError:
                    result = {"crashed": True, "exitcode": proc.exitcode}
            elif not proc.is_alive():
                # It may have sent its result and exited since the poll above.
                try:
                    result = conn.recv() if conn.poll(0) else None
                except EOFError:
                    result = None
                result = result or {"crashed": True, "exitcode": proc.exitcode}
            elif time.monotonic() - started > timeout_s:
                proc.kill()
                result = {"timeout": True}
            if result is None:
                continue
            proc.join(5)
            conn.close()
            result["wall_s"] = round(time.monotonic() - started, 2)
            results[i] = result
            del running[i]
            if on_done is not None:
                on_done(i, result)
    return [r if r is not None else {"crashed": True} for r in results]


# -- the matrix --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatrixRow:
    adapter: str | None
    delay: int
    fclk_mhz: float
    drive: str | None
    baud: int | str  # a number or "max" (the preset's highest)

    def resolved_baud(self) -> int | None:
        if isinstance(self.baud, int):
            return self.baud
        return ADAPTER_MAX_BAUD.get(self.adapter or "")

    def query(self) -> str:
        parts = [f"answer_delay={self.delay}", f"fclk_mhz={self.fclk_mhz:g}"]
        if self.adapter is not None:
            parts.append(f"adapter={self.adapter}")
        if self.drive is not None:
            parts.append(f"drive={self.drive}")
        return "&".join(parts)

    def label(self) -> str:
        return (
            f"{self.adapter or '-'} d={self.delay} {self.fclk_mhz:g}MHz "
            f"{self.drive or '-'} {self.resolved_baud() or self.baud}"
        )


@dataclass(frozen=True)
class MatrixTask:
    row: MatrixRow
    image: str
    workdir: str
    part: str = DEFAULT_PART
    scenario: str = "healthy"


def matrix_rows(quick: bool, only_existing: bool) -> list[MatrixRow]:
    axes = (
        (QUICK_ADAPTERS, QUICK_DELAYS, QUICK_CLOCKS, QUICK_DRIVES, QUICK_BAUDS)
        if quick
        else (ADAPTERS, ANSWER_DELAYS, CLOCKS_MHZ, DRIVES, BAUDS)
    )
    rows = [MatrixRow(*combo) for combo in itertools.product(*axes)]
    if not only_existing:
        return rows
    known = {name: not unknown_options(f"{name}=x") for name in ("adapter", "drive")}
    reduced: list[MatrixRow] = []
    for row in rows:
        adapter = row.adapter if known["adapter"] else None
        drive = row.drive if known["drive"] else None
        baud = row.baud if adapter is not None or row.baud != "max" else None
        if baud is None:
            continue  # "the preset's highest" means nothing without presets
        new = MatrixRow(adapter, row.delay, row.fclk_mhz, drive, baud)
        if new not in reduced:
            reduced.append(new)
    return reduced


def line_floor_s(image: bytes, baud: int, part: str = DEFAULT_PART) -> float:
    """The least time the job can take: every image byte out once as 10 characters of 10
    bit-times each (the write) and 10 characters back (the verify), plus the flash's own
    busy times (erase of the touched sectors by the biggest blocks that fit, and one
    program per non-blank page)."""
    p = PARTS[part]
    line = 2 * len(image) * 10 * 10 / baud
    sectors = -(-len(image) // SECTOR_SIZE)
    erase, s = 0.0, 0
    while s < sectors:
        for span, busy in ((16, p.block_erase_s), (8, p.block_erase_s), (1, p.sector_erase_s)):
            if s % span == 0 and s + span <= sectors:
                erase += busy
                s += span
                break
    pages = sum(1 for i in range(0, len(image), 256) if image[i : i + 256].count(0xFF) < 256)
    return line + erase + pages * PAGE_PROGRAM_S


def run_matrix_row(task: MatrixTask) -> dict[str, Any]:
    row = task.row
    out: dict[str, Any] = {"row": row.label()}
    missing = unknown_options(row.query())
    baud = row.resolved_baud()
    if missing:
        return out | {"missing": f"bench option missing: {', '.join(missing)}"}
    if baud is None:
        return out | {"missing": "no highest baud known for this adapter"}
    state = Path(task.workdir) / f"unit-{abs(hash(row))}.bin"
    before = factory_flash(task.part)
    state.write_bytes(before)
    image = Path(task.image).read_bytes()
    url = f"sim://{task.scenario}?state={state}&{row.query()}"
    args = ["write", task.image, "--port", url, "--baud", str(baud), "--no-backup"]
    code, output = run_cli(args, catch_tracebacks=True)
    after = state.read_bytes()
    image_ok = after[: len(image)] == image
    unique_ok = unique_data(after) == unique_data(before)
    return out | {
        "code": code,
        "connect": "Chip TLSR825x halted" in output,
        "verified": code == 0 and "verified" in output,
        "flash_ok": image_ok and unique_ok,
        "image_ok": image_ok,
        "unique_ok": unique_ok,
        "virtual_s": bench_time_s(state),
        "floor_s": line_floor_s(image, baud, task.part),
        "retries": retries_in(output),
        "message": first_error(output),
    }


def matrix_verdict(r: dict[str, Any]) -> str:
    if r.get("timeout"):
        return "TIMEOUT"
    if r.get("crashed"):
        return "CRASHED"
    if r.get("missing"):
        return "skipped"
    if r["verified"] and not r["flash_ok"]:
        return "WRONG DATA"
    if r["verified"]:
        return "ok"
    return "failed"


def matrix_table(results: list[dict[str, Any]], markdown: bool) -> str:
    head = [
        "row",
        "verdict",
        "connect",
        "write+verify",
        "flash",
        "virtual s",
        "/ floor",
        "retries",
        "wall s",
        "message",
    ]
    lines = []
    for r in results:
        v = matrix_verdict(r)
        floor = r.get("floor_s")
        virtual = r.get("virtual_s")
        ratio = f"{virtual / floor:.1f}x" if virtual and floor else ""
        msg = (
            r.get("missing")
            or r.get("message")
            or ("killed after timeout" if v == "TIMEOUT" else "")
        )
        lines.append(
            [
                r.get("row", "?"),
                v,
                _yes(r.get("connect")),
                _yes(r.get("verified")),
                _yes(r.get("flash_ok")),
                f"{virtual:.1f}" if virtual is not None else "",
                f"{ratio} (floor {floor:.1f})" if ratio else "",
                str(r.get("retries", "")),
                str(r.get("wall_s", "")),
                msg[:110],
            ]
        )
    return _table(head, lines, markdown)


def _yes(value: object) -> str:
    return "" if value is None else "yes" if value else "no"


def _table(head: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        return "\n".join(out)
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)
    ]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*row) for row in [head, *rows])


def matrix_summary(results: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for r in results:
        v = matrix_verdict(r)
        counts[v] = counts.get(v, 0) + 1
    return ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))


# -- the power window ------------------------------------------------------------------------


@dataclass(frozen=True)
class PowerConfig:
    latency_ms: int
    bounce: int  # extra power cycles on insertion (0: a clean contact)
    tx_power: bool
    rts_power: bool = False  # the host cycles VCC through RTS (--power rts)

    def query(self) -> str:
        q = f"latency_us={self.latency_ms * 1000}"
        if self.bounce:
            q += f"&bounce={self.bounce}"
        if self.tx_power:
            q += "&tx_power=1"
        if self.rts_power:
            q += "&power=rts"
        return q

    def label(self) -> str:
        how = "RTS->VCC, --power rts" if self.rts_power else "battery"
        extra = [f"bounce {self.bounce}" if self.bounce else "clean contact"]
        if self.tx_power:
            extra.append("TX half-power")
        return f"{self.latency_ms:>2} ms latency, {how}, {', '.join(extra)}"


@dataclass(frozen=True)
class PowerTask:
    config: PowerConfig
    image: str
    workdir: str
    window_ms: int
    power_at: float | None  # seconds after the port opens; None: a probe run
    seed: int


PROMPT = "Now apply power"


class _Stamped(io.StringIO):
    """Captures output and notes the bench time at which the power prompt appears."""

    def __init__(self, state: Path) -> None:
        super().__init__()
        self.state = state
        self.prompt_at: float | None = None

    def write(self, text: str) -> int:
        if self.prompt_at is None and PROMPT in text:
            self.prompt_at = bench_time_s(self.state)
        return super().write(text)


def run_power_trial(task: PowerTask) -> dict[str, Any]:
    cfg = task.config
    state = Path(task.workdir) / f"unit-{abs(hash(task))}.bin"
    before = factory_flash(DEFAULT_PART)
    state.write_bytes(before)
    image = Path(task.image).read_bytes()
    query = f"{cfg.query()}&seed={task.seed}&state={state}"
    if cfg.rts_power:
        url = f"sim://bricked?{query}"
        extra = ["--power", "rts"]
    else:
        power_at = 1000.0 if task.power_at is None else task.power_at
        url = f"sim://bricked?power_on_after={power_at:.6f}&{query}"
        extra = []
    args = [
        "recover",
        task.image,
        "--port",
        url,
        "--power-window",
        str(task.window_ms),
        "--no-backup",
        "--backup-dir",
        str(Path(task.workdir) / "backups"),
        *extra,
    ]
    out = _Stamped(state)
    code, output = run_cli(args, out, catch_tracebacks=True)
    after = state.read_bytes()
    flash_ok = after[: len(image)] == image and unique_data(after) == unique_data(before)
    refused = "No such option" in output
    return {
        "code": code,
        "prompt_at": out.prompt_at,
        "recovered": code == 0 and "Recovered" in output,
        "flash_ok": flash_ok,
        "host_missing": refused,
        "message": first_error(output),
    }


def power_configs() -> list[PowerConfig]:
    rows = [
        PowerConfig(lat, bounce, tx)
        for lat in LATENCIES_MS
        for bounce in (0, 2)
        for tx in (False, True)
    ]
    rows += [PowerConfig(lat, 0, False, rts_power=True) for lat in LATENCIES_MS]
    return rows


def power_window(
    configs: Iterable[PowerConfig],
    trials: int,
    seed: int,
    window_ms: int,
    image: str,
    workdir: str,
    jobs: int,
    timeout_s: float,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for cfg in configs:
        row: dict[str, Any] = {"row": cfg.label(), "trials": 0}
        probe = run_all(
            run_power_trial,
            [PowerTask(cfg, image, workdir, window_ms if cfg.rts_power else 10, None, seed)],
            1,
            timeout_s,
        )[0]
        if cfg.rts_power and probe.get("host_missing"):
            rows.append(row | {"note": "host option missing (swsflash recover has no --power)"})
            log(f"{cfg.label()}: host option missing")
            continue
        start = probe.get("prompt_at")
        if not cfg.rts_power and start is None:
            msg = probe.get("message") or ("timeout" if probe.get("timeout") else "?")
            note = f"0 %: the host gave up before it asked for power: {msg}"
            rows.append(row | {"note": note})
            log(f"{cfg.label()}: {note}")
            continue
        moments: list[float | None] = []
        for _ in range(trials):
            at = rng.uniform(0, window_ms / 1000)
            moments.append(None if start is None else start + at)
        tasks = [
            PowerTask(cfg, image, workdir, window_ms, t, rng.randrange(1 << 30)) for t in moments
        ]
        # One trial in this process first: what the host learns at connect is cached, and
        # the forked trials inherit the cache (CPU only). It runs a unit of its own: a bench
        # lives on in its process under its state file, and a trial must start on a fresh one.
        run_power_trial(replace(tasks[0], seed=tasks[0].seed + 1))
        results = run_all(run_power_trial, tasks, jobs, timeout_s)
        ok = sum(1 for r in results if r.get("recovered") and r.get("flash_ok"))
        wrong = sum(1 for r in results if r.get("recovered") and not r.get("flash_ok"))
        hung = sum(1 for r in results if r.get("timeout") or r.get("crashed"))
        failures: dict[str, int] = {}
        for r in results:
            if not r.get("recovered"):
                key = r.get("message") or ("timeout" if r.get("timeout") else "?")
                failures[key] = failures.get(key, 0) + 1
        row |= {
            "trials": trials,
            "window_start_s": start,
            "ok": ok,
            "wrong": wrong,
            "hung": hung,
            "failures": failures,
            "late_failures": _late_failures(moments, results, start, window_ms),
            # every trial that did not recover, with its seed and moment, for re-running it
            "failed_trials": [
                r | {"power_at": t.power_at, "seed": t.seed}
                for t, r in zip(tasks, results, strict=True)
                if not (r.get("recovered") and r.get("flash_ok"))
            ],
        }
        rows.append(row)
        log(f"{cfg.label()}: {ok}/{trials} recovered")
    return rows


def _late_failures(
    moments: list[float | None], results: list[dict[str, Any]], start: float | None, window_ms: int
) -> str:
    """Where in the window the failures were (fraction of the window), for the table."""
    if start is None:
        return ""
    fracs = sorted(
        (t - start) / (window_ms / 1000)
        for t, r in zip(moments, results, strict=True)
        if t is not None and not r.get("recovered")
    )
    return ", ".join(f"{f:.2f}" for f in fracs[:8]) + (" ..." if len(fracs) > 8 else "")


def power_table(rows: list[dict[str, Any]], markdown: bool) -> str:
    head = [
        "configuration",
        "recovered",
        "WRONG DATA",
        "hung",
        "failures (message: count)",
        "failed at (fraction of window)",
    ]
    lines = []
    for r in rows:
        if r.get("note"):
            lines.append([r["row"], "-", "-", "-", r["note"][:120], ""])
            continue
        fails = "; ".join(f"{m[:70]}: {n}" for m, n in r["failures"].items())
        lines.append(
            [
                r["row"],
                f"{r['ok']}/{r['trials']} ({100 * r['ok'] / max(1, r['trials']):.0f} %)",
                str(r["wrong"]),
                str(r["hung"]),
                fails,
                r["late_failures"],
            ]
        )
    return _table(head, lines, markdown)


# -- command line ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/robustness.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("matrix", help="write + verify over adapter x delay x clock x drive x baud")
    m.add_argument(
        "--quick", action="store_true", help=f"a few rows, {QUICK_SIZE // 1024} KB image"
    )
    m.add_argument(
        "--only-existing",
        action="store_true",
        help="drop the URL options this bench does not know (and the rows they make)",
    )
    m.add_argument("--limit", type=int, help="only the first N rows")
    m.add_argument(
        "--sample", type=int, help="every Nth row of the matrix (all axes still covered)"
    )
    m.add_argument("--image-size", type=int, help="image bytes (default: 129236, quick: 16384)")
    p = sub.add_parser("power-window", help="recover a bricked unit powered at a random moment")
    p.add_argument("--trials", type=int, default=100, help="power-on moments per row (default 100)")
    p.add_argument("--seed", type=int, default=1, help="seed of the power-on moments (default 1)")
    p.add_argument("--window-ms", type=int, default=WINDOW_MS, help="the host's --power-window")
    p.add_argument("--image-size", type=int, default=POWER_WINDOW_IMAGE, help="image bytes")
    p.add_argument("--latency", type=int, action="append", help="only this latency (ms)")
    p.add_argument(
        "--row", action="append", help="only rows whose label contains this (repeatable)"
    )
    for sp in (m, p):
        sp.add_argument("--jobs", type=int, default=2, help="rows at once (default 2)")
        sp.add_argument("--timeout", type=float, default=300.0, help="wall seconds per row")
        sp.add_argument("--markdown", action="store_true", help="print the table as Markdown")
        sp.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="swsflash-robustness-") as tmp:
        image_path = Path(tmp) / "image.bin"
        if args.command == "matrix":
            size = args.image_size or (QUICK_SIZE if args.quick else DEMO_SIZE)
            image_path.write_bytes(make_demo_image(size))
            rows = matrix_rows(args.quick, args.only_existing)[:: args.sample or 1][: args.limit]
            tasks = [MatrixTask(r, str(image_path), tmp) for r in rows]
            t0 = time.monotonic()

            def done(i: int, r: dict[str, Any]) -> None:
                log(f"[{i + 1}/{len(tasks)}] {rows[i].label()}: {matrix_verdict(r)}")

            results = run_all(run_matrix_row, tasks, args.jobs, args.timeout, done)
            for row, r in zip(rows, results, strict=True):
                r.setdefault("row", row.label())
            print(matrix_table(results, args.markdown))
            print(
                f"\n{len(results)} rows: {matrix_summary(results)}; image {size} B; "
                f"{time.monotonic() - t0:.0f} s wall with --jobs {args.jobs}"
            )
            data: Any = results
        else:
            image_path.write_bytes(make_demo_image(args.image_size))
            configs = [
                c
                for c in power_configs()
                if (not args.latency or c.latency_ms in args.latency)
                and (not args.row or any(r in c.label() for r in args.row))
            ]
            results = power_window(
                configs,
                args.trials,
                args.seed,
                args.window_ms,
                str(image_path),
                tmp,
                args.jobs,
                args.timeout,
                log,
            )
            print(power_table(results, args.markdown))
            print(
                f"\nseed {args.seed}; {args.trials} trials per row; power applied uniformly "
                f"within the {args.window_ms} ms window after the host asks for it; "
                f"image {args.image_size} B"
            )
            data = results
        if args.json:
            args.json.write_text(json.dumps(data, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
