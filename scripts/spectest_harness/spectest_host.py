"""The ``spectest`` host module that the official WebAssembly testsuite imports.

Its exports (shared/docs/spectest-judging.md, section 5): print functions that do nothing,
immutable globals of 666 / 666.6, a funcref table of 10..20 elements (and, for the 3.0 suite, a
64-bit one, ``table64``), a memory of 1..2 pages.
Used by scripts/spectest.py and tests/test_fuzz.py; a test helper, so not in the installed package.
"""
from __future__ import annotations

from runner.binary.module import F32, F64, FUNCREF, I32, I64, FuncType, GlobalType, Limits, MemoryType, TableType
from runner.runtime.functions import host_function
from runner.runtime.helpers import register_memory, register_table
from runner.runtime.store import GlobalCell, Memory, Table

_PRINTS = (("print", ()), ("print_i32", (I32,)), ("print_i64", (I64,)), ("print_f32", (F32,)),
           ("print_f64", (F64,)), ("print_i32_f32", (I32, F32)), ("print_f64_f64", (F64, F64)))
_GLOBALS = (("global_i32", I32, 666), ("global_i64", I64, 666),
            ("global_f32", F32, 0x4426A666), ("global_f64", F64, 0x4084D4CCCCCCCCCD))


def spectest_exports() -> dict:
    """A fresh instance of the module: export name -> Function, GlobalCell, Table or Memory."""
    exports: dict = {}
    for name, params in _PRINTS:
        exports[name] = host_function(FuncType(params, ()), lambda *args: None, name=f"spectest.{name}")
    for name, t, bits in _GLOBALS:
        exports[name] = GlobalCell(GlobalType(t, False), bits)
    exports["table"] = register_table(Table(TableType(FUNCREF, Limits(10, 20))))
    exports["table64"] = register_table(Table(TableType(FUNCREF, Limits(10, 20), is64=True)))
    exports["memory"] = register_memory(Memory(MemoryType(Limits(1, 2))))
    return exports
