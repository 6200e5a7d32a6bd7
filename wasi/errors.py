"""Exceptions of the WASI host and the host-errno -> WASI-errno mapping."""
from __future__ import annotations

import errno as _errno

from .abi import Errno


class WasiError(Exception):
    """A host function failed with ``errno``; the registry turns it into the return value."""

    def __init__(self, errno: Errno):
        super().__init__(errno)
        self.errno = Errno(errno)

    def __str__(self) -> str:
        return f"WASI errno {self.errno.name.lower()} ({int(self.errno)})"


class ProcExit(Exception):
    """Raised by ``proc_exit``: the guest asked to exit with ``code``.

    The code is passed through untouched (a u32); the CLI decides what an
    out-of-range status means (wasmtime refuses statuses >= 126).
    """

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code

    def __str__(self) -> str:
        return f"guest exited with status {self.code}"


def _build_errno_map() -> dict[int, Errno]:
    # Host errno names are the witx names with an "E" in front, except 2big.
    table = {_errno.E2BIG: Errno.TOOBIG}
    for member in Errno:
        code = getattr(_errno, "E" + member.name, None)
        if code is not None:
            table.setdefault(code, member)
    # Aliases whose host names differ from the witx ones.
    table[_errno.EWOULDBLOCK] = Errno.AGAIN
    table[_errno.EOPNOTSUPP] = Errno.NOTSUP
    return table


_FROM_HOST = _build_errno_map()


def errno_from_oserror(err: OSError) -> Errno:
    """The WASI errno for a host ``OSError`` (``IO`` when there is no counterpart)."""
    return _FROM_HOST.get(err.errno, Errno.IO) if err.errno is not None else Errno.IO
