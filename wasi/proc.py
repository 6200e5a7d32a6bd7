"""proc_exit, proc_raise and the sock_* functions.

Sockets cannot be created in preview1 (nothing hands one to the guest without a
host-side listener), so every sock_* call reports NOTSOCK for an open fd and BADF
otherwise, as wasmtime does.
"""
from __future__ import annotations

from typing import NoReturn

from .abi import Errno
from .errors import ProcExit, WasiError
from .registry import I32, Fd, Ptr, wasi_function


@wasi_function
def proc_exit(ctx, rval: I32) -> NoReturn:
    raise ProcExit(rval)


@wasi_function
def proc_raise(ctx, sig: I32) -> Errno:
    raise WasiError(Errno.NOTSUP)


def _not_a_socket(ctx, fd: int) -> NoReturn:
    ctx.fds.get(fd)
    raise WasiError(Errno.NOTSOCK)


@wasi_function
def sock_accept(ctx, fd: Fd, flags: I32, ro_fd: Ptr) -> Errno:
    _not_a_socket(ctx, fd)


@wasi_function
def sock_recv(ctx, fd: Fd, ri_data: Ptr, ri_data_len: I32, ri_flags: I32,
              ro_datalen: Ptr, ro_flags: Ptr) -> Errno:
    _not_a_socket(ctx, fd)


@wasi_function
def sock_send(ctx, fd: Fd, si_data: Ptr, si_data_len: I32, si_flags: I32,
              so_datalen: Ptr) -> Errno:
    _not_a_socket(ctx, fd)


@wasi_function
def sock_shutdown(ctx, fd: Fd, how: I32) -> Errno:
    _not_a_socket(ctx, fd)
