"""wasirun: WebAssembly (WASI preview1) compiled to native code through LLVM, profilable with perf.

The embedding API (the equivalent of wasmtime's Config / Engine / Module / Instance):

    from runner import Config, Engine
    engine = Engine(Config(profiler="jitdump", debug_info=True))
    compiled = engine.compile(open("fib.wasm", "rb").read(), name="fib.wasm")
    instance = engine.instantiate(compiled, imports)
"""
__version__ = "0.1.0"

from .errors import DecodeError, LinkError, Trap, TrapKind, ValidationError, WasmError  # noqa: E402

__all__ = ["Config", "Engine", "CompiledModule", "DecodeError", "ValidationError", "LinkError", "Trap",
           "TrapKind", "WasmError", "run_wasi", "__version__"]


def __getattr__(name):
    # The engine pulls in llvmlite: import it only when asked for.
    if name in ("Config", "Engine", "CompiledModule"):
        from . import api
        return getattr(api, name)
    if name == "run_wasi":
        from .wasi_host import run_wasi
        return run_wasi
    raise AttributeError(name)
