"""Which WebAssembly proposals a decode/validate accepts (as wasmtime's ``Config.wasm_*``).

The default is WebAssembly 3.0 without GC.  ``WASM2`` is the 2.0 language: the 2.0 spec
suite needs it because 3.0 made some of 2.0's malformed or invalid modules valid (a
memarg flag of 0x40 is a memory index, a second memory is allowed, ...).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Features:
    """The proposals a module may use (the decoder and the validator follow it)."""

    multi_memory: bool = True
    memory64: bool = True
    exceptions: bool = True
    tail_call: bool = True
    function_references: bool = True
    extended_const: bool = True
    relaxed_simd: bool = True

    @property
    def any_3_0(self) -> bool:
        return any(getattr(self, f) for f in self.__dataclass_fields__)


WASM3 = Features()
WASM2 = Features(multi_memory=False, memory64=False, exceptions=False, tail_call=False,
                 function_references=False, extended_const=False, relaxed_simd=False)
