"""The runtime's layout facts: what generated code, the native runtime IR and the Python
side must agree on byte for byte.  Change one here and every user follows.

Imported on every start: stdlib only (ctypes), no LLVM, nothing from the rest of runner.
"""
from __future__ import annotations

import ctypes

# --- linear memory records: wr.mem<N> ---------------------------------------------------------
# One per Memory (runtime/store.py); the translator reads memory N's through @wr.mem<N> (an
# imported memory is the exporting instance's record), the native fd_write (wasi_host.py)
# memory 0's through wf.memslot.  The base is field 0 at offset 0, so IR loads it straight
# through the record pointer.  Every memory has its own GOT symbol rather than a slot in an
# array: memory 0's code is the same as with one memory, and memory N costs the same.


class MemoryRecord(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("size", ctypes.c_uint64)]   # size in bytes


MEMORY_RECORD_IR = "{ptr, i64}"   # MemoryRecord as an IR type (translate/, wasi_host.py)
MEMORY_BASE_FIELD = 0             # index of `base` (never moves: loaded once, !invariant.load)
MEMORY_SIZE_FIELD = 1             # index of `size` (changes on memory.grow)


def memory_symbol(index: int) -> str:
    """The symbol of memory ``index``'s record (imported memories first, as in the module)."""
    return f"wr.mem{index}"

# --- table record: wr.table<N> -------------------------------------------------------------------
# One per Table (runtime/store.py); translate/tables.py reads it.  Elements are funcref record
# addresses or externref handles, one pointer each (0 = null).


class TableRecord(ctypes.Structure):
    _fields_ = [("elements", ctypes.c_void_p), ("size", ctypes.c_uint64)]   # size in elements


TABLE_RECORD_IR = "{ptr, i64}"    # TableRecord as an IR type (translate/tables.py)
TABLE_ELEMENTS_FIELD = 0          # index of `elements` (offset 0: loaded through the record pointer)
TABLE_SIZE_FIELD = 1              # index of `size`
TABLE_ELEMENT_SIZE = ctypes.sizeof(ctypes.c_void_p)   # bytes per element (store.Table copies by it)

# --- function record: wr.funcrefs, wr.import<N>, funcref values ----------------------------------
# ``{ptr code, i64 type id}``: instance.py fills one per function in its funcrefs array (and one
# per host function); a funcref is its address, call_indirect checks the type id and calls the
# code, and tier-up (tiers.py via Instance._map_unit) rewrites the code word in place.


class FuncRefRecord(ctypes.Structure):
    _fields_ = [("code", ctypes.c_void_p), ("type_id", ctypes.c_uint64)]


FUNCREF_RECORD_IR = "{ptr, i64}"  # FuncRefRecord as an IR type (translate/module.py, function.py, tables.py)
FUNCREF_CODE_FIELD = 0            # index of `code` (offset 0: an import thunk loads it through wr.import<N>)
FUNCREF_TYPE_ID_FIELD = 1         # index of `type_id`, compared with the expected id (a constant) by call_indirect
FUNCREF_RECORD_SIZE = ctypes.sizeof(FuncRefRecord)   # 16: ref.func / Function records are array base + 16 * i
# Both fields are 8 bytes, so instance.py keeps the funcrefs array as flat u64 words: record i's
# field f is word FUNCREF_RECORD_WORDS * i + f (one aligned store swaps a code pointer).
FUNCREF_RECORD_WORDS = FUNCREF_RECORD_SIZE // 8

# --- global cells: wr.g<N> -----------------------------------------------------------------------
GLOBAL_CELL = ctypes.c_uint64     # store.GlobalCell's cell: raw bits, i32/f32 in the low 4 bytes (a v128: two of them)
GLOBAL_CELL_IR = "i64"            # how the translator declares @wr.g<N> (it loads/stores the value's own type)
GLOBAL_CELL_SIZE = ctypes.sizeof(GLOBAL_CELL)   # 8 bytes per global

