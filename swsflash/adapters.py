"""USB-UART adapter chips known by their USB VID:PID, and what each means for SWire.

Why: a failure that one adapter cannot avoid (an LED loading RX, a receiver that cannot
follow the chip's answers) is best named with the adapter and the fix in one message.
"""

from __future__ import annotations

ADAPTERS: dict[tuple[int, int], str] = {
    (0x1A86, 0x7523): "CH340",
    (0x1A86, 0x5523): "CH341",
    (0x1A86, 0x7522): "CH340K",
    (0x1A86, 0x55D4): "CH9102",
    (0x067B, 0x2303): "PL2303",
    (0x067B, 0x23A3): "PL2303GC",
    (0x10C4, 0xEA60): "CP210x",
    (0x0403, 0x6001): "FT232R",
    (0x0403, 0x6015): "FT231X/FT230X",
    (0x0403, 0x6010): "FT2232",
}

# field-evidence §1-§2: pvvx on capture B, "the FT232 cannot emulate the Telink SWire
# protocol"; its receiver restarts after a framing error and its latency timer is 16 ms.
_NOTES = {
    0x0403: "this is an FTDI adapter ({name}): its receiver is known to misframe SWire "
    "answers (field reports); a CH340, CP2102 or PL2303 adapter is the fix",
}


def adapter_name(usb_id: tuple[int, int] | None) -> str | None:
    if usb_id is None:
        return None
    return ADAPTERS.get(usb_id, f"USB {usb_id[0]:04x}:{usb_id[1]:04x}")


def adapter_note(usb_id: tuple[int, int] | None) -> str:
    """What the adapter is known to do wrong for SWire, or "" when nothing is known."""
    if usb_id is None:
        return ""
    note = _NOTES.get(usb_id[0])
    return note.format(name=adapter_name(usb_id)) if note else ""


def no_echo_hint(usb_id: tuple[int, int] | None) -> str:
    """The fix for "no echo", naming the adapter when the port tells which it is."""
    name = adapter_name(usb_id)
    which = f"this {name} adapter" if name else "an adapter"
    return (
        "join adapter TX (through 1 kOhm) and RX to the SWS pad, connect GND; if they are, "
        f"{which} with an LED (or a low resistor) on RX cannot work: the 1 kOhm through TX "
        "cannot pull RX low, so nothing echoes. Remove the LED or use another adapter"
    )
