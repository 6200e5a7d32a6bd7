"""Bind the WASI preview1 host (``wasi/``) to an instance's imports.

The one place where the runtime meets ``wasi``: each ``HostFunc`` becomes a
native-callable host function closed over the instance's ``WasiCtx``.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

from wasi import WASI_FUNCTIONS, WASI_UNSTABLE_FUNCTIONS, WasiCtx

from .binary.module import F32, F64, I32, I64, FuncType
from .layout import FAST_FD_WRITE_MAP_SIZE, FAST_FD_WRITE_MAX_IOVS, IOVEC_IR, MEMORY_RECORD_IR, MEMORY_SIZE_FIELD
from .runtime.instance import Function, host_function

# wasi_unstable has its own table: three of its functions have another ABI (wasi/unstable.py)
WASI_TABLES = {"wasi_snapshot_preview1": WASI_FUNCTIONS, "wasi_unstable": WASI_UNSTABLE_FUNCTIONS}
WASI_MODULES = tuple(WASI_TABLES)
_TYPE = {"i32": I32, "i64": I64, "f32": F32, "f64": F64}


def wasi_resolver(ctx: WasiCtx, fallback: Callable[[str, str], Any] | None = None,
                  fast_fd_write: bool = True) -> Callable[[str, str], Any]:
    """An import resolver providing every preview1 (and wasi_unstable) function, bound to ``ctx``.

    With ``fast_fd_write``, ``fd_write`` is native code that writes straight from
    guest memory with ``write``/``writev`` and calls the Python implementation only for what
    it does not handle (see FastFdWrite); ``attach_memory`` must then be called
    once the instance exists.
    """
    bound: dict[tuple[str, str], Function] = {}
    fast = FastFdWrite(ctx) if fast_fd_write else None
    ctx.fast_fd_write = fast

    def resolve(module: str, name: str):
        if module in WASI_TABLES:
            f = bound.get((module, name))
            if f is None:
                hf = WASI_TABLES[module].get(name)
                if hf is None:
                    return None
                ft = FuncType(tuple(_TYPE[t] for t in hf.params), tuple(_TYPE[t] for t in hf.results))
                f = host_function(ft, functools.partial(hf.impl, ctx), f"{module}::{name}")
                if fast is not None and name == "fd_write":
                    f = fast.function(ft, f)
                bound[(module, name)] = f
            return f
        return fallback(module, name) if fallback else None

    return resolve


FAST_FD_WRITE_IR = f"""
@wf.memslot = external global ptr
@wf.fdmap = external global [{FAST_FD_WRITE_MAP_SIZE} x i32]
declare i32 @wf.slow(i32, i32, i32, i32)
declare i64 @writev(i32, ptr, i32)
declare i64 @write(i32, ptr, i64)

