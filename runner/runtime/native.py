"""The process-wide native runtime: entry trampoline, trap, guard-page signal handler.

``wr_enter(fn, slots, budget)`` runs ``fn(slots)`` under ``__sigsetjmp``; ``wr_trap(code)``
records a frame-pointer backtrace and ``siglongjmp``s back, so ``wr_enter``
returns the trap code (0 = normal return).  Traps never unwind through Python
frames: a host function that raises sets the thread's ``pending`` flag and returns,
and the import thunk in the generated code traps with HOST_EXCEPTION after the call.

Everything a running call needs is per thread (layout.ThreadState in static TLS,
runtime/tls.py): two threads run wasm at once, each trap jumps back on its own stack.
What is shared is read-only while wasm runs or updated so a concurrent reader
(the signal handler) always sees a consistent table: the guard ranges of the linear
memories and the ranges of JIT code.
"""
from __future__ import annotations

import ctypes
import threading
import weakref
from typing import Any

from ..errors import TrapKind, WasmException
from ..layout import (EXCEPTION_RETURN, FCONSTS_IR, JMP_BUF_SIZE, MAX_BACKTRACE, MAX_GUARDED, MAX_TAIL_INSTANCES,
                      PROF_HEADER_WORDS, PROF_MAX_DEPTH, PROF_SAMPLE_MAX_WORDS, SA_ONSTACK, SA_SIGINFO,
                      SIGINFO_SI_ADDR, SIGSEGV, THREAD_STATE_DECL, THREAD_STATE_SYMBOL, THREAD_STATE_TLS_SIZE,
                      UCONTEXT_RBP, UCONTEXT_RIP, UCONTEXT_RSP, SigAction, ThreadState, thread_field)
from .exceptions import EXCEPTIONS_IR, HEAP, native_from_exception, register_image, unwind_symbols
from .library import native_library, resolver

T = thread_field   # T("jmpbuf"): this thread's field, as an IR constant pointer


def range_scan(p: str, value: str, table: str, stride: int, count: str, start: str, hit: str, miss: str,
               order: str = "") -> str:
    """IR that ends block ``start`` with a scan of ``count`` table entries for one holding ``value``.

    Entry k is ``stride`` pointers at ``table`` + k * stride, the first two a range [lo, hi).
    The first entry with lo <= value < hi branches to ``hit`` with ``%{p}k``, ``%{p}lop`` (the
    entry) and ``%{p}lo`` defined; none branches from block ``{p}scan`` to ``miss``.  ``order``
    makes the two loads atomic with that ordering (tables other threads change meanwhile).
    """
    def load(ptr: str) -> str:
        return f"load atomic ptr, ptr {ptr} {order}, align 8" if order else f"load ptr, ptr {ptr}"
    return f"""  br label %{p}scan
{p}scan:
  %{p}k = phi i32 [0, %{start}], [%{p}k1, %{p}next]
  %{p}more = icmp ult i32 %{p}k, {count}
  br i1 %{p}more, label %{p}test, label %{miss}
{p}test:
  %{p}at = mul i32 %{p}k, {stride}
  %{p}lop = getelementptr ptr, ptr {table}, i32 %{p}at
  %{p}hip = getelementptr ptr, ptr %{p}lop, i32 1
  %{p}lo = {load(f"%{p}lop")}
  %{p}hi = {load(f"%{p}hip")}
  %{p}ge = icmp uge ptr {value}, %{p}lo
  %{p}lt = icmp ult ptr {value}, %{p}hi
  %{p}in = and i1 %{p}ge, %{p}lt
  br i1 %{p}in, label %{hit}, label %{p}next
{p}next:
  %{p}k1 = add i32 %{p}k, 1
  br label %{p}scan"""


