"""What is on a unit, and what its boot ROM will start: the image slots, their markers,
the hardware-version string and whether the NV areas hold data.

Pure: every byte comes through `read(address, size)`, so the same code describes a live
unit, a flash dump or the bench. Without `deep` it reads a few hundred bytes in all;
`deep` reads each image whole for its CRC and the strings that tell old BLE builds apart.
Rules and their sources: docs/firmware-identification.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from .firmware_id import (
    HEADER_SIZE,
    Family,
    HeaderFields,
    Identity,
    check_crc,
    identify,
    is_complete_bootable,
)
from .unit_data import (
    HW_RECORD,
    LOG_SECTOR_ID,
    HwVersion,
    NvArea,
    decode_hw_version,
    family_change,
    hw_version_addresses,
    nv_areas,
)

Reader = Callable[[int, int], bytes]

BOOT_BYTE = 0x4B  # 'K': the only byte the boot ROM checks (mcu_boot.h BOOT_MARK_VALUE)
HEADER_READ = 0x40  # the header plus the first code after it
PROBE_READ = 16  # bytes per NV sector head
BLE_OTA_SLOT = 0x20000  # BLE SDK's second slot (stock Xiaomi, ATC/pvvx)
ZIGBEE_OTA_SLOT = 0x40000  # Zigbee SDK's second slot; also ATC's "big OTA" target


class Marker(str, Enum):
    BOOTABLE = "bootable"  # KNLT with byte 8 = 0x4B
    DISABLED = "disabled"  # byte 8 = 0x00: the SDK cleared it after an OTA
    DOWNLOADING = "downloading"  # byte 8 = 0xFF, rest of KNLT there: download not finished
    DAMAGED = "damaged"  # "NLT" with some other byte 8
    ABSENT = "absent"


class SlotState(str, Enum):
    BLANK = "blank"
    IMAGE = "image"
    PARTIAL = "partial"  # a header whose image was not written to its end
    DATA = "data"  # not an image (leftovers, a history log)
    INSIDE = "inside-image"  # this address lies inside the image at 0x00000


@dataclass(frozen=True)
class SlotInfo:
    address: int
    state: SlotState
    marker: Marker
    boot_byte: int  # byte 8 as the boot ROM sees it
    identity: Identity
    header: HeaderFields | None = None
    crc_ok: bool | None = None  # None: not checked (no deep read)
    notes: tuple[str, ...] = ()

    @property
    def rom_marked(self) -> bool:
        return self.boot_byte == BOOT_BYTE

    def to_dict(self) -> dict[str, object]:
        h = self.header if self.marker is not Marker.ABSENT else None
        return {
            "address": f"0x{self.address:05x}",
            "state": self.state.value,
            "marker": self.marker.value,
            "family": self.identity.family.value if h else None,
            "firmware": self.identity.describe() if h else None,
            "version": self.identity.version if h else None,
            "stack": self.identity.family.stack if h else None,
            "declared_size": h.declared_size if h else None,
            "manufacturer": f"0x{h.manufacturer:04x}" if h else None,
            "image_type": f"0x{h.image_type:04x}" if h else None,
            "version_field": f"0x{h.version_field:08x}" if h else None,
            "crc": None if self.crc_ok is None else ("ok" if self.crc_ok else "BAD"),
            "notes": list(self.notes),
        }


def slot_capacity(address: int, flash_size: int) -> int:
    """The most an image at this slot can hold before it runs into the next region."""
    if address == BLE_OTA_SLOT:
        return 0x20000
    return 0x34000 if flash_size == 0x80000 else 0x40000


def slot_addresses(flash_size: int) -> tuple[int, ...]:
    """Where the boot ROM looks for an image: 0, then the SDKs' second slots."""
    return (0, BLE_OTA_SLOT, ZIGBEE_OTA_SLOT) if flash_size >= 0x80000 else (0,)


def other_slot(flash_size: int) -> int:
    """The slot a recovery must keep from booting when it writes the image at 0."""
    if flash_size < 0x80000:
        raise ValueError(f"a {flash_size // 1024} KB flash has no second image slot")
    return ZIGBEE_OTA_SLOT


def disable_marker_patch(slot_address: int) -> tuple[int, bytes]:
    """Program byte 8 to 0x00 (what the SDK does to the old slot): clearing bits needs no
    erase, so the rest of the slot stays as it is."""
    return slot_address + 8, b"\x00"


def _marker(h: HeaderFields) -> Marker:
    if not h.marker_tail:
        return Marker.ABSENT
    return {BOOT_BYTE: Marker.BOOTABLE, 0x00: Marker.DISABLED, 0xFF: Marker.DOWNLOADING}.get(
        h.boot_byte, Marker.DAMAGED
    )


