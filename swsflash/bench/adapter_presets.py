"""The USB-UART adapters people own, as parameter sets of ``AdapterConfig``.

Each preset cites where its values come from (``shared/reference/field-evidence.md`` §1-§2,
datasheets, Linux drivers); everything else stays at the CH340-like default and is an
assumption listed in ``docs/bench.md``. Any single parameter can still be overridden.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .adapter import AdapterConfig

# Silicon Labs AN205, Table 1: a requested rate up to the first column is served as the
# second (CP2101/2/3 default configuration). Above 670,254 everything is 921,600 (the
# Linux cp210x driver; there is no 2 M / 3 M on these parts).
CP2102_BAUD_TABLE: tuple[tuple[int, int], ...] = (
    (300, 300),
    (600, 600),
    (1200, 1200),
    (1800, 1800),
    (2400, 2400),
    (4000, 4000),
    (4803, 4800),
    (7207, 7200),
    (9612, 9600),
    (14428, 14400),
    (16062, 16000),
    (19250, 19200),
    (28912, 28800),
    (38601, 38400),
    (51558, 51200),
    (56280, 56000),
    (58053, 57600),
    (64111, 64000),
    (77608, 76800),
    (117028, 115200),
    (129347, 128000),
    (156868, 153600),
    (237832, 230400),
    (254234, 250000),
    (273066, 256000),
    (491520, 460800),
    (567138, 500000),
    (670254, 576000),
    (3_000_000, 921_600),
)


@dataclass(frozen=True)
class Preset:
    config: AdapterConfig
    what: str  # one line for --help and error messages
    source: str


ADAPTER_PRESETS: dict[str, Preset] = {
    "ch340": Preset(
        AdapterConfig(usb_packet=32, in_latency_us=1000.0, min_baud=50, max_baud=3_000_000),
        "WCH CH340/CH341: 32-byte packets, ~1 ms IN latency (the default)",
        "Linux ch341.c (32-byte bulk packets, up to 3 M); WCH datasheet (50 bps-2 Mbps); "
        "IN latency 1-3 ms (field evidence §2); receiver: assumption",
    ),
    "cp2102": Preset(
        AdapterConfig(
            usb_packet=64,
            in_latency_us=1000.0,
            receiver="restart",
            sample_phase=0.46,
            baud_table=CP2102_BAUD_TABLE,
            min_baud=300,
            max_baud=3_000_000,
        ),
        "Silicon Labs CP2102: baud quantised per AN205 (>670254 -> 921600), restart receiver",
        "AN205 Table 1, Linux cp210x.c; receiver and sample phase: fit to capture A (§1)",
    ),
    "ft232": Preset(
        AdapterConfig(
            usb_packet=62,
            out_packet=64,
            in_latency_us=16000.0,
            receiver="restart",
            sample_phase=0.46,
            min_baud=183,
            max_baud=3_000_000,
        ),
        "FTDI FT232: 16 ms latency timer unless 62 bytes are buffered, restart receiver",
        "FTDI AN232B-04 (latency timer 16 ms, 62 data bytes per packet); receiver and "
        "sample phase: fit to capture B (§1)",
    ),
    "pl2303": Preset(
        AdapterConfig(usb_packet=64, in_latency_us=1000.0, min_baud=75, max_baud=3_000_000),
        "Prolific PL2303: 64-byte packets",
        "Linux pl2303.c (64-byte packets); latency, receiver and range: assumption",
    ),
}

DEFAULT_ADAPTER = "ch340"


def adapter_preset(name: str) -> AdapterConfig:
    """The parameters of a named adapter; ValueError (listing the known ones) if unknown."""
    preset = ADAPTER_PRESETS.get(name)
    if preset is None:
        raise ValueError(f"unknown adapter {name!r}; known: {', '.join(ADAPTER_PRESETS)}")
    return preset.config


# The fields a preset sets; the rest (wiring, LED, gaps, bit errors) belong to the scenario.
PRESET_FIELDS = (
    "usb_packet",
    "out_packet",
    "out_latency_us",
    "in_latency_us",
    "receiver",
    "sample_phase",
    "baud_table",
    "min_baud",
    "max_baud",
)


def with_preset(adapter: AdapterConfig, name: str) -> AdapterConfig:
    """``adapter`` with the named preset's hardware parameters, its scenario faults kept."""
    preset = adapter_preset(name)
    return replace(adapter, **{f: getattr(preset, f) for f in PRESET_FIELDS})