RUNTIME_IR = f"""
declare i32 @__sigsetjmp(ptr, i32) returns_twice
declare void @siglongjmp(ptr, i32) noreturn
declare ptr @llvm.frameaddress.p0(i32)
declare ptr @signal(i32, ptr)

{THREAD_STATE_DECL}
; +-0.0, +-1.0 as f32 (low 4 bytes of each slot) and f64, read by code that must not see them
; as constants (runner/translate/numeric.py hidden_constant)
@wr_fconsts = constant {FCONSTS_IR}
@wr_guard_ranges = global [{MAX_GUARDED} x [2 x ptr]] zeroinitializer
@wr_guard_count = global i32 0
@wr_prev_handler = global ptr null
@wr_prev_siginfo = global i32 0
; the mapped JIT code, [lo, hi) pairs (NativeRuntime.add_code): a guard-page fault is a wasm trap
; only when it comes from there.  The count is stored after the entries, the array pointer before
; the count grows: the handler loads the count first.
@wr_code_ranges = global ptr null
@wr_code_count = global i32 0
; the Python hook that compiles a function on its first call (runner/tiers.py lazy mode)
@wr_lazy_hook = global ptr null
; the guest profiler's sample buffer (profiling/sampler.py owns it): words, capacity, used, lost
@wr_prof_buf = global ptr null
@wr_prof_cap = global i64 0
@wr_prof_len = global i64 0
@wr_prof_dropped = global i64 0
; the tail-module instances: first record, end of the records, wr.tailcode each (translate/tailcalls.py).
; Other threads' wasm code reads them while Python changes them (NativeRuntime.add_tail_instance):
; @wr_tail_gen is odd during a change and grows by two with each, so wr_tail_code, which keeps an
; entry only when the generation it saw before and after reading it is the same even number, never
; uses a torn entry nor misses one that moved while it scanned.
@wr_tail_ranges = global [{MAX_TAIL_INSTANCES} x [3 x ptr]] zeroinitializer
@wr_tail_count = global i32 0
@wr_tail_gen = global i32 0

; wr_lazy_entry: where a not-yet-compiled function's stub jumps, with r11 = its index and
; r10 = the instance's lazy-context id.  It keeps the argument registers, asks the hook for
; the function's code (compiling it), and jumps there as if the call had gone there first;
; 0 from the hook means it failed and left the exception pending: trap with it.
module asm "\t.text"
module asm "\t.globl\twr_lazy_entry"
module asm "\t.type\twr_lazy_entry,@function"
module asm "wr_lazy_entry:"
module asm "\tpushq\t%rbp"
module asm "\tmovq\t%rsp, %rbp"
module asm "\tpushq\t%rdi"
module asm "\tpushq\t%rsi"
module asm "\tpushq\t%rdx"
module asm "\tpushq\t%rcx"
module asm "\tpushq\t%r8"
module asm "\tpushq\t%r9"
module asm "\tsubq\t$128, %rsp"
module asm "\tmovdqu\t%xmm0, 0(%rsp)"
module asm "\tmovdqu\t%xmm1, 16(%rsp)"
module asm "\tmovdqu\t%xmm2, 32(%rsp)"
module asm "\tmovdqu\t%xmm3, 48(%rsp)"
module asm "\tmovdqu\t%xmm4, 64(%rsp)"
module asm "\tmovdqu\t%xmm5, 80(%rsp)"
module asm "\tmovdqu\t%xmm6, 96(%rsp)"
module asm "\tmovdqu\t%xmm7, 112(%rsp)"
module asm "\tmovl\t%r11d, %edi"
module asm "\tmovq\t%r10, %rsi"
module asm "\tmovq\twr_lazy_hook(%rip), %rax"
module asm "\tcallq\t*%rax"
module asm "\tmovdqu\t0(%rsp), %xmm0"
module asm "\tmovdqu\t16(%rsp), %xmm1"
module asm "\tmovdqu\t32(%rsp), %xmm2"
module asm "\tmovdqu\t48(%rsp), %xmm3"
module asm "\tmovdqu\t64(%rsp), %xmm4"
module asm "\tmovdqu\t80(%rsp), %xmm5"
module asm "\tmovdqu\t96(%rsp), %xmm6"
module asm "\tmovdqu\t112(%rsp), %xmm7"
module asm "\taddq\t$128, %rsp"
module asm "\tpopq\t%r9"
module asm "\tpopq\t%r8"
module asm "\tpopq\t%rcx"
module asm "\tpopq\t%rdx"
module asm "\tpopq\t%rsi"
module asm "\tpopq\t%rdi"
module asm "\tpopq\t%rbp"
module asm "\ttestq\t%rax, %rax"
module asm "\tjz\t1f"
module asm "\tjmpq\t*%rax"
module asm "1:\tmovl\t${int(TrapKind.HOST_EXCEPTION)}, %edi"
module asm "\tcallq\twr_trap"
module asm "\tud2"
module asm "\t.size\twr_lazy_entry, .-wr_lazy_entry"

; The outermost entry on a thread fixes the stack limit: %budget bytes below its frame, but
; never below the thread's stack floor (the stack's lowest address plus a reserve for host
; calls, NativeRuntime.thread), so running out is always the clean trap, whatever the budget.
; A wasm exception no try_table caught ends at the landing pad: the entry returns
; EXCEPTION_RETURN with the exception object in slots[0] (runtime/exceptions.py).
define i32 @wr_enter(ptr %fn, ptr %slots, i64 %budget) #0 personality ptr @wr_personality {{
entry:
  %jb = alloca [{JMP_BUF_SIZE} x i8], align 16
  %prev_jb = load ptr, ptr {T("jmpbuf")}
  %prev_fp = load ptr, ptr {T("entry_fp")}
  %prev_limit = load ptr, ptr {T("stack_limit")}
  %prev_host = load ptr, ptr {T("host_fp")}
  ; a host function calling back into wasm: its frames are wasm frames again until we return
  store ptr null, ptr {T("host_fp")}
  %fa = call ptr @llvm.frameaddress.p0(i32 0)
  %outer = icmp eq ptr %prev_jb, null
  br i1 %outer, label %set_limit, label %go
set_limit:
  %fai = ptrtoint ptr %fa to i64
  %under = icmp ugt i64 %budget, %fai
  %l0 = sub i64 %fai, %budget
  %l1 = select i1 %under, i64 0, i64 %l0
  %floorp = load ptr, ptr {T("stack_floor")}
  %floor = ptrtoint ptr %floorp to i64
  %clamp = icmp ugt i64 %floor, %l1
  %lim = select i1 %clamp, i64 %floor, i64 %l1
  %limp = inttoptr i64 %lim to ptr
  store ptr %limp, ptr {T("stack_limit")}
  br label %go
go:
  store ptr %jb, ptr {T("jmpbuf")}
  store ptr %fa, ptr {T("entry_fp")}
  %r = call i32 @__sigsetjmp(ptr %jb, i32 1) returns_twice
  %z = icmp eq i32 %r, 0
  br i1 %z, label %run, label %out
run:
  invoke void %fn(ptr %slots) to label %done unwind label %caught
caught:
  %lp = landingpad {{ ptr, i32 }} catch ptr null
  %exn = extractvalue {{ ptr, i32 }} %lp, 0
  store ptr %exn, ptr %slots
  br label %out
done:
  br label %out
out:
  %rc = phi i32 [0, %done], [{EXCEPTION_RETURN}, %caught], [%r, %go]
  store ptr %prev_jb, ptr {T("jmpbuf")}
  store ptr %prev_fp, ptr {T("entry_fp")}
  store ptr %prev_limit, ptr {T("stack_limit")}
  store ptr %prev_host, ptr {T("host_fp")}
  ret i32 %rc
}}

; This thread's ThreadState, for Python (NativeRuntime.thread).
define ptr @wr_thread_state() #0 {{
  ret ptr @{THREAD_STATE_SYMBOL}
}}

; Record return addresses up the frame-pointer chain, from frame %fp0, into this thread's
; backtrace[%first...], stopping at the entry trampoline's frame.
define void @wr_walk(ptr %fp0, i32 %first) #0 {{
entry:
  store ptr null, ptr {T("exn_trace")}   ; the buffer no longer holds a throw's backtrace
  %stop = load ptr, ptr {T("entry_fp")}
  %bt = load ptr, ptr {T("backtrace")}
  %none = icmp eq ptr %bt, null
  br i1 %none, label %empty, label %walk
empty:
  store i32 0, ptr {T("backtrace_len")}
  ret void
walk:
  %i = phi i32 [%first, %entry], [%i1, %record]
  %fp = phi ptr [%fp0, %entry], [%next, %record]
  %past = icmp uge ptr %fp, %stop
  %null = icmp eq ptr %fp, null
  %full = icmp uge i32 %i, {MAX_BACKTRACE}
  %d1 = or i1 %past, %null
  %done = or i1 %d1, %full
  br i1 %done, label %out, label %record
record:
  %retp = getelementptr ptr, ptr %fp, i32 1
  %ret = load ptr, ptr %retp
  %slot = getelementptr ptr, ptr %bt, i32 %i
  store ptr %ret, ptr %slot
  %next = load ptr, ptr %fp
  %i1 = add i32 %i, 1
  %up = icmp ugt ptr %next, %fp
  br i1 %up, label %walk, label %out_rec
out_rec:
  store i32 %i1, ptr {T("backtrace_len")}
  ret void
out:
  store i32 %i, ptr {T("backtrace_len")}
  ret void
}}

; The tailcc code of function record %ref when it belongs to an instance of a tail module
; (its wr.tailcode entry), else null: a tail call to another instance's function stays a tail call.
; A seqlock read of @wr_tail_ranges: scan again when @wr_tail_gen changed meanwhile (or was odd).
define ptr @wr_tail_code(ptr %ref) #0 {{
entry:
  br label %start
start:
  %g0 = load atomic i32, ptr @wr_tail_gen acquire, align 4
  %n = load atomic i32, ptr @wr_tail_count monotonic, align 4
{range_scan("t.", "%ref", "@wr_tail_ranges", 3, "%n", "start", "found", "check", order="monotonic")}
found:
  %tcp = getelementptr ptr, ptr %t.lop, i32 2
  %tc = load atomic ptr, ptr %tcp monotonic, align 8
  br label %check
check:
  ; hit or miss, what was read counts only if no change began or ended meanwhile
  %tcv = phi ptr [%tc, %found], [null, %t.scan]
  %lov = phi ptr [%t.lo, %found], [null, %t.scan]
  fence acquire
  %g1 = load atomic i32, ptr @wr_tail_gen monotonic, align 4
  %same = icmp eq i32 %g0, %g1
  %odd = and i32 %g0, 1
  %even = icmp eq i32 %odd, 0
  %stable = and i1 %same, %even
  br i1 %stable, label %done, label %start
done:
  %miss = icmp eq ptr %tcv, null
  br i1 %miss, label %none, label %use
use:
  ; the entry is whole: its instance is alive (%ref is one of its records), so is its wr.tailcode
  %ri = ptrtoint ptr %ref to i64
  %li = ptrtoint ptr %lov to i64
  %off = sub i64 %ri, %li
  %idx = lshr i64 %off, 4
  %slot = getelementptr ptr, ptr %tcv, i64 %idx
  %code = load ptr, ptr %slot
  ret ptr %code
none:
  ret ptr null
}}

define void @wr_trap(i32 %code) #1 {{
  %fp = call ptr @llvm.frameaddress.p0(i32 0)
  call void @wr_walk(ptr %fp, i32 0)
  %jb = load ptr, ptr {T("jmpbuf")}
  call void @siglongjmp(ptr %jb, i32 %code)
  unreachable
}}

; SIGSEGV handler for the guard pages of linear memories: a fault inside a
; memory's reservation, by JIT code of a wasm call running on this thread (not
; inside a host function it called), is an out-of-bounds access; anything else
; goes to the handler that was installed before ours.
define void @wr_segv(i32 %sig, ptr %info, ptr %uc) #0 {{
entry:
  %jb = load volatile ptr, ptr {T("jmpbuf")}
  %host = load volatile ptr, ptr {T("host_fp")}
  %in_wasm = icmp ne ptr %jb, null
  %in_host = icmp ne ptr %host, null
  %not_host = xor i1 %in_host, true
  %wasm_now = and i1 %in_wasm, %not_host
  br i1 %wasm_now, label %pc_check, label %chain
pc_check:
  %ripp0 = getelementptr i8, ptr %uc, i64 {UCONTEXT_RIP}
  %pc = load ptr, ptr %ripp0
  %nc = load atomic i32, ptr @wr_code_count acquire, align 4
  %codes = load atomic ptr, ptr @wr_code_ranges acquire, align 8
{range_scan("c.", "%pc", "%codes", 2, "%nc", "pc_check", "check", "chain")}
check:
  %addrp = getelementptr i8, ptr %info, i64 {SIGINFO_SI_ADDR}          ; siginfo_t.si_addr
  %addr = load ptr, ptr %addrp
  %n = load atomic i32, ptr @wr_guard_count acquire, align 4
{range_scan("g.", "%addr", "@wr_guard_ranges", 2, "%n", "check", "trap", "chain")}
trap:
  ; Backtrace from the faulting frame: its pc (+1, as if a return address), then its rbp chain.
  %ripp = getelementptr i8, ptr %uc, i64 {UCONTEXT_RIP}           ; uc_mcontext.gregs[REG_RIP]
  %rbpp = getelementptr i8, ptr %uc, i64 {UCONTEXT_RBP}           ; uc_mcontext.gregs[REG_RBP]
  %rip = load ptr, ptr %ripp
  %rbp = load ptr, ptr %rbpp
  %pc1 = getelementptr i8, ptr %rip, i64 1
  %bt = load ptr, ptr {T("backtrace")}
  %has_bt = icmp ne ptr %bt, null
  br i1 %has_bt, label %trap_bt, label %trap_jump
trap_bt:
  store ptr %pc1, ptr %bt
  call void @wr_walk(ptr %rbp, i32 1)
  br label %trap_jump
trap_jump:
  call void @siglongjmp(ptr %jb, i32 {int(TrapKind.MEMORY_OUT_OF_BOUNDS)})
  unreachable
chain:
  %prev = load ptr, ptr @wr_prev_handler
  %previ = ptrtoint ptr %prev to i64
  %special = icmp ult i64 %previ, 2                     ; SIG_DFL or SIG_IGN
  br i1 %special, label %default, label %call_prev
default:
  ; Restore the default action and return: the fault repeats and kills the process as usual.
  call ptr @signal(i32 %sig, ptr null)
  ret void
call_prev:
  %siginfo = load i32, ptr @wr_prev_siginfo
  %three = icmp ne i32 %siginfo, 0
  br i1 %three, label %call3, label %call1
call3:
  call void %prev(i32 %sig, ptr %info, ptr %uc)
  ret void
call1:
  call void %prev(i32 %sig)
  ret void
}}

; SIGPROF handler of the guest profiler (async-signal-safe: loads and stores only).  While wasm
; runs, append one sample (layout.py PROF_HEADER_WORDS) to @wr_prof_buf: the interrupted pc and
; the return addresses up the rbp chain to the entry frame, or, inside a host call, the chain
; from the import thunk's frame.  Every frame read lies in [rsp, entry frame) and each is above
; the one before, so a garbage rbp (interrupted in Python or libc) cannot fault.
define void @wr_prof(i32 %sig, ptr %info, ptr %uc) #0 {{
entry:
  %jb = load volatile ptr, ptr {T("jmpbuf")}
  %buf = load ptr, ptr @wr_prof_buf
  %a = icmp ne ptr %jb, null
  %b = icmp ne ptr %buf, null
  %on = and i1 %a, %b
  br i1 %on, label %room, label %out
room:
  %len = load i64, ptr @wr_prof_len
  %cap = load i64, ptr @wr_prof_cap
  %need = add i64 %len, {PROF_SAMPLE_MAX_WORDS}
  %fits = icmp ule i64 %need, %cap
  br i1 %fits, label %sample, label %drop
drop:
  %d = load i64, ptr @wr_prof_dropped
  %d1 = add i64 %d, 1
  store i64 %d1, ptr @wr_prof_dropped
  br label %out
sample:
  %stop = load volatile ptr, ptr {T("entry_fp")}
  %host = load volatile ptr, ptr {T("host_fp")}
  %hidx = load volatile i32, ptr {T("host_import")}
  %ripp = getelementptr i8, ptr %uc, i64 {UCONTEXT_RIP}
  %rbpp = getelementptr i8, ptr %uc, i64 {UCONTEXT_RBP}
  %rspp = getelementptr i8, ptr %uc, i64 {UCONTEXT_RSP}
  %rip = load i64, ptr %ripp
  %rbp = load ptr, ptr %rbpp
  %rsp = load ptr, ptr %rspp
  %in_host = icmp ne ptr %host, null
  %pc = select i1 %in_host, i64 0, i64 %rip
  %fp0 = select i1 %in_host, ptr %host, ptr %rbp
  %hdr = getelementptr i64, ptr %buf, i64 %len
  %pcp = getelementptr i64, ptr %hdr, i64 1
  store i64 %pc, ptr %pcp
  %s0p = getelementptr i64, ptr %hdr, i64 2
  %s1p = getelementptr i64, ptr %hdr, i64 3
  %rsp16 = getelementptr i8, ptr %rsp, i64 16
  %sp_ok = icmp ule ptr %rsp16, %stop
  %in_jit = xor i1 %in_host, true
  %sp_read = and i1 %sp_ok, %in_jit
  br i1 %sp_read, label %sp_words, label %sp_none
sp_words:
  %w0 = load i64, ptr %rsp
  %rsp8 = getelementptr i8, ptr %rsp, i64 8
  %w1 = load i64, ptr %rsp8
  br label %sp_done
sp_none:
  br label %sp_done
sp_done:
  %v0 = phi i64 [%w0, %sp_words], [0, %sp_none]
  %v1 = phi i64 [%w1, %sp_words], [0, %sp_none]
  store i64 %v0, ptr %s0p
  store i64 %v1, ptr %s1p
  %frames = getelementptr i64, ptr %hdr, i64 {PROF_HEADER_WORDS}
  br label %walk
walk:
  %i = phi i64 [0, %sp_done], [%i1, %record]
  %fp = phi ptr [%fp0, %sp_done], [%next, %record]
  %fpi = ptrtoint ptr %fp to i64
  %mis = and i64 %fpi, 7
  %aligned = icmp eq i64 %mis, 0
  %fp16 = getelementptr i8, ptr %fp, i64 16
  %below = icmp ule ptr %fp16, %stop
  %above = icmp uge ptr %fp, %rsp
  %room1 = icmp ult i64 %i, {PROF_MAX_DEPTH}
  %c1 = and i1 %aligned, %below
  %c2 = and i1 %above, %room1
  %go = and i1 %c1, %c2
  br i1 %go, label %record, label %done
record:
  %retp = getelementptr ptr, ptr %fp, i64 1
  %ret = load i64, ptr %retp
  %slot = getelementptr i64, ptr %frames, i64 %i
  store i64 %ret, ptr %slot
  %i1 = add i64 %i, 1
  %nx = load ptr, ptr %fp
  %up = icmp ugt ptr %nx, %fp
  %next = select i1 %up, ptr %nx, ptr %stop
  br label %walk
done:
  %hz = zext i32 %hidx to i64
  %h1 = add i64 %hz, 1
  %hs = shl i64 %h1, 32
  %tag = select i1 %in_host, i64 %hs, i64 0
  %header = or i64 %tag, %i
  store i64 %header, ptr %hdr
  %used = add i64 %i, {PROF_HEADER_WORDS}
  %len1 = add i64 %len, %used
  store i64 %len1, ptr @wr_prof_len
  br label %out
out:
  ret void
}}

attributes #0 = {{ "frame-pointer"="all" noinline }}
attributes #1 = {{ "frame-pointer"="all" noinline noreturn cold }}
""" + EXCEPTIONS_IR

