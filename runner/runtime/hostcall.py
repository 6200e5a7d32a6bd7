"""Host functions whose signature ctypes cannot express: several results, or a v128.

A ctypes callback returns at most one scalar, and has no 128-bit vector type.  Such a host
function gets a small native adapter with the wasm calling convention (what an import thunk
calls): it stores the arguments into a buffer in the entry wrappers' slot layout
(``layout.slot_offsets``: one u64 per value, two for a v128, low half first), calls the
Python callback ``void cb(u64 *slots)``, and returns the results the callback left in the
same buffer.  The adapter's IR depends only on the signature, so it is compiled once per
signature into the code cache (runtime/library.py) and mapped once per host function, its
``wr_hostcb`` symbol resolved to that function's callback.

The Python callable sees what ``host_function``'s ctypes callbacks pass: i32/i64 as unsigned
ints, f32/f64 as floats, references as an int (None = null), a v128 as an unsigned 128-bit
int (lane 0 in the low bits); it returns one such value, or a tuple/list of them when the
function has several results.
"""
from __future__ import annotations

import ctypes
import struct
from typing import Any, Callable

from ..binary.module import F32, F64, I32, I64, V128, FuncType
from ..layout import slot_offsets, slot_words
from ..translate.types import IR_TYPE, ir_result_type

_U64 = (1 << 64) - 1
_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def needs_adapter(ft: FuncType) -> bool:
    """True when a plain ctypes callback cannot have this signature."""
    return len(ft.results) > 1 or V128 in ft.params or V128 in ft.results


def slot_count(ft: FuncType) -> int:
    return max(sum(map(slot_words, ft.params)), sum(map(slot_words, ft.results)), 1)


def adapter_ir(ft: FuncType) -> str:
    """``wr_hostcall``: the wasm signature of ``ft`` around ``void wr_hostcb(u64 *slots)``."""
    ret = ir_result_type(ft.results)
    params = ", ".join(f"{IR_TYPE[t]} %p{i}" for i, t in enumerate(ft.params))
    lines = ["declare void @wr_hostcb(ptr)",
             f"define {ret} @wr_hostcall({params}) #0 {{",
             f"  %slots = alloca [{slot_count(ft)} x i64], align 16"]
    for i, (t, at) in enumerate(zip(ft.params, slot_offsets(ft.params))):
        lines.append(f"  %ap{i} = getelementptr i64, ptr %slots, i32 {at}")
        lines.append(f"  store {IR_TYPE[t]} %p{i}, ptr %ap{i}, align 8")
    lines.append("  call void @wr_hostcb(ptr %slots)")
    agg = "undef"
    for i, (t, at) in enumerate(zip(ft.results, slot_offsets(ft.results))):
        lines.append(f"  %rp{i} = getelementptr i64, ptr %slots, i32 {at}")
        lines.append(f"  %r{i} = load {IR_TYPE[t]}, ptr %rp{i}, align 8")
        if len(ft.results) > 1:
            lines.append(f"  %agg{i} = insertvalue {ret} {agg}, {IR_TYPE[t]} %r{i}, {i}")
            agg = f"%agg{i}"
    if not ft.results:
        lines.append("  ret void")
    else:
        lines.append(f"  ret {ret} {agg if len(ft.results) > 1 else '%r0'}")
    # no unwinding through here: a raising host sets the thread's pending flag (import thunk)
    lines += ["}", 'attributes #0 = { "frame-pointer"="all" nounwind }']
    return "\n".join(lines)


def _read(t, slots, at: int) -> Any:
    v = slots[at]
    if t == I32:
        return v & 0xFFFFFFFF
    if t == I64:
        return v
    if t == F32:
        return struct.unpack("<f", struct.pack("<I", v & 0xFFFFFFFF))[0]
    if t == F64:
        return struct.unpack("<d", struct.pack("<Q", v))[0]
    if t == V128:
        return v | slots[at + 1] << 64
    return v or None          # a reference: as a ctypes c_void_p argument arrives


def _write(t, slots, at: int, v: Any) -> None:
    if t == F32:
        slots[at] = struct.unpack("<I", struct.pack("<f", v))[0] if isinstance(v, float) else int(v) & 0xFFFFFFFF
    elif t == F64:
        slots[at] = struct.unpack("<Q", struct.pack("<d", v))[0] if isinstance(v, float) else int(v) & _U64
    elif t == V128:
        v = int(v)
        slots[at], slots[at + 1] = v & _U64, (v >> 64) & _U64
    else:
        slots[at] = int(v or 0) & (0xFFFFFFFF if t == I32 else _U64)


def slot_host_function(ft: FuncType, fn: Callable, name: str, set_pending: Callable[[BaseException], None]):
    """(code address, keepalive) of ``fn`` behind a native adapter for ``ft``."""
    from .library import native_library, resolver
    n = slot_count(ft)
    params, results = ft.params, ft.results
    param_at, result_at = slot_offsets(params), slot_offsets(results)

    def trampoline(address):
        try:
            slots = (ctypes.c_uint64 * n).from_address(address)
            r = fn(*[_read(t, slots, at) for t, at in zip(params, param_at)])
            if len(results) == 1:
                r = (r,)
            elif len(results) > 1:
                if not isinstance(r, (tuple, list)) or len(r) != len(results):
                    raise TypeError(f"{name} returned {r!r}, expected {len(results)} results")
            for t, at, v in zip(results, result_at, r if results else ()):
                _write(t, slots, at, v)
        except BaseException as exc:  # noqa: BLE001 - must never propagate into native code
            set_pending(exc)

    cb = _CALLBACK(trampoline)
    library, _ = native_library(adapter_ir(ft), "hostcall", resolver({"wr_hostcb": ctypes.cast(cb, ctypes.c_void_p).value}))
    return library.address("wr_hostcall"), (cb, trampoline, library)