define i32 @wf_fd_write(i32 %fd, i32 %iovs, i32 %n, i32 %nw) {{
entry:
  %rec = load ptr, ptr @wf.memslot
  %norec = icmp eq ptr %rec, null
  %fdbig = icmp uge i32 %fd, {FAST_FD_WRITE_MAP_SIZE}
  %nbig = icmp ugt i32 %n, {FAST_FD_WRITE_MAX_IOVS}
  %b1 = or i1 %norec, %fdbig
  %b2 = or i1 %b1, %nbig
  br i1 %b2, label %slow, label %lookup
lookup:
  %slot = getelementptr [{FAST_FD_WRITE_MAP_SIZE} x i32], ptr @wf.fdmap, i32 0, i32 %fd
  %hfd = load i32, ptr %slot
  %closed = icmp slt i32 %hfd, 0
  br i1 %closed, label %slow, label %bounds
bounds:
  %base = load ptr, ptr %rec
  %sizep = getelementptr {MEMORY_RECORD_IR}, ptr %rec, i32 0, i32 {MEMORY_SIZE_FIELD}
  %size = load i64, ptr %sizep
  %nw64 = zext i32 %nw to i64
  %nwend = add i64 %nw64, 4
  %nwbad = icmp ugt i64 %nwend, %size
  %iov64 = zext i32 %iovs to i64
  %n64 = zext i32 %n to i64
  %iovlen = mul i64 %n64, 8
  %iovend = add i64 %iov64, %iovlen
  %iovbad = icmp ugt i64 %iovend, %size
  %bad = or i1 %nwbad, %iovbad
  br i1 %bad, label %slow, label %prepare
prepare:
  %host = alloca [{FAST_FD_WRITE_MAX_IOVS} x {IOVEC_IR}], align 16
  br label %loop
loop:
  %i = phi i32 [0, %prepare], [%i1, %store]
  %more = icmp ult i32 %i, %n
  br i1 %more, label %one, label %write
one:
  %i64 = zext i32 %i to i64
  %off = mul i64 %i64, 8
  %at = add i64 %iov64, %off
  %gp = getelementptr i8, ptr %base, i64 %at
  %buf = load i32, ptr %gp, align 1
  %lp = getelementptr i8, ptr %gp, i64 4
  %len = load i32, ptr %lp, align 1
  %buf64 = zext i32 %buf to i64
  %len64 = zext i32 %len to i64
  %end = add i64 %buf64, %len64
  %out = icmp ugt i64 %end, %size
  br i1 %out, label %slow, label %store
store:
  %hp = getelementptr i8, ptr %base, i64 %buf64
  %e0 = getelementptr [{FAST_FD_WRITE_MAX_IOVS} x {IOVEC_IR}], ptr %host, i32 0, i32 %i, i32 0
  %e1 = getelementptr [{FAST_FD_WRITE_MAX_IOVS} x {IOVEC_IR}], ptr %host, i32 0, i32 %i, i32 1
  store ptr %hp, ptr %e0
  store i64 %len64, ptr %e1
  %i1 = add i32 %i, 1
  br label %loop
write:
  ; one iovec (every println!) is a plain write: the kernel's writev copies and checks the
  ; iovec array first (~30 ns a call); both return the same count and set the same errno
  %single = icmp eq i32 %n, 1
  br i1 %single, label %write1, label %writen
write1:
  %p1 = load ptr, ptr %host
  %l1p = getelementptr {IOVEC_IR}, ptr %host, i32 0, i32 1
  %l1 = load i64, ptr %l1p
  %r1 = call i64 @write(i32 %hfd, ptr %p1, i64 %l1)
  br label %written
writen:
  %rn = call i64 @writev(i32 %hfd, ptr %host, i32 %n)
  br label %written
written:
  %r = phi i64 [%r1, %write1], [%rn, %writen]
  %failed = icmp slt i64 %r, 0
  br i1 %failed, label %slow, label %done
done:
  %nwp = getelementptr i8, ptr %base, i64 %nw64
  %r32 = trunc i64 %r to i32
  store i32 %r32, ptr %nwp, align 1
  ret i32 0
slow:
  ; Anything unusual (a bad pointer, a closed or non-writable fd, an error) is left to
  ; the Python implementation, which nothing has touched yet: it gives the exact errno.
  %s = call i32 @wf.slow(i32 %fd, i32 %iovs, i32 %n, i32 %nw)
  ret i32 %s
}}
"""


FAST_FD_WRITE_LABEL = "fast-fd-write"


class FastFdWrite:
    """fd_write as native code: every println! is one ``write`` from guest memory, no Python.

    It serves guest fds below 64 that the Python ``fd_write`` would write to
    (``fdmap`` holds their host fds, rebuilt whenever the fd table changes) and
    hands everything else to that Python implementation, which stays the reference
    for errnos and rights.  Bounds are checked against the memory's current size.
    """

    MAP_SIZE = FAST_FD_WRITE_MAP_SIZE

    def __init__(self, ctx: WasiCtx):
        import ctypes
        self.ctx = ctx
        self.memslot = ctypes.c_void_p(0)
        self.fdmap = (ctypes.c_int32 * self.MAP_SIZE)(*([-1] * self.MAP_SIZE))
        self._version = None
        # The table says when it changes (path_open, fd_close, fd_renumber): no wrapper around
        # every host call (each was one more Python frame on all of them).
        ctx.fds.listeners.append(self.refresh)

    def refresh(self) -> None:
        from wasi.errors import WasiError
        from wasi.fd import _writable
        fds = self.ctx.fds
        if fds.version == self._version:
            return
        for fd in range(self.MAP_SIZE):
            try:
                self.fdmap[fd] = _writable(self.ctx, fd).host_fd
            except WasiError:
                self.fdmap[fd] = -1
        self._version = fds.version

    def function(self, ft: FuncType, slow: Function) -> Function:
        """The native fd_write for this context, falling back to ``slow``."""
        import ctypes

        from .runtime.library import native_library, resolver
        own = {"wf.memslot": ctypes.addressof(self.memslot), "wf.fdmap": ctypes.addressof(self.fdmap),
               "wf.slow": slow.code}
        library, _ = native_library(FAST_FD_WRITE_IR, FAST_FD_WRITE_LABEL, resolver(own))
        self.refresh()
        return Function(ft, library.address("wf_fd_write"), None, None, slow.name, keepalive=(library, slow, self))

    def attach_memory(self, memory) -> None:
        self.memslot.value = memory.address if memory is not None else None


def instantiate_command(engine, compiled, wasi_config, trace: Callable[[str], None] | None = None):
    """Instantiate a WASI command: preview1 imports bound to a fresh context, memory attached.

    ``trace`` receives one line per WASI call (name, arguments, result); every call then
    goes through Python, the native fd_write included.  Returns ``(instance, ctx)``; the
    caller runs ``instance.exports["_start"]``.
    """
    from wasi import WasiCtx

    ctx = WasiCtx(wasi_config)
    ctx.trace = trace
    instance = engine.instantiate(compiled, wasi_resolver(ctx, fast_fd_write=trace is None))
    attach_wasi_memory(instance, ctx)
    return instance, ctx


def attach_wasi_memory(instance, ctx) -> None:
    """Give the WASI context the instance's exported ``memory`` (host calls read and write it)."""
    memory = instance.exports.get("memory")
    if memory is not None and hasattr(memory, "view"):
        ctx.memory = memory
        if ctx.fast_fd_write is not None:
            ctx.fast_fd_write.attach_memory(memory)


def run_wasi(wasm: bytes, args: list[str] | None = None, env: list[tuple[str, str]] | None = None,
             preopens: list[tuple[str, str]] | None = None, config=None, name: str = "module.wasm") -> int:
    """Run a WASI command to completion; returns its exit status (0 when ``_start`` returns).

    Traps raise ``runner.Trap``; decode, validation and link errors raise as well.
    """
    from wasi import ProcExit, WasiConfig

    from .api import Engine

    engine = Engine(config)
    try:
        compiled = engine.compile(wasm, name=name)
        instance, _ = instantiate_command(engine, compiled, WasiConfig(
            args=args or [name], env=env or [], preopens=preopens or []))
        try:
            instance.exports["_start"].call_raw([])
        except ProcExit as exc:
            return exc.code
        return 0
    finally:
        engine.close()