ENTER = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64)
LAZY_HOOK = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_uint32, ctypes.c_uint64)
THREAD_STATE = ctypes.CFUNCTYPE(ctypes.c_void_p)

DEFAULT_STACK_BUDGET = 4 << 20   # bytes of native stack wasm may use (Config.max_wasm_stack)
# What stays free below the stack limit, whatever the budget: the frame of the function that
# traps, leaf functions (unchecked), a host function called from the deepest frame (Python's
# interpreter and ctypes), compiling a function on its first call, the signal handler.
STACK_RESERVE = 256 << 10


class UnsupportedHost(RuntimeError):
    """wasirun runs wasm as x86-64 machine code on Linux (glibc): anything else is refused at start."""


def check_host() -> None:
    import os
    import sys
    machine = os.uname().machine if hasattr(os, "uname") else ""
    if sys.platform != "linux" or machine != "x86_64" or sys.maxsize <= 2**32:
        raise UnsupportedHost(f"wasirun runs WebAssembly as x86-64 machine code on Linux; "
                              f"this host is {sys.platform} on {machine or 'an unknown CPU'}")
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        libc = ""
    if not libc.startswith("glibc"):
        raise UnsupportedHost("wasirun needs glibc (its signal, setjmp and TLS ABIs); "
                              f"this host's C library is {libc or 'not glibc'}")


