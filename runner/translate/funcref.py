"""Typed function references: ``call_ref``, ``ref.as_non_null``, ``br_on_null``, ``br_on_non_null``.

A reference is a pointer (a funcref: its ``{code, type id}`` record; null = 0), so these
are null tests and branches.  ``call_ref``'s type is static (the validator checked the
operand is a ``(ref null $t)``), so unlike ``call_indirect`` no type id is compared: the
record's code is called in the C convention every record's code has (see tailcalls.py).
"""
from __future__ import annotations

from ..errors import TrapKind
from ..layout import TBAA_VM_TAG


def _call_ref(fx, code, imm):
    ref = fx.pop()
    fx.trap_if(fx.value(f"icmp eq ptr {ref}, null"), TrapKind.NULL_FUNCTION_REFERENCE)
    fn = fx.value(f"load ptr, ptr {ref}, {TBAA_VM_TAG}")   # the code: field 0, at the record's address
    fx._call_with(fn, fx.module.types[imm])


def _ref_as_non_null(fx, code, imm):
    ref = fx.stack[-1][0]
    fx.trap_if(fx.value(f"icmp eq ptr {ref}, null"), TrapKind.NULL_REFERENCE)


def _br_on_null(fx, code, imm):
    ref = fx.pop()
    frame = fx.frames[-1 - imm]
    fx._branch_values(frame)                 # the label's values: what lies under the reference
    isnull = fx.value(f"icmp eq ptr {ref}, null")
    cont = fx.label("nonnull")
    fx.emit(f"br i1 {isnull}, label %{frame.label}, label %{cont}")
    fx.start_block(cont)
    fx.push(ref, "ptr")


def _br_on_non_null(fx, code, imm):
    ref = fx.stack[-1][0]
    frame = fx.frames[-1 - imm]
    fx._branch_values(frame)                 # the label's values end with the reference
    nonnull = fx.value(f"icmp ne ptr {ref}, null")
    cont = fx.label("null")
    fx.emit(f"br i1 {nonnull}, label %{frame.label}, label %{cont}")
    fx.start_block(cont)
    fx.stack.pop()


def handlers() -> dict:
    return {0x14: _call_ref, 0xD4: _ref_as_non_null, 0xD5: _br_on_null, 0xD6: _br_on_non_null}
