"""The ``swsflash`` group: global options, --version, and the one place where every error
becomes a message, a "what to do" line and its exit code (docs/exit-codes.md).

Commands below only raise SwsError (or let Ctrl-C through); nothing here ends in a
traceback except a real bug, which exits 1 with the traceback for the report.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from .. import __version__
from ..errors import Interrupted, SwsError
from .options import (
    BaudOpt,
    Globals,
    NoProgressOpt,
    PacingOpt,
    PortOpt,
    PowerOpt,
    PowerWindowOpt,
    QuietOpt,
    ResetOpt,
    TraceOpt,
    VerboseOpt,
)
from .output import RunState, show_error, teardown_logging


class SwsGroup(TyperGroup):
    """Runs a command and maps what it raises to the message and exit code, once."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return self._invoke(ctx)
        finally:
            teardown_logging()

    def _invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except SwsError as exc:
            _fail(ctx, exc)
        except KeyboardInterrupt:
            state = _state(ctx)
            during = f" while {state.ui.phase}" if state.ui is not None and state.ui.phase else ""
            _fail(
                ctx,
                Interrupted(
                    f"stopped by Ctrl-C{during}",
                    "run the same command again: sectors already right are skipped",
                ),
            )


def _state(ctx: Any) -> RunState:
    obj = ctx.find_object(RunState)
    return obj if isinstance(obj, RunState) else RunState()


def _fail(ctx: Any, exc: SwsError) -> None:
    show_error(exc, _state(ctx))
    raise typer.Exit(exc.exit_code)


app = typer.Typer(
    cls=SwsGroup,
    name="swsflash",
    help=(
        "Flash, back up and recover Telink TLSR825x devices (e.g. Xiaomi LYWSD03MMC) "
        "through the SWS pad with a plain USB-UART adapter.\n\n"
        "Wiring: adapter TX --1 kOhm-- SWS, adapter RX -- SWS, GND -- GND, 3.3 V -- VCC "
        "(see 'swsflash wiring' and docs/).\n\n"
        "Connection options may come before the command: swsflash -p /dev/ttyUSB0 write "
        "z03mmc.bin. Try it without hardware on the built-in bench: --port sim://"
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"swsflash {__version__}")
        raise typer.Exit()


@app.callback()
def global_options(
    ctx: typer.Context,
    port: PortOpt = None,
    baud: BaudOpt = None,
    pacing: PacingOpt = None,
    reset: ResetOpt = None,
    power_window: PowerWindowOpt = None,
    power: PowerOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    trace: TraceOpt = False,
    no_progress: NoProgressOpt = False,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Options for every command; the same options after the command win."""
    ctx.obj = RunState(
        Globals(
            port=port or _env("SWSFLASH_PORT"),
            baud=baud if baud is not None else _env_int("SWSFLASH_BAUD"),
            pacing=pacing,
            reset=reset,
            power_window=power_window,
            power=power,
            quiet=quiet,
            verbose=verbose,
            trace=trace,
            no_progress=no_progress,
        )
    )


def _env(name: str) -> str | None:
    import os

    return os.environ.get(name) or None


def _env_int(name: str) -> int | None:
    from .options import parse_int

    text = _env(name)
    return None if text is None else parse_int(text, f"${name}")


def main() -> Any:
    return app()