# --- LLVM metadata ids of the generated module (translate/module.py emits METADATA) --------------
MD_ROOT = 0                       # TBAA root "wasirun"
MD_HEAP_TYPE = 1                  # TBAA type: linear-memory bytes
TBAA_HEAP = 2                     # TBAA tag for wasm loads/stores (translate/memory.py)
MD_VM_TYPE = 3                    # TBAA type: runtime state (records, globals, typeids, stack limit)
TBAA_VM = 4                       # TBAA tag for runtime-state accesses: never aliases wasm memory
MD_UNLIKELY = 5                   # branch weights of every trap / slow-path branch
MD_EMPTY = 6                      # the empty node !invariant.load refers to
UNLIKELY_WEIGHTS = (1, 1048576)   # (taken, not taken) of MD_UNLIKELY
FIRST_DEBUG_MD = 100              # -g metadata ids start here, clear of the fixed ones above

TBAA_HEAP_TAG = f"!tbaa !{TBAA_HEAP}"               # suffix of a wasm memory access
TBAA_VM_TAG = f"!tbaa !{TBAA_VM}"                   # suffix of a runtime-state access
UNLIKELY_BRANCH = f"!prof !{MD_UNLIKELY}"           # suffix of a trap / slow-path `br`
INVARIANT_LOAD = f"!invariant.load !{MD_EMPTY}"     # suffix of a load of a value that never changes

METADATA = f"""\
!{MD_ROOT} = !{{!"wasirun"}}
!{MD_HEAP_TYPE} = !{{!"heap", !{MD_ROOT}, i64 0}}
!{TBAA_HEAP} = !{{!{MD_HEAP_TYPE}, !{MD_HEAP_TYPE}, i64 0}}
!{MD_VM_TYPE} = !{{!"vm", !{MD_ROOT}, i64 0}}
!{TBAA_VM} = !{{!{MD_VM_TYPE}, !{MD_VM_TYPE}, i64 0}}
!{MD_UNLIKELY} = !{{!"branch_weights", i32 {UNLIKELY_WEIGHTS[0]}, i32 {UNLIKELY_WEIGHTS[1]}}}
!{MD_EMPTY} = !{{}}
"""

# --- @wr_fconsts: identity float constants the translator must hide from LLVM --------------------
# Defined by runtime/native.py (FCONSTS_IR), indexed by translate/numeric.py through FCONST_SLOT:
# one i64 slot each, f32 bits in the low 4 bytes.  Order = slot number.
FCONSTS = (("float", 0x00000000), ("float", 0x80000000), ("float", 0x3F800000), ("float", 0xBF800000),
           ("double", 0), ("double", 0x8000000000000000), ("double", 0x3FF0000000000000),
           ("double", 0xBFF0000000000000))   # +0.0, -0.0, +1.0, -1.0 as f32, then as f64
FCONST_SLOT = {key: slot for slot, key in enumerate(FCONSTS)}   # (IR type, bits) -> slot
FCONSTS_IR_TYPE = f"[{len(FCONSTS)} x i64]"                     # @wr_fconsts's IR type
FCONSTS_IR = FCONSTS_IR_TYPE + " [" + ", ".join(
    f"i64 {bits - (1 << 64) if bits >> 63 else bits}" for _, bits in FCONSTS) + "]"   # type and initialiser

# --- per-thread runtime state: @wr_thread (runtime/native.py, runtime/tls.py) ---------------------
# One ThreadState per OS thread, in static TLS (runtime/tls.py): generated code and the runtime
# IR declare ``@wr_thread`` ``external thread_local(initialexec)`` and reach a field as
# ``%fs:field(GOT slot)``; Python reaches this thread's record through ``wr_thread_state()``.
# Everything a running wasm call needs that must not be shared between threads lives here
# (see docs/ARCHITECTURE.md, "Threads").  Add fields at the end (THREAD_STATE_TLS_SIZE bytes
# are reserved); the IR type below and the field indices follow from _fields_.


