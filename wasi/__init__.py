"""wasi_snapshot_preview1 host for wasirun.

The host sees guest memory as a memoryview and arguments as Python ints; it knows
nothing of LLVM.  ``WASI_FUNCTIONS`` maps each of the 45 preview1 names to a
``HostFunc`` (signature + ``impl(ctx, *args)``); the runtime binds them to a
``WasiCtx`` built from a ``WasiConfig``.

Modules: ``abi`` (witx types), ``errors``, ``memory`` (bounds-checked guest access),
``sandbox`` (path resolution), ``fdtable``, ``ctx``, ``registry``, and the functions
by family: ``args_env``, ``clocks_random``, ``fd``, ``path``, ``poll``, ``proc``.
"""
from .abi import Errno
from .ctx import WasiConfig, WasiCtx
from .errors import ProcExit, WasiError
from .perms import DirPerms, FilePerms
from .registry import WASI_FUNCTIONS, HostFunc

# Importing the families registers their functions in WASI_FUNCTIONS.
from . import args_env, clocks_random, fd, path, poll, proc  # noqa: F401  (registers)

__all__ = ["WasiConfig", "WasiCtx", "ProcExit", "WasiError", "Errno", "WASI_FUNCTIONS", "HostFunc", "DirPerms",
           "FilePerms"]
