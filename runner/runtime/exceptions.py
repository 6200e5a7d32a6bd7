"""Wasm exceptions: runtime tags, the native throw, the personality routine, host conversions.

The mechanism is zero-cost on the path where nothing is thrown (docs/ARCHITECTURE.md,
"Exceptions"): a call inside a ``try_table`` is an LLVM ``invoke`` whose unwind edge
goes to a catch-all landing pad, and ``throw`` hands an exception object to libgcc's
``_Unwind_RaiseException``, which walks the native frames with the ``.eh_frame`` tables
of our own images (runner/loader.py keeps them; ``register_image`` registers them) and
``wr_personality`` below.  Only wasm frames, import thunks and runtime frames are ever
unwound: ``wr_enter`` (the entry from Python) has a landing pad that catches everything,
and a host function's Python frames are never between a throw and its catch (a host
that raises ``WasmException`` returns to its import thunk, which throws from there).
Traps are not exceptions: they stay ``siglongjmp``s to ``wr_enter`` (runtime/native.py).
"""
from __future__ import annotations

import ctypes
import itertools
import sys
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from ..binary.subtype import canonical_functype
from ..errors import TrapKind, WasmException
from ..layout import (EXN_CLASS, EXN_ESCAPED, EXN_FLAGS_OFFSET, EXN_HEADER_SIZE, EXN_TAG_OFFSET, EXN_VALUES_OFFSET, EXN_WORDS_SHIFT,
                      slot_offsets, slot_words, thread_field)
from ..loader import EH_FRAME_SYMBOL

_EXN_CLASS_IR = EXN_CLASS - (1 << 64) if EXN_CLASS >> 63 else EXN_CLASS

# _Unwind_Action bits and _Unwind_Reason_Code values (the Itanium C++ ABI, libgcc's unwind.h)
_UA_SEARCH_PHASE = 1
_URC_HANDLER_FOUND, _URC_INSTALL_CONTEXT, _URC_CONTINUE_UNWIND = 6, 7, 8

