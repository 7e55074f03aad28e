"""``swsflash jig``: reprogram many units at once, one USB-UART adapter per fixture position.

Every position is independent: its own port, its own device clock, its own worker (a thread,
or a process for simulated ports, whose model is CPU-bound). Workers send events to the main
side, which alone draws the live panel, prints the summary lines and appends the per-unit
records to the logs, so that a plant can trace every unit without lines from two positions
ever mixing.

config: settings from the TOML file and the command line; worker: one position's loop;
records: what is logged of each unit; display: the live panel; supervisor: the run.
"""

from __future__ import annotations

from .config import Overrides, Position, Settings, read_config, resolve_settings, usb_ports
from .display import Board
from .records import RECORD_FIELDS, RecordWriter, UnitRecord, image_fields, summary_line
from .supervisor import Outcome, make_job, run_jig, use_processes
from .worker import (
    DoneEvent,
    Event,
    Flags,
    Job,
    RecordEvent,
    StateEvent,
    catch_unit,
    run_position,
    run_unit,
    unit_present,
    wait_until_absent,
    wait_until_present,
)

__all__ = [
    "RECORD_FIELDS",
    "Board",
    "DoneEvent",
    "Event",
    "Flags",
    "Job",
    "Outcome",
    "Overrides",
    "Position",
    "RecordEvent",
    "RecordWriter",
    "Settings",
    "StateEvent",
    "UnitRecord",
    "catch_unit",
    "image_fields",
    "make_job",
    "read_config",
    "resolve_settings",
    "run_jig",
    "run_position",
    "run_unit",
    "summary_line",
    "unit_present",
    "usb_ports",
    "use_processes",
    "wait_until_absent",
    "wait_until_present",
]