def _written_to(image: bytes) -> int:
    """Bytes up to the last one that is not 0xFF: where an interrupted write stopped."""
    return len(image.rstrip(b"\xff"))


def analyse_slot(
    header: bytes, slot_address: int, flash_size: int = 0x80000, image: bytes | None = None
) -> SlotInfo:
    """Describe one slot from its first bytes (HEADER_READ of them); with `image` (the
    declared size read whole) also its CRC, where a cut-off write stopped, and content."""
    h = HeaderFields.parse(header)
    if h is None:
        raise ValueError(f"need at least {HEADER_SIZE} bytes of the slot header")
    unknown = Identity(Family.UNKNOWN, None, "H1")
    if header == b"\xff" * len(header):
        return SlotInfo(slot_address, SlotState.BLANK, Marker.ABSENT, h.boot_byte, unknown)
    marker = _marker(h)
    if marker is Marker.ABSENT:
        notes: tuple[str, ...] = ()
        if header.startswith(LOG_SECTOR_ID):
            notes = ("an ATC/pvvx history log sector, not an image",)
        return SlotInfo(slot_address, SlotState.DATA, marker, h.boot_byte, unknown, h, None, notes)
    identity = identify(header, image)
    notes_list: list[str] = []
    state = SlotState.IMAGE
    capacity = slot_capacity(slot_address, flash_size)
    if not HEADER_SIZE < h.declared_size <= capacity:
        state = SlotState.PARTIAL
        notes_list.append(f"size field 0x{h.declared_size:x} does not fit the slot")
    elif header[HEADER_SIZE:] and header[HEADER_SIZE:] == b"\xff" * (len(header) - HEADER_SIZE):
        state = SlotState.PARTIAL
        notes_list.append("the code after the header is blank: the write stopped early")
    crc_ok = None
    if image is not None and state is SlotState.IMAGE:
        crc_ok = check_crc(image)
        end = _written_to(image[: h.declared_size])
        if not crc_ok and end < h.declared_size - 4:
            state = SlotState.PARTIAL
            notes_list.append(f"written up to +0x{end:x} of 0x{h.declared_size:x} bytes")
        elif not crc_ok:
            notes_list.append("CRC mismatch: the image is damaged")
    if marker is Marker.DOWNLOADING:
        notes_list.append("an OTA download into this slot never finished")
    elif marker is Marker.DAMAGED:
        notes_list.append(f"byte 8 is 0x{h.boot_byte:02x}, neither 0x4B, 0x00 nor 0xFF")
    return SlotInfo(
        slot_address, state, marker, h.boot_byte, identity, h, crc_ok, tuple(notes_list)
    )


@dataclass(frozen=True)
class BootChoice:
    address: int | None  # None: the ROM finds nothing to start
    rule: str
    certain: bool

    def to_dict(self) -> dict[str, object]:
        at = None if self.address is None else f"0x{self.address:05x}"
        return {"slot": at, "rule": self.rule, "certain": self.certain}


def boot_choice(slots: list[SlotInfo]) -> BootChoice:
    """Which slot the boot ROM starts: the first address whose byte 8 is 0x4B, 0 first."""
    marked = sorted(s.address for s in slots if s.rom_marked)
    if not marked:
        return BootChoice(
            None,
            "no slot has byte 8 = 0x4B: the boot ROM starts nothing and the unit looks "
            "dead; write a complete image at 0x00000",
            True,
        )
    first, rest = marked[0], marked[1:]
    if not rest:
        why = (
            "only 0x00000 is marked"
            if first == 0
            else (f"0x00000 is not marked; 0x{first:05x} is the only marked slot")
        )
        return BootChoice(first, why, True)
    others = ", ".join(f"0x{a:05x}" for a in rest)
    return BootChoice(
        first,
        f"0x{first:05x} and {others} are all marked: the ROM is taken to check 0x00008 "
        "first and then the higher slots in order (TLSR8232 handbook), but which wins is "
        "not settled for the TLSR825x (flash-map.md); clear byte 8 of the slot that must not run",
        False,
    )


@dataclass(frozen=True)
class NvUsage:
    area: NvArea
    holds_data: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "area": str(self.area),
            "holds_data": self.holds_data,
            "firmware": sorted(f.value for f in self.area.families),
            "unit_specific": self.area.unit_specific,
        }


@dataclass(frozen=True)
class FirmwareReport:
    flash_size: int
    slots: tuple[SlotInfo, ...]
    boot: BootChoice
    hw_version: HwVersion | None  # Xiaomi's record (None: this flash size has none)
    hw_version_copy: HwVersion  # pvvx's copy in the MAC sector
    nv: tuple[NvUsage, ...]
    deep: bool
    warnings: tuple[str, ...] = field(default=())

    @property
    def running(self) -> SlotInfo | None:
        return next((s for s in self.slots if s.address == self.boot.address), None)

    def to_dict(self) -> dict[str, object]:
        """The `info --json` shape: plain data, addresses as hex strings."""
        return {
            "boot": self.boot.to_dict(),
            "slots": [s.to_dict() for s in self.slots],
            "hardware_version": self.hw_version.to_dict() if self.hw_version else None,
            "hardware_version_copy": self.hw_version_copy.to_dict(),
            "nv_areas": [n.to_dict() for n in self.nv],
            "deep": self.deep,
            "warnings": list(self.warnings),
        }