EXCEPTIONS_IR = f"""
@wr_exn_list = global ptr null      ; the escaped objects (ExnHeap): list, count, capacity
@wr_exn_count = global i64 0
@wr_exn_cap = global i64 0
@wr_exn_gc = global ptr null        ; ExnHeap's callback: void(ptr new_object, ptr scan_from)
declare i32 @_Unwind_RaiseException(ptr)
declare ptr @_Unwind_GetLanguageSpecificData(ptr)
declare i64 @_Unwind_GetIPInfo(ptr, ptr)
declare i64 @_Unwind_GetRegionStart(ptr)
declare void @_Unwind_SetGR(ptr, i32, i64)
declare void @_Unwind_SetIP(ptr, i64)
declare ptr @malloc(i64)
declare void @free(ptr)

; A new exception object for tag identity %tag with %words payload words, or a trap.
define ptr @wr_exn_alloc(ptr %tag, i32 %words) #0 {{
entry:
  %w = zext i32 %words to i64
  %wb = shl i64 %w, 3
  %size = add i64 %wb, {EXN_VALUES_OFFSET}
  %e = call ptr @malloc(i64 %size)
  %null = icmp eq ptr %e, null
  br i1 %null, label %oom, label %ok
oom:
  call void @wr_trap(i32 {int(TrapKind.THROW_FAILED)})
  unreachable
ok:
  store i64 {_EXN_CLASS_IR}, ptr %e
  %cleanup = getelementptr i8, ptr %e, i64 8
  store ptr null, ptr %cleanup
  %tagp = getelementptr i8, ptr %e, i64 {EXN_TAG_OFFSET}
  store ptr %tag, ptr %tagp
  %flagsp = getelementptr i8, ptr %e, i64 {EXN_FLAGS_OFFSET}
  %sized = shl i64 %w, {EXN_WORDS_SHIFT}              ; the payload size, for the collector's tracing
  store i64 %sized, ptr %flagsp
  ret ptr %e
}}

; An exnref to %e now exists (catch_ref, catch_all_ref): flag it and add it to the registry of
; escaped objects the collector owns (ExnHeap below), or, when the registry is full, let the
; collector run first.
define void @wr_exn_escape(ptr %e) #0 {{
entry:
  %fp = getelementptr i8, ptr %e, i64 {EXN_FLAGS_OFFSET}
  %f = load i64, ptr %fp
  %esc = and i64 %f, {EXN_ESCAPED}
  %already = icmp ne i64 %esc, 0
  br i1 %already, label %out, label %mark
mark:
  %f1 = or i64 %f, {EXN_ESCAPED}
  store i64 %f1, ptr %fp
  %n = load i64, ptr @wr_exn_count
  %cap = load i64, ptr @wr_exn_cap
  %room = icmp ult i64 %n, %cap
  br i1 %room, label %append, label %full
append:
  %list = load ptr, ptr @wr_exn_list
  %slot = getelementptr ptr, ptr %list, i64 %n
  store ptr %e, ptr %slot
  %n1 = add i64 %n, 1
  store i64 %n1, ptr @wr_exn_count
  br label %out
full:
  call void @wr_exn_collect(ptr %e)
  br label %out
out:
  ret void
}}

; The collector's entry from wasm: every callee-saved register is stored below the callers'
; frames (in %regs, or by this function's prologue above it), so scanning the stack from %regs
; up sees every exnref a wasm frame holds.  The callback adds %e to the registry.
define void @wr_exn_collect(ptr %e) #0 {{
  %regs = alloca [6 x i64], align 16
  call void asm sideeffect "movq %rbx, 0($0)\\0Amovq %rbp, 8($0)\\0Amovq %r12, 16($0)\\0Amovq %r13, 24($0)\\0Amovq %r14, 32($0)\\0Amovq %r15, 40($0)", "r,~{{memory}}"(ptr %regs)
  %cb = load ptr, ptr @wr_exn_gc
  call void %cb(ptr %e, ptr %regs)
  ret void
}}

; A catch without _ref is done with %e: free it unless an exnref to it was made.
define void @wr_exn_drop(ptr %e) #0 {{
entry:
  %fp = getelementptr i8, ptr %e, i64 {EXN_FLAGS_OFFSET}
  %f = load i64, ptr %fp
  %esc = and i64 %f, {EXN_ESCAPED}
  %keep = icmp ne i64 %esc, 0
  br i1 %keep, label %out, label %release
release:
  ; a later object at the same address must not inherit this one's backtrace
  %traced = load ptr, ptr {thread_field("exn_trace")}
  %was = icmp eq ptr %traced, %e
  %keept = select i1 %was, ptr null, ptr %traced
  store ptr %keept, ptr {thread_field("exn_trace")}
  call void @free(ptr %e)
  br label %out
out:
  ret void
}}

; Throw (or rethrow) %e: returns only when no frame has a handler, which wr_enter's landing
; pad rules out unless unwind tables are missing: then it is a trap.
; The first throw of an exception on this thread records the backtrace (wr_walk, as a trap does)
; for the host to show if nothing catches it; a rethrow of the same one (throw_ref) keeps it.
define void @wr_throw(ptr %e) #1 {{
entry:
  %last = load ptr, ptr {thread_field("exn_trace")}
  %same = icmp eq ptr %last, %e
  br i1 %same, label %raise, label %trace
trace:
  %fp = call ptr @llvm.frameaddress.p0(i32 0)
  call void @wr_walk(ptr %fp, i32 0)
  store ptr %e, ptr {thread_field("exn_trace")}
  br label %raise
raise:
  %rc = call i32 @_Unwind_RaiseException(ptr %e)
  call void @wr_trap(i32 {int(TrapKind.THROW_FAILED)})
  unreachable
}}

; An import thunk's slow path after the host call: throw the host's WasmException, or trap
; with its Python exception (re-raised by the runtime).
define void @wr_host_raise() #1 {{
  %e = load ptr, ptr {thread_field("exn_host")}
  %none = icmp eq ptr %e, null
  br i1 %none, label %trap, label %throw
trap:
  call void @wr_trap(i32 {int(TrapKind.HOST_EXCEPTION)})
  unreachable
throw:
  store ptr null, ptr {thread_field("exn_host")}
  store i32 0, ptr {thread_field("pending")}
  call void @wr_throw(ptr %e)
  unreachable
}}

; Read one byte / an unsigned LEB128 / a call-site field (encoding %enc) at *%pp, advancing it.
define i64 @wr_lsda_u8(ptr %pp) #0 {{
  %p = load ptr, ptr %pp
  %b = load i8, ptr %p
  %p1 = getelementptr i8, ptr %p, i64 1
  store ptr %p1, ptr %pp
  %v = zext i8 %b to i64
  ret i64 %v
}}

define i64 @wr_lsda_uleb(ptr %pp) #0 {{
entry:
  br label %loop
loop:
  %acc = phi i64 [0, %entry], [%acc1, %loop]
  %shift = phi i64 [0, %entry], [%shift1, %loop]
  %b = call i64 @wr_lsda_u8(ptr %pp)
  %low = and i64 %b, 127
  %part = shl i64 %low, %shift
  %acc1 = or i64 %acc, %part
  %shift1 = add i64 %shift, 7
  %more = icmp uge i64 %b, 128
  br i1 %more, label %loop, label %done
done:
  ret i64 %acc1
}}

define i64 @wr_lsda_field(ptr %pp, i64 %enc) #0 {{
entry:
  %fmt = and i64 %enc, 15
  switch i64 %fmt, label %uleb [i64 3, label %u4
                                i64 11, label %s4
                                i64 4, label %u8
                                i64 12, label %u8]
uleb:
  %v0 = call i64 @wr_lsda_uleb(ptr %pp)
  ret i64 %v0
u4:
  %p4 = load ptr, ptr %pp
  %w4 = load i32, ptr %p4, align 1
  %n4 = getelementptr i8, ptr %p4, i64 4
  store ptr %n4, ptr %pp
  %v4 = zext i32 %w4 to i64
  ret i64 %v4
s4:
  %ps = load ptr, ptr %pp
  %ws = load i32, ptr %ps, align 1
  %ns = getelementptr i8, ptr %ps, i64 4
  store ptr %ns, ptr %pp
  %vs = sext i32 %ws to i64
  ret i64 %vs
u8:
  %p8 = load ptr, ptr %pp
  %w8 = load i64, ptr %p8, align 1
  %n8 = getelementptr i8, ptr %p8, i64 8
  store ptr %n8, ptr %pp
  ret i64 %w8
}}

; The personality routine of every function with a landing pad.  Our landing pads all catch
; everything (the tags are matched by the code after the pad), so the LSDA's call-site table is
; all it reads: a call site with a landing pad covering the frame's pc is a handler.
define i32 @wr_personality(i32 %version, i32 %actions, i64 %class, ptr %ue, ptr %ctx) #0 {{
entry:
  %before = alloca i32
  %cur = alloca ptr
  %ours = icmp eq i64 %class, {_EXN_CLASS_IR}
  br i1 %ours, label %lsda, label %cont
lsda:
  %l = call ptr @_Unwind_GetLanguageSpecificData(ptr %ctx)
  %nol = icmp eq ptr %l, null
  br i1 %nol, label %cont, label %header
header:
  store i32 0, ptr %before
  %ip0 = call i64 @_Unwind_GetIPInfo(ptr %ctx, ptr %before)
  %b = load i32, ptr %before
  %isb = icmp ne i32 %b, 0
  %ipm1 = sub i64 %ip0, 1
  %ip = select i1 %isb, i64 %ip0, i64 %ipm1
  %start = call i64 @_Unwind_GetRegionStart(ptr %ctx)
  %off = sub i64 %ip, %start
  store ptr %l, ptr %cur
  %lpenc = call i64 @wr_lsda_u8(ptr %cur)
  %lpomit = icmp eq i64 %lpenc, 255          ; LLVM never emits an LPStart: pads are relative to the function
  br i1 %lpomit, label %ttype, label %cont
ttype:
  %ttenc = call i64 @wr_lsda_u8(ptr %cur)
  %hastt = icmp ne i64 %ttenc, 255
  br i1 %hastt, label %skiptt, label %cs
skiptt:
  %ttoff = call i64 @wr_lsda_uleb(ptr %cur)
  br label %cs
cs:
  %csenc = call i64 @wr_lsda_u8(ptr %cur)
  %cslen = call i64 @wr_lsda_uleb(ptr %cur)
  %p = load ptr, ptr %cur
  %end = getelementptr i8, ptr %p, i64 %cslen
  br label %loop
loop:
  %q = load ptr, ptr %cur
  %more = icmp ult ptr %q, %end
  br i1 %more, label %record, label %cont
record:
  %s = call i64 @wr_lsda_field(ptr %cur, i64 %csenc)
  %n = call i64 @wr_lsda_field(ptr %cur, i64 %csenc)
  %lp = call i64 @wr_lsda_field(ptr %cur, i64 %csenc)
  %act = call i64 @wr_lsda_uleb(ptr %cur)
  %below = icmp ult i64 %off, %s                ; the table is sorted by start
  br i1 %below, label %cont, label %upper
upper:
  %e = add i64 %s, %n
  %inside = icmp ult i64 %off, %e
  br i1 %inside, label %found, label %loop
found:
  %haslp = icmp ne i64 %lp, 0
  br i1 %haslp, label %handler, label %cont
handler:
  %search = and i32 %actions, {_UA_SEARCH_PHASE}
  %is_search = icmp ne i32 %search, 0
  br i1 %is_search, label %hfound, label %install
hfound:
  ret i32 {_URC_HANDLER_FOUND}
install:
  %uei = ptrtoint ptr %ue to i64
  call void @_Unwind_SetGR(ptr %ctx, i32 0, i64 %uei)   ; rax: the landingpad's exception pointer
  call void @_Unwind_SetGR(ptr %ctx, i32 1, i64 1)      ; rdx: its selector
  %target = add i64 %start, %lp
  call void @_Unwind_SetIP(ptr %ctx, i64 %target)
  ret i32 {_URC_INSTALL_CONTEXT}
cont:
  ret i32 {_URC_CONTINUE_UNWIND}
}}
"""

