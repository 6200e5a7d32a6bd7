"""Values across the host boundary: raw bit patterns <-> Python values.

Raw values are what the native entry wrappers pass in their slots: ints for i32/i64/f32/f64
bits, a 128-bit int for a v128, an externref's handle, a funcref's record address, an
exnref's exception object address.  The Python side sees wasmtime-py's values: signed ints,
floats, the externref's object, a ``FuncRef``, a ``WasmException``.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from ..binary.module import F32, F64, HT_EXN, HT_EXTERN, HT_NOEXN, HT_NOEXTERN, I32, I64, V128, FuncType, is_ref
from .. import typeids
from ..errors import LinkError
from .exceptions import exception_from_native, native_from_exception

U64 = 0xFFFFFFFFFFFFFFFF

# --- type ids for call_indirect: equivalent types share an id across all instances ----------
def type_id(key) -> int:
    """The id of a function type's canonical form (``subtype.canonical``: a ``FuncType`` when
    it names no other type), the same for equivalent types of any module: a hash of the
    form, which the translator also writes into call_indirect (runner/typeids.py)."""
    try:
        return typeids.register(key)
    except typeids.TypeIdCollision as exc:
        raise LinkError(str(exc)) from None


def type_of_id(tid: int):
    """The canonical form whose id is ``tid``, or None."""
    return typeids.form_of(tid)


# --- externref values: host objects behind small integer handles (0 = null) ---------------
_extern_objects: list[Any] = []
_extern_handles: dict[int, int] = {}


def externref_handle(obj: Any) -> int:
    if obj is None:
        return 0
    key = id(obj)
    h = _extern_handles.get(key)
    if h is None:
        _extern_objects.append(obj)
        h = _extern_handles[key] = len(_extern_objects)
    return h


def externref_object(handle: int) -> Any:
    return None if handle == 0 else _extern_objects[handle - 1]


@dataclass(frozen=True)
class FuncRef:
    """A non-null funcref value seen from Python: the address of its {code, type id} record.
    Callable like a Function, exported or not (runtime/callref.py)."""
    address: int

    @property
    def type(self) -> FuncType:
        from .callref import type_of_record
        return type_of_record(self.address)

    def call_raw(self, args: list[int]) -> list[int]:
        from .callref import call_record
        return call_record(self.address, args)

    def __call__(self, *args):
        return call_with_values(self, args)


def call_with_values(callee, args) -> Any:
    """Call ``callee`` (a ``Function`` or ``FuncRef``: ``.type``, ``.call_raw``) with Python
    values; the result as wasmtime-py gives it (None, one value, or a list)."""
    ft = callee.type
    if len(args) != len(ft.params):
        raise TypeError(f"expected {len(ft.params)} arguments, got {len(args)}")
    raw = [to_raw(t, a) for t, a in zip(ft.params, args)]
    res = [from_raw(t, r) for t, r in zip(ft.results, callee.call_raw(raw))]
    return res[0] if len(res) == 1 else (None if not res else res)


def to_raw(t: int, v: Any) -> int:
    if t == I32 or t == I64:
        return int(v)
    if t == V128:
        return int(v) & (1 << 128) - 1
    if t == F32:
        return struct.unpack("<I", struct.pack("<f", v))[0] if isinstance(v, float) else int(v)
    if t == F64:
        return struct.unpack("<Q", struct.pack("<d", v))[0] if isinstance(v, float) else int(v)
    if is_extern_ref(t):
        return externref_handle(v)
    if is_exn_ref(t):   # an exnref crosses as the WasmException it holds
        return 0 if v is None else native_from_exception(v)
    if is_ref(t):
        if v is None:
            return 0
        return v.address if isinstance(v, FuncRef) else v.funcref_record()
    raise TypeError(t)


def from_raw(t: int, r: int) -> Any:
    if t == I32:
        return r - (1 << 32) if r >> 31 else r
    if t == I64:
        return r - (1 << 64) if r >> 63 else r
    if t == F32:
        return struct.unpack("<f", struct.pack("<I", r))[0]
    if t == F64:
        return struct.unpack("<d", struct.pack("<Q", r))[0]
    if t == V128:
        return r     # the unsigned 128-bit value, lane 0 in the low bits
    if is_extern_ref(t):
        return externref_object(r)
    if is_exn_ref(t):
        return None if r == 0 else exception_from_native(r)
    return None if r == 0 else FuncRef(r)


def is_exn_ref(t) -> bool:
    """exnref, nullexnref and (ref exn): values are exception objects (runtime/exceptions.py)."""
    return is_ref(t) and t.heap in (HT_EXN, HT_NOEXN)


def is_extern_ref(t) -> bool:
    """externref, nullexternref and (ref extern): values are host objects."""
    return is_ref(t) and t.heap in (HT_EXTERN, HT_NOEXTERN)