def _covered_by(first: SlotInfo | None, address: int, flash_size: int) -> bool:
    """True when the image at 0 (whatever its marker) extends over `address`."""
    if first is None or first.marker is Marker.ABSENT or first.header is None:
        return False
    size = first.header.declared_size
    return address < size <= slot_capacity(0, flash_size)


def describe_slots(read: Reader, flash_size: int, deep: bool = False) -> FirmwareReport:
    """Everything `info` says about the firmware; `read(address, size)` is the only access."""
    slots: list[SlotInfo] = []
    for address in slot_addresses(flash_size):
        header = read(address, HEADER_READ)
        first = slots[0] if slots else None
        slot = analyse_slot(header, address, flash_size)
        if address and _covered_by(first, address, flash_size):
            note = "inside the image at 0x00000, not a slot of its own"
            slot = SlotInfo(
                address,
                SlotState.INSIDE,
                slot.marker,
                slot.boot_byte,
                Identity(Family.UNKNOWN, None, "H1"),
                notes=(note,),
            )
        elif deep and slot.state is SlotState.IMAGE and slot.header is not None:
            image = read(address, slot.header.declared_size)
            slot = analyse_slot(header, address, flash_size, image)
        slots.append(slot)
    boot = boot_choice(slots)
    warnings = _warnings(slots, boot, flash_size)
    hw_at, copy_at = hw_version_addresses(flash_size)
    hw = decode_hw_version(read(hw_at, HW_RECORD), hw_at) if hw_at is not None else None
    copy = decode_hw_version(read(copy_at, HW_RECORD), copy_at)
    if hw is not None and hw.state != "ok" and copy.state == "ok":
        warnings.append(f"the hardware version survives only in pvvx's copy at 0x{copy_at:05x}")
    heads: dict[int, bytes] = {}
    for area in nv_areas(flash_size):
        for at in area.probe_addresses():
            if at not in heads:
                heads[at] = read(at, PROBE_READ)
    nv = tuple(
        NvUsage(a, any(a.in_use(heads[at]) for at in a.probe_addresses()))
        for a in nv_areas(flash_size)
    )
    warnings += _stale_settings(slots, boot, nv, flash_size)
    return FirmwareReport(flash_size, tuple(slots), boot, hw, copy, nv, deep, tuple(warnings))


def _warnings(slots: list[SlotInfo], boot: BootChoice, flash_size: int) -> list[str]:
    out: list[str] = []
    running = next((s for s in slots if s.address == boot.address), None)
    if running is not None and running.state is not SlotState.IMAGE:
        out.append(f"the slot the ROM will start (0x{running.address:05x}) holds no complete image")
    elif running is not None and running.crc_ok is False:
        out.append(f"the image the ROM will start (0x{running.address:05x}) fails its CRC check")
    hw_at, _ = hw_version_addresses(flash_size)
    for s in slots:
        if s.header is None or s.state not in (SlotState.IMAGE, SlotState.PARTIAL):
            continue
        end = s.address + s.header.declared_size
        if hw_at is not None and s.address <= hw_at < end <= flash_size:
            out.append(
                f"the image at 0x{s.address:05x} extends over 0x{hw_at:05x}, where the "
                "hardware-version string was kept"
            )
    return out


def _stale_settings(
    slots: list[SlotInfo], boot: BootChoice, nv: tuple[NvUsage, ...], flash_size: int
) -> list[str]:
    """Settings another family left behind in areas that still hold data."""
    running = next((s for s in slots if s.address == boot.address), None)
    if running is None or running.state is not SlotState.IMAGE:
        return []
    used = {n.area for n in nv if n.holds_data}
    out = []
    for other in slots:
        if other is running or other.state is not SlotState.IMAGE:
            continue
        stale = family_change(other.identity.family, running.identity.family, flash_size)
        names = "; ".join(str(a.area) for a in stale if a.area in used)
        if names:
            out.append(f"{other.identity.family.label} left settings in {names}")
    return out


__all__ = [
    "Family",
    "FirmwareReport",
    "Identity",
    "Marker",
    "SlotInfo",
    "SlotState",
    "analyse_slot",
    "boot_choice",
    "check_crc",
    "describe_slots",
    "disable_marker_patch",
    "family_change",
    "identify",
    "is_complete_bootable",
    "other_slot",
]
