"""wasi_unstable (WASI snapshot 0, what early Rust and C toolchains import): preview1 with
three differences of ABI, handled here so such programs run correctly instead of seeing
preview1's layouts (checked against phases/old/snapshot_0/witx of the WASI repository):

* ``whence`` is ordered cur, end, set (preview1: set, cur, end): ``fd_seek``;
* ``filestat.nlink`` is a u32, so the struct is 56 bytes (preview1: u64, 64 bytes):
  ``fd_filestat_get``, ``path_filestat_get``;
* ``subscription_clock`` starts with an extra u64 identifier, so a subscription is 56
  bytes (preview1: 48): ``poll_oneoff``.

Everything else (errnos, rights, the other structs, the other 41 functions) is the same;
``sock_accept`` is preview1's only.
"""
from __future__ import annotations

import dataclasses

from .abi import (FILESTAT_UNSTABLE, SUBSCRIPTION_CLOCK_UNSTABLE, SUBSCRIPTION_FD_UNSTABLE,
                  SUBSCRIPTION_UNSTABLE, WHENCE_FROM_UNSTABLE)
from .fd import fd_seek as preview1_fd_seek
from .fd import filestat_of_fd
from .path import filestat_of_path
from .poll import SubscriptionLayout, poll
from .abi import Errno
from .registry import I32, I64, UNSTABLE_MODULE, WASI_FUNCTIONS, WASI_UNSTABLE_FUNCTIONS, Fd, Ptr, unstable_function

PREVIEW1_ONLY = ("sock_accept",)
_LAYOUT = SubscriptionLayout(SUBSCRIPTION_UNSTABLE, SUBSCRIPTION_CLOCK_UNSTABLE, SUBSCRIPTION_FD_UNSTABLE)


@unstable_function
def fd_seek(ctx, fd: Fd, offset: I64, whence: I32, newoffset: Ptr) -> Errno:
    # An unknown whence stays unknown (255): preview1's fd_seek answers INVAL for it.
    preview1_fd_seek(ctx, fd, offset, WHENCE_FROM_UNSTABLE.get(whence, 255), newoffset)


@unstable_function
def fd_filestat_get(ctx, fd: Fd, buf: Ptr) -> Errno:
    filestat_of_fd(ctx, fd, buf, FILESTAT_UNSTABLE)


@unstable_function
def path_filestat_get(ctx, fd: Fd, flags: I32, path: Ptr, path_len: I32, buf: Ptr) -> Errno:
    filestat_of_path(ctx, fd, flags, path, path_len, buf, FILESTAT_UNSTABLE)


@unstable_function
def poll_oneoff(ctx, in_: Ptr, out: Ptr, nsubscriptions: I32, nevents: Ptr) -> Errno:
    poll(ctx, in_, out, nsubscriptions, nevents, _LAYOUT)


for _name, _hf in WASI_FUNCTIONS.items():
    if _name not in WASI_UNSTABLE_FUNCTIONS and _name not in PREVIEW1_ONLY:
        WASI_UNSTABLE_FUNCTIONS[_name] = dataclasses.replace(_hf, module=UNSTABLE_MODULE)
