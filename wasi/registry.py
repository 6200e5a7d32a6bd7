"""The table of WASI host functions, derived from their typed Python declarations.

Each function is written once, as a small typed Python function::

    @wasi_function
    def fd_write(ctx, fd: Fd, iovs: Ptr, iovs_len: I32, nwritten: Ptr) -> Errno: ...

The parameter annotations give the wasm signature (``Fd``/``Ptr``/``I32`` are i32,
``I64`` is i64), ``-> Errno`` gives the single i32 result and ``-> NoReturn`` none.
The body returns nothing on success or raises ``WasiError``; a host ``OSError`` is
mapped to its WASI errno.  Anything else (``ProcExit``, a bug) propagates to the
runtime, which unwinds the guest and re-raises it.
"""
from __future__ import annotations

import functools
import typing
from dataclasses import dataclass
from typing import Callable, NewType, NoReturn

from .abi import Errno
from .errors import WasiError, errno_from_oserror

MODULE = "wasi_snapshot_preview1"

# Argument kinds.  They are all plain ints at run time (unsigned, as the runtime
# passes them); the distinction documents the declaration and picks the wasm type.
I32 = NewType("I32", int)   # sizes, flags, enums
I64 = NewType("I64", int)   # filesize, timestamp, rights, dircookie, filedelta
Ptr = NewType("Ptr", int)   # guest address
Fd = NewType("Fd", int)     # guest file descriptor

_WASM_TYPES = {I32: "i32", Ptr: "i32", Fd: "i32", I64: "i64"}


@dataclass(frozen=True)
class HostFunc:
    """One WASI function: its wasm signature and implementation."""

    module: str                 # "wasi_snapshot_preview1"
    name: str                   # "fd_write"
    params: tuple[str, ...]     # wasm types: "i32" | "i64" | "f32" | "f64"
    results: tuple[str, ...]    # () or ("i32",) (the errno)
    impl: Callable              # impl(ctx: WasiCtx, *args: int) -> int | None


#: All functions of wasi_snapshot_preview1, by name (filled as the wasi modules import).
WASI_FUNCTIONS: dict[str, HostFunc] = {}


#: wasi_unstable (snapshot 0), by name: preview1's function where the ABI is the same, the
#: declaration of wasi/unstable.py where it is not (filled when wasi/unstable.py imports).
UNSTABLE_MODULE = "wasi_unstable"
WASI_UNSTABLE_FUNCTIONS: dict[str, HostFunc] = {}


def wasi_function(fn: Callable) -> Callable:
    """Register ``fn`` in WASI_FUNCTIONS under its own name; returns ``fn`` unchanged."""
    _register(fn, WASI_FUNCTIONS, MODULE)
    return fn


def unstable_function(fn: Callable) -> Callable:
    """Register ``fn`` as wasi_unstable's version of the function of the same name."""
    _register(fn, WASI_UNSTABLE_FUNCTIONS, UNSTABLE_MODULE)
    return fn


def _register(fn: Callable, table: dict[str, HostFunc], module: str) -> None:
    hints = _hints(fn)
    code = fn.__code__
    names = code.co_varnames[1:code.co_argcount]   # skip ctx
    params = tuple(_WASM_TYPES[hints[n]] for n in names)
    returns = hints["return"]
    if returns is Errno:
        results, impl = ("i32",), _returning_errno(fn)
    elif returns is NoReturn:
        results, impl = (), _traced(fn)
    else:
        raise TypeError(f"{fn.__name__}: return annotation must be Errno or NoReturn")
    if fn.__name__ in table:
        raise ValueError(f"{fn.__name__} declared twice")
    table[fn.__name__] = HostFunc(module, fn.__name__, params, results, impl)


_BY_NAME = {"I32": I32, "I64": I64, "Ptr": Ptr, "Fd": Fd, "Errno": Errno, "NoReturn": NoReturn}


def _hints(fn: Callable) -> dict:
    """The annotations as objects.  Under ``from __future__ import annotations`` they are the
    names above; looking them up directly costs a tenth of ``typing.get_type_hints`` (which
    evaluates each string: ~4 ms for the 48 functions, on every start)."""
    raw = fn.__annotations__
    if all(isinstance(v, str) and v in _BY_NAME for v in raw.values()):
        return {k: _BY_NAME[v] for k, v in raw.items()}
    return typing.get_type_hints(fn)


def _returning_errno(fn: Callable) -> Callable[..., int]:
    @functools.wraps(fn)
    def impl(ctx, *args: int) -> int:
        try:
            fn(ctx, *args)
            errno = Errno.SUCCESS
        except WasiError as err:
            errno = err.errno
        except OSError as err:
            errno = errno_from_oserror(err)
        trace = getattr(ctx, "trace", None)
        if trace is not None:
            trace(f"{fn.__name__}({', '.join(map(str, args))}) -> {errno.name.lower()}")
        return int(errno)
    return impl


def _traced(fn: Callable) -> Callable[..., None]:
    @functools.wraps(fn)
    def impl(ctx, *args: int) -> None:
        trace = getattr(ctx, "trace", None)
        if trace is not None:
            trace(f"{fn.__name__}({', '.join(map(str, args))})")
        fn(ctx, *args)
    return impl
