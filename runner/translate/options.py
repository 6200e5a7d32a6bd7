"""What a translation is asked to produce (kept apart so a warm start need not import the translator)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TranslateOptions:
    inline: bool = False       # let LLVM inline wasm functions into each other
    debug_info: bool = False   # DWARF: line = wasm byte offset, in a pseudo file named after the module
    interruptible: bool = False  # check the engine's interrupt flag (wr.interrupt) at function entry and loop headers (--timeout)
    fuel: bool = False         # count instructions against the engine's fuel (wr.fuel, --fuel)
    tier_counters: bool = False  # first tier: count entries and loop iterations, ask for tier-up when hot
    direct_calls: bool = True  # calls within the unit are direct (False: every call reads wr.funcrefs)
