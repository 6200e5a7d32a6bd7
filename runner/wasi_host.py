"""Bind the WASI preview1 host (``wasi/``) to an instance's imports.

The one place where the runtime meets ``wasi``: each ``HostFunc`` becomes a
native-callable host function closed over the instance's ``WasiCtx``.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

from wasi import WASI_FUNCTIONS, WasiCtx

from .binary.module import F32, F64, I32, I64, FuncType
from .runtime.instance import Function, host_function

WASI_MODULES = ("wasi_snapshot_preview1", "wasi_unstable")
_TYPE = {"i32": I32, "i64": I64, "f32": F32, "f64": F64}


def wasi_resolver(ctx: WasiCtx, fallback: Callable[[str, str], Any] | None = None) -> Callable[[str, str], Any]:
    """An import resolver providing every preview1 function, bound to ``ctx``."""
    bound: dict[str, Function] = {}

    def resolve(module: str, name: str):
        if module in WASI_MODULES:
            f = bound.get(name)
            if f is None:
                hf = WASI_FUNCTIONS.get(name)
                if hf is None:
                    return None
                ft = FuncType(tuple(_TYPE[t] for t in hf.params), tuple(_TYPE[t] for t in hf.results))
                f = bound[name] = host_function(ft, functools.partial(hf.impl, ctx), f"{module}::{name}")
            return f
        return fallback(module, name) if fallback else None

    return resolve


def instantiate_command(engine, compiled, wasi_config):
    """Instantiate a WASI command: preview1 imports bound to a fresh context, memory attached.

    Returns ``(instance, ctx)``; the caller runs ``instance.exports["_start"]``.
    """
    from wasi import WasiCtx

    ctx = WasiCtx(wasi_config)
    instance = engine.instantiate(compiled, wasi_resolver(ctx))
    memory = instance.exports.get("memory")
    if memory is not None and hasattr(memory, "view"):
        ctx.memory = memory
    return instance, ctx


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
