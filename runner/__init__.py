"""wasirun: WebAssembly (WASI preview1) compiled to native code through LLVM, profilable with perf.

The embedding API (the equivalent of wasmtime's Config / Engine / Module / Instance):

    from runner import Config, Engine
    engine = Engine(Config(profiler="jitdump", debug_info=True))
    compiled = engine.compile(open("fib.wasm", "rb").read(), name="fib.wasm")
    instance = engine.instantiate(compiled, imports)

With imports by name, WASI and a reactor's _initialize (runner/linker.py):

    linker = Linker(engine)
    linker.define_wasi(WasiConfig(args=["prog"]))
    linker.define_func("host", "call", FuncType([ValType.i32()] * 4, [ValType.i32()]), lambda *a: -1)
    instance = linker.instantiate(compiled)
"""
__version__ = "0.1.0"

#: runner.errors' names, imported on first use like the rest (errors imports dataclasses and
#: so inspect: ~6 ms that the CLI runs under its start-up gc threshold, runner/cli.py)
_ERRORS = ("DecodeError", "LinkError", "ModuleError", "Trap", "TrapKind", "ValidationError", "WasmError",
           "WasmException")

__all__ = ["Config", "Engine", "CompiledModule", "DecodeError", "ValidationError", "ModuleError", "LinkError", "Trap",
           "TrapKind", "WasmError", "WasmException", "Tag", "run_wasi", "__version__", "Linker", "ValType", "FuncType", "FuncRef", "Caller",
           "UnknownImportError", "WasiConfig", "DirPerms", "FilePerms"]


def __getattr__(name):
    if name in _ERRORS:
        from . import errors
        return getattr(errors, name)
    # The engine pulls in llvmlite: import it only when asked for.
    if name in ("Config", "Engine", "CompiledModule"):
        from . import api
        return getattr(api, name)
    if name in ("Linker", "ValType", "Caller", "UnknownImportError"):
        from . import linker
        return getattr(linker, name)
    if name == "FuncType":
        from .binary.module import FuncType
        return FuncType
    if name == "Tag":
        from .runtime.exceptions import Tag
        return Tag
    if name == "FuncRef":
        from .runtime.instance import FuncRef
        return FuncRef
    if name in ("WasiConfig", "DirPerms", "FilePerms"):
        import wasi
        return getattr(wasi, name)
    if name == "run_wasi":
        from .wasi_host import run_wasi
        return run_wasi
    raise AttributeError(name)
