"""wasmtime's Linker for wasirun: name the imports, then instantiate.

    linker = Linker(engine)
    linker.define_wasi(WasiConfig(args=["prog"], preopens=[("data", "/data", DirPerms.READ, FilePerms.READ)]))
    linker.define_func("host", "call", FuncType([ValType.i32()] * 4, [ValType.i32()]), lambda *a: -1)
    linker.define_unknown_imports_as_default_values()   # or ..._as_traps()
    instance = linker.instantiate(compiled)              # a reactor's _initialize has run
    instance.exports["run"]()

Host functions see and return Python values, as in wasmtime-py: i32/i64 as signed ints,
f32/f64 as floats, an externref as the Python object it wraps (None = null), a funcref as
a callable ``FuncRef`` (None = null), an exnref as a ``WasmException`` (None = null), a v128
as an unsigned 128-bit int, lane 0 in the low bits (wasmtime-py has no v128 host values).
A function with several results returns a tuple or list of them.  A host function that raises stops the wasm code; the
exception reaches the caller of the export unchanged, with a note naming the host function.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from .binary.module import EXNREF, EXTERNREF, F32, F64, FUNCREF, HT_EXTERN, HT_NOEXTERN, I32, I64, KIND_FUNC, V128, FuncType, is_ref
from .errors import LinkError, WasmError, WasmException
from .runtime.exceptions import exception_from_native, native_from_exception
from .runtime.instance import Function, FuncRef, externref_handle, externref_object, host_function
from .runtime.values import is_exn_ref

class ValType:
    """wasmtime-py's value type constructors (the values are runner/binary/module.py's)."""

    @staticmethod
    def i32():
        return I32

    @staticmethod
    def i64():
        return I64

    @staticmethod
    def f32():
        return F32

    @staticmethod
    def f64():
        return F64

    @staticmethod
    def v128():
        return V128

    @staticmethod
    def funcref():
        return FUNCREF

    @staticmethod
    def externref():
        return EXTERNREF

    @staticmethod
    def exnref():
        """Not in wasmtime-py: an exnref value crosses as a ``WasmException``."""
        return EXNREF


_NAMED = {"i32": I32, "i64": I64, "f32": F32, "f64": F64, "v128": V128, "funcref": FUNCREF,
          "externref": EXTERNREF, "exnref": EXNREF}


def func_type(params: Iterable, results: Iterable) -> FuncType:
    """A FuncType from value types: ValType values or their names ("i32", "externref", …)."""
    conv = lambda t: _NAMED[t] if isinstance(t, str) else t  # noqa: E731
    return FuncType(tuple(map(conv, params)), tuple(map(conv, results)))


def is_externref(t) -> bool:
    """(ref null? extern) and (ref null? noextern): Python objects; every other reference is a function."""
    return is_ref(t) and t.heap in (HT_EXTERN, HT_NOEXTERN)


# --- Python value <-> what a host function's native callback passes --------------------------
def from_native(t, v) -> Any:
    """A native callback argument (ctypes: unsigned ints, floats, pointers as int/None) as the
    Python value wasmtime-py would pass."""
    if t == I32:
        return v - (1 << 32) if v >> 31 else v
    if t == I64:
        return v - (1 << 64) if v >> 63 else v
    if t in (F32, F64, V128):   # a v128: an unsigned 128-bit int, lane 0 in the low bits
        return v
    if is_externref(t):
        return externref_object(v or 0)
    if is_exn_ref(t):
        return exception_from_native(v) if v else None
    return FuncRef(v) if v else None


def to_native(t, v, what: str) -> Any:
    """A host function's Python result as its native callback returns it; TypeError names
    the function when the value does not fit the declared type."""
    if t in (I32, I64):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{what} returned {v!r}, expected an int for {_name(t)}")
        return v
    if t in (F32, F64):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"{what} returned {v!r}, expected a float for {_name(t)}")
        return float(v)
    if t == V128:
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{what} returned {v!r}, expected an int for v128")
        return v & (1 << 128) - 1
    if is_externref(t):
        return externref_handle(v) or None
    if v is None:
        return None
    if is_exn_ref(t):
        if not isinstance(v, WasmException):
            raise TypeError(f"{what} returned {v!r}, expected a WasmException (or None) for exnref")
        return native_from_exception(v)
    if isinstance(v, FuncRef):
        return v.address
    if isinstance(v, Function):
        return v.funcref_record()
    raise TypeError(f"{what} returned {v!r}, expected a function (or None) for funcref")


def _name(t) -> str:
    return {I32: "i32", I64: "i64", F32: "f32", F64: "f64", V128: "v128"}.get(t, "a reference")


def wrap_host(ft: FuncType, fn: Callable, what: str, caller: "Caller | None" = None) -> Callable:
    """``fn`` taking and returning Python values, as the raw callable ``host_function`` binds."""
    params, results = ft.params, ft.results

    def call(*raw):
        args = [from_native(t, v) for t, v in zip(params, raw)]
        try:
            r = fn(caller, *args) if caller is not None else fn(*args)
            if not results:
                return None
            if len(results) > 1:   # wasmtime-py: a tuple or list of the results, in order
                if not isinstance(r, (tuple, list)) or len(r) != len(results):
                    raise TypeError(f"{what} returned {r!r}, expected {len(results)} results")
                return tuple(to_native(t, v, what) for t, v in zip(results, r))
            if isinstance(r, (tuple, list)) and len(r) == 1:
                r = r[0]
            return to_native(results[0], r, what)
        except BaseException as exc:  # noqa: BLE001 - annotated, then stops the wasm code
            if hasattr(exc, "add_note"):
                exc.add_note(f"raised by {what}, called from wasm")
            raise
    return call


def typed_host_function(ft: FuncType, fn: Callable, what: str, caller: "Caller | None" = None) -> Function:
    f = host_function(ft, wrap_host(ft, fn, what, caller), what)
    f.python = fn
    return f


class Caller:
    """What a host function defined with ``access_caller=True`` gets first: the exports of
    the instance that called it (``caller["memory"]``, ``caller.get("host_alloc")``)."""

    def __init__(self):
        self.instance = None

    def get(self, name: str, default=None):
        if self.instance is None:      # called by the start function: exports are not out yet
            return default
        return self.instance.exports.get(name, default)

    def __getitem__(self, name: str):
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v


class UnknownImportError(WasmError):
    """Raised when wasm calls an import that ``define_unknown_imports_as_traps`` stood in for."""


def default_value_stub(ft: FuncType, what: str) -> Function:
    """wasmtime's default-values stand-in: ignore the arguments, return zeros / nulls."""
    zeros = tuple(None if is_ref(t) else 0.0 if t in (F32, F64) else 0 for t in ft.results)
    zero = zeros if len(zeros) > 1 else zeros[0] if zeros else None
    return host_function(ft, lambda *args: zero, what)


