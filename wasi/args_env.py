"""args_get, args_sizes_get, environ_get, environ_sizes_get."""
from __future__ import annotations

from .abi import Errno
from .registry import Ptr, wasi_function


def _sizes(ctx, strings: list[bytes], count_ptr: int, size_ptr: int) -> None:
    mem = ctx.mem()
    mem.write_u32(count_ptr, len(strings))
    mem.write_u32(size_ptr, sum(len(s) + 1 for s in strings))


def _copy_out(ctx, strings: list[bytes], ptrs: int, buf: int) -> None:
    """Write the NUL-terminated strings at ``buf`` and their addresses at ``ptrs``."""
    mem = ctx.mem()
    mem.check(ptrs, 4 * len(strings))
    for i, s in enumerate(strings):
        mem.write_u32(ptrs + 4 * i, buf)
        mem.write_bytes(buf, s + b"\0")
        buf += len(s) + 1


@wasi_function
def args_get(ctx, argv: Ptr, argv_buf: Ptr) -> Errno:
    _copy_out(ctx, ctx.args, argv, argv_buf)


@wasi_function
def args_sizes_get(ctx, argc: Ptr, argv_buf_size: Ptr) -> Errno:
    _sizes(ctx, ctx.args, argc, argv_buf_size)


@wasi_function
def environ_get(ctx, environ: Ptr, environ_buf: Ptr) -> Errno:
    _copy_out(ctx, ctx.env, environ, environ_buf)


@wasi_function
def environ_sizes_get(ctx, environ_count: Ptr, environ_buf_size: Ptr) -> Errno:
    _sizes(ctx, ctx.env, environ_count, environ_buf_size)
