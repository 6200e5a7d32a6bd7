"""Calling a funcref from Python: any function record, exported or not.

Entry wrappers (``wr.call<N>``) exist only for exported functions.  A funcref that wasm
hands out (a table element, a ``ref.func`` result) may name any function, so a funcref is
called through a wrapper per *signature*: ``void wr_callref(u64 *slots)`` loads the record
address from the slot after the values, the code pointer from the record (so it follows a
tier-up), and calls it like ``wr.call<N>`` does.  Wrappers are compiled once per signature
into the code cache (runtime/library.py).

A record is only called while something owns it: a live instance's function or a host
function's record; anything else is refused rather than jumped to.
"""
from __future__ import annotations

import ctypes
import threading
import weakref

from ..binary.module import F32, F64, HT_FUNC, I32, I64, V128, FuncType, RefType
from ..layout import (FUNCREF_CODE_FIELD, FUNCREF_RECORD_IR, FUNCREF_RECORD_SIZE, FUNCREF_TYPE_ID_FIELD, slot_offsets,
                      slot_words)
from .native import NativeRuntime

_NUMERIC_IR = {I32: "i32", I64: "i64", F32: "float", F64: "double", V128: "<2 x i64>"}
_U64 = (1 << 64) - 1
_host_records: "weakref.WeakValueDictionary[int, object]" = weakref.WeakValueDictionary()
_entries: dict[FuncType, tuple[int, object]] = {}
_lock = threading.Lock()


def register_host_record(address: int, function) -> None:
    """A host function's record may be called back while ``function`` lives."""
    _host_records[address] = function


def _ir(t) -> str:
    return _NUMERIC_IR.get(t, "ptr")     # every reference type is a pointer-sized value


def _wrapper_ir(ft: FuncType) -> tuple[str, int]:
    """The IR of ``wr_callref`` for ``ft`` and the slot holding the record address."""
    n = max(sum(map(slot_words, ft.params)), sum(map(slot_words, ft.results)), 1)
    lines = ["define void @wr_callref(ptr %slots) #0 {",
             f"  %rp = getelementptr i64, ptr %slots, i32 {n}",
             "  %rec = load ptr, ptr %rp, align 8",
             f"  %cp = getelementptr {FUNCREF_RECORD_IR}, ptr %rec, i32 0, i32 {FUNCREF_CODE_FIELD}",
             "  %code = load ptr, ptr %cp, align 8"]
    args = []
    for i, (t, at) in enumerate(zip(ft.params, slot_offsets(ft.params))):
        lines.append(f"  %ap{i} = getelementptr i64, ptr %slots, i32 {at}")
        lines.append(f"  %a{i} = load {_ir(t)}, ptr %ap{i}, align 8")
        args.append(f"{_ir(t)} %a{i}")
    if not ft.results:
        ret = "void"
    elif len(ft.results) == 1:
        ret = _ir(ft.results[0])
    else:
        ret = "{" + ", ".join(_ir(t) for t in ft.results) + "}"
    call = f"call {ret} %code({', '.join(args)})"
    lines.append(f"  {call}" if ret == "void" else f"  %r = {call}")
    for i, (t, at) in enumerate(zip(ft.results, slot_offsets(ft.results))):
        v = "%r"
        if len(ft.results) > 1:
            v = f"%r{i}"
            lines.append(f"  {v} = extractvalue {ret} %r, {i}")
        lines.append(f"  %rp{i} = getelementptr i64, ptr %slots, i32 {at}")
        lines.append(f"  store {_ir(t)} {v}, ptr %rp{i}, align 8")
    lines += ["  ret void", "}", 'attributes #0 = { "frame-pointer"="all" nounwind }']
    return "\n".join(lines), n


def _entry(ft: FuncType) -> tuple[int, int]:
    """(address of wr_callref for ``ft``, the record slot)."""
    with _lock:
        found = _entries.get(ft)
        if found is None:
            from .library import native_library, resolver
            text, n = _wrapper_ir(ft)
            library, _ = native_library(text, "callref", resolver({}))
            found = _entries[ft] = (library.address("wr_callref"), n, library)
    return found[0], found[1]


def type_of_record(address: int) -> FuncType:
    """The function type of a record, for marshalling: a canonical form that names other
    types (``subtype.canonical``) becomes a FuncType whose typed references are funcrefs."""
    from .values import type_of_id
    tid = ctypes.c_uint64.from_address(address + 8 * FUNCREF_TYPE_ID_FIELD).value
    key = type_of_id(tid)
    if key is None:
        raise ValueError(f"funcref {address:#x} has an unknown type id {tid}")
    if isinstance(key, FuncType):
        return key
    _, params, results = key
    return FuncType(tuple(map(_marshalled, params)), tuple(map(_marshalled, results)))


def _marshalled(t):
    """A canonical value type as the API passes it: ("ref", nullable, <func type>) is a funcref."""
    if isinstance(t, tuple):
        return RefType(t[1], HT_FUNC)
    return t


def owner_of(address: int):
    """The live instance or host function that owns the record, or None."""
    from .helpers import live_instances
    host = _host_records.get(address)
    if host is not None:
        return host
    for inst in live_instances():
        base = inst.funcrefs_address
        if base <= address < base + FUNCREF_RECORD_SIZE * len(inst.module.func_types):
            return inst
    return None


def call_record(address: int, args: list[int]) -> list[int]:
    """Call the function of record ``address`` with raw values (as ``Function.call_raw``)."""
    from .traps import raise_trap
    owner = owner_of(address)
    if owner is None:
        raise ValueError(f"funcref {address:#x} does not refer to a live function")
    ft = type_of_record(address)
    entry, n = _entry(ft)
    slots = (ctypes.c_uint64 * (n + 1))()
    for t, v, at in zip(ft.params, args, slot_offsets(ft.params)):
        if t == V128:
            slots[at], slots[at + 1] = v & _U64, (v >> 64) & _U64
        else:
            slots[at] = v & (0xFFFFFFFF if t in (I32, F32) else _U64)
    slots[n] = address
    context = getattr(owner, "context", None)     # an instance's engine: its stack budget, interrupt
    code = (context.call(entry, ctypes.addressof(slots)) if context is not None
            else NativeRuntime.get().call(entry, ctypes.addressof(slots)))
    if code:
        raise_trap(code, owner if hasattr(owner, "frame_for") else None, slots)
    out = []
    for t, at in zip(ft.results, slot_offsets(ft.results)):
        v = slots[at]
        out.append(v | slots[at + 1] << 64 if t == V128 else v & 0xFFFFFFFF if t in (I32, F32) else v)
    del owner      # kept alive until the call returned
    return out
