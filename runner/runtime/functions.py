"""Function values: an instance's wasm functions, and Python callables wrapped as host
functions (the ctypes trampoline that wasm code calls)."""
from __future__ import annotations

import ctypes
from typing import Any, Callable

from ..binary.module import F32, F64, I32, I64, V128, FuncType, is_ref
from ..binary.subtype import canonical_functype
from ..layout import FuncRefRecord, slot_offsets, slot_words
from .hostcall import needs_adapter, slot_host_function
from .native import NativeRuntime
from .traps import raise_trap
from .values import U64, call_with_values, type_id


class Function:
    """A function value: wasm code of an instance, or a host function."""

    def __init__(self, ft: FuncType, code: int, entry: int | None = None, instance=None,
                 name: str = "", keepalive: Any = None, record: int | None = None, type_module=None):
        self.type = ft
        # the module whose type indices ``ft`` uses (typed references in the signature)
        self.type_module = type_module if type_module is not None else getattr(instance, "module", None)
        self.code = code          # native address, wasm calling convention (for a host function)
        self.entry = entry        # wr.call<N> wrapper, if callable from Python
        self.instance = instance
        self._name = name         # a str, or a callable giving it (demangling is done on demand)
        self._keepalive = keepalive
        self._record = None
        self._record_address = record   # an instance's {code, type id} record: its code may change tier

    @property
    def name(self) -> str:
        if callable(self._name):
            self._name = self._name()
        return self._name

    def funcref_record(self) -> int:
        """The function's {code, type id} record: what tables hold and what callers load the
        code pointer from (so they follow a tier-up)."""
        if self._record_address is not None:
            return self._record_address
        if self._record is None:
            self._record = FuncRefRecord(self.code, type_id(self.type_key))
            from .callref import register_host_record
            register_host_record(ctypes.addressof(self._record), self)
        return ctypes.addressof(self._record)

    @property
    def type_key(self):
        """The canonical form of the function's type (compared across modules)."""
        return canonical_functype(self.type, self.type_module)

    def call_raw(self, args: list[int]) -> list[int]:
        """Call with raw bit patterns (ints; refs as addresses/handles; a v128 as a 128-bit
        int); returns raw results."""
        if self.entry is None:
            raise TypeError(f"function {self.name or '?'} cannot be called from the host")
        ft = self.type
        n = max(sum(map(slot_words, ft.params)), sum(map(slot_words, ft.results)), 1)
        slots = (ctypes.c_uint64 * n)()
        for t, v, at in zip(ft.params, args, slot_offsets(ft.params)):
            if t == V128:
                slots[at], slots[at + 1] = v & U64, (v >> 64) & U64
            else:
                slots[at] = v & (0xFFFFFFFF if t in (I32, F32) else U64)
        code = self.instance.context.call(self.entry, ctypes.addressof(slots))
        if code:
            raise_trap(code, self.instance, slots)
        out = []
        for t, at in zip(ft.results, slot_offsets(ft.results)):
            v = slots[at]
            if t == V128:
                out.append(v | slots[at + 1] << 64)
            else:
                out.append(v & 0xFFFFFFFF if t in (I32, F32) else v)
        return out

    def __call__(self, *args):
        return call_with_values(self, args)


_CTYPE = {I32: ctypes.c_uint32, I64: ctypes.c_uint64, F32: ctypes.c_float, F64: ctypes.c_double}


def _ctype(t):
    return ctypes.c_void_p if is_ref(t) else _CTYPE[t]


def host_function(ft: FuncType, fn: Callable, name: str = "host") -> Function:
    """Wrap a Python callable as a wasm function. Exceptions stop the wasm code and re-raise
    in the caller of the wasm entry point (see NativeRuntime.set_pending)."""
    rt = NativeRuntime.get()
    if needs_adapter(ft):   # several results or a v128: ctypes cannot say it (runtime/hostcall.py)
        code, keep = slot_host_function(ft, fn, name, rt.set_pending)
        return Function(ft, code, None, None, name, keepalive=keep)
    restype = _ctype(ft.results[0]) if ft.results else None
    cfunctype = ctypes.CFUNCTYPE(restype, *[_ctype(t) for t in ft.params])
    if ft.results:
        mask = 0xFFFFFFFF if ft.results[0] == I32 else 0xFFFFFFFFFFFFFFFF
        is_int = ft.results[0] in (I32, I64)

        def trampoline(*args):
            try:
                r = fn(*args)
                return (r or 0) & mask if is_int else r
            except BaseException as exc:  # noqa: BLE001 - must never propagate into native code
                rt.set_pending(exc)
                return 0
    else:
        def trampoline(*args):
            try:
                fn(*args)
            except BaseException as exc:  # noqa: BLE001
                rt.set_pending(exc)
    cb = cfunctype(trampoline)
    return Function(ft, ctypes.cast(cb, ctypes.c_void_p).value, None, None, name, keepalive=(cb, trampoline))