# --- unwind tables of our images -------------------------------------------------------------
_RTLD_GLOBAL = 0x100
_libgcc: ctypes.CDLL | None = None
_libgcc_lock = threading.Lock()


def libgcc() -> ctypes.CDLL:
    """libgcc_s, loaded RTLD_GLOBAL so the runtime's _Unwind_* imports resolve to it."""
    global _libgcc
    with _libgcc_lock:
        if _libgcc is None:
            lib = ctypes.CDLL("libgcc_s.so.1", mode=_RTLD_GLOBAL)
            lib.__register_frame.argtypes = [ctypes.c_void_p]
            lib.__deregister_frame.argtypes = [ctypes.c_void_p]
            _libgcc = lib
        return _libgcc


def unwind_symbols() -> dict[str, int]:
    lib = libgcc()
    names = ("_Unwind_RaiseException", "_Unwind_GetLanguageSpecificData", "_Unwind_GetIPInfo",
             "_Unwind_GetRegionStart", "_Unwind_SetGR", "_Unwind_SetIP")
    return {n: ctypes.cast(getattr(lib, n), ctypes.c_void_p).value for n in names}


def register_image(mapped) -> int:
    """Register a mapped image's .eh_frame with libgcc's unwinder; returns the address to
    pass to ``deregister_image`` (0: the image has no unwind tables)."""
    off = mapped.symbols.get(EH_FRAME_SYMBOL)
    if off is None:
        return 0
    addr = mapped.base + off[0]
    libgcc().__register_frame(addr)
    return addr