class ThreadState(ctypes.Structure):
    _fields_ = [
        ("jmpbuf", ctypes.c_void_p),        # the innermost wr_enter's sigjmp_buf; NULL = no wasm on this thread
        ("stack_limit", ctypes.c_void_p),   # a non-leaf wasm function whose frame is below this traps
        ("entry_fp", ctypes.c_void_p),      # the innermost wr_enter's frame: backtraces stop there
        ("host_fp", ctypes.c_void_p),       # the import thunk's frame while a host function runs, else NULL
        ("backtrace", ctypes.c_void_p),     # MAX_BACKTRACE return addresses, owned by NativeRuntime (NULL: none)
        ("stack_floor", ctypes.c_void_p),   # lowest address wasm may use on this thread's stack (0 = unknown)
        ("pending", ctypes.c_int32),        # a host function raised: the import thunk traps on return
        ("host_import", ctypes.c_int32),    # the import index while host_fp is set
        ("backtrace_len", ctypes.c_int32),
        ("_spare", ctypes.c_int32),
        ("exn_host", ctypes.c_void_p),      # a WasmException a host function raised, for its import thunk to throw
        ("exn_trace", ctypes.c_void_p),     # the exception whose throw the backtrace buffer holds (wr_throw), or NULL
    ]


_IR_OF_CTYPE = {ctypes.c_void_p: "ptr", ctypes.c_int32: "i32", ctypes.c_int64: "i64", ctypes.c_uint64: "i64"}
THREAD_STATE_IR = "{" + ", ".join(_IR_OF_CTYPE[t] for _, t in ThreadState._fields_) + "}"
THREAD_FIELD = {name: i for i, (name, _) in enumerate(ThreadState._fields_)}
THREAD_STATE_SYMBOL = "wr_thread"
THREAD_STATE_TLS_SIZE = 128         # bytes of static TLS taken once per process (the dynamic linker has ~1.5 KiB)
assert ctypes.sizeof(ThreadState) <= THREAD_STATE_TLS_SIZE
THREAD_STATE_DECL = f"@{THREAD_STATE_SYMBOL} = external thread_local(initialexec) global {THREAD_STATE_IR}"


def thread_field(name: str) -> str:
    """A constant IR pointer to field ``name`` of this thread's ThreadState (``ptr`` typed)."""
    return (f"getelementptr inbounds ({THREAD_STATE_IR}, ptr @{THREAD_STATE_SYMBOL}, "
            f"i32 0, i32 {THREAD_FIELD[name]})")


# --- per-engine limits: wr.fuel, wr.interrupt (runtime/context.py) --------------------------------
# One LimitsRecord per Engine (ExecContext); each instance's GOT points wr.fuel / wr.interrupt at
# its engine's record, so engines never share a fuel count or an interrupt flag.


class LimitsRecord(ctypes.Structure):
    _fields_ = [("fuel", ctypes.c_int64),        # instructions left (--fuel), decremented by generated code
                ("interrupt", ctypes.c_int32),   # non-zero: trap with "interrupt" at the next check (--timeout)
                ("_spare", ctypes.c_int32)]


FUEL_SYMBOL, INTERRUPT_SYMBOL = "wr.fuel", "wr.interrupt"

# --- native runtime state (runtime/native.py) ----------------------------------------------------
MAX_BACKTRACE = 128               # return addresses wr_trap / wr_segv record (@wr_backtrace)
MAX_GUARDED = 4096                # linear memories alive at once, each a guarded reservation (@wr_guard_ranges)
MAX_TAIL_INSTANCES = 1024         # instances of tail modules whose records other tail modules tail-call (@wr_tail_ranges)
JMP_BUF_SIZE = 512                # wr_enter's sigjmp_buf alloca: glibc's is 200 bytes on x86-64, with room to spare

# --- Linux x86-64 signal ABI, for wr_segv (runtime/native.py) ------------------------------------
SIGSEGV = 11
SA_SIGINFO = 0x4                  # handler takes (sig, siginfo_t *, ucontext_t *)
SA_ONSTACK = 0x08000000           # use the alternate signal stack when one is set (faulthandler sets one)
SIGINFO_SI_ADDR = 16              # offsetof(siginfo_t, si_addr): the faulting address
_UC_MCONTEXT_GREGS = 40           # offsetof(ucontext_t, uc_mcontext.gregs)
UCONTEXT_RIP = _UC_MCONTEXT_GREGS + 8 * 16   # uc_mcontext.gregs[REG_RIP] = 168: the faulting pc
UCONTEXT_RBP = _UC_MCONTEXT_GREGS + 8 * 10   # uc_mcontext.gregs[REG_RBP] = 120: its frame pointer
UCONTEXT_RSP = _UC_MCONTEXT_GREGS + 8 * 15   # uc_mcontext.gregs[REG_RSP] = 160: its stack pointer

