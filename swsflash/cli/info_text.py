"""``swsflash info`` as text: the chip and flash lines, then the firmware in each slot
(issue #16). A person reads these lines, so no Python list or dict is ever printed raw."""

from __future__ import annotations

from typing import Any


def text(value: object) -> str:
    """A value of the info dict as a person reads it."""
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(text(v) for v in value) or "none"
    return "not set" if value is None else str(value)


def info_lines(data: dict[str, Any]) -> list[str]:
    """The lines of jobs.info: chip and flash first, then the firmware report."""
    out = []
    for key, value in data.items():
        if key == "firmware":
            continue
        if key.endswith("_window") and isinstance(value, list):
            shown = "..".join(str(v) for v in value)  # a range: lo..hi
        else:
            shown = text(value)
        out.append(f"{key.replace('_', ' '):>22}: {shown}")
    fw = data.get("firmware")
    if isinstance(fw, dict):
        out += firmware_lines(fw)
    return out


def firmware_lines(fw: dict[str, Any]) -> list[str]:
    """FirmwareReport.to_dict() as lines: boot slot, one line per slot, hardware version,
    settings areas holding data, warnings."""
    boot = fw["boot"]
    sure = "" if boot["certain"] else " (not certain)"
    out = [f"{'boots':>22}: {boot['slot'] or 'nothing'}{sure}: {boot['rule']}"]
    for slot in fw["slots"]:
        line = slot["state"]
        if slot["marker"] != "absent":
            line += f", marker {slot['marker']}"
        if slot["firmware"]:
            line += f": {slot['firmware']}, {slot['declared_size']:,} bytes"
        if slot["crc"]:
            line += f", CRC {slot['crc']}"
        out.append(f"{'slot ' + slot['address']:>22}: {line}")
        out += [f"{'':>24}{note}" for note in slot["notes"]]
    labels = {"hardware_version": "hardware version", "hardware_version_copy": "its pvvx copy"}
    for key, label in labels.items():
        hw = fw[key]
        if hw is None:
            continue
        what = hw["state"] if hw["state"] != "ok" else f"{hw['revision']} {hw['board'] or ''}"
        out.append(f"{label:>22}: {what.strip()} at {hw['address']}")
    used = [n["area"] for n in fw["nv_areas"] if n["holds_data"]]
    out.append(f"{'settings with data':>22}: {text(used)}")
    out += [f"{'warning':>22}: {w}" for w in fw["warnings"]]
    return out