def deregister_image(addr: int) -> None:
    """Before the image is unmapped (libgcc aborts on an address it does not know: once only)."""
    if addr:
        libgcc().__deregister_frame(addr)


# --- tags -------------------------------------------------------------------------------------
_tag_ids = itertools.count(1)
_tags: "weakref.WeakValueDictionary[int, Tag]" = weakref.WeakValueDictionary()
_tag_lock = threading.Lock()


class Tag:
    """A tag instance: its function type (params = payload) and an identity.  Importing a tag
    imports this object, so every instance compares the same identity."""

    def __init__(self, ft, name: str = "", type_key=None):
        self.type = ft
        self.name = name           # for messages: the export name, or index and module of its definer
        # the canonical form of its type (binary/subtype.py): what an import must be equivalent to
        self.type_key = type_key if type_key is not None else canonical_functype(ft, None)
        with _tag_lock:
            # 16-aligned integers, never reused: an old exnref cannot match a new tag
            self.identity = next(_tag_ids) << 4
            _tags[self.identity] = self

    def __repr__(self) -> str:
        return f"<Tag {self.name or hex(self.identity)} {self.type}>"


def tag_by_identity(identity: int) -> "Tag | None":
    return _tags.get(identity)


# --- native exception objects <-> WasmException -------------------------------------------
_libc = ctypes.CDLL(None)
_libc.malloc.restype = ctypes.c_void_p
_libc.malloc.argtypes = [ctypes.c_size_t]
_U64 = 0xFFFFFFFFFFFFFFFF