# --- the guest profiler's sampler (runtime/native.py wr_prof, profiling/sampler.py) --------------
SIGPROF = 27
SA_RESTART = 0x10000000           # WASI calls interrupted by a sample restart instead of failing with EINTR
SIGEV_THREAD_ID = 4               # timer_create: signal one thread (the one running wasm)
CLOCK_MONOTONIC = 1               # ... every interval of wall time (a high-resolution timer)
CLOCK_THREAD_CPUTIME_ID = 3       # ... or of that thread's CPU time (checked at the scheduler tick only)
SIGEVENT_SIZE = 64                # struct sigevent; sigev_signo at 8, sigev_notify at 12, _tid at 16
PROF_MAX_DEPTH = 256              # return addresses one sample records (deeper stacks are cut at the root end)
# One sample in the buffer: a header word (frame count | (host import index + 1) << 32, 0 when
# not in a host call), the interrupted pc (0 in a host call), the two words at the interrupted
# rsp (the caller's return address while a prologue or epilogue has rbp still/again the
# caller's), then the return addresses, innermost first.
PROF_HEADER_WORDS = 4
PROF_SAMPLE_MAX_WORDS = PROF_HEADER_WORDS + PROF_MAX_DEPTH


class SigAction(ctypes.Structure):
    """glibc's struct sigaction on x86-64 Linux (the kernel's differs: use libc's sigaction)."""
    _fields_ = [("handler", ctypes.c_void_p), ("mask", ctypes.c_uint64 * 16), ("flags", ctypes.c_int),
                ("restorer", ctypes.c_void_p)]


# --- native fd_write (wasi_host.py FAST_FD_WRITE_IR / FastFdWrite) -------------------------------
FAST_FD_WRITE_MAP_SIZE = 64       # guest fds below this are served natively (wf.fdmap entries)
FAST_FD_WRITE_MAX_IOVS = 64       # iovecs per call served natively (its on-stack host iovec array)
IOVEC_IR = "{ptr, i64}"           # struct iovec {void *iov_base; size_t iov_len} as passed to writev

# --- lazy-compile stubs (runtime/lazy.py) --------------------------------------------------------
LAZY_STUB_SIZE = 16               # bytes per stub (`mov r11d, N; jmp tail` + int3 padding): stub i at base + 16 * i


# --- entry wrappers: wr.call<N>(u64 *slots) ------------------------------------------------
def slot_words(t: int) -> int:
    """How many 8-byte slots of an entry wrapper's argument/result array a value takes:
    two for a v128 (type code 0x7B), low half first."""
    return 2 if t == 0x7B else 1


def slot_offsets(types) -> list[int]:
    """The first slot of each value of ``types``, packed in order."""
    out, at = [], 0
    for t in types:
        out.append(at)
        at += slot_words(t)
    return out


# --- wasm exceptions (runtime/exceptions.py, translate/exceptions.py) ---------------------------
# An exnref is the address of one malloc'ed object: libgcc's _Unwind_Exception header (what
# _Unwind_RaiseException carries through the native frames), the tag's identity, a flags word,
# then the payload (slot_words per value, as the entry wrappers' slots).  Tag identities are
# unique integers handed out by the runtime and never reused (no memory behind them): the code
# compares them with the address of its GOT symbol wr.tag<N>.
EXN_CLASS = int.from_bytes(b"WASIRUN\0", "little")   # _Unwind_Exception.exception_class of ours
EXN_HEADER_SIZE = 32              # sizeof(struct _Unwind_Exception) on x86-64 (16-byte aligned)
EXN_TAG_OFFSET = 32               # tag identity (a pointer-sized integer)
EXN_FLAGS_OFFSET = 40             # EXN_ESCAPED | payload words << EXN_WORDS_SHIFT
EXN_VALUES_OFFSET = 48            # payload words
EXN_ESCAPED = 1                  # flags bit: an exnref to it exists, the collector (runtime/exceptions.py ExnHeap) owns it
EXN_WORDS_SHIFT = 32             # flags bits 32..63: the payload's size in words (what the collector scans)
EXCEPTION_RETURN = 64             # wr_enter's result when a wasm exception left the entry: slots[0] = the object
