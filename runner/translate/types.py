"""Wasm value types as LLVM IR types, and the fixed IR vocabulary shared by the translator."""
from __future__ import annotations

from ..binary.module import F32, F64, I32, I64, V128, FuncType, RefType


class _IRTypes(dict):
    """Numeric types by code; every reference type (a ``RefType``) is a pointer."""

    def __missing__(self, t):
        if type(t) is RefType:
            return "ptr"
        raise KeyError(t)


IR_TYPE = _IRTypes({I32: "i32", I64: "i64", F32: "float", F64: "double", V128: "<2 x i64>"})
ZERO = {"i32": "0", "i64": "0", "float": "0.0", "double": "0.0", "ptr": "null", "<2 x i64>": "zeroinitializer"}
# Integer type with the same width, for bit-exact float handling.
INT_OF = {"float": "i32", "double": "i64"}
BITS = {"i32": 32, "i64": 64, "float": 32, "double": 64}


def ir_result_type(results: tuple[int, ...]) -> str:
    """The LLVM return type of a function with these wasm results (a literal struct for multi-value)."""
    if not results:
        return "void"
    if len(results) == 1:
        return IR_TYPE[results[0]]
    return "{" + ", ".join(IR_TYPE[t] for t in results) + "}"


def ir_signature(ft: FuncType) -> tuple[str, list[str]]:
    return ir_result_type(ft.results), [IR_TYPE[t] for t in ft.params]

