"""Script values: arguments as raw bit patterns, and the judgement of a result against a pattern.

Values move as raw bits in both directions (floats as integers), so signalling NaNs survive
(shared/docs/spectest-judging.md, section 4).  Value forms of the data:

* ``{"type": "i32"|"i64"|"f32"|"f64", "value": "<unsigned decimal>"}``; an expected float may be
  ``nan:canonical`` / ``nan:arithmetic``;
* ``{"type": "v128", "lane_type": ..., "value": [lanes]}``, lanes judged like scalars;
* references (3.0 adds most of them): ``funcref`` / ``externref`` / ``exnref`` with ``"null"``,
  ``externref`` with N (the host reference ``ref.extern N``), a top type without a value
  ("any non-null reference of that type", e.g. ``(ref.func)``), the bottom types
  ``nullfuncref`` / ``nullexternref`` / ``nullexnref`` (always null) and ``refnull`` (any null);
* ``{"type": "either", "values": [...]}`` (3.0): any one of the listed patterns matches.

The GC proposal's value types (``anyref``, ``eqref``, ...) cannot be judged here: a command
that uses one is skipped as needing GC (see ``needs_gc``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

MASK = {"i32": 0xFFFFFFFF, "f32": 0xFFFFFFFF, "i64": 0xFFFFFFFFFFFFFFFF, "f64": 0xFFFFFFFFFFFFFFFF}
_CANONICAL = {"f32": (0x7FFFFFFF, 0x7FC00000), "f64": (0x7FFFFFFFFFFFFFFF, 0x7FF8000000000000)}
_ARITHMETIC = {"f32": (0x7FC00000, 0x7FC00000), "f64": (0x7FF8000000000000, 0x7FF8000000000000)}
LANE_BITS = {"i8": 8, "i16": 16, "i32": 32, "i64": 64, "f32": 32, "f64": 64}


@dataclass(frozen=True)
class RefPattern:
    """What a reference type name of the data means: its hierarchy ("func", "extern", "exn";
    None for ``refnull``: any) and whether it can only be null (the bottom types)."""

    family: str | None
    bottom: bool


REF_PATTERNS = {
    "funcref": RefPattern("func", False), "externref": RefPattern("extern", False),
    "exnref": RefPattern("exn", False),
    "nullfuncref": RefPattern("func", True), "nullexternref": RefPattern("extern", True),
    "nullexnref": RefPattern("exn", True),
    "refnull": RefPattern(None, True),
}
GC_VALUE_TYPES = frozenset({"anyref", "eqref", "i31ref", "structref", "arrayref", "nullref"})


class Failure(Exception):
    """A command's judgement failed; the message says why."""


class HostRef:
    """The host value behind ``ref.extern N``: one object per N, compared by identity."""

    def __init__(self, n: int):
        self.n = n

    def __repr__(self) -> str:
        return f"ref.extern {self.n}"


def needs_gc(v: dict) -> str | None:
    """The GC value type a value (or an ``either`` alternative) uses, if any."""
    if v["type"] == "either":
        return next(filter(None, map(needs_gc, v["values"])), None)
    return v["type"] if v["type"] in GC_VALUE_TYPES else None


def float_matches(kind: str, expected: str, bits: int) -> bool:
    """f32/f64 judgement on raw bits: exact, or the nan:canonical / nan:arithmetic masks."""
    if expected == "nan:canonical":
        mask, want = _CANONICAL[kind]
        return bits & mask == want
    if expected == "nan:arithmetic":
        mask, want = _ARITHMETIC[kind]
        return bits & mask == want
    return bits == int(expected) & MASK[kind]


def v128_matches(lane_type: str, lanes: list[str], bits: int) -> bool:
    width = LANE_BITS[lane_type]
    for i, lane in enumerate(lanes):
        got = (bits >> (i * width)) & ((1 << width) - 1)
        if lane_type in ("f32", "f64"):
            if not float_matches(lane_type, lane, got):
                return False
        elif got != int(lane) & ((1 << width) - 1):
            return False
    return True


def v128_bits(lane_type: str, lanes: list[str]) -> int:
    width = LANE_BITS[lane_type]
    bits = 0
    for i, lane in enumerate(lanes):
        bits |= (int(lane) & ((1 << width) - 1)) << (i * width)
    return bits


