"""swsflash: flash and recover Telink TLSR825x devices over SWS with a USB-UART adapter.

import swsflash
with swsflash.connect("/dev/ttyUSB0") as dev:      # or "sim://" for the bench
    dev.write_image(open("z03mmc.bin", "rb").read())
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Loaded on first use, so that ``python -m swsflash.bench`` does not pull in the flasher.
    if name in ("connect", "ConnectOptions", "Device", "JobReport"):
        from . import api

        return getattr(api, name)
    raise AttributeError(name)
