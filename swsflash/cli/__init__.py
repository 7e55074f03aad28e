"""The ``swsflash`` command line: parse and check, connect, call one job, report.

app: the group, global options and the one error handler; options: shared options and
argument parsers; output: messages, progress bars, summaries, JSON; connect: from options
to a connected unit; device, programming, offline, jig_cmd: the commands.
"""

from __future__ import annotations

from . import device, jig_cmd, offline, programming
from .app import app, main
from .connect import resolve_port

__all__ = ["app", "device", "jig_cmd", "main", "offline", "programming", "resolve_port"]