def trap_stub(ft: FuncType, what: str) -> Function:
    def fail(*args):
        raise UnknownImportError(f"unknown import: `{what}` has not been defined")
    return host_function(ft, fail, what)


class Linker:
    """Imports by (module, name): WASI, host functions, other instances' exports."""

    def __init__(self, engine):
        self.engine = engine
        self.allow_shadowing = False
        self._items: dict[tuple[str, str], Any] = {}
        self._caller_funcs: dict[tuple[str, str], tuple[FuncType, Callable]] = {}
        self._wasi_config = None
        self._wasi_trace = None
        self._unknown: dict[str | None, str] = {}   # module (None = any) -> "default" | "trap"

    def _check_new(self, module: str, name: str) -> None:
        if not self.allow_shadowing and ((module, name) in self._items or (module, name) in self._caller_funcs):
            raise LinkError(f"import of `{module}::{name}` defined twice")

    def define(self, module: str, name: str, item) -> None:
        """Any extern: a Function (host or another instance's), a Memory, a Table, a global."""
        self._check_new(module, name)
        self._items[(module, name)] = item

    def define_func(self, module: str, name: str, ty, func: Callable, access_caller: bool = False) -> None:
        """A Python function as import ``module::name`` of type ``ty`` (a FuncType, or a
        (params, results) pair of value types)."""
        ft = ty if isinstance(ty, FuncType) else func_type(*ty)
        self._check_new(module, name)
        what = f"host function `{module}::{name}`"
        if access_caller:
            self._caller_funcs[(module, name)] = (ft, func)   # one binding per instance
        else:
            self._items[(module, name)] = typed_host_function(ft, func, what)

    def define_instance(self, module: str, instance) -> None:
        """Every export of ``instance`` as ``module::<export name>``."""
        for name, item in instance.exports.items():
            self.define(module, name, item)

    def define_wasi(self, config=None, trace: Callable[[str], None] | None = None) -> None:
        """The preview1 functions (wasi_snapshot_preview1 and wasi_unstable), bound to a new
        WasiCtx of ``config`` (a ``wasi.WasiConfig``) for each instance; ``trace`` gets one
        line per host call (then fd_write stays in Python, where it is traced)."""
        from wasi import WasiConfig
        self._wasi_config = config if config is not None else WasiConfig()
        self._wasi_trace = trace

    def define_unknown_imports_as_default_values(self, module: str | None = None) -> None:
        """Function imports nothing else defines return zeros / null (wasmtime's
        ``-W unknown-imports-default``); only those of ``module`` when given."""
        self._unknown[module] = "default"

    def define_unknown_imports_as_traps(self, module: str | None = None) -> None:
        """Function imports nothing else defines stop wasm with UnknownImportError when called
        (wasmtime's ``-W unknown-imports-trap``)."""
        self._unknown[module] = "trap"

    def instantiate(self, compiled, initialize: bool = True):
        """Instantiate ``compiled``; when it is a reactor (it exports ``_initialize`` and no
        ``_start``), call ``_initialize`` once, as wasmtime's CLI does before ``--invoke``."""
        ctx = None
        resolve = self._resolve_own
        caller = Caller()
        if self._caller_funcs:
            bound = {key: typed_host_function(ft, fn, f"host function `{key[0]}::{key[1]}`", caller)
                     for key, (ft, fn) in self._caller_funcs.items()}
            resolve = lambda m, n: bound.get((m, n)) or self._resolve_own(m, n)  # noqa: E731
        if self._wasi_config is not None:
            from wasi import WasiCtx

            from .wasi_host import attach_wasi_memory, wasi_resolver
            ctx = WasiCtx(self._wasi_config)
            ctx.trace = self._wasi_trace
            resolve = wasi_resolver(ctx, resolve, fast_fd_write=self._wasi_trace is None)
        wanted = {(imp.module, imp.name): imp for imp in compiled.module.imports}
        resolve = self._with_unknown(resolve, compiled.module, wanted)
        try:
            instance = self.engine.instantiate(compiled, resolve)
        except BaseException:
            if ctx is not None:
                ctx.close()
            raise
        caller.instance = instance
        instance.wasi = ctx
        if ctx is not None:
            attach_wasi_memory(instance, ctx)
        if initialize and is_reactor(instance):
            instance.exports["_initialize"]()
        return instance

    def _resolve_own(self, module: str, name: str):
        return self._items.get((module, name))

    def _with_unknown(self, resolve, module, wanted):
        if not self._unknown:
            return resolve

        def with_stubs(mod: str, name: str):
            found = resolve(mod, name)
            if found is not None:
                return found
            imp = wanted.get((mod, name))
            how = self._unknown.get(mod, self._unknown.get(None))
            if imp is None or imp.kind != KIND_FUNC or how is None:
                return None
            ft = module.types[imp.desc]
            make = default_value_stub if how == "default" else trap_stub
            return make(ft, f"{mod}::{name}")
        return with_stubs


def is_reactor(instance) -> bool:
    exports = instance.exports
    return "_initialize" in exports and "_start" not in exports and hasattr(exports["_initialize"], "call_raw")