def fmt_value(v: dict) -> str:
    if v["type"] == "either":
        return "either(" + " | ".join(map(fmt_value, v["values"])) + ")"
    if v["type"] == "v128":
        return f"v128:{v.get('lane_type')}{v.get('value')}"
    if v["type"] in REF_PATTERNS and "value" not in v:
        return v["type"] if REF_PATTERNS[v["type"]].bottom else f"{v['type']}:non-null"
    return f"{v['type']}:{v.get('value', '?')}"


class Values:
    """Converts arguments and judges results for one script.

    ``types`` is runner.binary.module (numeric type codes, RefType and the abstract heap types);
    ``extern_handle`` / ``extern_object`` map host objects to the engine's externref bits and back.
    """

    def __init__(self, types, extern_handle: Callable[[object], int], extern_object: Callable[[int], object]):
        self.wm = types
        self.extern_handle = extern_handle
        self.extern_object = extern_object
        self.host_refs: dict[int, HostRef] = {}
        self.numeric = {"i32": types.I32, "i64": types.I64, "f32": types.F32, "f64": types.F64,
                        "v128": types.V128}
        heap = {"HT_FUNC": "func", "HT_NOFUNC": "func", "HT_EXTERN": "extern", "HT_NOEXTERN": "extern",
                "HT_EXN": "exn", "HT_NOEXN": "exn"}
        self.heap_family = {getattr(types, name): fam for name, fam in heap.items() if hasattr(types, name)}

    def host_ref(self, n: int) -> HostRef:
        r = self.host_refs.get(n)
        if r is None:
            r = self.host_refs[n] = HostRef(n)
        return r

    def ref_family(self, wasm_type) -> str | None:
        """"func" / "extern" / "exn" for a reference type, None for a numeric one."""
        heap = getattr(wasm_type, "heap", None)
        if heap is None:
            return None
        if heap >= 0:
            return "func"      # a type index: without GC, every defined type is a function type
        return self.heap_family.get(heap)

    # --- arguments ------------------------------------------------------------------------
    def arg_bits(self, v: dict) -> int:
        t, val = v["type"], v.get("value")
        if t in MASK:
            return int(val) & MASK[t]
        if t == "v128":
            return v128_bits(v["lane_type"], val)
        pattern = REF_PATTERNS.get(t)
        if pattern is not None:
            if pattern.bottom or val == "null":
                return 0
            if t == "externref" and val is not None:
                return self.extern_handle(self.host_ref(int(val)))
        raise Failure(f"cannot pass {fmt_value(v)} as an argument")

    # --- results --------------------------------------------------------------------------
    def matches(self, exp: dict, wasm_type, bits: int) -> bool:
        t, val = exp["type"], exp.get("value")
        if t == "either":
            return any(self.matches(alt, wasm_type, bits) for alt in exp["values"])
        if t in self.numeric:
            if self.numeric[t] != wasm_type:
                return False
            if t in ("i32", "i64"):
                return bits & MASK[t] == int(val) & MASK[t]
            if t in ("f32", "f64"):
                return float_matches(t, val, bits & MASK[t])
            return v128_matches(exp["lane_type"], val, bits)
        pattern = REF_PATTERNS.get(t)
        if pattern is None:
            return False
        family = self.ref_family(wasm_type)
        if family is None or (pattern.family is not None and pattern.family != family):
            return False
        if pattern.bottom or val == "null":
            return bits == 0
        if bits == 0:
            return False
        if val is None:                   # (ref.func), (ref.extern): any non-null reference
            return True
        if t != "externref":
            return False
        try:
            return self.extern_object(bits) is self.host_ref(int(val))
        except (IndexError, TypeError):
            return False

    def describe(self, wasm_type, bits: int) -> str:
        wm = self.wm
        name = wm.type_name(wasm_type)
        family = self.ref_family(wasm_type)
        if family is not None:
            if bits == 0:
                return f"{name}:null"
            if family == "extern":
                try:
                    obj = self.extern_object(bits)
                except (IndexError, TypeError):
                    obj = None
                return f"{name}:{obj.n if isinstance(obj, HostRef) else f'<handle {bits}>'}"
            return f"{name}:{bits:#x}"
        if wasm_type in (wm.F32, wm.F64):
            return f"{name}:{bits} ({bits:#x})"
        if wasm_type == wm.V128:
            return f"{name}:{bits:#034x}"
        return f"{name}:{bits}"