class _Thread:
    """Python's side of one thread's ThreadState: the backtrace buffer it points at and the
    exception a host function left pending."""

    def __init__(self, address: int):
        self.state = ThreadState.from_address(address)
        self.backtrace = (ctypes.c_void_p * MAX_BACKTRACE)()
        self.state.backtrace = ctypes.addressof(self.backtrace)
        self.state.stack_floor = _stack_floor()
        self.pending_exception: BaseException | None = None
        self.entered = False      # has run wasm (exnref collection needs to know: runtime/exceptions.py)


_libc = ctypes.CDLL(None, use_errno=True)
_libc.pthread_self.restype = ctypes.c_void_p
_libc.pthread_getattr_np.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
_libc.pthread_attr_getstack.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p),
                                        ctypes.POINTER(ctypes.c_size_t)]
_libc.pthread_attr_destroy.argtypes = [ctypes.c_void_p]


def _stack_floor() -> int:
    """The lowest address wasm code may use on this thread: the stack's low end plus
    STACK_RESERVE (0 when the stack is unknown: the budget alone limits it)."""
    attr = (ctypes.c_byte * 128)()          # pthread_attr_t is 56 bytes on x86-64
    if _libc.pthread_getattr_np(_libc.pthread_self(), attr) != 0:
        return 0
    try:
        low, size = ctypes.c_void_p(), ctypes.c_size_t()
        if _libc.pthread_attr_getstack(attr, ctypes.byref(low), ctypes.byref(size)) != 0 or not low.value:
            return 0
        return low.value + STACK_RESERVE
    finally:
        _libc.pthread_attr_destroy(attr)


