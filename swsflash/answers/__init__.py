"""The host's hypothesis of how one SWire read slot looks on the adapter's RX, and a strict
decoder learned from known reads.

Why: how a chip answer arrives as UART characters depends on things the host cannot know in
advance (when the chip starts answering, its exact unit length, how the adapter's receiver
resynchronises after a framing error, where in a bit it samples). Instead of expecting one
fixed character shape per cell, the host fits those unknowns to reads of known bytes, builds
the character sequence every byte value must produce (a codebook) and accepts only exact
matches: a marginal setting shows as an error, never as wrong data.

``line`` is the line model, ``book`` the codebook and parser, ``learn`` the fitting.
"""

from ..errors import GarbledAnswer
from .book import Codebook, codebook, slot_fits
from .learn import (
    ChipGuess,
    Fit,
    Observation,
    Observations,
    Space,
    choose_pipeline,
    derive_codebook,
    learn,
    reproduces,
    slot_independent,
)
from .line import (
    ANSWER_UNITS,
    CHAR_BITS,
    FILLER,
    REQUEST,
    Drive,
    Hypothesis,
    Receiver,
    burst_rx,
    line_lows,
    receive,
    slot_tx,
)

__all__ = [
    "ANSWER_UNITS",
    "CHAR_BITS",
    "FILLER",
    "REQUEST",
    "ChipGuess",
    "Codebook",
    "Drive",
    "Fit",
    "GarbledAnswer",
    "Hypothesis",
    "Observation",
    "Observations",
    "Receiver",
    "Space",
    "burst_rx",
    "choose_pipeline",
    "codebook",
    "derive_codebook",
    "learn",
    "line_lows",
    "receive",
    "reproduces",
    "slot_fits",
    "slot_independent",
    "slot_tx",
]