def exception_from_native(exn: int) -> WasmException:
    """The WasmException for native object ``exn`` (which reached the host); the object is
    marked escaped (kept: the exception may be thrown into wasm again)."""
    from .values import from_raw
    words = (ctypes.c_uint64 * 6).from_address(exn)
    identity = words[EXN_TAG_OFFSET // 8]
    HEAP.escape(exn)
    tag = tag_by_identity(identity)
    raw: list[int] = []
    values: list[Any] = []
    if tag is not None:
        params = tag.type.params
        n = sum(map(slot_words, params))
        payload = (ctypes.c_uint64 * max(n, 1)).from_address(exn + EXN_VALUES_OFFSET)
        for t, at in zip(params, slot_offsets(params)):
            v = payload[at] | (payload[at + 1] << 64 if slot_words(t) == 2 else 0)
            if t in (0x7F, 0x7D):   # i32 / f32: the low half of the word
                v &= 0xFFFFFFFF
            raw.append(v)
            values.append(from_raw(t, v))
    exc = WasmException(tag, values, raw)
    exc._exn = exn
    HEAP.holders.add(exc)
    return exc


def native_from_exception(exc: WasmException) -> int:
    """The native object to throw for ``exc``: the original one when it came from wasm."""
    if exc._exn:
        return exc._exn
    from .values import to_raw
    tag = exc.tag
    if not isinstance(tag, Tag):
        raise TypeError(f"WasmException tag must be a Tag, not {type(tag).__name__}")
    params = tag.type.params
    if len(exc.values) != len(params):
        raise TypeError(f"tag {tag.name or '?'} takes {len(params)} values, got {len(exc.values)}")
    n = sum(map(slot_words, params))
    exn = _libc.malloc(EXN_VALUES_OFFSET + 8 * max(n, 1))
    if not exn:
        raise MemoryError("wasm exception object")
    ctypes.memset(exn, 0, EXN_HEADER_SIZE)
    head = (ctypes.c_uint64 * 6).from_address(exn)
    head[0] = EXN_CLASS
    head[EXN_TAG_OFFSET // 8] = tag.identity
    head[EXN_FLAGS_OFFSET // 8] = n << EXN_WORDS_SHIFT
    payload = (ctypes.c_uint64 * max(n, 1)).from_address(exn + EXN_VALUES_OFFSET)
    for t, v, at in zip(params, exc.values, slot_offsets(params)):
        raw = to_raw(t, v)
        payload[at] = raw & _U64
        if slot_words(t) == 2:
            payload[at + 1] = (raw >> 64) & _U64
    exc._exn = exn
    HEAP.escape(exn)            # the Python object refers to it from now on
    HEAP.holders.add(exc)
    return exn


# --- the lifetime of escaped exception objects ---------------------------------------------
@dataclass
class HeapStats:
    """What the collector has done (for tests and ``--timings``-like reports)."""
    live: int            # escaped objects in the registry now
    freed: int           # freed by collections so far
    collections: int     # collections that ran (skipped ones not counted)
    skipped: int         # collections refused: another live thread has run wasm


class ExnHeap:
    """Escaped exception objects (an exnref to them was made) and their collector.

    An exnref is a first-class value: locals, operands, params and results, globals and tables
    of exnref type, other exceptions' payloads, the host's ``WasmException`` objects.  Objects
    no exnref was made of are freed by the catch that ends them (``wr_exn_drop``); escaped ones
    are in a native registry (``@wr_exn_list``).  When it is full, a conservative mark-sweep
    runs: the roots are the words of the calling thread's stack from the collector's frame up
    (callee-saved registers stored there first: wasm keeps values nowhere else across a call),
    every exnref global and table, the payloads of marked objects, the ``WasmException``s alive
    in Python and the thread's pending host exception; any registered address among them is
    live.  The registry then gets room for twice the survivors (at least ``MIN_CAPACITY``), so
    memory stays within a constant factor of what is reachable.  The roots cannot be seen on a
    thread that is not the caller, so a collection runs only when no other live thread has ever
    entered wasm (checked under the GIL, which a thread needs to enter wasm); otherwise the
    registry just grows (the objects live on, as before).  Raw exnref bits from ``call_raw``
    are valid until the next wasm call: hold the ``WasmException`` (``from_raw``) to keep one.
    """

    MIN_CAPACITY = 4096

    def __init__(self):
        self.holders: "weakref.WeakSet[WasmException]" = weakref.WeakSet()
        self.tables: "weakref.WeakSet" = weakref.WeakSet()    # Table objects of exnref type
        self.globals: "weakref.WeakSet" = weakref.WeakSet()   # GlobalCell objects of exnref type
        self.wasm_threads: set[int] = set()                   # idents of threads that ran wasm
        self._arrays: list = []          # every registry array stays mapped: a racing append may use an old one
        self._symbols: dict[str, int] | None = None
        self._callback = None
        self._lock = threading.RLock()
        self.freed = self.collections = self.skipped = 0

    # the native registry ------------------------------------------------------------------
    def install(self, symbols: dict[str, int]) -> None:
        """Point the runtime's registry and callback at this heap (NativeRuntime start-up)."""
        self._symbols = symbols
        self._list_p = ctypes.c_void_p.from_address(symbols["wr_exn_list"])
        self._count = ctypes.c_uint64.from_address(symbols["wr_exn_count"])
        self._cap = ctypes.c_uint64.from_address(symbols["wr_exn_cap"])
        self._set_registry([], self.MIN_CAPACITY)
        self._callback = _GC_CALLBACK(self._on_full)
        ctypes.c_void_p.from_address(symbols["wr_exn_gc"]).value = ctypes.cast(self._callback, ctypes.c_void_p).value

    def _entries(self) -> list[int]:
        n = min(self._count.value, self._cap.value)
        return [a for a in (ctypes.c_void_p * n).from_address(self._list_p.value)] if n else []

    def _set_registry(self, entries: list[int], capacity: int) -> None:
        arr = (ctypes.c_void_p * capacity)(*entries)
        self._arrays.append(arr)
        self._cap.value = 0                  # a racing append sees no room until all is in place
        self._list_p.value = ctypes.addressof(arr)
        self._count.value = len(entries)
        self._cap.value = capacity
        if len(self._arrays) > 2 and len(self.wasm_threads) <= 1:
            del self._arrays[:-2]            # one thread: nobody can be appending to the old ones

    def escape(self, exn: int) -> None:
        """Python made an exnref to ``exn``: register it (never collects: Python may hold
        unregistered raw addresses while it converts values)."""
        flags = ctypes.c_uint64.from_address(exn + EXN_FLAGS_OFFSET)
        if flags.value & EXN_ESCAPED:
            return
        if self._symbols is None:
            from .native import NativeRuntime
            NativeRuntime.get()      # installs the registry
        flags.value |= EXN_ESCAPED
        with self._lock:
            n, cap = self._count.value, self._cap.value
            if n < cap:
                ctypes.c_void_p.from_address(self._list_p.value + 8 * n).value = exn
                self._count.value = n + 1
            else:
                self._set_registry(self._entries() + [exn], 2 * cap)

    def stats(self) -> HeapStats:
        return HeapStats(min(self._count.value, self._cap.value), self.freed, self.collections, self.skipped)

    # the collector --------------------------------------------------------------------------
    def _on_full(self, exn, scan_from) -> None:
        """wr_exn_collect's callback: collect if it is safe, then register ``exn``."""
        try:
            with self._lock:
                entries = self._entries()
                survivors = self._collect(set(entries), exn, scan_from) if self._may_collect() else None
                if survivors is None:
                    self.skipped += 1
                    survivors = entries
                survivors.append(exn)
                self._set_registry(survivors, max(self.MIN_CAPACITY, 2 * len(survivors), self._cap.value
                                                  if survivors is entries else 0))
        except BaseException as exc:  # noqa: BLE001 - never into native code; the object stays registered
            try:
                self._set_registry(self._entries() + [exn], 2 * max(self._cap.value, 1))
            finally:
                NativeRuntime_set_pending(exc)

    def _may_collect(self) -> bool:
        me = threading.get_ident()
        others = self.wasm_threads - {me}
        if not others:
            return True
        alive = sys._current_frames().keys()
        return not any(t in alive for t in others)

    def _collect(self, registered: set[int], exn: int, scan_from: int) -> "list[int] | None":
        from .native import NativeRuntime
        state = NativeRuntime.get().thread().state
        roots = {exn, state.exn_host or 0}
        top = _stack_top()
        if top <= scan_from:
            return None        # the stack cannot be scanned: nothing may be freed
        roots.update(memoryview(ctypes.string_at(scan_from, (top - scan_from) & ~7)).cast("Q"))
        for g in list(self.globals):
            roots.add(g.cell.value or 0)
        for t in list(self.tables):
            for arr in t._arrays:    # the current elements, and older arrays wasm may still read
                roots.update(a or 0 for a in arr)
        roots.update(e._exn for e in list(self.holders))
        live = registered & roots
        work = list(live)
        while work:   # payloads may hold exnrefs (a tag with exnref params): any registered word
            a = work.pop()
            words = ctypes.c_uint64.from_address(a + EXN_FLAGS_OFFSET).value >> EXN_WORDS_SHIFT
            if words:
                inner = registered.intersection(memoryview(ctypes.string_at(a + EXN_VALUES_OFFSET, 8 * words)).cast("Q"))
                new = inner - live
                live |= new
                work.extend(new)
        dead = registered - live
        if state.exn_trace in dead:
            state.exn_trace = None
        for a in dead:
            _libc.free(a)
        self.freed += len(dead)
        self.collections += 1
        live.discard(exn)          # registered by the caller
        return list(live)


def NativeRuntime_set_pending(exc: BaseException) -> None:
    from .native import NativeRuntime
    NativeRuntime.get().set_pending(exc)


_GC_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
_libc.free.argtypes = [ctypes.c_void_p]
_stack_tops = threading.local()


def _stack_top() -> int:
    """The high end of the calling thread's stack (0: unknown; then nothing is freed)."""
    try:
        return _stack_tops.top
    except AttributeError:
        pass
    attr = (ctypes.c_byte * 128)()
    top = 0
    pthread = ctypes.CDLL(None)
    pthread.pthread_self.restype = ctypes.c_void_p
    pthread.pthread_getattr_np.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    pthread.pthread_attr_getstack.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t)]
    pthread.pthread_attr_destroy.argtypes = [ctypes.c_void_p]
    if pthread.pthread_getattr_np(pthread.pthread_self(), attr) == 0:
        low, size = ctypes.c_void_p(), ctypes.c_size_t()
        if pthread.pthread_attr_getstack(attr, ctypes.byref(low), ctypes.byref(size)) == 0 and low.value:
            top = low.value + size.value
        pthread.pthread_attr_destroy(attr)
    _stack_tops.top = top
    return top


HEAP = ExnHeap()


def heap_stats() -> HeapStats:
    return HEAP.stats()
