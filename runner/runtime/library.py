"""Small native libraries of our own (the runtime, the fd_write fast path, host-call and
call_ref adapters): IR compiled once per install and host, then mapped on every start
without LLVM.

They are engine code, not the user's module, so they live in a *host* cache next to the
package (``runner/__pycache__/wasirun-host``, where Python itself writes derived files
and with the same permissions), keyed like the code cache (the IR, wasirun's sources, the
host CPU and LLVM build).  A run with an empty module cache (``WASIRUN_CACHE_DIR`` fresh)
then maps them instead of paying LLVM for them (fib.wasm cold: ~0.05 s CPU, all of it on
the critical path).  When that directory cannot be written (a read-only install) they go
to the user's code cache as before.  ``WASIRUN_HOST_CACHE`` names another directory, or
``off`` to use only the user's cache.  ``python -m runner.runtime.library`` builds the
fixed ones at install time.
"""
from __future__ import annotations

import os
from typing import Callable

from .. import loader
from ..codecache import CodeCache, code_fingerprint, module_key

HOST_SIZE_CAP = 64 << 20     # adapters are a few KB each; the runtime ~90 KB
HOST_BUILDS_KEPT = 4         # fingerprints (source edits, hosts sharing the install) kept side by side


def native_library(ir_text: str, label: str, resolve: Callable[[str], int]) -> tuple["loader.LoadedImage", dict]:
    """Map the library for ``ir_text``; returns the mapping and ``{symbol: size}``."""
    key = module_key(ir_text.encode(), "library:" + label)
    for cache in _caches():
        for stored in cache.units(key):
            try:
                mapped = loader.map_image(stored.image, resolve)
                return mapped, stored.meta["sizes"]
            except (loader.ImageError, OSError, KeyError):
                cache.discard(stored)
    return _compile(key, ir_text, resolve)


def ensure_cached(ir_text: str, label: str) -> None:
    """Compile the library into the cache now if it is not there (``wasirun compile`` does
    this, so that the runs after it never load LLVM)."""
    key = module_key(ir_text.encode(), "library:" + label)
    if not any(cache.units(key) for cache in _caches()):
        _compile(key, ir_text, None)


def host_directory() -> str | None:
    """Where this install keeps its libraries for this build (None: ``WASIRUN_HOST_CACHE=off``)."""
    base = os.environ.get("WASIRUN_HOST_CACHE")
    if base == "off":
        return None
    # (os.path, not pathlib: a warm start imports neither pathlib nor shutil, tests/test_startup.py)
    root = base or os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))),
                                "__pycache__", "wasirun-host")
    return os.path.join(root, code_fingerprint()[:32])


def _caches() -> list[CodeCache]:
    """Where to look, in order: the host cache, then the user's code cache."""
    host = host_directory()
    user = CodeCache()
    return [user] if host is None else [CodeCache(host, HOST_SIZE_CAP), user]


def _compile(key, ir_text, resolve):
    from ..workers import pool
    obj, _ = pool().submit(ir_text, "O2", local=True).result()   # small: a worker would cost more
    image = loader.link([obj])
    sizes = {name: size for name, (_, size) in image.symbols.items()}
    data = loader.dumps(image)
    stored = None
    for cache in _caches():
        stored = cache.put(key, "lib", {"level": "O2", "sizes": sizes}, data)
        if stored is not None:
            if os.path.dirname(cache.directory) == host_directory():
                _prune_host_builds(os.path.dirname(cache.directory))
            break
    if resolve is None:
        return None
    return loader.map_image(stored.image if stored is not None else image, resolve), sizes


def _prune_host_builds(current: str) -> None:
    """Drop all but the HOST_BUILDS_KEPT most recently written builds' libraries (every
    edit of wasirun's sources makes a new fingerprint; nothing reads the old ones)."""
    import shutil
    try:
        builds = sorted((e.stat().st_mtime, e.path) for e in os.scandir(os.path.dirname(current))
                        if e.is_dir(follow_symlinks=False) and e.path != current)
    except OSError:
        return
    for _, path in builds[:max(0, len(builds) - (HOST_BUILDS_KEPT - 1))]:
        shutil.rmtree(path, ignore_errors=True)


def resolver(*tables: dict[str, int]) -> Callable[[str], int]:
    """Look ``name`` up in ``tables`` in order, then in the process (libc, libm)."""
    def resolve(name: str) -> int:
        for t in tables:
            v = t.get(name)
            if v is not None:
                return v
        v = loader.process_symbol(name)
        if v is None:
            raise KeyError(name)
        return v
    return resolve


def main() -> int:
    """Build the runtime and fd_write libraries into the host cache (an install step)."""
    from ..wasi_host import FAST_FD_WRITE_IR, FAST_FD_WRITE_LABEL
    from .native import RUNTIME_IR
    ensure_cached(RUNTIME_IR, "runtime")
    ensure_cached(FAST_FD_WRITE_IR, FAST_FD_WRITE_LABEL)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
