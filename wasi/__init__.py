"""wasi_snapshot_preview1 host for wasirun.

The host sees guest memory as a memoryview and arguments as Python ints; it knows
nothing of LLVM.  ``WASI_FUNCTIONS`` maps each of the 46 preview1 names to a
``HostFunc`` (signature + ``impl(ctx, *args)``); the runtime binds them to a
``WasiCtx`` built from a ``WasiConfig``.

Modules: ``abi`` (witx types), ``errors``, ``memory`` (bounds-checked guest access),
``sandbox`` (path resolution), ``fdtable``, ``ctx``, ``registry``, and the functions
by family: ``args_env``, ``clocks_random``, ``fd``, ``path``, ``poll``, ``proc``;
``unstable`` gives ``WASI_UNSTABLE_FUNCTIONS``, the same host for wasi_unstable (snapshot 0)
with that ABI's own whence order and filestat / subscription layouts.
"""
from .abi import Errno
from .ctx import WasiConfig, WasiCtx
from .errors import ProcExit, WasiError
from .perms import DirPerms, FilePerms
from .registry import WASI_FUNCTIONS, WASI_UNSTABLE_FUNCTIONS, HostFunc

# Importing the families registers their functions in WASI_FUNCTIONS (unstable: after them).
from . import args_env, clocks_random, fd, path, poll, proc  # noqa: F401  (registers)
from . import unstable  # noqa: F401,E402  (wasi_unstable: preview1's table with its own ABI where it differs)

__all__ = ["WasiConfig", "WasiCtx", "ProcExit", "WasiError", "Errno", "WASI_FUNCTIONS", "WASI_UNSTABLE_FUNCTIONS",
           "HostFunc", "DirPerms", "FilePerms"]
