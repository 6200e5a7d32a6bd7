"""Small native libraries of our own (the runtime, the fd_write fast path): IR compiled
once per machine into the code cache, then mapped on every start without LLVM."""
from __future__ import annotations

from typing import Callable

from .. import loader
from ..codecache import CodeCache, module_key


def native_library(ir_text: str, label: str, resolve: Callable[[str], int]) -> tuple["loader.LoadedImage", dict]:
    """Map the library for ``ir_text``; returns the mapping and ``{symbol: size}``."""
    cache = CodeCache()
    key = module_key(ir_text.encode(), "library:" + label)
    for stored in cache.units(key):
        try:
            mapped = loader.map_image(stored.image, resolve)
            return mapped, stored.meta["sizes"]
        except (loader.ImageError, OSError, KeyError):
            cache.discard(stored)
    return _compile(cache, key, ir_text, resolve)


def ensure_cached(ir_text: str, label: str) -> None:
    """Compile the library into the cache now if it is not there (``wasirun compile`` does
    this, so that the runs after it never load LLVM)."""
    cache = CodeCache()
    key = module_key(ir_text.encode(), "library:" + label)
    if not cache.units(key):
        _compile(cache, key, ir_text, None)


def _compile(cache, key, ir_text, resolve):
    from ..workers import pool
    obj, _ = pool().submit(ir_text, "O2", local=True).result()   # small: a worker would cost more
    image = loader.link([obj])
    sizes = {name: size for name, (_, size) in image.symbols.items()}
    stored = cache.put(key, "lib", {"level": "O2", "sizes": sizes}, loader.dumps(image))
    if resolve is None:
        return None
    return loader.map_image(stored.image if stored is not None else image, resolve), sizes


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