class _WriterLock:
    """A lock that knows which thread holds it, and runs what that thread's finalisers asked
    for once it lets go (see NativeRuntime.when_unlocked)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._local = threading.local()    # .held, .deferred: this thread's

    def __enter__(self):
        self._lock.acquire()
        self._local.held = True

    def __exit__(self, *exc):
        self._local.held = False
        self._lock.release()
        deferred = getattr(self._local, "deferred", None)
        while deferred:
            deferred.pop(0)()

    def run_unlocked(self, fn) -> None:
        if getattr(self._local, "held", False):
            if getattr(self._local, "deferred", None) is None:
                self._local.deferred = []
            self._local.deferred.append(fn)
        else:
            fn()


class NativeRuntime:
    """Singleton owning the runtime library and the runtime's Python-visible state."""

    _instance: "NativeRuntime | None" = None
    _lock = threading.Lock()

    @classmethod
    def get(cls) -> "NativeRuntime":
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    SYMBOLS = ("wr_enter", "wr_trap", "wr_thread_state", "wr_fconsts", "wr_segv", "wr_guard_ranges",
               "wr_guard_count", "wr_code_ranges", "wr_code_count", "wr_prev_handler", "wr_prev_siginfo",
               "wr_lazy_entry", "wr_lazy_hook", "wr_prof", "wr_prof_buf", "wr_prof_cap", "wr_prof_len",
               "wr_prof_dropped", "wr_tail_ranges", "wr_tail_count", "wr_tail_gen", "wr_tail_code",
               "wr_throw", "wr_exn_alloc", "wr_host_raise", "wr_personality", "wr_exn_drop", "wr_exn_escape",
               "wr_exn_list", "wr_exn_count", "wr_exn_cap", "wr_exn_gc")

    def __init__(self):
        check_host()
        from .tls import tls_block
        tls = tls_block(THREAD_STATE_TLS_SIZE)
        # @wr_thread's "address" for the loader is its offset from the thread pointer (a GOTTPOFF slot).
        self.tls_symbols = {THREAD_STATE_SYMBOL: tls.offset & 0xFFFFFFFFFFFFFFFF}
        # Mapped from the code cache by our own loader (runner/loader.py): no LLVM on a warm start.
        self.library, self.sizes = native_library(RUNTIME_IR, "runtime", resolver(self.tls_symbols, unwind_symbols()))
        register_image(self.library)   # wr_enter and wr_throw are unwound through: never unregistered
        self.symbols = {n: self.library.address(n) for n in self.SYMBOLS}
        self.symbols.update(self.tls_symbols)
        self.enter = ENTER(self.symbols["wr_enter"])
        self._thread_state = THREAD_STATE(self.symbols["wr_thread_state"])
        self._local = threading.local()
        self._guard_ranges = (ctypes.c_void_p * (2 * MAX_GUARDED)).from_address(self.symbols["wr_guard_ranges"])
        self._guard_count = ctypes.c_int32.from_address(self.symbols["wr_guard_count"])
        self._ranges_lock = _WriterLock()
        self._code_slot = ctypes.c_void_p.from_address(self.symbols["wr_code_ranges"])
        self._code_count = ctypes.c_int32.from_address(self.symbols["wr_code_count"])
        self._code_arrays: list = []     # every array the handler may still be reading: never freed
        self._codes = None
        self._tail_ranges = (ctypes.c_void_p * (3 * MAX_TAIL_INSTANCES)).from_address(self.symbols["wr_tail_ranges"])
        self._tail_count = ctypes.c_int32.from_address(self.symbols["wr_tail_count"])
        self._tail_gen = ctypes.c_int32.from_address(self.symbols["wr_tail_gen"])
        self._install_segv_handler()
        HEAP.install(self.symbols)
        self._lazy_targets: dict[int, Any] = {}
        self._lazy_hook = LAZY_HOOK(self._on_lazy_call)
        ctypes.c_void_p.from_address(self.symbols["wr_lazy_hook"]).value = \
            ctypes.cast(self._lazy_hook, ctypes.c_void_p).value

    # --- per-thread state ---------------------------------------------------------------------
    def thread(self) -> _Thread:
        """The calling thread's state (made on its first wasm call)."""
        try:
            return self._local.thread
        except AttributeError:
            t = self._local.thread = _Thread(self._thread_state())
            return t

    # --- lazy compilation -------------------------------------------------------------------
    def add_lazy_target(self, ctx: int, compile_fn) -> None:
        """``compile_fn(func_index) -> code address`` serves the stubs made with ``ctx``."""
        self._lazy_targets[ctx] = compile_fn

    def remove_lazy_target(self, ctx: int) -> None:
        self._lazy_targets.pop(ctx, None)

    def _on_lazy_call(self, func_index: int, ctx: int) -> int:
        # On the wasm thread, from wr_lazy_entry: nothing may propagate into native code.
        try:
            return self._lazy_targets[ctx](func_index)
        except BaseException as exc:  # noqa: BLE001
            self.set_pending(exc)
            return 0

    # --- guard pages ------------------------------------------------------------------------
    def _install_segv_handler(self) -> None:
        """Route SIGSEGV to wr_segv, remembering the previous handler (faulthandler, pytest's…) to chain to."""
        libc = ctypes.CDLL(None, use_errno=True)
        new, old = SigAction(), SigAction()
        new.handler = self.symbols["wr_segv"]
        new.flags = SA_SIGINFO | SA_ONSTACK
        if libc.sigaction(SIGSEGV, ctypes.byref(new), ctypes.byref(old)) != 0:
            raise OSError(ctypes.get_errno(), "sigaction(SIGSEGV) failed")
        self._old_action = old
        ctypes.c_void_p.from_address(self.symbols["wr_prev_handler"]).value = old.handler
        ctypes.c_int32.from_address(self.symbols["wr_prev_siginfo"]).value = 1 if old.flags & SA_SIGINFO else 0

    def when_unlocked(self, cleanup) -> None:
        """Run a finaliser's ``cleanup`` now, or, if this thread is inside one of the range
        writers below, right after it. A garbage collection can start at any allocation, also
        inside a writer, and run ``Instance.__del__`` / ``Memory.__del__`` on the thread that
        holds the lock: taking it again would deadlock, and editing a table mid-edit would
        corrupt it; the memory a listed range describes must stay mapped until it is unlisted,
        so the whole cleanup waits, not just the unlisting."""
        self._ranges_lock.run_unlocked(cleanup)

    def add_guarded(self, lo: int, hi: int) -> None:
        """Faults in [lo, hi) by wasm code become "out of bounds memory access"."""
        with self._ranges_lock:
            n = self._guard_count.value
            if n >= MAX_GUARDED:
                raise MemoryError(f"more than {MAX_GUARDED} linear memories alive at once")
            self._guard_ranges[2 * n], self._guard_ranges[2 * n + 1] = lo, hi
            self._guard_count.value = n + 1      # after the entry: another thread's handler may be scanning

    def remove_guarded(self, lo: int) -> None:
        with self._ranges_lock:
            _remove_range(self._guard_ranges, self._guard_count, lo)

    # --- JIT code ranges ----------------------------------------------------------------------
    def add_code(self, lo: int, hi: int) -> None:
        """[lo, hi) is wasm code: a guard-page fault there is a trap (call before it can run)."""
        with self._ranges_lock:
            n = self._code_count.value
            if self._codes is None or 2 * n + 2 > len(self._codes):
                grown = (ctypes.c_void_p * max(64, 4 * n + 4))()
                if n:
                    ctypes.memmove(grown, self._codes, 16 * n)
                self._code_arrays.append(grown)
                self._codes = grown
                self._code_slot.value = ctypes.addressof(grown)   # before the count can grow past the old one
            self._codes[2 * n], self._codes[2 * n + 1] = lo, hi
            self._code_count.value = n + 1

    def remove_code(self, lo: int) -> None:
        with self._ranges_lock:
            if self._codes is not None:
                _remove_range(self._codes, self._code_count, lo)

    # --- tail-module instances (wr_tail_code) -----------------------------------------------
    # Writers hold _ranges_lock (one change at a time) and bracket each change with an odd
    # @wr_tail_gen; ctypes stores reach memory in program order on x86-64 (check_host), so a
    # reader that saw the same even generation before and after its scan saw no change.
    def add_tail_instance(self, records: int, end: int, tailcode: int) -> None:
        """Records [records, end) have their tailcc code in ``tailcode`` (one pointer per record).
        Beyond MAX_TAIL_INSTANCES an instance is not listed: calls into it are ordinary calls.
        Listing the same ``records`` again replaces its entry (a new instance where a dead one was)."""
        with self._ranges_lock:
            n = self._tail_count.value
            r = self._tail_ranges
            k = next((k for k in range(n) if r[3 * k] == records), n)
            if k >= MAX_TAIL_INSTANCES:
                return
            self._tail_gen.value += 1
            r[3 * k], r[3 * k + 1], r[3 * k + 2] = records, end, tailcode
            if k == n:
                self._tail_count.value = n + 1
            self._tail_gen.value += 1

    def remove_tail_instance(self, records: int) -> None:
        with self._ranges_lock:
            n = self._tail_count.value
            r = self._tail_ranges
            for k in range(n):
                if r[3 * k] == records:
                    # the last entry moves into the hole, as in remove_guarded
                    self._tail_gen.value += 1
                    r[3 * k:3 * k + 3] = r[3 * (n - 1):3 * n]
                    self._tail_count.value = n - 1
                    self._tail_gen.value += 1
                    return

    def announce(self, agent) -> None:
        """Tell a profiling agent about the runtime's own code, so call chains through the
        entry trampoline and the signal handler have names too."""
        for name in ("wr_enter", "wr_trap", "wr_segv"):
            agent.register_function(f"wasirun::{name}", self.symbols[name], self.sizes.get(name, 1))

    def call(self, fn_address: int, slots_address: int, stack_budget: int = DEFAULT_STACK_BUDGET) -> int:
        """Run ``fn(slots)`` on this thread; returns 0 or the trap code.  ``stack_budget``
        bytes of stack below this frame, at most down to the thread's stack floor, may be
        used when this is the thread's outermost wasm call."""
        try:
            t = self._local.thread
        except AttributeError:
            t = self.thread()
        if not t.entered:   # until the thread ends (its thread-local record dies): idents are reused
            t.entered = True
            ident = threading.get_ident()
            HEAP.wasm_threads.add(ident)
            weakref.finalize(t, HEAP.wasm_threads.discard, ident)
        return self.enter(fn_address, slots_address, stack_budget)

    def take_backtrace(self) -> list[int]:
        t = self.thread()
        n = t.state.backtrace_len
        t.state.backtrace_len = 0
        return [t.backtrace[i] or 0 for i in range(n)]

    def set_pending(self, exc: BaseException) -> None:
        """Called from inside a host callback: remember ``exc``; the wasm side traps on return,
        or, for a WasmException, throws it (wr_host_raise)."""
        t = self.thread()
        if isinstance(exc, WasmException) and t.pending_exception is None:
            try:
                t.state.exn_host = native_from_exception(exc)
                t.state.pending = 1
                return
            except (TypeError, MemoryError) as bad:
                exc = bad
        if t.pending_exception is None:
            t.pending_exception = exc
        t.state.pending = 1

    def take_pending(self) -> BaseException | None:
        t = self.thread()
        exc, t.pending_exception = t.pending_exception, None
        t.state.pending = 0
        t.state.exn_host = None
        return exc


def _remove_range(ranges, count, lo: int) -> None:
    """Remove the [lo, hi) pair starting at ``lo`` so that a signal handler scanning the
    table at the same time (loading the count first) always finds every other range:
    the last pair is copied into the hole before the count shrinks."""
    n = count.value
    for k in range(n):
        if ranges[2 * k] == lo:
            last = 2 * (n - 1)
            ranges[2 * k + 1] = 0                      # empty while it changes: lo >= hi matches nothing
            ranges[2 * k] = ranges[last]
            ranges[2 * k + 1] = ranges[last + 1]
            count.value = n - 1
            return
