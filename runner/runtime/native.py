"""The process-wide native runtime: entry trampoline, trap, and the LLJIT that holds all code.

``wr_enter(fn, slots)`` runs ``fn(slots)`` under ``__sigsetjmp``; ``wr_trap(code)``
records a frame-pointer backtrace and ``siglongjmp``s back, so ``wr_enter``
returns the trap code (0 = normal return).  Traps never unwind through Python
frames: a host function that raises sets ``wr_pending`` and returns, and the
import thunk in the generated code traps with HOST_EXCEPTION after the call.
"""
from __future__ import annotations

import ctypes
import itertools
import threading

import llvmlite.binding as llvm

from .. import jit

MAX_BACKTRACE = 128

RUNTIME_IR = f"""
declare i32 @__sigsetjmp(ptr, i32) returns_twice
declare void @siglongjmp(ptr, i32) noreturn
declare ptr @llvm.frameaddress.p0(i32)

@wr_jmpbuf = global ptr null
@wr_pending = global i32 0
@wr_stack_limit = global ptr null
@wr_stack_budget = global i64 0
@wr_entry_fp = global ptr null
@wr_backtrace = global [{MAX_BACKTRACE} x ptr] zeroinitializer
@wr_backtrace_len = global i32 0
@wr_interrupt = global i32 0
@wr_fuel = global i64 0

define i32 @wr_enter(ptr %fn, ptr %slots) #0 {{
entry:
  %jb = alloca [512 x i8], align 16
  %prev_jb = load ptr, ptr @wr_jmpbuf
  %prev_fp = load ptr, ptr @wr_entry_fp
  %prev_limit = load ptr, ptr @wr_stack_limit
  %fa = call ptr @llvm.frameaddress.p0(i32 0)
  %outer = icmp eq ptr %prev_jb, null
  br i1 %outer, label %set_limit, label %go
set_limit:
  ; The outermost entry fixes the stack budget below the current frame.
  %budget = load i64, ptr @wr_stack_budget
  %fai = ptrtoint ptr %fa to i64
  %lim = sub i64 %fai, %budget
  %limp = inttoptr i64 %lim to ptr
  store ptr %limp, ptr @wr_stack_limit
  br label %go
go:
  store ptr %jb, ptr @wr_jmpbuf
  store ptr %fa, ptr @wr_entry_fp
  %r = call i32 @__sigsetjmp(ptr %jb, i32 1) returns_twice
  %z = icmp eq i32 %r, 0
  br i1 %z, label %run, label %out
run:
  call void %fn(ptr %slots)
  br label %out
out:
  %rc = phi i32 [0, %run], [%r, %go]
  store ptr %prev_jb, ptr @wr_jmpbuf
  store ptr %prev_fp, ptr @wr_entry_fp
  store ptr %prev_limit, ptr @wr_stack_limit
  ret i32 %rc
}}

define void @wr_trap(i32 %code) #1 {{
entry:
  %fp0 = call ptr @llvm.frameaddress.p0(i32 0)
  %stop = load ptr, ptr @wr_entry_fp
  br label %walk
walk:
  %i = phi i32 [0, %entry], [%i1, %record]
  %fp = phi ptr [%fp0, %entry], [%next, %record]
  %past = icmp uge ptr %fp, %stop
  %null = icmp eq ptr %fp, null
  %full = icmp uge i32 %i, {MAX_BACKTRACE}
  %d1 = or i1 %past, %null
  %done = or i1 %d1, %full
  br i1 %done, label %jump, label %record
record:
  %retp = getelementptr ptr, ptr %fp, i32 1
  %ret = load ptr, ptr %retp
  %slot = getelementptr [{MAX_BACKTRACE} x ptr], ptr @wr_backtrace, i32 0, i32 %i
  store ptr %ret, ptr %slot
  %next = load ptr, ptr %fp
  %i1 = add i32 %i, 1
  %up = icmp ugt ptr %next, %fp
  br i1 %up, label %walk, label %jump_rec
jump_rec:
  store i32 %i1, ptr @wr_backtrace_len
  br label %longjmp
jump:
  store i32 %i, ptr @wr_backtrace_len
  br label %longjmp
longjmp:
  %jb = load ptr, ptr @wr_jmpbuf
  call void @siglongjmp(ptr %jb, i32 %code)
  unreachable
}}

attributes #0 = {{ "frame-pointer"="all" noinline }}
attributes #1 = {{ "frame-pointer"="all" noinline noreturn cold }}
"""

ENTER = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p)


class NativeRuntime:
    """Singleton owning the LLJIT, the runtime library and the runtime's Python callbacks."""

    _instance: "NativeRuntime | None" = None
    _lock = threading.Lock()

    @classmethod
    def get(cls) -> "NativeRuntime":
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def __init__(self):
        tm = jit.target_machine(2)
        self.lljit = llvm.create_lljit_compiler(tm)
        obj = jit.compile_ir(RUNTIME_IR, 2)
        names = ["wr_enter", "wr_trap", "wr_jmpbuf", "wr_pending", "wr_stack_limit", "wr_stack_budget",
                 "wr_entry_fp", "wr_backtrace", "wr_backtrace_len", "wr_interrupt", "wr_fuel"]
        builder = llvm.JITLibraryBuilder().add_object_img(obj).add_current_process()
        for n in names:
            builder.export_symbol(n)
        self.tracker = builder.link(self.lljit, "wasirun-runtime")
        self.symbols = {n: self.tracker[n] for n in names}
        self.enter = ENTER(self.symbols["wr_enter"])
        self.pending = ctypes.c_int32.from_address(self.symbols["wr_pending"])
        self.stack_budget = ctypes.c_int64.from_address(self.symbols["wr_stack_budget"])
        self.stack_budget.value = 4 << 20
        self.backtrace_len = ctypes.c_int32.from_address(self.symbols["wr_backtrace_len"])
        self.backtrace = (ctypes.c_void_p * MAX_BACKTRACE).from_address(self.symbols["wr_backtrace"])
        self.interrupt = ctypes.c_int32.from_address(self.symbols["wr_interrupt"])
        self.fuel = ctypes.c_int64.from_address(self.symbols["wr_fuel"])
        self.pending_exception: BaseException | None = None
        self._names = itertools.count()

    def library_name(self) -> str:
        return f"wasm-instance-{next(self._names)}"

    def call(self, fn_address: int, slots_address: int) -> int:
        """Run ``fn(slots)``; returns 0 or the trap code."""
        return self.enter(fn_address, slots_address)

    def take_backtrace(self) -> list[int]:
        n = self.backtrace_len.value
        return [self.backtrace[i] or 0 for i in range(n)]

    def set_pending(self, exc: BaseException) -> None:
        """Called from inside a host callback: remember ``exc``; the wasm side traps on return."""
        if self.pending_exception is None:
            self.pending_exception = exc
        self.pending.value = 1

    def take_pending(self) -> BaseException | None:
        exc, self.pending_exception = self.pending_exception, None
        self.pending.value = 0
        return exc
